//! The `unimlip` command line as a library: the argument parser, the commands that need no
//! libtorch (synth, ingest, inspect, splits, bench) and what both binaries do around a command.
//!
//! - [`cli`]: the arguments of every command (clap);
//! - [`run`]: runs a command that needs no libtorch, writing its output to `out`; any other
//!   command is handed to `unimlip-torch` (see [`handoff`]);
//! - [`entry`]: parsing, logging and the one-line error of a binary's `main`;
//! - [`fmt`], [`progress`]: sizes and the ingest progress bar.
//!
//! Two binaries share this module tree: `unimlip` (`src/main.rs`), which links no libtorch and
//! starts at once, and `unimlip-torch` (`src/bin/unimlip-torch/`), which adds the training and
//! evaluation commands. Tests call [`run`] in-process where that is faster than a process.

pub mod cli;
mod cmd;
pub mod entry;
pub mod fmt;
pub mod handoff;
pub mod progress;

pub use cmd::run_light as run;
pub use cmd::run_light;
