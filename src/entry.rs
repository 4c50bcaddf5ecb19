//! What both binaries do around a command: the allocator, argument parsing, logging, and the
//! one-line error.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

/// mimalloc reuses freed pages where the system allocator hands large batch buffers back to the
/// kernel and faults fresh zeroed ones in for the next batch.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A command dispatcher: `cmd::run_light` or `cmd::run`.
pub type Runner = fn(crate::cli::Cli, &mut dyn Write) -> anyhow::Result<ExitCode>;

/// Parses the command line, sets up logging, runs the command and prints any error as one line.
pub fn main_with(run: Runner) -> ExitCode {
    let args = crate::cli::Cli::parse();
    if let Some(secs) = args.io_timeout {
        unimlip_shards::set_io_timeout(std::time::Duration::from_secs_f64(secs));
    }
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("UNIMLIP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Scratch folders of unimlip processes that were killed (checkpoint staging, spools).
    let stale = unimlip_shards::scratch::remove_stale_scratch();
    if stale > 0 {
        tracing::info!("removed {stale} scratch folders of killed unimlip processes");
    }
    let mut out = std::io::stdout().lock();
    match run(args, &mut out) {
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
