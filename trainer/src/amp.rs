//! bf16 autocast on CUDA (model.md §7 uses fp16 + GradScaler; bf16 needs no loss scaling). tch
//! exposes autocast but not its dtype, so a three-line C++ shim (`csrc/autocast.cpp`) sets it.

use std::cell::Cell;

use tch::Device;

#[allow(unsafe_code)]
mod ffi {
    unsafe extern "C" {
        /// Sets autocast's CUDA dtype to bf16; 0 on success.
        pub fn unimlip_autocast_cuda_bf16() -> i32;
        /// Switches autocast on a device type (0 CPU, 1 CUDA); the previous state, -1 on error.
        pub fn unimlip_autocast_set(device: i32, enabled: bool) -> i32;
    }

    /// Switches autocast for `device` (0 CPU, 1 CUDA) on this thread; returns whether it was on.
    pub fn set(device: i32, enabled: bool) -> bool {
        // SAFETY: plain values in and out; the shim catches every C++ exception and only sets
        // libtorch's thread-local autocast state.
        unsafe { unimlip_autocast_set(device, enabled) == 1 }
    }

    /// Calls the shim.
    pub fn set_bf16() -> i32 {
        // SAFETY: the function takes no arguments, catches every C++ exception and only sets
        // libtorch's thread-local autocast dtype.
        unsafe { unimlip_autocast_cuda_bf16() }
    }
}

/// Sets autocast's CUDA dtype to bf16 for this thread (libtorch keeps it per thread); an error
/// names the shim's code.
pub fn use_bf16() -> Result<(), String> {
    thread_local! {
        static CODE: Cell<Option<i32>> = const { Cell::new(None) };
    }
    let code = CODE.with(|c| {
        let code = c.get().unwrap_or_else(ffi::set_bf16);
        c.set(Some(code));
        code
    });
    match code {
        0 => Ok(()),
        code => Err(format!(
            "could not set autocast's CUDA dtype to bf16 (code {code})"
        )),
    }
}

/// Runs `f` under bf16 autocast when `device` is a GPU, plainly otherwise.
pub fn autocast<T>(device: Device, f: impl FnOnce() -> T) -> T {
    if device.is_cuda() && use_bf16().is_ok() {
        tch::autocast(true, f)
    } else {
        f()
    }
}

/// Runs `f` with autocast off on every device type, restoring it after: the similarity logits,
/// the logit-scale product and the softmaxes of the losses run in fp32 (at logit scale 100 a
/// bf16 cosine is quantised to steps of about 0.4 logits). Callers cast their inputs to fp32.
pub fn fp32<T>(f: impl FnOnce() -> T) -> T {
    let (cpu, cuda) = (ffi::set(0, false), ffi::set(1, false));
    let out = f();
    ffi::set(0, cpu);
    ffi::set(1, cuda);
    out
}

/// Runs `f` under CPU bf16 autocast (for tests of what autocast does to the loss graph).
#[cfg(test)]
pub(crate) fn cpu_autocast<T>(f: impl FnOnce() -> T) -> T {
    let was = ffi::set(0, true);
    let out = f();
    ffi::set(0, was);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn libtorch_cuda_is_loaded_when_libtorch_has_it() {
        // Without `--no-as-needed` the linker drops libtorch_cuda (no symbol of it is used) and
        // CUDA is never available, even on a GPU machine.
        let lib = std::path::Path::new(env!("UNIMLIP_LIBTORCH_LIB"));
        if !lib.join("libtorch_cuda.so").exists() {
            return;
        }
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(
            maps.contains("libtorch_cuda.so"),
            "libtorch_cuda is not loaded"
        );
    }

    #[test]
    fn the_shim_links_and_sets_the_dtype() {
        // Setting the dtype needs no GPU; this proves the shim is compiled and linked.
        assert_eq!(super::use_bf16(), Ok(()));
    }
}
