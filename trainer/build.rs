//! Compiles the small C++ shims (autocast, the fused AdamW kernel, the host allocator's policy, c10d), passes libtorch's
//! folder on to the crates that depend on this one, and links this crate's tests with an rpath
//! to libtorch and with libtorch_cuda kept even though no symbol of it is referenced (otherwise
//! `--as-needed` drops it and CUDA is never available).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    println!("cargo:rerun-if-changed=csrc/optim.cpp");
    println!("cargo:rerun-if-changed=csrc/host.cpp");
    println!("cargo:rerun-if-changed=csrc/c10d.cpp");
    println!("cargo:rerun-if-changed=csrc/c10d_nccl.cpp");
    println!("cargo:rerun-if-changed=csrc/c10d_shim.hpp");
    println!("cargo:rustc-check-cfg=cfg(unimlip_nccl)");
    let lib = PathBuf::from(
        std::env::var("DEP_TCH_LIBTORCH_LIB")
            .expect("torch-sys names libtorch's lib folder (LIBTORCH_USE_PYTORCH=1 or LIBTORCH)"),
    );
    let include = lib.parent().expect("libtorch root").join("include");
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .std("c++17")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .file("csrc/autocast.cpp")
        .file("csrc/optim.cpp")
        .file("csrc/host.cpp")
        .compile("unimlip_torch_shim");
    // c10d (TCPStore, ProcessGroupGloo): gloo's headers come from Debian's libgloo-dev; the
    // symbols are libtorch_cpu's own.
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .std("c++17")
        .define("USE_C10D_GLOO", None)
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .file("csrc/c10d.cpp")
        .compile("unimlip_c10d_shim");
    nccl(&lib, &include);
    println!("cargo:libtorch_lib={}", lib.display());
    println!("cargo:rustc-env=UNIMLIP_LIBTORCH_LIB={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}

/// ProcessGroupNCCL creation, when the wheel's NCCL headers and CUDA's (runtime, crt, cccl) are
/// there; sets `cfg(unimlip_nccl)` for the Rust side.
fn nccl(lib: &std::path::Path, include: &std::path::Path) {
    let Some(site) = lib.parent().and_then(|torch| torch.parent()) else {
        return;
    };
    let (cuda, nccl) = (
        site.join("nvidia/cu13/include"),
        site.join("nvidia/nccl/include"),
    );
    let needed = [
        nccl.join("nccl.h"),
        cuda.join("cuda_runtime_api.h"),
        cuda.join("crt/host_config.h"),
        cuda.join("nv/target"),
    ];
    if let Some(missing) = needed.iter().find(|p| !p.exists()) {
        println!(
            "cargo:warning=NCCL path not built: {} is missing (scripts/setup.sh installs it)",
            missing.display()
        );
        return;
    }
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .std("c++17")
        .define("USE_C10D_NCCL", None)
        .flag_if_supported("-Wno-interference-size")
        .include(include)
        .include(include.join("torch/csrc/api/include"))
        .include(&cuda)
        .include(&nccl)
        .file("csrc/c10d_nccl.cpp")
        .compile("unimlip_nccl_shim");
    println!("cargo:rustc-cfg=unimlip_nccl");
}
