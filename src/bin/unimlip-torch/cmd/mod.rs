//! The commands that need libtorch, one module each; every other command runs through the
//! `unimlip` library's [`unimlip::run_light`].

mod bench;
mod convert;
mod demo;
mod eval;
mod export;
mod forward;
mod report;
mod tokenizer;
mod train;

use std::io::Write;
use std::process::ExitCode;

use unimlip::cli::{
    BenchCommand, Cli, Command, ConvertCommand, EvalCommand, ExportCommand, ModelCommand,
    TokenizerCommand,
};

/// Runs any command (the `unimlip-torch` binary).
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Train(a) => train::run(a, out),
        Command::Bench(BenchCommand::Step(a)) => bench::step(a, out),
        Command::Tokenizer(TokenizerCommand::Train(a)) => tokenizer::train(a, out),
        Command::Model(ModelCommand::Forward(a)) => forward::run(a, out),
        Command::Convert(ConvertCommand::PmcClip(a)) => convert::pmc_clip(a, out),
        Command::Convert(ConvertCommand::HfBert(a)) => convert::hf_bert(a, out),
        Command::Export(ExportCommand::PmcClip(a)) => export::pmc_clip(a, out),
        Command::Export(ExportCommand::Safetensors(a)) => export::safetensors(a, out),
        Command::Eval(EvalCommand::Retrieval(a)) => eval::retrieval(a, out),
        Command::Eval(EvalCommand::Classify(a)) => eval::classify(a, out),
        Command::Eval(EvalCommand::Vqa(a)) => eval::vqa(a, out),
        Command::Report(a) => report::run(a, out),
        Command::Demo(a) => demo::run(a, out),
        command => unimlip::run_light(
            Cli {
                command,
                io_timeout: cli.io_timeout,
            },
            out,
        ),
    }
}
