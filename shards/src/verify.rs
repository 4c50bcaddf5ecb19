//! Reading shards back and checking them against the manifest.

use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

use crate::batch::batch_to_records;
use crate::manifest::{Manifest, QUARANTINE_PATH, ShardEntry};
use crate::quarantine::decode_quarantine;
use crate::record::Record;
use crate::schema::schema;
use crate::store::Store;
use crate::{Error, Result};

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks a shard's bytes against its manifest entry: size, hash, schema and row groups.
pub fn verify_shard_bytes(entry: &ShardEntry, bytes: &Bytes) -> Result<()> {
    let corrupt = |reason: String| Error::CorruptShard {
        path: entry.path.clone(),
        reason,
    };
    if bytes.len() as u64 != entry.bytes {
        return Err(corrupt(format!(
            "{} bytes, manifest says {}",
            bytes.len(),
            entry.bytes
        )));
    }
    let got = sha256_hex(bytes);
    if got != entry.sha256 {
        return Err(corrupt(format!(
            "sha256 {got}, manifest says {}",
            entry.sha256
        )));
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
        .map_err(|e| corrupt(format!("unreadable footer: {e}")))?;
    if builder.schema().fields() != schema().fields() {
        return Err(corrupt("schema differs from version 1".into()));
    }
    let groups: Vec<u64> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows() as u64)
        .collect();
    if groups != entry.row_groups {
        return Err(corrupt(format!(
            "row groups {groups:?}, manifest says {:?}",
            entry.row_groups
        )));
    }
    if entry.has_block_hashes() {
        let meta = builder.metadata();
        for (i, want) in entry.row_group_sha256.iter().enumerate() {
            let r = crate::row_group_range(meta, i);
            if &sha256_hex(&bytes[r.start as usize..r.end as usize]) != want {
                return Err(corrupt(format!("row group {i} differs from its hash")));
            }
        }
        let tail = &bytes[crate::footer_start(meta) as usize..];
        if sha256_hex(tail) != entry.footer_sha256 {
            return Err(corrupt("footer differs from its hash".into()));
        }
    }
    Ok(())
}

/// Fetches a shard and verifies it.
pub fn fetch_verified(store: &Store, entry: &ShardEntry) -> Result<Bytes> {
    let bytes = store.get(&entry.path)?;
    verify_shard_bytes(entry, &bytes)?;
    Ok(bytes)
}

/// What a dataset-wide verification read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verified {
    /// Shards re-hashed.
    pub shards: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// Re-hashes every shard of a committed dataset against its manifest and checks the quarantine
/// table's row count.
pub fn verify_dataset(store: &Store, m: &Manifest) -> Result<Verified> {
    let start = std::time::Instant::now();
    let mut bytes = 0;
    for s in &m.shards {
        fetch_verified(store, s)?;
        bytes += s.bytes;
    }
    if let Some(path) = &m.quarantine.path {
        let q = decode_quarantine(store.get(path)?)?;
        if q.len() as u64 != m.quarantine.rows {
            return Err(Error::BadManifest {
                path: QUARANTINE_PATH.into(),
                reason: format!("{} rows, manifest says {}", q.len(), m.quarantine.rows),
            });
        }
    }
    Ok(Verified {
        shards: m.shards.len(),
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Decodes every record of a shard.
pub fn read_shard(path: &str, bytes: Bytes) -> Result<Vec<Record>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| Error::parquet(path, e))?
        .build()
        .map_err(|e| Error::parquet(path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(path, e))?;
        out.extend(batch_to_records(&batch)?);
    }
    Ok(out)
}
