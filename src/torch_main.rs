//! `unimlip-torch`: the `unimlip` command line with libtorch linked, for training and
//! evaluation. `unimlip` starts it for those commands; it runs every other command too.

mod cli;
mod cmd;
mod entry;
mod fmt;
mod handoff;
mod progress;

fn main() -> std::process::ExitCode {
    entry::main_with(cmd::run)
}
