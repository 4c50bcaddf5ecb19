//! The only unsafe code of the distributed path: calls into the C++ shim (`csrc/c10d.cpp`).
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int};

use tch::Tensor;

#[repr(C)]
struct RawPg {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn unimlip_pg_gloo(
        host: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        timeout_ms: c_int,
        err: *mut c_char,
        len: usize,
    ) -> *mut RawPg;
    #[cfg(unimlip_nccl)]
    fn unimlip_pg_nccl(
        host: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        timeout_ms: c_int,
        err: *mut c_char,
        len: usize,
    ) -> *mut RawPg;
    fn unimlip_pg_free(pg: *mut RawPg);
    fn unimlip_pg_allreduce_sum(
        pg: *mut RawPg,
        t: *mut torch_sys::C_tensor,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn unimlip_pg_broadcast(
        pg: *mut RawPg,
        t: *mut torch_sys::C_tensor,
        root: c_int,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn unimlip_pg_all_gather(
        pg: *mut RawPg,
        input: *mut torch_sys::C_tensor,
        out: *mut torch_sys::C_tensor,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn unimlip_pg_barrier(pg: *mut RawPg, err: *mut c_char, len: usize) -> c_int;
}

/// A c10d process group (Gloo or NCCL); collectives block until done or the timeout passes.
#[derive(Debug)]
pub struct C10d {
    raw: *mut RawPg,
}

// SAFETY: the handle is only used through `&mut self` or `&self` calls that c10d serialises
// (one collective at a time per group); the shim owns no thread-affine state.
unsafe impl Send for C10d {}

fn message(buf: &[u8]) -> String {
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let s = String::from_utf8_lossy(&buf[..end]);
    s.lines().next().unwrap_or("c10d failed").to_string()
}

fn check(code: c_int, buf: &[u8]) -> Result<(), String> {
    if code == 0 { Ok(()) } else { Err(message(buf)) }
}

type Create = unsafe extern "C" fn(
    *const c_char,
    c_int,
    c_int,
    c_int,
    c_int,
    *mut c_char,
    usize,
) -> *mut RawPg;

impl C10d {
    /// Joins a Gloo group: rendezvous on `host:port` (rank 0 serves the TCPStore).
    pub fn gloo(
        host: &str,
        port: u16,
        rank: u32,
        world: u32,
        timeout_ms: u32,
    ) -> Result<C10d, String> {
        Self::create(unimlip_pg_gloo, host, port, rank, world, timeout_ms)
    }

    /// Joins an NCCL group (each rank on its own CUDA device).
    #[cfg(unimlip_nccl)]
    pub fn nccl(
        host: &str,
        port: u16,
        rank: u32,
        world: u32,
        timeout_ms: u32,
    ) -> Result<C10d, String> {
        Self::create(unimlip_pg_nccl, host, port, rank, world, timeout_ms)
    }

    fn create(
        f: Create,
        host: &str,
        port: u16,
        rank: u32,
        world: u32,
        timeout_ms: u32,
    ) -> Result<C10d, String> {
        let host = CString::new(host).map_err(|_| "host contains a NUL byte".to_string())?;
        let mut err = vec![0u8; 1024];
        // SAFETY: `host` and `err` outlive the call; the shim writes at most `err.len()` bytes.
        let raw = unsafe {
            f(
                host.as_ptr(),
                port as c_int,
                rank as c_int,
                world as c_int,
                timeout_ms.min(i32::MAX as u32) as c_int,
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        if raw.is_null() {
            return Err(message(&err));
        }
        Ok(C10d { raw })
    }

    /// Sums `t` over ranks, in place.
    pub fn allreduce_sum(&self, t: &mut Tensor) -> Result<(), String> {
        let mut err = vec![0u8; 1024];
        // SAFETY: `self.raw` is live; `t` is a valid tensor handle for the call.
        let code = unsafe {
            unimlip_pg_allreduce_sum(self.raw, t.as_mut_ptr(), err.as_mut_ptr().cast(), err.len())
        };
        check(code, &err)
    }

    /// Copies rank `root`'s `t` to every rank, in place.
    pub fn broadcast(&self, t: &mut Tensor, root: u32) -> Result<(), String> {
        let mut err = vec![0u8; 1024];
        // SAFETY: as above.
        let code = unsafe {
            unimlip_pg_broadcast(
                self.raw,
                t.as_mut_ptr(),
                root as c_int,
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        check(code, &err)
    }

    /// Fills `out` (world × `input`'s shape) with every rank's `input`.
    pub fn all_gather(&self, input: &mut Tensor, out: &mut Tensor) -> Result<(), String> {
        let mut err = vec![0u8; 1024];
        // SAFETY: as above; `out` is contiguous and world times the size of `input`.
        let code = unsafe {
            unimlip_pg_all_gather(
                self.raw,
                input.as_mut_ptr(),
                out.as_mut_ptr(),
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        check(code, &err)
    }

    /// Waits for every rank.
    pub fn barrier(&self) -> Result<(), String> {
        let mut err = vec![0u8; 1024];
        // SAFETY: as above.
        let code = unsafe { unimlip_pg_barrier(self.raw, err.as_mut_ptr().cast(), err.len()) };
        check(code, &err)
    }
}

impl Drop for C10d {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `unimlip_pg_gloo` and is freed once.
        unsafe { unimlip_pg_free(self.raw) }
    }
}
