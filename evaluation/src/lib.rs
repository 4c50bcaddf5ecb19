//! Uni-Mlip's downstream evaluations (model.md §8): image↔text retrieval, chest X-ray
//! classification (linear probe and fine-tuning, macro AUC) and VQA as classification over the
//! answer set, with their metrics as pure functions and results as JSON and Markdown tables.

pub mod classify;
mod error;
pub mod features;
pub mod metrics;
pub mod report;
pub mod retrieval;
pub mod tables;
pub mod vqa;

pub use error::{Error, Result};
