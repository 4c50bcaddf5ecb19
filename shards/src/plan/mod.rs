//! The global sample order of an epoch and each rank's and worker's slice of it.
//!
//! The order is a pure function of `(seed, epoch)` over the canonical list of blocks (one block
//! per row group, in manifest order, possibly from several weighted sources: see [`mix`]), and
//! never of the number of ranks or workers:
//!
//! 1. the blocks are permuted, and their rows laid end to end into one sequence `S` of `N`
//!    samples;
//! 2. `S` is cut into *windows* of `window` consecutive samples (the shuffle window: what one
//!    rank holds in memory at a time is its share of one or two windows);
//! 3. a window is cut into `C` contiguous *lanes* of near-equal length (`C` = 840 by default,
//!    divisible by every world size 1–8), each lane is shuffled on its own, and position `q` of
//!    the window is entry `q / C` of lane `rev(q mod C)`, where `rev` reverses the digits of
//!    `q mod C` written in the mixed radix of `C`'s prime factors (smallest first). A window
//!    shorter than `4 C` is shuffled as a whole instead.
//!
//! Position `p` goes to rank `p mod W`, and within a rank the `j`-th position to worker
//! `j mod K`. The digit reversal makes the lanes of one residue mod `W` contiguous whenever `W`
//! is a power of two dividing `C` (1, 2, 4, 8 with the default), so a rank then reads only about
//! `1/W` of each window's row groups. [`LaneDigits::ThreeFirst`] orders the digits with the 3
//! first (3, 2, 2, 2, 5, 7), which does the same for W = 3, 6, 12 and 24 at the cost of three
//! runs of lanes per rank for W = 2, 4, 8; any other `W` is just as correct, with every rank
//! reading more of the window's row groups. The whole resume state is [`Cursor`]: the number of positions
//! consumed. Any world size can continue from it, without duplicates or losses.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

mod mixture;

pub use mixture::{Mixture, mix};

/// Default number of canonical lanes per window: lcm(1..=8) = 840.
pub const DEFAULT_LANES: u32 = 840;
/// Default shuffle window, in samples.
pub const DEFAULT_WINDOW: u64 = 16_384;

/// The canonical parameters of an order (the same on every rank of a job, and on resume).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderConfig {
    /// Lanes per window.
    pub lanes: u32,
    /// Samples per shuffle window.
    pub window: u64,
    /// The order of the lane count's prime factors in the digit reversal: which world sizes
    /// read only their share of a window.
    #[serde(default)]
    pub digits: LaneDigits,
}

impl Default for OrderConfig {
    fn default() -> Self {
        OrderConfig {
            lanes: DEFAULT_LANES,
            window: DEFAULT_WINDOW,
            digits: LaneDigits::TwosFirst,
        }
    }
}

/// The order of the digits of the lane index (the radix of the digit reversal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaneDigits {
    /// Smallest prime first (2, 2, 2, 3, 5, 7 for 840 lanes): a rank of W = 2, 4, 8 reads one
    /// contiguous run of lanes, about 1/W of a window's row groups.
    #[default]
    TwosFirst,
    /// The 3s first (3, 2, 2, 2, 5, 7): one run for W = 3, 6, 12, 24, three for W = 2, 4, 8.
    ThreeFirst,
}

impl LaneDigits {
    /// The radix of the digit reversal for `lanes` lanes.
    pub fn radix(self, lanes: u64) -> Vec<u64> {
        let mut f = factors(lanes);
        if self == LaneDigits::ThreeFirst {
            f.sort_by_key(|&p| (p != 3, p));
        }
        f
    }

    /// Parses `twos-first` or `three-first`.
    pub fn parse(s: &str) -> Option<LaneDigits> {
        match s {
            "twos-first" => Some(LaneDigits::TwosFirst),
            "three-first" => Some(LaneDigits::ThreeFirst),
            _ => None,
        }
    }
}

/// One row group, with the rows of it that are in use (all of them, or those a split keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Index of the source (dataset) in a mixture; 0 for a single dataset.
    pub source: u32,
    /// Index of the shard in the source's manifest.
    pub shard: u32,
    /// Row group within the shard.
    pub row_group: u32,
    /// Rows of the row group in use, in ascending order (a row may repeat in a mixture that
    /// oversamples its source).
    pub rows: Vec<u32>,
}

/// One sample: where its row lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sample {
    /// Index of the source in a mixture.
    pub source: u32,
    /// Index of the shard in the source's manifest.
    pub shard: u32,
    /// Row group within the shard.
    pub row_group: u32,
    /// Row within the row group.
    pub row: u32,
}

impl Sample {
    /// The (source, shard, row group) block this sample is in.
    pub fn block_key(&self) -> (u32, u32, u32) {
        (self.source, self.shard, self.row_group)
    }
}

/// The resume state: how far an epoch has been consumed, by all ranks together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Seed of the run.
    pub seed: u64,
    /// Epoch being read.
    pub epoch: u64,
    /// Positions of the epoch already consumed (all ranks, all workers).
    pub position: u64,
    /// The mixture the order was built from (sources and weights); a resume must use the same.
    #[serde(default)]
    pub mixture: Vec<(String, f64)>,
}

/// The order of one epoch.
#[derive(Debug)]
pub struct Order {
    blocks: Vec<Block>,
    /// Start of each permuted block in `S`.
    starts: Vec<u64>,
    n: u64,
    config: OrderConfig,
    seed: u64,
    epoch: u64,
    radix: Vec<u64>,
    /// Lane starts (by lane index) inside a full window, and inside the last one.
    full: Lanes,
    last: Lanes,
}

/// The lane layout of a window of one length.
#[derive(Debug, Default)]
struct Lanes {
    len: u64,
    /// Whether the window is cut into lanes (else shuffled whole).
    laned: bool,
    /// Start of each lane (indexed by lane) within the window.
    start: Vec<u64>,
}

/// SplitMix64: derives independent seeds from (seed, epoch, salt).
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn rng(seed: u64, epoch: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix(splitmix(splitmix(seed) ^ epoch) ^ salt))
}

/// Prime factors of `c`, smallest first.
fn factors(mut c: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut f = 2;
    while c > 1 {
        while c.is_multiple_of(f) {
            out.push(f);
            c /= f;
        }
        f += 1;
    }
    out
}

/// `s` written in the mixed radix `radix` (least significant digit first), digits reversed.
fn reverse_digits(mut s: u64, radix: &[u64]) -> u64 {
    let mut out = 0;
    for r in radix {
        out = out * r + s % r;
        s /= r;
    }
    out
}

impl Lanes {
    fn new(len: u64, lanes: u64, radix: &[u64]) -> Lanes {
        if len < 4 * lanes || lanes == 1 {
            return Lanes {
                len,
                laned: false,
                start: Vec::new(),
            };
        }
        let (base, extra) = (len / lanes, len % lanes);
        // Slot s (a residue of the position) has base + (s < extra) entries; lane rev(s) holds it.
        let mut lane_len = vec![0u64; lanes as usize];
        for s in 0..lanes {
            lane_len[reverse_digits(s, radix) as usize] = base + u64::from(s < extra);
        }
        let mut start = Vec::with_capacity(lanes as usize);
        let mut at = 0;
        for l in lane_len {
            start.push(at);
            at += l;
        }
        Lanes {
            len,
            laned: true,
            start,
        }
    }
}

impl Order {
    /// The order of `epoch` over `blocks` (given in canonical order).
    pub fn new(blocks: &[Block], seed: u64, epoch: u64, config: OrderConfig) -> Order {
        let mut permuted = blocks.to_vec();
        permuted.shuffle(&mut rng(seed, epoch, u64::MAX));
        let mut starts = Vec::with_capacity(permuted.len());
        let mut n = 0u64;
        for b in &permuted {
            starts.push(n);
            n += b.rows.len() as u64;
        }
        let config = OrderConfig {
            lanes: config.lanes.max(1),
            window: config.window.max(1),
            digits: config.digits,
        };
        let lanes = config.lanes as u64;
        let radix = config.digits.radix(lanes);
        let full = Lanes::new(config.window.min(n), lanes, &radix);
        let tail = if n.is_multiple_of(config.window) {
            config.window.min(n)
        } else {
            n % config.window
        };
        let last = Lanes::new(tail, lanes, &radix);
        Order {
            blocks: permuted,
            starts,
            n,
            config,
            seed,
            epoch,
            radix,
            full,
            last,
        }
    }

    /// Samples in the epoch.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether the epoch is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The parameters the order was built with.
    pub fn config(&self) -> OrderConfig {
        self.config
    }

    /// Number of windows in the epoch.
    pub fn windows(&self) -> u64 {
        self.n.div_ceil(self.config.window)
    }

    /// The window that holds position `p`, and the positions it spans.
    pub fn window_of(&self, p: u64) -> (u64, std::ops::Range<u64>) {
        let j = p / self.config.window;
        let start = j * self.config.window;
        (j, start..(start + self.config.window).min(self.n))
    }

    fn layout(&self, j: u64) -> &Lanes {
        if j + 1 == self.windows() {
            &self.last
        } else {
            &self.full
        }
    }

    fn lane_perm(&self, j: u64, lane: u64, len: u64) -> Vec<u32> {
        let mut p: Vec<u32> = (0..len as u32).collect();
        p.shuffle(&mut rng(self.seed, self.epoch, splitmix(j + 1) ^ lane));
        p
    }

    fn lane_len(&self, lanes: &Lanes, lane: u64) -> u64 {
        let next = lanes
            .start
            .get(lane as usize + 1)
            .copied()
            .unwrap_or(lanes.len);
        next - lanes.start[lane as usize]
    }

    /// Index in `S` of window position `q` of window `j`.
    fn offset_in_window(&self, j: u64, q: u64) -> u64 {
        let layout = self.layout(j);
        if !layout.laned {
            return self.lane_perm(j, u64::MAX, layout.len)[q as usize] as u64;
        }
        let c = self.config.lanes as u64;
        let lane = reverse_digits(q % c, &self.radix);
        let len = self.lane_len(layout, lane);
        layout.start[lane as usize] + self.lane_perm(j, lane, len)[(q / c) as usize] as u64
    }

    fn at(&self, k: u64) -> Sample {
        let b = self.starts.partition_point(|s| *s <= k) - 1;
        let block = &self.blocks[b];
        Sample {
            source: block.source,
            shard: block.shard,
            row_group: block.row_group,
            row: block.rows[(k - self.starts[b]) as usize],
        }
    }

    /// The sample at epoch position `p` (`p < len()`). For many positions, [`Order::window`]
    /// is much cheaper.
    pub fn sample(&self, p: u64) -> Sample {
        assert!(
            p < self.n,
            "position {p} past the epoch's {} samples",
            self.n
        );
        let (j, span) = self.window_of(p);
        self.at(span.start + self.offset_in_window(j, p - span.start))
    }

    /// Every sample of window `j`, in position order.
    pub fn window(&self, j: u64) -> Vec<Sample> {
        let start = j * self.config.window;
        let layout = self.layout(j);
        let offsets: Vec<u64> = if !layout.laned {
            self.lane_perm(j, u64::MAX, layout.len)
                .into_iter()
                .map(u64::from)
                .collect()
        } else {
            let c = self.config.lanes as u64;
            let perms: Vec<Vec<u32>> = (0..c)
                .map(|l| self.lane_perm(j, l, self.lane_len(layout, l)))
                .collect();
            let rev: Vec<u64> = (0..c).map(|s| reverse_digits(s, &self.radix)).collect();
            (0..layout.len)
                .map(|q| {
                    let lane = rev[(q % c) as usize];
                    layout.start[lane as usize] + perms[lane as usize][(q / c) as usize] as u64
                })
                .collect()
        };
        offsets.into_iter().map(|o| self.at(start + o)).collect()
    }

    /// The positions (and samples) worker `worker` of `workers` on rank `rank` of `world`
    /// reads, from position `from` (a cursor's position) up to `end` (see [`epoch_end`]).
    /// Positions past the last sample wrap around to the start (padding).
    pub fn slice(
        &self,
        rank: u32,
        world: u32,
        (worker, workers): (u32, u32),
        from: u64,
        end: u64,
    ) -> impl Iterator<Item = (u64, Sample)> + '_ {
        let (w, k) = (world.max(1) as u64, workers.max(1) as u64);
        let first = first_at_or_after(from, w, rank as u64);
        let end = if self.n == 0 { 0 } else { end };
        let mut cached: Option<(u64, Vec<Sample>)> = None;
        (first..end)
            .step_by(w as usize)
            .filter(move |p| (p / w) % k == worker as u64)
            .map(move |p| {
                let q = p % self.n;
                let (j, span) = self.window_of(q);
                if cached.as_ref().is_none_or(|(cj, _)| *cj != j) {
                    cached = Some((j, self.window(j)));
                }
                let window = &cached.as_ref().expect("window").1;
                (p, window[(q - span.start) as usize])
            })
    }
}

/// What to do with the last samples when they do not fill a step on every rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tail {
    /// Stop at the last full step (up to `world × batch - 1` samples are not seen this epoch).
    Drop,
    /// Repeat samples from the start of the order to fill the last step.
    Pad,
}

/// Where an epoch of `n` samples ends for `world` ranks with per-rank batch `batch`: a multiple
/// of `world × batch`, so every rank runs the same number of equal batches.
pub fn epoch_end(n: u64, world: u32, batch: u32, tail: Tail) -> u64 {
    let step = world.max(1) as u64 * batch.max(1) as u64;
    match tail {
        Tail::Drop => n / step * step,
        Tail::Pad if n == 0 => 0,
        Tail::Pad => n.div_ceil(step) * step,
    }
}

/// A filter on row ids: the dataset's ids in manifest order (as [`crate::scan_meta`] yields
/// them) and the predicate that keeps a row.
pub type IdFilter<'a> = (&'a [String], &'a dyn Fn(&str) -> bool);

/// The blocks of a manifest's shards in the given splits (every split when `splits` is empty),
/// in manifest order, keeping only the rows a filter accepts.
pub fn blocks(
    manifest: &crate::Manifest,
    splits: &[&str],
    filter: Option<IdFilter<'_>>,
) -> Vec<Block> {
    let mut out = Vec::new();
    let mut next_id = 0usize;
    for (si, shard) in manifest.shards.iter().enumerate() {
        let wanted = splits.is_empty() || splits.contains(&shard.split.as_str());
        for (gi, rows) in shard.row_groups.iter().enumerate() {
            let ids = next_id..next_id + *rows as usize;
            next_id = ids.end;
            if !wanted {
                continue;
            }
            let rows: Vec<u32> = match &filter {
                None => (0..*rows as u32).collect(),
                Some((all, keep)) => ids
                    .enumerate()
                    .filter(|(_, i)| keep(&all[*i]))
                    .map(|(r, _)| r as u32)
                    .collect(),
            };
            if !rows.is_empty() {
                out.push(Block {
                    source: 0,
                    shard: si as u32,
                    row_group: gi as u32,
                    rows,
                });
            }
        }
    }
    out
}

/// The smallest `p >= from` with `p mod m == r`.
fn first_at_or_after(from: u64, m: u64, r: u64) -> u64 {
    let base = from - from % m + r;
    if base >= from { base } else { base + m }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn blocks_of(sizes: &[u32]) -> Vec<Block> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, n)| Block {
                source: 0,
                shard: i as u32 / 3,
                row_group: i as u32 % 3,
                rows: (0..*n).collect(),
            })
            .collect()
    }

    fn all(sizes: &[u32]) -> BTreeSet<Sample> {
        blocks_of(sizes)
            .iter()
            .flat_map(|b| {
                b.rows.iter().map(|r| Sample {
                    source: 0,
                    shard: b.shard,
                    row_group: b.row_group,
                    row: *r,
                })
            })
            .collect()
    }

    const SIZES: [u32; 11] = [97, 3, 250, 1, 64, 64, 64, 128, 7, 300, 40];
    /// Windows of 400 samples cut into 24 lanes (the last, 18-sample window is shuffled whole).
    const SMALL: OrderConfig = OrderConfig {
        lanes: 24,
        window: 400,
        digits: LaneDigits::TwosFirst,
    };

    #[test]
    fn an_epoch_is_a_permutation_and_a_pure_function_of_seed_and_epoch() {
        for (lanes, window) in [(1, 10_000), (7, 100), (840, 10_000), (5000, 64), (8, 37)] {
            let cfg = OrderConfig {
                lanes,
                window,
                ..OrderConfig::default()
            };
            let o = Order::new(&blocks_of(&SIZES), 5, 0, cfg);
            let windowed: Vec<Sample> = (0..o.windows()).flat_map(|j| o.window(j)).collect();
            let seq: Vec<Sample> = (0..o.len()).map(|p| o.sample(p)).collect();
            assert_eq!(
                seq.iter().copied().collect::<BTreeSet<_>>(),
                all(&SIZES),
                "lanes {lanes}"
            );
            assert_eq!(seq, windowed, "window() agrees with sample()");
            assert_eq!(seq.len(), all(&SIZES).len());
            let again: Vec<Sample> = (0..o.len())
                .map(|p| Order::new(&blocks_of(&SIZES), 5, 0, cfg).sample(p))
                .collect();
            assert_eq!(seq, again);
            let next: Vec<Sample> = (0..o.len())
                .map(|p| Order::new(&blocks_of(&SIZES), 5, 1, cfg).sample(p))
                .collect();
            assert_ne!(seq, next, "another epoch, another order");
        }
    }

    #[test]
    fn ranks_and_workers_cover_every_sample_exactly_once() {
        let o = Order::new(&blocks_of(&SIZES), 9, 2, SMALL);
        for world in 1..=8 {
            for workers in 1..=4 {
                let mut seen = Vec::new();
                for r in 0..world {
                    for w in 0..workers {
                        seen.extend(o.slice(r, world, (w, workers), 0, o.len()).map(|(p, _)| p));
                    }
                }
                seen.sort();
                assert_eq!(
                    seen,
                    (0..o.len()).collect::<Vec<_>>(),
                    "world {world} workers {workers}"
                );
            }
        }
    }

    #[test]
    fn resuming_with_another_world_size_loses_and_repeats_nothing() {
        let o = Order::new(&blocks_of(&SIZES), 3, 0, SMALL);
        let mut state = 0xDEAD_BEEFu64;
        for _ in 0..40 {
            state = splitmix(state);
            let (w1, w2) = (1 + state % 8, 1 + (state >> 8) % 8);
            let (k1, k2) = (1 + (state >> 16) % 4, 1 + (state >> 24) % 4);
            let b = 1 + (state >> 32) % 16;
            let steps = (state >> 40) % (o.len() / (b * w1) + 1);
            let stop = steps * b * w1;
            let cursor = Cursor {
                seed: 3,
                epoch: 0,
                position: stop,
                mixture: vec![("roco".into(), 1.0)],
            };
            let json = serde_json::to_string(&cursor).unwrap();
            let back: Cursor = serde_json::from_str(&json).unwrap();
            let mut seen: Vec<Sample> = Vec::new();
            for r in 0..w1 as u32 {
                for w in 0..k1 as u32 {
                    seen.extend(
                        o.slice(r, w1 as u32, (w, k1 as u32), 0, stop)
                            .map(|(_, s)| s),
                    );
                }
            }
            for r in 0..w2 as u32 {
                for w in 0..k2 as u32 {
                    seen.extend(
                        o.slice(r, w2 as u32, (w, k2 as u32), back.position, o.len())
                            .map(|(_, s)| s),
                    );
                }
            }
            let set: BTreeSet<Sample> = seen.iter().copied().collect();
            assert_eq!(
                set.len(),
                seen.len(),
                "no duplicates ({w1}x{k1} -> {w2}x{k2} at {stop})"
            );
            assert_eq!(set, all(&SIZES), "no losses");
        }
    }

    #[test]
    fn drop_and_pad_give_every_rank_the_same_number_of_samples() {
        let o = Order::new(&blocks_of(&SIZES), 4, 0, SMALL);
        let n = o.len();
        for (world, batch) in [(3u32, 5u32), (8, 16), (7, 1)] {
            for tail in [Tail::Drop, Tail::Pad] {
                let end = epoch_end(n, world, batch, tail);
                let counts: Vec<usize> = (0..world)
                    .map(|r| o.slice(r, world, (0, 1), 0, end).count())
                    .collect();
                assert!(
                    counts
                        .iter()
                        .all(|c| *c == counts[0] && *c % batch as usize == 0),
                    "{tail:?} {counts:?}"
                );
                let seen: BTreeSet<Sample> = (0..world)
                    .flat_map(|r| o.slice(r, world, (0, 1), 0, end).map(|(_, s)| s))
                    .collect();
                match tail {
                    Tail::Pad => assert_eq!(seen, all(&SIZES)),
                    Tail::Drop => assert!(seen.len() as u64 > n - (world * batch) as u64),
                }
            }
        }
    }

    #[test]
    fn blocks_follow_the_manifest_and_filters() {
        let entry = |path: &str, split: &str, groups: Vec<u64>| crate::ShardEntry {
            path: path.into(),
            split: split.into(),
            rows: groups.iter().sum(),
            bytes: 1,
            sha256: String::new(),
            sha256_of: crate::ShardHash::File,
            row_groups: groups,
            row_group_sha256: vec![],
            footer_sha256: String::new(),
        };
        let shards = vec![
            entry("a", "train", vec![2, 3]),
            entry("b", "test", vec![2]),
            entry("c", "train", vec![1]),
        ];
        let m = crate::Manifest {
            dataset: "x".into(),
            schema_version: 1,
            tool_version: "0".into(),
            created_at: String::new(),
            ingest_options: serde_json::Value::Null,
            source: Default::default(),
            label_names: vec![],
            inputs: 8,
            splits: crate::Manifest::split_stats(&shards),
            shards,
            quarantine: Default::default(),
        };
        let train = blocks(&m, &["train"], None);
        assert_eq!(
            train
                .iter()
                .map(|b| (b.shard, b.row_group, b.rows.len()))
                .collect::<Vec<_>>(),
            [(0, 0, 2), (0, 1, 3), (2, 0, 1)]
        );
        let ids: Vec<String> = (0..8).map(|i| format!("id{i}")).collect();
        let keep = |id: &str| id == "id3" || id == "id7";
        let kept = blocks(&m, &[], Some((&ids, &keep)));
        assert_eq!(
            kept,
            vec![
                Block {
                    source: 0,
                    shard: 0,
                    row_group: 1,
                    rows: vec![1]
                },
                Block {
                    source: 0,
                    shard: 2,
                    row_group: 0,
                    rows: vec![0]
                }
            ]
        );
    }

    #[test]
    fn a_power_of_two_rank_reads_only_its_share_of_a_window() {
        let sizes = [100u32; 64];
        let o = Order::new(&blocks_of(&sizes), 1, 0, OrderConfig::default());
        assert_eq!(o.windows(), 1);
        for world in [2u32, 4, 8] {
            for r in 0..world {
                let touched: BTreeSet<_> = o
                    .slice(r, world, (0, 1), 0, o.len())
                    .map(|(_, s)| s.block_key())
                    .collect();
                assert!(
                    touched.len() <= 64 / world as usize + 1,
                    "rank {r} of {world} touched {} of 64 blocks",
                    touched.len()
                );
            }
        }
    }

    /// The most blocks any rank of `world` touches in the first window.
    fn most_touched(o: &Order, world: u32) -> usize {
        (0..world)
            .map(|r| {
                o.slice(r, world, (0, 1), 0, o.len())
                    .map(|(_, s)| s.block_key())
                    .collect::<BTreeSet<_>>()
                    .len()
            })
            .max()
            .unwrap()
    }

    #[test]
    fn three_first_digits_keep_ranks_local_for_three_six_and_twelve() {
        // 16 row groups of 1,000 rows in one window: the shape of 48 MB row groups of 50 kB
        // images under the default window.
        let sizes = [1000u32; 16];
        let blocks = blocks_of(&sizes);
        let o = |digits| {
            let cfg = OrderConfig {
                window: 16_000,
                digits,
                ..OrderConfig::default()
            };
            Order::new(&blocks, 5, 0, cfg)
        };
        let (twos, three) = (o(LaneDigits::TwosFirst), o(LaneDigits::ThreeFirst));
        assert_eq!(three.config().digits, LaneDigits::ThreeFirst);
        for world in [3u32, 6, 12] {
            let share = 16usize.div_ceil(world as usize);
            let (t, h) = (most_touched(&twos, world), most_touched(&three, world));
            assert!(
                h <= share + 2,
                "three-first, W = {world}: {h} of 16 (share {share})"
            );
            // Strictly better where a 3 divides the world into ranks of more than one lane
            // run; at W = 12 both reach 3 of 16 here.
            match world {
                12 => assert!(h <= t, "W = {world}: three-first {h}, twos-first {t}"),
                _ => assert!(h < t, "W = {world}: three-first {h}, twos-first {t}"),
            }
        }
        // The orders differ, and each is still a permutation.
        assert_ne!(twos.window(0), three.window(0));
        let mut all = three.window(0);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 16_000);
        assert_eq!(LaneDigits::ThreeFirst.radix(840), [3, 2, 2, 2, 5, 7]);
        assert_eq!(
            LaneDigits::parse("three-first"),
            Some(LaneDigits::ThreeFirst)
        );
    }

    #[test]
    fn a_window_holds_only_its_own_blocks() {
        let sizes = [50u32; 40];
        let cfg = OrderConfig {
            lanes: 8,
            window: 200,
            ..OrderConfig::default()
        };
        let o = Order::new(&blocks_of(&sizes), 2, 3, cfg);
        for j in 0..o.windows() {
            let touched: BTreeSet<_> = o.window(j).iter().map(|s| s.block_key()).collect();
            assert!(touched.len() <= 5, "window {j} touched {}", touched.len());
        }
    }

    #[test]
    fn digit_reversal_is_a_permutation() {
        let radix = factors(840);
        assert_eq!(radix, [2, 2, 2, 3, 5, 7]);
        let set: BTreeSet<u64> = (0..840).map(|s| reverse_digits(s, &radix)).collect();
        assert_eq!(set.len(), 840);
        assert!(set.iter().all(|l| *l < 840));
        assert_eq!(reverse_digits(1, &radix), 420);
    }

    #[test]
    fn mixed_sources_keep_their_proportions_through_the_order() {
        let source = |index: u32, n: usize| -> Vec<Block> {
            (0..n)
                .map(|g| Block {
                    source: index,
                    shard: 0,
                    row_group: g as u32,
                    rows: (0..10).collect(),
                })
                .collect()
        };
        let (a, b) = (source(0, 300), source(1, 100));
        let blocks = mix(&[(&a, 1.0), (&b, 3.0)], 11, 0);
        let o = Order::new(&blocks, 11, 0, SMALL);
        assert_eq!(o.len(), 4000);
        for j in 0..o.windows() {
            let w = o.window(j);
            let share = w.iter().filter(|s| s.source == 1).count() as f64 / w.len() as f64;
            assert!((share - 0.75).abs() < 0.2, "window {j}: {share}");
        }
        let all = (0..o.len()).filter(|p| o.sample(*p).source == 1).count();
        assert_eq!(all, 3000);
    }
}
