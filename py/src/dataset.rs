//! A committed dataset's summary and verification, as `unimlip.inspect` / `unimlip.verify`.

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use serde_json::{Value, json};
use unimlip_shards::{Manifest, Store, verify_dataset};

fn open(url: &str) -> PyResult<(Store, Manifest)> {
    let store = Store::open_existing(url).map_err(|e| PyOSError::new_err(e.to_string()))?;
    let manifest = Manifest::load(&store).map_err(|e| PyOSError::new_err(e.to_string()))?;
    Ok((store, manifest))
}

/// The manifest's summary (JSON): dataset, versions, inputs, rows, bytes, per-split counts,
/// labels and the quarantine's counts by reason; every shard is left out, its count kept.
fn summary(m: &Manifest) -> Value {
    let bytes: u64 = m.shards.iter().map(|s| s.bytes).sum();
    json!({
        "dataset": m.dataset,
        "schema_version": m.schema_version,
        "tool_version": m.tool_version,
        "created_at": m.created_at,
        "inputs": m.inputs,
        "rows": m.rows(),
        "shards": m.shards.len(),
        "bytes": bytes,
        "splits": m.splits,
        "label_names": m.label_names,
        "quarantine": m.quarantine,
        "source": m.source,
        "ingest_options": m.ingest_options,
    })
}

/// The summary of the dataset at `url` (JSON).
#[pyfunction]
pub fn inspect(py: Python<'_>, url: &str) -> PyResult<String> {
    let (_, m) = py.detach(|| open(url))?;
    Ok(summary(&m).to_string())
}

/// Re-hashes every shard of the dataset at `url` against its manifest (JSON of the counts);
/// raises `OSError` naming the first damaged shard.
#[pyfunction]
pub fn verify(py: Python<'_>, url: &str) -> PyResult<String> {
    py.detach(|| {
        let (store, m) = open(url)?;
        let v = verify_dataset(&store, &m).map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(json!({"shards": v.shards, "bytes": v.bytes, "seconds": v.seconds}).to_string())
    })
}
