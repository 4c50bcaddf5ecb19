//! Links the `unimlip` binary and its tests with an rpath to the libtorch the trainer was built
//! against (no library path to set at run time), and keeps libtorch_cuda as a dependency so that
//! CUDA is available on a GPU machine.

fn main() {
    let lib = std::env::var("DEP_UNIMLIP_TORCH_LIBTORCH_LIB")
        .expect("unimlip-trainer passes on libtorch's lib folder");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
