//! Safe wrappers over the C++ shim's libtorch calls that tch does not generate
//! (`csrc/optim.cpp`): the fused AdamW kernel and a tensor's memory format; and glibc's
//! malloc policy for libtorch's host tensors (`csrc/host.cpp`).
#![allow(unsafe_code)]

use tch::Tensor;

unsafe extern "C" {
    fn unimlip_fused_adamw(
        params: *mut *mut torch_sys::C_tensor,
        grads: *mut *mut torch_sys::C_tensor,
        exp_avgs: *mut *mut torch_sys::C_tensor,
        exp_avg_sqs: *mut *mut torch_sys::C_tensor,
        step: *mut torch_sys::C_tensor,
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        err: *mut std::ffi::c_char,
        len: usize,
    ) -> i32;
    fn unimlip_keep_host_memory() -> i32;
    fn unimlip_to_channels_last(
        t: *mut torch_sys::C_tensor,
        err: *mut std::ffi::c_char,
        len: usize,
    ) -> i32;
}

/// Makes glibc keep freed host memory for reuse instead of returning it to the kernel after each
/// step (a fixed 32 MiB mmap threshold, trimming above 1 GiB), so that a CPU step does not
/// fault in and zero its activations every time. Returns false where the C library has no such
/// switch. Idempotent.
fn keep_host_memory() -> bool {
    // SAFETY: mallopt only sets two of the allocator's parameters; no pointer is passed.
    unsafe { unimlip_keep_host_memory() != 0 }
}

/// Training's host-memory policy: freed host memory kept for reuse (as above) unless
/// `UNIMLIP_HOST_MEMORY=release` asks for glibc's defaults. Buffers then sit at other alignments than in a process with the
/// defaults, and MKL's rounding follows alignment: step-by-step comparisons with a PyTorch
/// process (`dump_steps`) leave it off.
pub fn host_memory_policy() {
    if std::env::var_os("UNIMLIP_HOST_MEMORY").is_none_or(|v| v != "release") {
        keep_host_memory();
    }
}

/// AdamW's hyper-parameters for one call of the fused kernel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hyper {
    /// Learning rate.
    pub lr: f64,
    /// β₁, β₂.
    pub betas: (f64, f64),
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// ε.
    pub eps: f64,
}

/// The shim's error message (its first line), or `Ok` for a zero return code.
fn checked(rc: i32, err: &[u8]) -> Result<(), String> {
    if rc == 0 {
        return Ok(());
    }
    let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
    let text = String::from_utf8_lossy(&err[..end]);
    Err(text
        .lines()
        .next()
        .unwrap_or("unknown libtorch error")
        .to_string())
}

fn handles(ts: &[&Tensor]) -> Vec<*mut torch_sys::C_tensor> {
    ts.iter()
        .map(|t| t.as_ptr() as *mut torch_sys::C_tensor)
        .collect()
}

/// `torch._fused_adamw_` over equally long lists: updates `params`, `exp_avgs` and
/// `exp_avg_sqs` in place; `step` is the (already counted) step number as a 0-d float tensor
/// on the parameters' device.
pub(crate) fn fused_adamw(
    params: &[&Tensor],
    grads: &[&Tensor],
    exp_avgs: &[&Tensor],
    exp_avg_sqs: &[&Tensor],
    step: &Tensor,
    h: Hyper,
) -> Result<(), String> {
    let n = params.len();
    assert!(
        grads.len() == n && exp_avgs.len() == n && exp_avg_sqs.len() == n,
        "fused AdamW needs lists of one length"
    );
    let (mut p, mut g) = (handles(params), handles(grads));
    let (mut m, mut v) = (handles(exp_avgs), handles(exp_avg_sqs));
    let mut err = [0u8; 512];
    // SAFETY: every pointer is a live tch tensor handle (`at::Tensor*`) borrowed for the call;
    // the kernel updates the tensors' data in place as PyTorch's does, and the shim catches every
    // C++ exception.
    let rc = unsafe {
        unimlip_fused_adamw(
            p.as_mut_ptr(),
            g.as_mut_ptr(),
            m.as_mut_ptr(),
            v.as_mut_ptr(),
            step.as_ptr() as *mut torch_sys::C_tensor,
            n,
            h.lr,
            h.betas.0,
            h.betas.1,
            h.weight_decay,
            h.eps,
            err.as_mut_ptr().cast(),
            err.len(),
        )
    };
    checked(rc, &err)
}

/// Moves a 4-D tensor's storage to channels-last in place (a variable keeps its identity).
pub(crate) fn to_channels_last(t: &mut Tensor) -> Result<(), String> {
    let mut err = [0u8; 512];
    // SAFETY: `t` is a live tch tensor handle; the shim replaces its data under no-grad and
    // catches every C++ exception.
    let rc =
        unsafe { unimlip_to_channels_last(t.as_mut_ptr(), err.as_mut_ptr().cast(), err.len()) };
    checked(rc, &err)
}
