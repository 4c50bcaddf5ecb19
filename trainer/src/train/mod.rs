//! The single-process training loop and its config (`unimlip train`).

pub mod batch;
pub mod config;
pub mod eval;
mod metrics;
mod run;

pub use config::{CheckpointConfig, DataConfig, EvalConfig, LossConfig, OptimConfig, TrainConfig};
pub use eval::Retrieval;
pub use run::{RunOptions, RunSummary, checkpoints_url, train};
