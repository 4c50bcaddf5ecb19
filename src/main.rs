//! `unimlip`: ingest medical image–text datasets into checksummed Parquet shards, inspect,
//! split, stream and benchmark them. It links no libtorch, so it starts at once; the training and
//! evaluation commands (train, tokenizer, model, convert, eval, report, demo) run in
//! `unimlip-torch`, which it starts in its place with the same arguments. The two binaries share
//! the argument parser and the data commands' sources.

// Shared with unimlip-torch, whose commands use parts these do not.
#[allow(dead_code)]
mod cli;
mod entry;
#[allow(dead_code)]
mod fmt;
mod handoff;
#[allow(dead_code)]
mod progress;

mod cmd {
    //! The commands that need no libtorch.
    include!("cmd/light.rs");
}

fn main() -> std::process::ExitCode {
    entry::main_with(cmd::run_light)
}
