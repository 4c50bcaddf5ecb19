//! Links `unimlip-torch` and the tests with an rpath to the libtorch the trainer was built
//! against (no library path to set at run time), and keeps libtorch_cuda as their dependency so
//! that CUDA is available on a GPU machine. The `unimlip` binary links no libtorch at all.

fn main() {
    let lib = std::env::var("DEP_UNIMLIP_TORCH_LIBTORCH_LIB")
        .expect("unimlip-trainer passes on libtorch's lib folder");
    let mut args = vec![format!("-Wl,-rpath,{lib}")];
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        args.push("-Wl,--no-as-needed,-ltorch_cuda,--as-needed".to_string());
    }
    for arg in args {
        println!("cargo:rustc-link-arg-bin=unimlip-torch={arg}");
        println!("cargo:rustc-link-arg-tests={arg}");
    }
}
