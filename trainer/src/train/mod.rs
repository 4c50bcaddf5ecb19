//! The single-process training loop and its config (`unimlip train`).

mod batch;
mod config;
mod dump;
mod eval;
mod metrics;
mod progress;
mod run;

pub use config::{
    CheckpointConfig, DataConfig, EvalConfig, I2i, LossConfig, OptimConfig, TrainConfig,
};
pub use eval::Retrieval;
pub use progress::{Silent, StepProgress};
pub use run::{RunOptions, RunSummary, train};
