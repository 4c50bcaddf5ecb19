//! Reading shards back and checking them against the manifest.

use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use sha2::{Digest, Sha256};

use crate::batch::batch_to_records;
use crate::manifest::{Manifest, ShardEntry, ShardHash};
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
    if entry.hashes_segments() {
        let meta = builder.metadata();
        let mut segments = Segments::new(segment_cuts(meta));
        segments.update(bytes);
        segments.finish();
        compare_segments(entry, &segments, meta).map_err(corrupt)?;
    }
    if entry.sha256_of == ShardHash::File {
        let got = sha256_hex(bytes);
        if got != entry.sha256 {
            return Err(corrupt(format!(
                "sha256 {got}, manifest says {}",
                entry.sha256
            )));
        }
    }
    Ok(())
}

/// Where a shard's segments end, as its footer lays them out: after the leading magic and
/// after each row group (the footer runs to the end of the file).
fn segment_cuts(meta: &ParquetMetaData) -> Vec<u64> {
    std::iter::once(4)
        .chain((0..meta.num_row_groups()).map(|i| crate::row_group_range(meta, i).end))
        .collect()
}

/// Compares the hashes of a shard's segments with its manifest entry: each row group's, the
/// footer's, and, for [`ShardHash::Segments`], the file hash over them. The reason on a
/// mismatch, naming the first row group that differs.
fn compare_segments(
    entry: &ShardEntry,
    segments: &Segments,
    meta: &ParquetMetaData,
) -> std::result::Result<(), String> {
    if !entry.has_block_hashes() {
        return Err("the manifest hashes its segments but lists no row-group hashes".into());
    }
    let Ok((groups, footer)) = crate::writer::block_hashes(&segments.done, meta, &entry.path)
    else {
        return Err("the footer's row groups do not tile the file".into());
    };
    if let Some(i) = (0..groups.len()).find(|&i| groups[i] != entry.row_group_sha256[i]) {
        return Err(format!(
            "row group {i} does not match its sha256 in the manifest"
        ));
    }
    if footer != entry.footer_sha256 {
        return Err("the footer does not match its sha256 in the manifest".into());
    }
    if entry.sha256_of == ShardHash::Segments {
        let tree = hex::encode(crate::segments::tree_sha256(&segments.done));
        if tree != entry.sha256 {
            return Err(format!(
                "sha256 {tree} (of its segments), manifest says {}",
                entry.sha256
            ));
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

/// Size of an object, streamed, its hex SHA-256 when `whole` (else empty), and its segments
/// cut at `cuts`.
fn hash_stream(
    store: &Store,
    rel: &str,
    cuts: Vec<u64>,
    whole: bool,
) -> Result<(u64, String, Segments)> {
    let mut r = store.reader(rel)?;
    let mut buf = vec![0u8; 4 << 20];
    let mut hasher = whole.then(Sha256::new);
    let mut segments = Segments::new(cuts);
    let mut size = 0u64;
    loop {
        let n = std::io::Read::read(&mut r, &mut buf).map_err(|e| Error::io(rel, e))?;
        if n == 0 {
            break;
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        segments.update(&buf[..n]);
        size += n as u64;
    }
    segments.finish();
    let sha = hasher
        .map(|h| hex::encode(h.finalize()))
        .unwrap_or_default();
    Ok((size, sha, segments))
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
    let meta = match entry.hashes_segments() {
        false => None,
        true => match read_footer(store, entry)? {
            Ok(m) => Some(m),
            Err(reason) => return damaged(reason),
        },
    };
    let cuts = meta.as_ref().map(segment_cuts).unwrap_or_default();
    let whole = entry.sha256_of == ShardHash::File;
    let (size, sha, segments) = match hash_stream(store, &entry.path, cuts, whole) {
        Err(Error::NotFound { .. }) => return damaged("missing".into()),
        other => other?,
    };
    if size != entry.bytes {
        return damaged(format!("{size} bytes, manifest says {}", entry.bytes));
    }
    if let Some(m) = &meta
        && let Err(reason) = compare_segments(entry, &segments, m)
    {
        return damaged(reason);
    }
    if whole && sha != entry.sha256 {
        return damaged(format!("sha256 {sha}, manifest says {}", entry.sha256));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::sample;
    use crate::writer::{ShardWriter, WriterOptions};

    /// A shard of several row groups in a memory store, with the entry the writer made.
    fn stored(name: &str) -> (Store, ShardEntry, Vec<u8>) {
        let opts = WriterOptions {
            row_group_bytes: 4_000,
            shard_bytes: 1 << 30,
            zstd_level: 1,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut w = ShardWriter::new("train", 0, dir.path(), opts);
        for i in 0..20 {
            assert!(w.push(sample(&format!("r{i:03}"), 1000)).unwrap().is_none());
        }
        let shard = w.finish().unwrap().unwrap();
        let bytes = std::fs::read(&shard.file).unwrap();
        let store = Store::open(&format!("memory://verify-{name}/ds")).unwrap();
        store.put(&shard.entry.path, bytes.clone()).unwrap();
        (store, shard.entry, bytes)
    }

    fn check(store: &Store, e: &ShardEntry, bytes: &[u8]) -> (Option<String>, Option<String>) {
        let streamed = check_shard(store, e).unwrap().map(|d| d.reason);
        let in_memory = verify_shard_bytes(e, &Bytes::copy_from_slice(bytes))
            .err()
            .map(|e| e.to_string());
        (streamed, in_memory)
    }

    #[test]
    fn segment_hashed_and_whole_file_entries_both_verify_and_catch_a_flipped_byte() {
        let (store, v2, bytes) = stored("kinds");
        assert_eq!(v2.sha256_of, ShardHash::Segments);
        assert!(v2.row_groups.len() > 2, "{v2:?}");
        // An entry as manifests before segment hashing wrote it, with and without block hashes.
        let v1 = ShardEntry {
            sha256: sha256_hex(&bytes),
            sha256_of: ShardHash::File,
            ..v2.clone()
        };
        let v0 = ShardEntry {
            row_group_sha256: vec![],
            footer_sha256: String::new(),
            ..v1.clone()
        };
        for e in [&v2, &v1, &v0] {
            assert_eq!(check(&store, e, &bytes), (None, None), "{e:?}");
        }
        // One flipped byte inside row group 1: named by the block hashes where there are some.
        let meta = ParquetMetaDataReader::new()
            .parse_and_finish(&Bytes::copy_from_slice(&bytes))
            .unwrap();
        let mut bad = bytes.clone();
        bad[crate::row_group_range(&meta, 1).start as usize + 5] ^= 1;
        store.put(&v2.path, bad.clone()).unwrap();
        for e in [&v2, &v1, &v0] {
            let (streamed, in_memory) = check(&store, e, &bad);
            let (streamed, in_memory) = (streamed.unwrap(), in_memory.unwrap());
            let want = if e.has_block_hashes() {
                "row group 1"
            } else {
                "sha256"
            };
            assert!(streamed.contains(want), "{streamed}");
            assert!(in_memory.contains(want), "{in_memory}");
        }
        // A manifest whose file hash alone was altered: every segment matches, the file does not.
        store.put(&v2.path, bytes.clone()).unwrap();
        let forged = ShardEntry {
            sha256: sha256_hex(b"forged"),
            ..v2.clone()
        };
        let (streamed, in_memory) = check(&store, &forged, &bytes);
        assert!(streamed.unwrap().contains("of its segments"));
        assert!(in_memory.unwrap().contains("of its segments"));
        // Segment hashing without segment hashes is not a manifest this build wrote.
        let broken = ShardEntry {
            row_group_sha256: vec![],
            ..v2
        };
        let (streamed, _) = check(&store, &broken, &bytes);
        assert!(streamed.unwrap().contains("lists no row-group hashes"));
    }
}
