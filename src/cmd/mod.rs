//! The commands that need no libtorch, one module each, and their dispatcher.

mod bench;
mod ingest;
mod inspect;
mod loader;
mod page;
mod splits;
mod synth;

/// Runs a command that needs no libtorch; hands any other to `unimlip-torch` (the `unimlip`
/// binary links nothing of the trainer).
pub fn run_light(
    cli: crate::cli::Cli,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<std::process::ExitCode> {
    use crate::cli::{BenchCommand, Command};
    match cli.command {
        Command::Synth(a) => synth::run(a, out),
        Command::Ingest(a) => ingest::run(a, out),
        Command::Inspect(a) => inspect::run(a, out),
        Command::Splits(a) => splits::run(a, out),
        Command::Bench(BenchCommand::Loader(a)) => bench::loader(a, out),
        Command::Bench(BenchCommand::Decode(a)) => bench::decode(a, out),
        _ => crate::handoff::exec_torch(),
    }
}
