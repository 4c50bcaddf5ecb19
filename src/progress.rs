//! The ingest progress bar (stderr, drawn only on a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws ingest's [`unimlip_ingest::Progress`]: phase, records, rate, elapsed time.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar on standard error, ticking while the ingest runs.
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} {msg:<24} {pos:>9} records  {per_sec:>14}  [{elapsed_precise}]",
        )
        .expect("valid template");
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Bar(bar)
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Default for Bar {
    fn default() -> Self {
        Self::new()
    }
}

impl unimlip_ingest::Progress for Bar {
    fn phase(&self, name: &str) {
        self.0.set_message(name.to_string());
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}
