//! The global sample order of an epoch and each rank's and worker's slice of it.
//!
//! The order is a pure function of `(seed, epoch)` over the canonical list of blocks (one block
//! per row group, in manifest order), and never of the number of ranks or workers:
//!
//! 1. the blocks are permuted, and their rows laid end to end into one sequence `S` of `N`
//!    samples;
//! 2. `S` is cut into `C` contiguous *lanes* of near-equal length (`C` is fixed by the config,
//!    840 by default, divisible by every world size 1–8 and by most world × worker products);
//! 3. each lane is shuffled on its own;
//! 4. position `p` of the epoch is entry `p / C` of lane `p % C`.
//!
//! Position `p` goes to rank `p mod W`, and within a rank the `j`-th position to worker
//! `j mod K`. When `W` divides `C`, a rank only ever touches its own lanes, so it fetches only
//! the row groups those lanes were cut from (about `1/W` of the data), and positions `0..N` are
//! exactly the `N` samples. The whole resume state is [`Cursor`]: the number of positions
//! consumed. Any world size can continue from it, without duplicates or losses.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Default number of canonical lanes: lcm(1..=8) = 840.
pub const DEFAULT_LANES: u32 = 840;

/// One row group, with the rows of it that are in use (all of them, or those a split keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Index of the shard in the manifest.
    pub shard: u32,
    /// Row group within the shard.
    pub row_group: u32,
    /// Rows of the row group in use, in ascending order.
    pub rows: Vec<u32>,
}

/// One sample: where its row lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sample {
    /// Index of the shard in the manifest.
    pub shard: u32,
    /// Row group within the shard.
    pub row_group: u32,
    /// Row within the row group.
    pub row: u32,
}

/// The resume state: how far an epoch has been consumed, by all ranks together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Seed of the run.
    pub seed: u64,
    /// Epoch being read.
    pub epoch: u64,
    /// Positions of the epoch already consumed (all ranks, all workers).
    pub position: u64,
}

/// The order of one epoch.
#[derive(Debug)]
pub struct Order {
    blocks: Vec<Block>,
    /// Start of each permuted block in `S`.
    starts: Vec<u64>,
    n: u64,
    lanes: u64,
    seed: u64,
    epoch: u64,
    lane_perms: std::sync::Mutex<HashMap<u64, std::sync::Arc<Vec<u32>>>>,
}

/// SplitMix64: derives independent seeds from (seed, epoch, salt).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rng(seed: u64, epoch: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(mix(seed) ^ epoch) ^ salt))
}

impl Order {
    /// The order of `epoch` over `blocks` (given in canonical order).
    pub fn new(blocks: &[Block], seed: u64, epoch: u64, lanes: u32) -> Order {
        let mut permuted = blocks.to_vec();
        permuted.shuffle(&mut rng(seed, epoch, u64::MAX));
        let mut starts = Vec::with_capacity(permuted.len());
        let mut n = 0u64;
        for b in &permuted {
            starts.push(n);
            n += b.rows.len() as u64;
        }
        Order {
            blocks: permuted,
            starts,
            n,
            lanes: lanes.max(1) as u64,
            seed,
            epoch,
            lane_perms: Default::default(),
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

    /// Start in `S` and length of a lane.
    fn lane_span(&self, lane: u64) -> (u64, u64) {
        let (base, extra) = (self.n / self.lanes, self.n % self.lanes);
        let len = base + u64::from(lane < extra);
        (lane * base + lane.min(extra), len)
    }

    fn lane_perm(&self, lane: u64) -> std::sync::Arc<Vec<u32>> {
        let mut cache = self.lane_perms.lock().expect("lane cache");
        cache
            .entry(lane)
            .or_insert_with(|| {
                let (_, len) = self.lane_span(lane);
                let mut p: Vec<u32> = (0..len as u32).collect();
                p.shuffle(&mut rng(self.seed, self.epoch, lane));
                std::sync::Arc::new(p)
            })
            .clone()
    }

    /// The sample at epoch position `p` (`p < len()`).
    pub fn sample(&self, p: u64) -> Sample {
        assert!(
            p < self.n,
            "position {p} past the epoch's {} samples",
            self.n
        );
        let lane = p % self.lanes;
        let (start, _) = self.lane_span(lane);
        let k = start + self.lane_perm(lane)[(p / self.lanes) as usize] as u64;
        let b = self.starts.partition_point(|s| *s <= k) - 1;
        let block = &self.blocks[b];
        Sample {
            shard: block.shard,
            row_group: block.row_group,
            row: block.rows[(k - self.starts[b]) as usize],
        }
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
        (first..end)
            .step_by(w as usize)
            .filter(move |p| (p / w) % k == worker as u64)
            .map(move |p| (p, self.sample(p % self.n)))
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
                    shard: b.shard,
                    row_group: b.row_group,
                    row: *r,
                })
            })
            .collect()
    }

    const SIZES: [u32; 11] = [97, 3, 250, 1, 64, 64, 64, 128, 7, 300, 40];

    #[test]
    fn an_epoch_is_a_permutation_and_a_pure_function_of_seed_and_epoch() {
        for lanes in [1, 7, 840, 5000] {
            let o = Order::new(&blocks_of(&SIZES), 5, 0, lanes);
            let seq: Vec<Sample> = (0..o.len()).map(|p| o.sample(p)).collect();
            assert_eq!(
                seq.iter().copied().collect::<BTreeSet<_>>(),
                all(&SIZES),
                "lanes {lanes}"
            );
            assert_eq!(seq.len(), all(&SIZES).len());
            let again: Vec<Sample> = (0..o.len())
                .map(|p| Order::new(&blocks_of(&SIZES), 5, 0, lanes).sample(p))
                .collect();
            assert_eq!(seq, again);
            let next: Vec<Sample> = (0..o.len())
                .map(|p| Order::new(&blocks_of(&SIZES), 5, 1, lanes).sample(p))
                .collect();
            assert_ne!(seq, next, "another epoch, another order");
        }
    }

    #[test]
    fn ranks_and_workers_cover_every_sample_exactly_once() {
        let o = Order::new(&blocks_of(&SIZES), 9, 2, DEFAULT_LANES);
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
        let o = Order::new(&blocks_of(&SIZES), 3, 0, DEFAULT_LANES);
        let mut state = 0xDEAD_BEEFu64;
        for _ in 0..40 {
            state = mix(state);
            let (w1, w2) = (1 + state % 8, 1 + (state >> 8) % 8);
            let (k1, k2) = (1 + (state >> 16) % 4, 1 + (state >> 24) % 4);
            let b = 1 + (state >> 32) % 16;
            let steps = (state >> 40) % (o.len() / (b * w1) + 1);
            let stop = steps * b * w1;
            let cursor = Cursor {
                seed: 3,
                epoch: 0,
                position: stop,
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
        let o = Order::new(&blocks_of(&SIZES), 4, 0, DEFAULT_LANES);
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
            row_groups: groups,
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
                    shard: 0,
                    row_group: 1,
                    rows: vec![1]
                },
                Block {
                    shard: 2,
                    row_group: 0,
                    rows: vec![0]
                }
            ]
        );
    }

    #[test]
    fn a_rank_reads_only_the_blocks_of_its_lanes() {
        let sizes = [100u32; 64];
        let o = Order::new(&blocks_of(&sizes), 1, 0, 64);
        let touched = |r: u32| {
            o.slice(r, 8, (0, 1), 0, o.len())
                .map(|(_, s)| (s.shard, s.row_group))
                .collect::<BTreeSet<_>>()
        };
        for r in 0..8 {
            assert!(
                touched(r).len() <= 16,
                "rank {r} touched {} of 64 blocks",
                touched(r).len()
            );
        }
    }
}
