//! One module per subcommand; `run` dispatches.

mod bench;
mod ingest;
mod inspect;
mod loader;
mod splits;
mod synth;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{BenchCommand, Cli, Command};

/// Runs a parsed command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Synth(a) => synth::run(a, out),
        Command::Ingest(a) => ingest::run(a, out),
        Command::Inspect(a) => inspect::run(a, out),
        Command::Splits(a) => splits::run(a, out),
        Command::Bench(BenchCommand::Loader(a)) => bench::loader(a, out),
    }
}
