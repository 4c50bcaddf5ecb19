//! `unimlip-torch`: the `unimlip` command line with libtorch linked, for training and
//! evaluation. `unimlip` starts it for those commands; it runs every other command too, through
//! the `unimlip` library.

mod cmd;
mod progress;

fn main() -> std::process::ExitCode {
    unimlip::entry::main_with(cmd::run)
}
