//! bf16 autocast on CUDA (model.md §7 uses fp16 + GradScaler; bf16 needs no loss scaling). tch
//! exposes autocast but not its dtype, so a three-line C++ shim (`csrc/autocast.cpp`) sets it.

use std::cell::Cell;

use tch::Device;

#[allow(unsafe_code)]
mod ffi {
    unsafe extern "C" {
        /// Sets autocast's CUDA dtype to bf16; 0 on success.
        pub fn unimlip_autocast_cuda_bf16() -> i32;
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
