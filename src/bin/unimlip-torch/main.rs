//! `unimlip-torch`: the `unimlip` command line with libtorch linked, for training and
//! evaluation. `unimlip` starts it for those commands; it runs every other command too, through
//! the `unimlip` library.

mod cmd;
mod progress;

fn main() -> std::process::ExitCode {
    // Freed host memory stays with the process for the next step (see `keep_host_memory`);
    // UNIMLIP_HOST_MEMORY=release keeps glibc's defaults.
    if std::env::var_os("UNIMLIP_HOST_MEMORY").is_none_or(|v| v != "release") {
        unimlip_trainer::keep_host_memory();
    }
    unimlip::entry::main_with(cmd::run)
}
