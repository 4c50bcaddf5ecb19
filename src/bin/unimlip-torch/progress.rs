//! The training progress bar (stderr, drawn only on a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The training progress bar (stderr, drawn only on a terminal).
pub struct StepBar(ProgressBar);

impl StepBar {
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] step {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        StepBar(bar)
    }
}

impl unimlip_trainer::StepProgress for StepBar {
    fn begin(&self, step: i64, total: i64) {
        self.0.set_length(total as u64);
        self.0.set_position(step as u64);
    }

    fn step(&self, step: i64, line: &serde_json::Value) {
        self.0.set_position(step as u64);
        self.0.set_message(format!(
            "loss {:.4}  {:.1} samples/s",
            line["loss"].as_f64().unwrap_or(f64::NAN),
            line["samples_per_s"].as_f64().unwrap_or(0.0)
        ));
    }

    fn end(&self) {
        self.0.finish_and_clear();
    }
}
