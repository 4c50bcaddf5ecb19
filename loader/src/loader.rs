//! The public face: open sources, stream an epoch from a cursor, hand out batches.

use std::collections::HashSet;
use std::sync::Arc;

use unimlip_shards::plan::{self, Block, Cursor, Order, epoch_end};
use unimlip_shards::{Manifest, Store, scan_meta, splits::read_split};

use crate::fetch::{Cache, Fetcher, SourceHandle};
use crate::pool::{self, Plan};
use crate::stats::{Stats, Summary};
use crate::{Error, LoaderConfig, Result, SourceSpec};

pub use crate::pool::{Batch, SampleRef, Stream};

/// An opened set of sources, ready to stream epochs from any cursor, on any rank.
#[derive(Debug)]
pub struct Loader {
    config: LoaderConfig,
    blocks: Vec<Vec<Block>>,
    fetcher: Arc<Fetcher>,
    runtime: Arc<tokio::runtime::Runtime>,
    /// Batch buffers kept between streams.
    spare: crate::pool::Spare,
    /// Worker and planner threads kept between streams.
    crew: crate::pool::CrewSlot,
    stats: Arc<Stats>,
}

impl Loader {
    /// Opens every source (manifest, blocks, split-file filter) and the cache.
    pub fn open(config: LoaderConfig) -> Result<Loader> {
        if config.sources.is_empty() {
            return Err(Error::Config("no sources".into()));
        }
        if config.batch_size == 0 || config.threads == 0 {
            return Err(Error::Config(
                "batch size and threads must be at least 1".into(),
            ));
        }
        if config.pipeline.views.is_empty() {
            return Err(Error::Config("the pipeline has no views".into()));
        }
        let mut handles = Vec::new();
        let mut blocks = Vec::new();
        for (i, spec) in config.sources.iter().enumerate() {
            if !(spec.weight.is_finite() && spec.weight > 0.0) {
                return Err(Error::Config(format!(
                    "source {}: weight must be positive",
                    spec.url
                )));
            }
            let (handle, b) = open_source(spec, i as u32)?;
            handles.push(handle);
            blocks.push(b);
        }
        let cache = config.cache.clone().map(Cache::open).transpose()?;
        let stats = Arc::new(Stats::default());
        let fetcher = Arc::new(Fetcher::new(handles, cache, config.verify, stats.clone()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("unimlip-fetch")
            .enable_all()
            .build()
            .map_err(|e| Error::Worker(e.to_string()))?;
        Ok(Loader {
            config,
            blocks,
            fetcher,
            runtime: Arc::new(runtime),
            spare: Default::default(),
            crew: Default::default(),
            stats,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Source names and weights: the mixture a cursor records.
    pub fn mixture(&self) -> Vec<(String, f64)> {
        self.fetcher
            .sources()
            .iter()
            .zip(&self.config.sources)
            .map(|(h, s)| (h.name.clone(), s.weight))
            .collect()
    }

    /// The cursor at the start of `epoch`.
    pub fn start(&self, epoch: u64) -> Cursor {
        Cursor {
            seed: self.config.seed,
            epoch,
            position: 0,
            mixture: self.mixture(),
        }
    }

    /// The order of an epoch.
    pub fn order(&self, epoch: u64) -> Order {
        let sources: Vec<plan::Mixture<'_>> = self
            .blocks
            .iter()
            .zip(&self.config.sources)
            .map(|(b, s)| (b.as_slice(), s.weight))
            .collect();
        let blocks = plan::mix(&sources, self.config.seed, epoch);
        Order::new(&blocks, self.config.seed, epoch, self.config.order)
    }

    /// Streams the rest of the cursor's epoch for rank `rank` of `world`: equal batches on every
    /// rank, in the order of the global sequence. Each batch carries the cursor to save after
    /// it.
    pub fn stream(&self, cursor: &Cursor, rank: u32, world: u32) -> Result<Stream> {
        if cursor.seed != self.config.seed {
            return Err(Error::Resume(format!(
                "the cursor has seed {}, this loader {}",
                cursor.seed, self.config.seed
            )));
        }
        if !cursor.mixture.is_empty() && cursor.mixture != self.mixture() {
            return Err(Error::Resume(format!(
                "the cursor was saved for the mixture {:?}, this loader reads {:?}",
                cursor.mixture,
                self.mixture()
            )));
        }
        if world == 0 || rank >= world {
            return Err(Error::Config(format!("rank {rank} of world {world}")));
        }
        let order = Arc::new(self.order(cursor.epoch));
        let n = order.len();
        if cursor.position
            > n.max(epoch_end(
                n,
                world,
                self.config.batch_size as u32,
                self.config.tail,
            ))
        {
            return Err(Error::Resume(format!(
                "position {} is past the epoch's {n} samples",
                cursor.position
            )));
        }
        let step = world as u64 * self.config.batch_size as u64;
        let left = epoch_end(
            n.saturating_sub(cursor.position),
            world,
            self.config.batch_size as u32,
            self.config.tail,
        );
        let plan = Plan {
            order,
            seed: self.config.seed,
            epoch: cursor.epoch,
            mixture: self.mixture(),
            from: cursor.position,
            batches: left / step,
            rank,
            world,
            batch_size: self.config.batch_size,
        };
        pool::start(
            plan,
            &self.config,
            self.fetcher.clone(),
            self.runtime.clone(),
            self.stats.clone(),
            self.spare.clone(),
            self.crew.clone(),
        )
    }

    /// The loader's counters so far.
    pub fn summary(&self) -> Summary {
        self.stats.summary()
    }
}

fn open_source(spec: &SourceSpec, index: u32) -> Result<(SourceHandle, Vec<Block>)> {
    let store = Store::open_existing(&spec.url)?;
    let manifest = Manifest::load(&store)?;
    let splits: Vec<&str> = spec.splits.iter().map(String::as_str).collect();
    let mut blocks = match &spec.split_file {
        None => plan::blocks(&manifest, &splits, None),
        Some((name, part)) => {
            let keep: HashSet<String> = read_split(&store, name)?
                .into_iter()
                .filter(|(_, p)| p == part)
                .map(|(id, _)| id)
                .collect();
            if keep.is_empty() {
                return Err(Error::Config(format!(
                    "split {name} of {} has no `{part}` entries",
                    store.url()
                )));
            }
            let ids: Vec<String> = scan_meta(&store, &manifest)?
                .into_iter()
                .map(|r| r.id)
                .collect();
            let f = |id: &str| keep.contains(id);
            plan::blocks(&manifest, &splits, Some((&ids, &f)))
        }
    };
    for b in &mut blocks {
        b.source = index;
    }
    if blocks.is_empty() {
        return Err(Error::Config(format!(
            "{} has no rows in splits {:?}",
            store.url(),
            spec.splits
        )));
    }
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| manifest.dataset.clone());
    Ok((
        SourceHandle {
            name,
            store,
            manifest,
        },
        blocks,
    ))
}
