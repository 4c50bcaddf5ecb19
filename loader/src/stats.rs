//! Per-stage counters of a running loader, and their summary (text or JSON).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde::Serialize;

/// Counters updated by the fetcher, the workers and the consumer (relaxed atomics: cheap, and
/// each counter is only ever summed).
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    /// Bytes fetched from storage or the cache (row groups and footers).
    pub bytes_fetched: AtomicU64,
    /// Row groups fetched.
    pub blocks_fetched: AtomicU64,
    /// Wall time spent fetching row groups, summed over fetches (ns).
    pub fetch_ns: AtomicU64,
    /// Shards whose hash was checked.
    pub shards_verified: AtomicU64,
    /// Time spent hashing shards (ns).
    pub verify_ns: AtomicU64,
    /// Shards found in the local cache.
    pub cache_hits: AtomicU64,
    /// Shards downloaded into the local cache.
    pub cache_misses: AtomicU64,
    /// Cached shards found damaged (a row group, the footer or the whole file not matching the
    /// manifest), evicted and fetched again.
    pub cache_corrupt: AtomicU64,
    /// Storage reads retried after a transient error.
    pub retries: AtomicU64,
    /// Samples delivered.
    pub samples: AtomicU64,
    /// Time spent decoding images, summed over workers (ns).
    pub decode_ns: AtomicU64,
    /// Time spent augmenting, summed over workers (ns).
    pub augment_ns: AtomicU64,
    /// Samples that failed to decode and were replaced.
    pub replaced: AtomicU64,
    /// Batches delivered.
    pub batches: AtomicU64,
    /// Time the consumer waited for a batch (ns).
    pub consumer_wait_ns: AtomicU64,
    /// Sum of the job queue's depth, sampled at each batch.
    pub job_depth_sum: AtomicU64,
    /// Sum of the finished-batch queue's depth, sampled at each batch.
    pub ready_depth_sum: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            start: Instant::now(),
            bytes_fetched: AtomicU64::new(0),
            blocks_fetched: AtomicU64::new(0),
            fetch_ns: AtomicU64::new(0),
            shards_verified: AtomicU64::new(0),
            verify_ns: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            cache_corrupt: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            decode_ns: AtomicU64::new(0),
            augment_ns: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            consumer_wait_ns: AtomicU64::new(0),
            job_depth_sum: AtomicU64::new(0),
            ready_depth_sum: AtomicU64::new(0),
        }
    }
}

/// A snapshot of [`Stats`] with rates, as printed by `unimlip bench loader`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Seconds since the loader opened.
    pub elapsed_s: f64,
    /// Samples delivered.
    pub samples: u64,
    /// Samples delivered per second.
    pub samples_per_s: f64,
    /// Batches delivered.
    pub batches: u64,
    /// Bytes fetched.
    pub bytes_fetched: u64,
    /// Fetched MB (10^6 bytes) per second of wall time.
    pub fetch_mb_per_s: f64,
    /// Row groups fetched.
    pub blocks_fetched: u64,
    /// Mean time to fetch one row group (ms).
    pub fetch_ms_per_block: f64,
    /// Shards whose hash was checked.
    pub shards_verified: u64,
    /// Time spent hashing shards (s).
    pub verify_s: f64,
    /// Shards served from the local cache.
    pub cache_hits: u64,
    /// Shards downloaded into the local cache.
    pub cache_misses: u64,
    /// Cached shards found damaged, evicted and fetched again.
    pub cache_corrupt: u64,
    /// Storage reads retried.
    pub retries: u64,
    /// Mean decode time per sample, one thread (ms).
    pub decode_ms_per_sample: f64,
    /// Mean augmentation time per sample, all views, one thread (ms).
    pub augment_ms_per_sample: f64,
    /// Samples replaced because they did not decode.
    pub replaced: u64,
    /// Seconds the consumer waited for batches.
    pub consumer_wait_s: f64,
    /// Mean number of batches waiting for a worker.
    pub mean_job_queue: f64,
    /// Mean number of finished batches waiting for the consumer.
    pub mean_ready_queue: f64,
}

impl Stats {
    /// Adds `since.elapsed()` to a nanosecond counter.
    pub fn time(counter: &AtomicU64, since: Instant) {
        counter.fetch_add(since.elapsed().as_nanos() as u64, Relaxed);
    }

    /// The current figures.
    pub fn summary(&self) -> Summary {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let elapsed = self.start.elapsed().as_secs_f64().max(1e-9);
        let samples = g(&self.samples);
        let per_sample = |ns: u64| ns as f64 / 1e6 / samples.max(1) as f64;
        let batches = g(&self.batches);
        let blocks = g(&self.blocks_fetched);
        Summary {
            elapsed_s: elapsed,
            samples,
            samples_per_s: samples as f64 / elapsed,
            batches,
            bytes_fetched: g(&self.bytes_fetched),
            fetch_mb_per_s: g(&self.bytes_fetched) as f64 / 1e6 / elapsed,
            blocks_fetched: blocks,
            fetch_ms_per_block: g(&self.fetch_ns) as f64 / 1e6 / blocks.max(1) as f64,
            shards_verified: g(&self.shards_verified),
            verify_s: g(&self.verify_ns) as f64 / 1e9,
            cache_hits: g(&self.cache_hits),
            cache_misses: g(&self.cache_misses),
            cache_corrupt: g(&self.cache_corrupt),
            retries: g(&self.retries),
            decode_ms_per_sample: per_sample(g(&self.decode_ns)),
            augment_ms_per_sample: per_sample(g(&self.augment_ns)),
            replaced: g(&self.replaced),
            consumer_wait_s: g(&self.consumer_wait_ns) as f64 / 1e9,
            mean_job_queue: g(&self.job_depth_sum) as f64 / batches.max(1) as f64,
            mean_ready_queue: g(&self.ready_depth_sum) as f64 / batches.max(1) as f64,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "samples   {} in {} batches, {:.2} s, {:.1} samples/s",
            self.samples, self.batches, self.elapsed_s, self.samples_per_s
        )?;
        writeln!(
            f,
            "fetch     {:.1} MB in {} row groups, {:.1} MB/s, {:.1} ms per row group, {} retries",
            self.bytes_fetched as f64 / 1e6,
            self.blocks_fetched,
            self.fetch_mb_per_s,
            self.fetch_ms_per_block,
            self.retries
        )?;
        writeln!(
            f,
            "verify    {} shards hashed in {:.2} s; cache {} hits, {} downloads, {} damaged and replaced",
            self.shards_verified,
            self.verify_s,
            self.cache_hits,
            self.cache_misses,
            self.cache_corrupt
        )?;
        writeln!(
            f,
            "workers   decode {:.3} ms, augment {:.3} ms per sample (one thread); {} replaced",
            self.decode_ms_per_sample, self.augment_ms_per_sample, self.replaced
        )?;
        write!(
            f,
            "queues    {:.1} batches waiting for a worker, {:.1} ready; consumer waited {:.2} s",
            self.mean_job_queue, self.mean_ready_queue, self.consumer_wait_s
        )
    }
}
