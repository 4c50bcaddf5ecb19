//! One module per subcommand; `run` dispatches.

mod bench;
mod convert;
mod demo;
mod eval;
mod forward;
mod ingest;
mod inspect;
mod loader;
mod report;
mod splits;
mod synth;
mod tokenizer;
mod train;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{
    BenchCommand, Cli, Command, ConvertCommand, EvalCommand, ModelCommand, TokenizerCommand,
};

/// Runs a parsed command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Synth(a) => synth::run(a, out),
        Command::Ingest(a) => ingest::run(a, out),
        Command::Inspect(a) => inspect::run(a, out),
        Command::Splits(a) => splits::run(a, out),
        Command::Bench(BenchCommand::Loader(a)) => bench::loader(a, out),
        Command::Bench(BenchCommand::Decode(a)) => bench::decode(a, out),
        Command::Train(a) => train::run(a, out),
        Command::Tokenizer(TokenizerCommand::Train(a)) => tokenizer::train(a, out),
        Command::Model(ModelCommand::Forward(a)) => forward::run(a, out),
        Command::Convert(ConvertCommand::PmcClip(a)) => convert::pmc_clip(a, out),
        Command::Eval(EvalCommand::Retrieval(a)) => eval::retrieval(a, out),
        Command::Eval(EvalCommand::Classify(a)) => eval::classify(a, out),
        Command::Eval(EvalCommand::Vqa(a)) => eval::vqa(a, out),
        Command::Report(a) => report::run(a, out),
        Command::Demo(a) => demo::run(a, out),
    }
}
