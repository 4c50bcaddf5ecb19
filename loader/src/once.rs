//! "Each row once": a loader that yields every row of its sources exactly once, in a fixed
//! order, for evaluation and held-out scoring.

use crate::{Batch, Loader, LoaderConfig, Pipeline, Result, SourceSpec, Tail};

/// Rows per batch of an each-row-once loader.
const ONCE_BATCH: usize = 32;

impl Loader {
    /// A loader that yields every row of `sources` once, in a fixed order, through `pipeline`
    /// (the last batch is padded; [`Loader::each_once`] skips the padding).
    pub fn once(sources: Vec<SourceSpec>, pipeline: Pipeline, threads: usize) -> Result<Loader> {
        Loader::once_batched(sources, pipeline, threads, ONCE_BATCH)
    }

    /// [`Loader::once`] with `batch` rows per batch.
    pub fn once_batched(
        sources: Vec<SourceSpec>,
        pipeline: Pipeline,
        threads: usize,
        batch: usize,
    ) -> Result<Loader> {
        let mut c = LoaderConfig::new(sources, pipeline, batch.max(1));
        c.tail = Tail::Pad;
        c.threads = threads.max(1);
        Loader::open(c)
    }

    /// Calls `f` with each batch of epoch 0 and the indices of its rows among the first `limit`
    /// positions (all when `None`), so every row is seen once and padding never; returns the
    /// rows seen.
    pub fn each_once<E: From<crate::Error>>(
        &self,
        limit: Option<u64>,
        mut f: impl FnMut(&Batch, &[usize]) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let n = self.order(0).len();
        let limit = limit.map_or(n, |m| m.min(n));
        let mut seen = 0u64;
        for batch in self.stream(&self.start(0), 0, 1)? {
            let batch = batch?;
            let keep: Vec<usize> = (0..batch.len())
                .filter(|&i| batch.samples()[i].position < limit)
                .collect();
            if keep.is_empty() {
                break;
            }
            f(&batch, &keep)?;
            seen += keep.len() as u64;
            if seen >= limit {
                break;
            }
        }
        Ok(seen)
    }
}
