//! The single-process training loop and its config (`unimlip train`).

mod batch;
mod bench;
mod config;
mod dump;
mod eval;
mod metrics;
mod progress;
mod run;

pub use bench::{StepBench, StepTimes, bench_step};
pub use config::{
    CheckpointConfig, DataConfig, DeviceConfig, EvalConfig, I2i, LogConfig, LossConfig,
    OptimConfig, TrainConfig,
};
pub use eval::Retrieval;
pub use progress::{Silent, StepProgress};
pub use run::{RunOptions, RunSummary, train};
