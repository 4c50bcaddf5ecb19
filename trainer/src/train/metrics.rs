//! Per-step metrics as JSON lines, kept in the run folder (`metrics.jsonl`). For a remote run
//! folder the file is kept locally and uploaded with each checkpoint; on resume the lines after
//! the checkpoint's step are dropped, so the file reads as one uninterrupted run.

use std::io::Write;
use std::path::PathBuf;

use unimlip_shards::Store;

use crate::tensorboard::{EventWriter, scalars};
use crate::{Error, Result};

const NAME: &str = "metrics.jsonl";
/// The event files' folder in the run.
pub const TENSORBOARD: &str = "tensorboard";

/// The metrics file of a run.
#[derive(Debug)]
pub struct Metrics {
    path: PathBuf,
    store: Option<Store>,
    events: Option<EventWriter>,
    _tmp: Option<tempfile::TempDir>,
}

/// The scalars of one metrics line and its step.
fn line_scalars(line: &serde_json::Value) -> Option<(i64, Vec<(String, f32)>)> {
    let step = line["step"].as_i64()?;
    let mut out = Vec::new();
    for (k, v) in line.as_object()? {
        match k.as_str() {
            "step" => {}
            "eval" => scalars("eval", v, &mut out),
            _ => scalars(&format!("train/{k}"), v, &mut out),
        }
    }
    Some((step, out))
}

/// Starts the run's event file afresh (older ones removed) with the kept lines.
fn restart_events(dir: &std::path::Path, kept: &str) -> Result<EventWriter> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().contains("tfevents") {
                std::fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
            }
        }
    }
    let mut w = EventWriter::create(dir)?;
    for l in kept.lines() {
        if let Some((step, values)) = serde_json::from_str(l).ok().as_ref().and_then(line_scalars) {
            w.write(step, &values)?;
        }
    }
    w.flush()?;
    Ok(w)
}

impl Metrics {
    /// Opens the run's metrics, keeping only lines up to step `upto` (all of them gone when 0),
    /// and the TensorBoard event file when `tensorboard`.
    pub fn open(run: &Store, upto: i64, tensorboard: bool) -> Result<Metrics> {
        let (path, store, tmp) = match run.local_path(NAME) {
            Some(p) => (p, None, None),
            None => {
                let tmp = unimlip_shards::scratch::scratch_dir("metrics")
                    .map_err(|e| Error::io("<tempdir>", e))?;
                let p = tmp.path().join(NAME);
                if let Some(bytes) = run.get_opt(NAME)? {
                    std::fs::write(&p, &bytes).map_err(|e| Error::io(&p, e))?;
                }
                (p, Some(run.clone()), Some(tmp))
            }
        };
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let kept: String = old
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["step"].as_i64())
                    .is_some_and(|s| s <= upto)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(&path, &kept).map_err(|e| Error::io(&path, e))?;
        let events = match tensorboard {
            true => {
                let dir = path.parent().expect("a file in a folder").join(TENSORBOARD);
                Some(restart_events(&dir, &kept)?)
            }
            false => None,
        };
        Ok(Metrics {
            path,
            store,
            events,
            _tmp: tmp,
        })
    }

    /// Appends one line.
    pub fn write(&mut self, line: &serde_json::Value) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        writeln!(f, "{line}").map_err(|e| Error::io(&self.path, e))?;
        if let (Some(w), Some((step, values))) = (self.events.as_mut(), line_scalars(line)) {
            w.write(step, &values)?;
            w.flush()?;
        }
        Ok(())
    }

    /// Uploads the file when the run folder is remote.
    pub fn sync(&self) -> Result<()> {
        if let Some(store) = &self.store {
            store.put_file(NAME, &self.path)?;
            if let Some(w) = &self.events {
                let name = w.path().file_name().expect("a file").to_string_lossy();
                let key = format!("{TENSORBOARD}/{name}");
                for old in store.list(TENSORBOARD)? {
                    if old.path != key {
                        store.delete(&old.path)?;
                    }
                }
                store.put_file(&key, w.path())?;
            }
        }
        Ok(())
    }
}
