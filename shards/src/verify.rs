//! Reading shards back and checking them against the manifest.

use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use sha2::{Digest, Sha256};

use crate::batch::batch_to_records;
use crate::manifest::{Manifest, ShardEntry};
use crate::quarantine::decode_quarantine;
use crate::record::Record;
use crate::schema::schema;
use crate::segments::Segments;
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
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Shards re-hashed.
    pub shards: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Seconds it took.
    pub seconds: f64,
    /// Every object that does not match the manifest (shards, the quarantine table), with why;
    /// empty when the dataset is intact.
    pub damaged: Vec<Damaged>,
}

/// An object of a committed dataset that does not match its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// Its path relative to the dataset root.
    pub path: String,
    /// What differs: `missing`, the size, the hash, the row count.
    pub reason: String,
}

/// Shards checked at once by [`check_dataset`] (each streamed, so memory stays small).
const CHECK_THREADS: usize = 4;

/// Size and hex SHA-256 of an object, streamed, and its segments cut at `cuts`.
fn hash_stream(store: &Store, rel: &str, cuts: Vec<u64>) -> Result<(u64, String, Segments)> {
    let mut r = store.reader(rel)?;
    let mut buf = vec![0u8; 4 << 20];
    let mut hasher = Sha256::new();
    let mut segments = Segments::new(cuts);
    let mut size = 0u64;
    loop {
        let n = std::io::Read::read(&mut r, &mut buf).map_err(|e| Error::io(rel, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        segments.update(&buf[..n]);
        size += n as u64;
    }
    segments.finish();
    Ok((size, hex::encode(hasher.finalize()), segments))
}

/// The Parquet footer of a shard of `size` bytes; `Err(reason)` when it cannot be read as one.
fn read_footer(
    store: &Store,
    entry: &ShardEntry,
) -> Result<std::result::Result<ParquetMetaData, String>> {
    let size = entry.bytes;
    if size < 12 {
        return Ok(Err(format!("{size} bytes is too short for Parquet")));
    }
    let tail = store.get_range(&entry.path, size - 8..size)?;
    let tail: [u8; 8] = tail[..].try_into().expect("8 bytes");
    let len = match FooterTail::try_new(&tail) {
        Ok(f) => f.metadata_length() as u64,
        Err(e) => return Ok(Err(format!("unreadable footer: {e}"))),
    };
    if len + 8 > size {
        return Ok(Err(format!("the footer claims {len} bytes")));
    }
    let meta = store.get_range(&entry.path, size - 8 - len..size - 8)?;
    Ok(
        ParquetMetaDataReader::decode_metadata(&meta)
            .map_err(|e| format!("unreadable footer: {e}")),
    )
}

/// Checks one shard: present, of the manifest's size, and with its hash. `Ok(None)` when
/// intact; errors are the store's own (an unreachable store is not a damaged shard).
pub fn check_shard(store: &Store, entry: &ShardEntry) -> Result<Option<Damaged>> {
    let damaged = |reason: String| {
        Ok(Some(Damaged {
            path: entry.path.clone(),
            reason,
        }))
    };
    let size = match store.size(&entry.path)? {
        None => return damaged("missing".into()),
        Some(n) => n,
    };
    if size != entry.bytes {
        return damaged(format!("{size} bytes, manifest says {}", entry.bytes));
    }
    // With block hashes in the manifest, the row groups and the footer are checked against
    // theirs in the same pass (what the streaming reader checks), cut where the footer says.
    let meta = match entry.has_block_hashes() {
        false => None,
        true => match read_footer(store, entry)? {
            Ok(m) => Some(m),
            Err(reason) => return damaged(reason),
        },
    };
    let cuts: Vec<u64> = match &meta {
        Some(m) => std::iter::once(4)
            .chain((0..m.num_row_groups()).map(|i| crate::row_group_range(m, i).end))
            .collect(),
        None => Vec::new(),
    };
    let (size, sha, segments) = match hash_stream(store, &entry.path, cuts) {
        Err(Error::NotFound { .. }) => return damaged("missing".into()),
        other => other?,
    };
    if size != entry.bytes {
        return damaged(format!("{size} bytes, manifest says {}", entry.bytes));
    }
    if sha != entry.sha256 {
        return damaged(format!("sha256 {sha}, manifest says {}", entry.sha256));
    }
    if let Some(m) = &meta {
        let hashes = crate::writer::block_hashes(&segments.done, m, &entry.path);
        let Ok((groups, footer)) = hashes else {
            return damaged("the footer's row groups do not tile the file".into());
        };
        if let Some(i) = (0..groups.len()).find(|&i| groups[i] != entry.row_group_sha256[i]) {
            return damaged(format!(
                "row group {i} does not match its sha256 in the manifest"
            ));
        }
        if footer != entry.footer_sha256 {
            return damaged("the footer does not match its sha256 in the manifest".into());
        }
    }
    Ok(None)
}

/// Re-hashes every shard of a committed dataset against its manifest (a few at a time, each
/// streamed) and checks the quarantine table's row count; lists everything damaged rather
/// than stopping at the first.
pub fn check_dataset(store: &Store, m: &Manifest) -> Result<Verified> {
    let start = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let found = std::sync::Mutex::new(Vec::new());
    let failed = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..CHECK_THREADS.min(m.shards.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(entry) = m.shards.get(i) else { break };
                    match check_shard(store, entry) {
                        Ok(None) => {}
                        Ok(Some(d)) => found.lock().expect("list").push((i, d)),
                        Err(e) => {
                            failed.lock().expect("error").get_or_insert(e);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().expect("error") {
        return Err(e);
    }
    let mut found = found.into_inner().expect("list");
    found.sort_by_key(|(i, _)| *i);
    let mut damaged: Vec<Damaged> = found.into_iter().map(|(_, d)| d).collect();
    if let Some(path) = &m.quarantine.path {
        let problem = match store.get_opt(path)? {
            None => Some("missing".to_string()),
            Some(bytes) => match decode_quarantine(bytes) {
                Ok(q) if q.len() as u64 == m.quarantine.rows => None,
                Ok(q) => Some(format!(
                    "{} rows, manifest says {}",
                    q.len(),
                    m.quarantine.rows
                )),
                Err(e) => Some(format!("unreadable: {e}")),
            },
        };
        if let Some(reason) = problem {
            damaged.push(Damaged {
                path: path.clone(),
                reason,
            });
        }
    }
    Ok(Verified {
        shards: m.shards.len(),
        bytes: m.shards.iter().map(|s| s.bytes).sum(),
        seconds: start.elapsed().as_secs_f64(),
        damaged,
    })
}

/// [`check_dataset`], with anything damaged as an error that names every damaged object.
pub fn verify_dataset(store: &Store, m: &Manifest) -> Result<Verified> {
    let v = check_dataset(store, m)?;
    if v.damaged.is_empty() {
        return Ok(v);
    }
    Err(Error::Damaged {
        total: v.shards,
        list: v
            .damaged
            .iter()
            .map(|d| format!("{} ({})", d.path, d.reason))
            .collect::<Vec<_>>()
            .join("; "),
        count: v.damaged.len(),
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
