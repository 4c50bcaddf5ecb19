//! Per-step metrics as JSON lines, kept in the run folder (`metrics.jsonl`). For a remote run
//! folder the file is kept locally and uploaded with each checkpoint; on resume the lines after
//! the checkpoint's step are dropped, so the file reads as one uninterrupted run.

use std::io::Write;
use std::path::PathBuf;

use unimlip_shards::Store;

use crate::{Error, Result};

const NAME: &str = "metrics.jsonl";

/// The metrics file of a run.
#[derive(Debug)]
pub struct Metrics {
    path: PathBuf,
    store: Option<Store>,
    _tmp: Option<tempfile::TempDir>,
}

impl Metrics {
    /// Opens the run's metrics, keeping only lines up to step `upto` (all of them gone when 0).
    pub fn open(run: &Store, upto: i64) -> Result<Metrics> {
        let (path, store, tmp) = match run.local_path(NAME) {
            Some(p) => (p, None, None),
            None => {
                let tmp = tempfile::tempdir().map_err(|e| Error::io("<tempdir>", e))?;
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
        std::fs::write(&path, kept).map_err(|e| Error::io(&path, e))?;
        Ok(Metrics {
            path,
            store,
            _tmp: tmp,
        })
    }

    /// Appends one line.
    pub fn write(&mut self, line: &serde_json::Value) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        writeln!(f, "{line}").map_err(|e| Error::io(&self.path, e))
    }

    /// Uploads the file when the run folder is remote.
    pub fn sync(&self) -> Result<()> {
        if let Some(store) = &self.store {
            store.put_file(NAME, &self.path)?;
        }
        Ok(())
    }
}
