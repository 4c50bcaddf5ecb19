//! What a loader reads and how: sources, order, batches, threads, views, cache.

use serde::{Deserialize, Serialize};
use unimlip_shards::plan::{OrderConfig, Tail};

use crate::augment::Pipeline;
use crate::fetch::CacheConfig;

/// One dataset (or part of one) in the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Dataset root URL or path.
    pub url: String,
    /// Name in reports and in the cursor's mixture (defaults to the manifest's dataset name).
    #[serde(default)]
    pub name: Option<String>,
    /// Manifest splits to read (all when empty).
    #[serde(default)]
    pub splits: Vec<String>,
    /// A split file (`splits/<name>.parquet` of the dataset) and the part of it to keep, for
    /// example `("chexpert-lowdata-0.1", "train")`.
    #[serde(default)]
    pub split_file: Option<(String, String)>,
    /// Mixing weight (relative to the other sources).
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

impl SourceSpec {
    /// All rows of the dataset at `url`, weight 1.
    pub fn new(url: &str) -> SourceSpec {
        SourceSpec {
            url: url.to_string(),
            name: None,
            splits: Vec::new(),
            split_file: None,
            weight: 1.0,
        }
    }
}

/// Everything that determines a loader's output, plus its resource knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoaderConfig {
    /// The datasets, mixed by weight.
    pub sources: Vec<SourceSpec>,
    /// Seed of the order and of the augmentations.
    pub seed: u64,
    /// Canonical order parameters (the same on every rank and on resume).
    #[serde(default)]
    pub order: OrderConfig,
    /// Samples per batch on each rank.
    pub batch_size: usize,
    /// What to do with an epoch's remainder.
    #[serde(default = "drop_tail")]
    pub tail: Tail,
    /// Augmentation threads.
    pub threads: usize,
    /// The views of each sample.
    pub pipeline: Pipeline,
    /// Row groups fetched at once.
    #[serde(default = "inflight")]
    pub max_inflight: usize,
    /// Batches planned ahead of the workers.
    #[serde(default = "ahead")]
    pub prefetch_batches: usize,
    /// Local shard cache.
    #[serde(default)]
    pub cache: Option<CacheConfig>,
    /// Check each shard's SHA-256 against the manifest before its first use.
    #[serde(default = "yes")]
    pub verify: bool,
}

fn drop_tail() -> Tail {
    Tail::Drop
}
fn inflight() -> usize {
    8
}
fn ahead() -> usize {
    4
}
fn yes() -> bool {
    true
}

impl LoaderConfig {
    /// A config with defaults for everything but the sources, pipeline and batch size.
    pub fn new(sources: Vec<SourceSpec>, pipeline: Pipeline, batch_size: usize) -> LoaderConfig {
        LoaderConfig {
            sources,
            seed: 0,
            order: OrderConfig::default(),
            batch_size,
            tail: Tail::Drop,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pipeline,
            max_inflight: inflight(),
            prefetch_batches: ahead(),
            cache: None,
            verify: true,
        }
    }
}
