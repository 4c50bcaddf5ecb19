//! An optional local cache of whole shards, shared safely by concurrent jobs.
//!
//! Files are named by the shard's SHA-256 (content addressed, so two datasets or two jobs that
//! read the same shard share one copy), written to a unique temporary name while being hashed
//! and renamed into place only when the hash matches the manifest. Use refreshes a file's
//! modification time; after each new file the least recently used files are removed until the
//! folder is under its byte cap. A file removed by another job while this one needs it is simply
//! fetched again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unimlip_shards::{ShardEntry, ShardHash, Store};

use crate::{Error, Result};

/// Where the cache lives and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The cache folder (created when missing).
    pub dir: PathBuf,
    /// Byte cap; least recently used shards are removed beyond it.
    pub max_bytes: u64,
}

/// The local shard cache.
#[derive(Debug)]
pub struct Cache {
    config: CacheConfig,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);
const SUFFIX: &str = ".parquet";

fn cache_err(path: &Path, cause: std::io::Error) -> Error {
    Error::Cache {
        path: path.display().to_string(),
        cause,
    }
}

impl Cache {
    /// Opens (creating) the cache folder.
    pub fn open(config: CacheConfig) -> Result<Cache> {
        std::fs::create_dir_all(&config.dir).map_err(|e| cache_err(&config.dir, e))?;
        Ok(Cache { config })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.config.dir.join(format!("{sha256}{SUFFIX}"))
    }

    /// The cached copy of a shard, if there is one of the right size (its use is recorded).
    pub fn lookup(&self, entry: &ShardEntry) -> Option<PathBuf> {
        let path = self.path(&entry.sha256);
        let file = std::fs::File::options().append(true).open(&path).ok()?;
        if file.metadata().ok()?.len() != entry.bytes {
            return None;
        }
        let _ = file.set_modified(SystemTime::now());
        Some(path)
    }

    /// Downloads a shard into the cache, checking its hash on the way; returns the cached file's
    /// path and an open handle to it (which stays readable even if another job evicts it).
    pub async fn fill(
        &self,
        store: &Store,
        entry: &ShardEntry,
    ) -> Result<(PathBuf, std::fs::File)> {
        let dest = self.path(&entry.sha256);
        let tmp = self.config.dir.join(format!(
            ".tmp-{}-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed),
            entry.sha256
        ));
        let file = match self.download(store, entry, &tmp).await {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, &dest).map_err(|e| cache_err(&dest, e))?;
        self.evict(&dest);
        Ok((dest, file))
    }

    async fn download(
        &self,
        store: &Store,
        entry: &ShardEntry,
        tmp: &Path,
    ) -> Result<std::fs::File> {
        let mut file = std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| cache_err(tmp, e))?;
        let (size, sha) = hash_object(store, entry, |chunk| {
            file.write_all(chunk).map_err(|e| cache_err(tmp, e))
        })
        .await?;
        file.flush().map_err(|e| cache_err(tmp, e))?;
        check(store, entry, size, &sha)?;
        Ok(file)
    }

    /// Removes least recently used shards until the folder is under its cap (never `keep`),
    /// and temporary files older than an hour (left by a killed job).
    fn evict(&self, keep: &Path) {
        let Ok(dir) = std::fs::read_dir(&self.config.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let stale = SystemTime::now() - Duration::from_secs(3600);
        for e in dir.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let path = e.path();
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".tmp-") {
                if modified < stale {
                    let _ = std::fs::remove_file(&path);
                }
            } else if name.ends_with(SUFFIX) {
                files.push((modified, meta.len(), path));
            }
        }
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.config.max_bytes {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }

    /// Reads a byte range of a cached file; `None` when the file has gone (evicted by a job).
    pub fn read_range(path: &Path, range: std::ops::Range<u64>) -> Result<Option<Bytes>> {
        match std::fs::File::open(path) {
            Ok(f) => Self::read_at(&f, path, range).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(cache_err(path, e)),
        }
    }

    /// Reads a byte range of an open cache file.
    pub fn read_at(
        file: &std::fs::File,
        path: &Path,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        file.read_exact_at(&mut buf, range.start)
            .map_err(|e| cache_err(path, e))?;
        Ok(Bytes::from(buf))
    }
}

/// Streams a shard from its store, handing each chunk to `sink`; returns its size and hex
/// SHA-256 (empty for an entry whose hash is over its segments: those are checked row group by
/// row group when read, so the whole file is not hashed).
pub async fn hash_object(
    store: &Store,
    entry: &ShardEntry,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<(u64, String)> {
    let mut stream = store.stream_async(&entry.path).await?;
    let mut hasher = (entry.sha256_of == ShardHash::File).then(Sha256::new);
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        size += chunk.len() as u64;
        sink(&chunk)?;
    }
    Ok((
        size,
        hasher
            .map(|h| hex::encode(h.finalize()))
            .unwrap_or_default(),
    ))
}

/// Checks a shard's size and hash against its manifest entry (the size alone for an entry whose
/// hash is over its segments: [`hash_object`]).
pub fn check(store: &Store, entry: &ShardEntry, size: u64, sha256: &str) -> Result<()> {
    let reason = if size != entry.bytes {
        format!("{size} bytes, the manifest says {}", entry.bytes)
    } else if entry.sha256_of == ShardHash::File && sha256 != entry.sha256 {
        format!("sha256 {sha256}, the manifest says {}", entry.sha256)
    } else {
        return Ok(());
    };
    Err(Error::CorruptShard {
        path: entry.path.clone(),
        store: store.url().to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sha: &str, bytes: u64) -> ShardEntry {
        ShardEntry {
            path: format!("shards/{sha}.parquet"),
            split: "train".into(),
            rows: 1,
            bytes,
            sha256: sha.into(),
            sha256_of: ShardHash::File,
            row_groups: vec![1],
            row_group_sha256: vec![],
            footer_sha256: String::new(),
        }
    }

    #[test]
    fn least_recently_used_files_go_first_and_the_cap_holds() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(CacheConfig {
            dir: dir.path().to_path_buf(),
            max_bytes: 250,
        })
        .unwrap();
        let t0 = SystemTime::now() - Duration::from_secs(100);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let p = cache.path(name);
            std::fs::write(&p, vec![0u8; 100]).unwrap();
            let f = std::fs::File::options().append(true).open(&p).unwrap();
            f.set_modified(t0 + Duration::from_secs(i as u64 * 10))
                .unwrap();
        }
        // Using `a` makes it the most recent; adding `d` must evict `b` and `c`, not `a`.
        assert!(cache.lookup(&entry("a", 100)).is_some());
        assert!(
            cache.lookup(&entry("b", 99)).is_none(),
            "wrong size is a miss"
        );
        let d = cache.path("d");
        std::fs::write(&d, vec![0u8; 100]).unwrap();
        cache.evict(&d);
        let left: Vec<bool> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| cache.path(n).exists())
            .collect();
        assert_eq!(left, [true, false, false, true]);
    }
}
