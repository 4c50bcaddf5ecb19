//! Fetching row groups from object storage: footers, shard hashes, the cache, retries.
//!
//! A block (one row group) is one ranged read covering the columns the loader needs; the
//! footer of each shard is read once. Every byte used is checked against the manifest before a
//! block is handed out: each row group and the footer against their own hashes (or, for a
//! manifest without them, the whole shard once), whether read from the store or from the local
//! cache. A cached copy found damaged is evicted and fetched again, and counted.

mod block;
mod cache;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
use sha2::{Digest, Sha256};
use unimlip_shards::{Manifest, ShardEntry, Store};

pub use block::{BlockData, BlockRef, COLUMNS};
pub use cache::{Cache, CacheConfig};

use crate::stats::Stats;
use crate::{Error, Result};

/// One opened dataset: where it is and what its manifest says.
#[derive(Debug, Clone)]
pub struct SourceHandle {
    /// The source's name (for reports and the cursor's mixture).
    pub name: String,
    /// The dataset root.
    pub store: Store,
    /// Its manifest.
    pub manifest: Manifest,
}

#[derive(Debug, Clone)]
struct ShardState {
    meta: ArrowReaderMetadata,
    /// The cached copy, when the cache is on.
    local: Option<PathBuf>,
    /// Whether each row group is checked against its own hash when read, from the store or
    /// from the cache (the manifest has block hashes).
    check_blocks: bool,
}

type ShardCell = Arc<tokio::sync::OnceCell<ShardState>>;

/// Fetches and decodes blocks; shared by the planner's async tasks.
#[derive(Debug)]
pub struct Fetcher {
    sources: Vec<SourceHandle>,
    cache: Option<Cache>,
    verify: bool,
    stats: Arc<Stats>,
    shards: Mutex<HashMap<(u32, u32), ShardCell>>,
    /// Cached files replaced this run after damage was found in them.
    replaced: tokio::sync::Mutex<HashSet<PathBuf>>,
    /// The first read that spent the whole I/O budget: once set, every read fails at once.
    unavailable: std::sync::OnceLock<String>,
}

const ATTEMPTS: u32 = 4;
const FOOTER_GUESS: u64 = 64 * 1024;

impl Fetcher {
    /// A fetcher over `sources`; `verify` checks each shard's hash once before use.
    pub fn new(
        sources: Vec<SourceHandle>,
        cache: Option<Cache>,
        verify: bool,
        stats: Arc<Stats>,
    ) -> Fetcher {
        Fetcher {
            sources,
            cache,
            verify,
            stats,
            shards: Mutex::new(HashMap::new()),
            replaced: Default::default(),
            unavailable: std::sync::OnceLock::new(),
        }
    }

    /// The sources.
    pub fn sources(&self) -> &[SourceHandle] {
        &self.sources
    }

    fn entry(&self, source: u32, shard: u32) -> (&SourceHandle, &ShardEntry) {
        let s = &self.sources[source as usize];
        (s, &s.manifest.shards[shard as usize])
    }

    /// Fetches and decodes one block: `(source, shard, row_group)`.
    pub async fn block(&self, key: (u32, u32, u32)) -> Result<BlockRef> {
        let (source, shard, rg) = key;
        let t0 = Instant::now();
        let state = self.shard(source, shard).await?;
        let (src, entry) = self.entry(source, shard);
        let range = if state.check_blocks {
            unimlip_shards::row_group_range(state.meta.metadata(), rg as usize)
        } else {
            BlockData::byte_range(&state.meta, rg as usize)
        };
        let local = state.local.as_ref();
        let mut bytes = self.read(&src.store, entry, local, range.clone()).await?;
        if state.check_blocks && !self.block_ok(entry, rg, &bytes).await? {
            let damaged = || Error::CorruptShard {
                path: entry.path.clone(),
                store: src.store.url().to_string(),
                reason: format!("row group {rg} does not match its sha256 in the manifest"),
            };
            // A damaged cached copy is replaced by the store's (whose every byte is checked on
            // the way in) and the row group read again; the store's own copy being damaged is
            // an error.
            let (Some(path), Some(cache)) = (local, &self.cache) else {
                return Err(damaged());
            };
            self.replace_cached(cache, src, entry, path, &format!("row group {rg}"))
                .await?;
            bytes = self.read(&src.store, entry, local, range.clone()).await?;
            if !self.block_ok(entry, rg, &bytes).await? {
                return Err(damaged());
            }
        }
        self.stats
            .bytes_fetched
            .fetch_add(bytes.len() as u64, Relaxed);
        let (path, len, meta) = (entry.path.clone(), entry.bytes, state.meta.clone());
        let block = tokio::task::spawn_blocking(move || {
            BlockData::decode(&path, &meta, rg as usize, range.start, bytes, len)
        })
        .await
        .map_err(|e| Error::Worker(e.to_string()))??;
        self.stats.blocks_fetched.fetch_add(1, Relaxed);
        Stats::time(&self.stats.fetch_ns, t0);
        Ok(Arc::new(block))
    }

    /// Whether a row group's bytes match their hash in the manifest.
    async fn block_ok(&self, entry: &ShardEntry, rg: u32, bytes: &Bytes) -> Result<bool> {
        let t = Instant::now();
        let (b, w) = (bytes.clone(), entry.row_group_sha256[rg as usize].clone());
        let ok = tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&b)) == w)
            .await
            .map_err(|e| Error::Worker(e.to_string()))?;
        Stats::time(&self.stats.verify_ns, t);
        Ok(ok)
    }

    async fn shard(&self, source: u32, shard: u32) -> Result<ShardState> {
        let cell = self
            .shards
            .lock()
            .expect("shard table")
            .entry((source, shard))
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.open_shard(source, shard))
            .await
            .cloned()
    }

    async fn open_shard(&self, source: u32, shard: u32) -> Result<ShardState> {
        let (src, entry) = self.entry(source, shard);
        // With block hashes each row group is checked when read, from the store or from the
        // cache alike, so opening a shard costs its footer, not a pass over the whole file.
        let check_blocks = self.verify && entry.has_block_hashes();
        let Some(cache) = &self.cache else {
            if self.verify && !check_blocks {
                self.hash_shard(&src.store, entry).await?;
            }
            let meta = self.footer(&src.store, entry, None, check_blocks).await?;
            if check_blocks {
                self.stats.shards_verified.fetch_add(1, Relaxed);
            }
            return Ok(ShardState {
                meta,
                local: None,
                check_blocks,
            });
        };
        let (local, fresh) = match cache.lookup(entry) {
            Some(p) => {
                self.stats.cache_hits.fetch_add(1, Relaxed);
                (p, false)
            }
            None => (self.fill(cache, &src.store, entry).await?.0, true),
        };
        let meta = match self
            .open_cached(entry, src, &local, check_blocks, fresh)
            .await
        {
            Ok(meta) => meta,
            Err(e @ Error::CorruptShard { .. }) if !fresh => {
                self.replace_cached(cache, src, entry, &local, &e.to_string())
                    .await?;
                self.footer(&src.store, entry, Some(&local), check_blocks)
                    .await?
            }
            Err(e) => return Err(e),
        };
        Ok(ShardState {
            meta,
            local: Some(local),
            check_blocks,
        })
    }

    /// The footer of a cached shard, checked as one read from the store: against its hash when
    /// the manifest has block hashes, else (older manifests) the whole file once, unless it was
    /// just downloaded (and hashed on the way in).
    async fn open_cached(
        &self,
        entry: &ShardEntry,
        src: &SourceHandle,
        local: &PathBuf,
        check_blocks: bool,
        fresh: bool,
    ) -> Result<ArrowReaderMetadata> {
        if self.verify && !check_blocks && !fresh {
            let t0 = Instant::now();
            let path = local.clone();
            let (size, sha) = tokio::task::spawn_blocking(move || hash_file(&path))
                .await
                .map_err(|e| Error::Worker(e.to_string()))??;
            Stats::time(&self.stats.verify_ns, t0);
            cache::check(&src.store, entry, size, &sha)?;
            self.stats.shards_verified.fetch_add(1, Relaxed);
        }
        self.footer(&src.store, entry, Some(local), check_blocks)
            .await
    }

    /// Evicts a damaged cached shard and downloads it again (once per shard and run: a second
    /// reader that finds the same damage reads the new copy); counted and logged.
    async fn replace_cached(
        &self,
        cache: &Cache,
        src: &SourceHandle,
        entry: &ShardEntry,
        path: &PathBuf,
        what: &str,
    ) -> Result<()> {
        let mut replaced = self.replaced.lock().await;
        if !replaced.insert(path.clone()) {
            return Ok(());
        }
        tracing::warn!(
            "the cached copy of {}/{} is damaged ({what}): evicted, fetching it again",
            src.store.url(),
            entry.path
        );
        self.stats.cache_corrupt.fetch_add(1, Relaxed);
        let _ = std::fs::remove_file(path);
        self.fill(cache, &src.store, entry).await?;
        Ok(())
    }

    async fn hash_shard(&self, store: &Store, entry: &ShardEntry) -> Result<()> {
        let t0 = Instant::now();
        let (size, sha) = match store.local_path(&entry.path) {
            // A local file: large reads on a blocking thread (the object-store stream of a
            // local file comes in 8 KiB pieces).
            Some(path) => tokio::task::spawn_blocking(move || hash_file(&path))
                .await
                .map_err(|e| Error::Worker(e.to_string()))??,
            None => cache::hash_object(store, entry, |_| Ok(())).await?,
        };
        cache::check(store, entry, size, &sha)?;
        self.stats.shards_verified.fetch_add(1, Relaxed);
        Stats::time(&self.stats.verify_ns, t0);
        Ok(())
    }

    async fn read(
        &self,
        store: &Store,
        entry: &ShardEntry,
        local: Option<&PathBuf>,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes> {
        let (Some(path), Some(cache)) = (local, &self.cache) else {
            return self.get_range(store, &entry.path, range).await;
        };
        if let Some(b) = Cache::read_range(path, range.clone())? {
            return Ok(b);
        }
        // Evicted by another job (or by this one, under a small cap): fetch it again and read
        // through the new file's handle, which eviction cannot take away.
        let (path, file) = self.fill(cache, store, entry).await?;
        Cache::read_at(&file, &path, range)
    }

    async fn fill(
        &self,
        cache: &Cache,
        store: &Store,
        entry: &ShardEntry,
    ) -> Result<(PathBuf, std::fs::File)> {
        let t0 = Instant::now();
        let got = cache.fill(store, entry).await?;
        self.stats.cache_misses.fetch_add(1, Relaxed);
        self.stats.shards_verified.fetch_add(1, Relaxed);
        Stats::time(&self.stats.verify_ns, t0);
        Ok(got)
    }

    async fn footer(
        &self,
        store: &Store,
        entry: &ShardEntry,
        local: Option<&PathBuf>,
        check: bool,
    ) -> Result<ArrowReaderMetadata> {
        let corrupt = |reason: String| Error::CorruptShard {
            path: entry.path.clone(),
            store: store.url().to_string(),
            reason,
        };
        let size = entry.bytes;
        if size < 12 {
            return Err(corrupt(format!("{size} bytes is too short for Parquet")));
        }
        let guess = FOOTER_GUESS.min(size);
        let tail = self.read(store, entry, local, size - guess..size).await?;
        let last8: [u8; 8] = tail[tail.len() - 8..].try_into().expect("8 bytes");
        let footer = FooterTail::try_new(&last8).map_err(|e| corrupt(e.to_string()))?;
        let meta_len = footer.metadata_length() as u64;
        if meta_len + 8 > size {
            return Err(corrupt(format!("footer claims {meta_len} bytes")));
        }
        let meta_bytes = if meta_len + 8 <= guess {
            tail.slice((guess - 8 - meta_len) as usize..(guess - 8) as usize)
        } else {
            self.read(store, entry, local, size - 8 - meta_len..size - 8)
                .await?
        };
        self.stats
            .bytes_fetched
            .fetch_add(tail.len() as u64, Relaxed);
        let md = ParquetMetaDataReader::decode_metadata(&meta_bytes)
            .map_err(|e| corrupt(e.to_string()))?;
        if check {
            let start = unimlip_shards::footer_start(&md).min(size);
            let footer = if start >= size - guess {
                tail.slice((start - (size - guess)) as usize..)
            } else {
                self.read(store, entry, local, start..size).await?
            };
            if hex::encode(Sha256::digest(&footer)) != entry.footer_sha256 {
                return Err(corrupt(
                    "the footer does not match its sha256 in the manifest".into(),
                ));
            }
        }
        let expected = entry.row_groups.len();
        if md.num_row_groups() != expected {
            return Err(corrupt(format!(
                "{} row groups, the manifest says {expected}",
                md.num_row_groups()
            )));
        }
        let md = Arc::new(md);
        let plain = ArrowReaderMetadata::try_new(md.clone(), ArrowReaderOptions::new())
            .map_err(|e| corrupt(e.to_string()))?;
        // Read the images as BinaryView: the views point into the fetched pages, so the image
        // bytes are never copied again.
        let fields: Vec<arrow_schema::FieldRef> = plain
            .schema()
            .fields()
            .iter()
            .map(|f| {
                if f.name() == "image" && f.data_type() == &arrow_schema::DataType::Binary {
                    Arc::new(
                        f.as_ref()
                            .clone()
                            .with_data_type(arrow_schema::DataType::BinaryView),
                    )
                } else {
                    f.clone()
                }
            })
            .collect();
        let hint = Arc::new(arrow_schema::Schema::new_with_metadata(
            fields,
            plain.schema().metadata().clone(),
        ));
        ArrowReaderMetadata::try_new(md, ArrowReaderOptions::new().with_schema(hint))
            .map_err(|e| corrupt(e.to_string()))
    }

    /// A ranged read with retries (backoff 50 ms, ×4) on errors other than a missing object,
    /// while the read is younger than the I/O budget (`--io-timeout`): the store's client
    /// retries inside the same budget, so a stalled store fails the read after about one
    /// budget, not several.
    async fn get_range(
        &self,
        store: &Store,
        path: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes> {
        let (start, budget) = (Instant::now(), unimlip_shards::io_timeout());
        let mut attempt = 0;
        loop {
            if let Some(first) = self.unavailable.get() {
                return Err(Error::Unavailable(first.clone()));
            }
            match store.get_range_async(path, range.clone()).await {
                Ok(b) => return Ok(b),
                Err(e @ unimlip_shards::Error::NotFound { .. }) => return Err(e.into()),
                // Retries spent (the store's within the budget, then these): the store is
                // unavailable, and every read queued behind this one fails at once.
                Err(e) if attempt + 1 >= ATTEMPTS || start.elapsed() >= budget => {
                    let shown = format!("{}: {e}", store.url());
                    return Err(Error::Unavailable(
                        self.unavailable.get_or_init(|| shown).clone(),
                    ));
                }
                Err(e) => {
                    tracing::debug!("retrying a read of {path}: {e}");
                    self.stats.retries.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(50 << (2 * attempt))).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// Size and hex SHA-256 of a local file.
fn hash_file(path: &std::path::Path) -> Result<(u64, String)> {
    use std::io::Read;
    let err = |e: std::io::Error| {
        Error::Shards(unimlip_shards::Error::Io {
            path: path.to_path_buf(),
            cause: e,
        })
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut buf = vec![0u8; 4 << 20];
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}
