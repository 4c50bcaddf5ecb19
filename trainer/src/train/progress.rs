//! The training loop's progress hook: the loop says where it is, the caller draws it (the CLI's
//! progress bar), like ingest's `Progress`.

/// What a caller is told of a run as it goes (rank 0 only).
pub trait StepProgress {
    /// The run starts (or resumes) at `step` of `total`.
    fn begin(&self, step: i64, total: i64);
    /// `step` is done; `line` is its metrics line (`loss`, `samples_per_s`, …).
    fn step(&self, step: i64, line: &serde_json::Value);
    /// The run stops (finished or stopped early).
    fn end(&self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl StepProgress for Silent {
    fn begin(&self, _: i64, _: i64) {}
    fn step(&self, _: i64, _: &serde_json::Value) {}
    fn end(&self) {}
}
