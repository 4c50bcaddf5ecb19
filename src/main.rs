//! `unimlip`: ingest medical image–text datasets into checksummed Parquet shards, inspect them,
//! and (in later stages) stream them into Uni-Mlip training and evaluation.

mod cli;
mod cmd;
mod fmt;
mod progress;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc reuses freed pages where the system allocator hands large batch buffers back to the
/// kernel and faults fresh zeroed ones in for the next batch.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("UNIMLIP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut out = std::io::stdout().lock();
    match cmd::run(args, &mut out) {
        Ok(code) => {
            let _ = out.flush();
            code
        }
        Err(e) => {
            let _ = out.flush();
            eprintln!("unimlip: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
