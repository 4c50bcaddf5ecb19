//! The training progress: a bar on a terminal; on a pipe or a file, a plain line at least every
//! 30 s (step, losses, samples/s, ETA), so a log shows that training is alive.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is written when standard error is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(30);

/// Draws [`unimlip_trainer::StepProgress`] on standard error.
pub enum StepBar {
    /// An indicatif bar (standard error is a terminal).
    Bar(ProgressBar),
    /// Plain lines: when the last was written, and where the run started (step, time).
    Plain(Mutex<Plain>),
}

/// The state of plain progress lines.
pub struct Plain {
    last: Instant,
    start: (i64, Instant),
    total: i64,
}

impl StepBar {
    pub fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            let now = Instant::now();
            return StepBar::Plain(Mutex::new(Plain {
                last: now,
                start: (0, now),
                total: 0,
            }));
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] step {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        StepBar::Bar(bar)
    }
}

/// `step 120/900  loss 3.1416 itc 2.7 mlm 5.1  52.3 samples/s  ETA 4m 10s`.
fn plain_line(p: &Plain, step: i64, line: &serde_json::Value) -> String {
    let mut s = format!("step {step}/{}", p.total);
    s.push_str(&format!(
        "  loss {:.4}",
        line["loss"].as_f64().unwrap_or(f64::NAN)
    ));
    for k in ["itc", "itc_img", "itc_txt", "i2i", "mlm"] {
        if let Some(v) = line[format!("loss_{k}")].as_f64() {
            s.push_str(&format!(" {k} {v:.3}"));
        }
    }
    s.push_str(&format!(
        "  {:.1} samples/s",
        line["samples_per_s"].as_f64().unwrap_or(0.0)
    ));
    let done = (step - p.start.0).max(1) as f64;
    let per_step = p.start.1.elapsed().as_secs_f64() / done;
    let eta = per_step * (p.total - step).max(0) as f64;
    s.push_str(&format!(
        "  ETA {}m {:02}s",
        eta as u64 / 60,
        eta as u64 % 60
    ));
    s
}

impl unimlip_trainer::StepProgress for StepBar {
    fn begin(&self, step: i64, total: i64) {
        match self {
            StepBar::Bar(b) => {
                b.set_length(total as u64);
                b.set_position(step as u64);
            }
            StepBar::Plain(p) => {
                let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
                p.start = (step, Instant::now());
                p.total = total;
            }
        }
    }

    #[allow(clippy::print_stderr)]
    fn step(&self, step: i64, line: &serde_json::Value) {
        match self {
            StepBar::Bar(b) => {
                b.set_position(step as u64);
                b.set_message(format!(
                    "loss {:.4}  {:.1} samples/s",
                    line["loss"].as_f64().unwrap_or(f64::NAN),
                    line["samples_per_s"].as_f64().unwrap_or(0.0)
                ));
            }
            StepBar::Plain(p) => {
                let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
                if p.last.elapsed() >= PLAIN_EVERY || step == p.total {
                    p.last = Instant::now();
                    eprintln!("unimlip: train {}", plain_line(&p, step, line));
                }
            }
        }
    }

    fn end(&self) {
        if let StepBar::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_names_the_step_the_losses_the_rate_and_the_time_left() {
        let p = Plain {
            last: Instant::now(),
            start: (0, Instant::now()),
            total: 100,
        };
        let line = serde_json::json!({"loss": 2.5, "loss_itc": 1.25, "loss_mlm": 3.0, "samples_per_s": 40.0});
        let s = plain_line(&p, 10, &line);
        assert!(
            s.starts_with("step 10/100  loss 2.5000 itc 1.250 mlm 3.000  40.0 samples/s  ETA "),
            "{s}"
        );
    }
}
