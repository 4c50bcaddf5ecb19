//! Several sources (datasets or splits) mixed with weights inside one order.
//!
//! Each source gets a quota of the epoch proportional to its weight (largest remainders, so the
//! quotas add up to the epoch length, which is the sum of the sources' sizes). A source whose
//! quota exceeds its size is repeated whole and topped up with a seeded sample of its rows; a
//! source whose quota is smaller is subsampled. The subsample changes with the epoch, so every
//! row of an undersampled source is seen over enough epochs. The result is a block list that
//! [`super::Order`] permutes like any other, so mixing survives resume and world-size changes.

use rand::seq::SliceRandom;

use super::{Block, rng};

/// One source of a mixture: its blocks (with `source` set to its index) and its weight.
pub type Mixture<'a> = (&'a [Block], f64);

/// The blocks of one epoch of the weighted mixture of `sources`.
pub fn mix(sources: &[Mixture<'_>], seed: u64, epoch: u64) -> Vec<Block> {
    let sizes: Vec<u64> = sources
        .iter()
        .map(|(b, _)| b.iter().map(|b| b.rows.len() as u64).sum())
        .collect();
    let quotas = quotas(&sizes, &sources.iter().map(|s| s.1).collect::<Vec<_>>());
    let mut out = Vec::new();
    for (s, ((blocks, _), (&size, &quota))) in sources
        .iter()
        .zip(sizes.iter().zip(quotas.iter()))
        .enumerate()
    {
        if size == 0 {
            continue;
        }
        for _ in 0..quota / size {
            out.extend(blocks.iter().cloned());
        }
        let rem = (quota % size) as usize;
        if rem > 0 {
            out.extend(subsample(blocks, rem, seed, epoch, s as u64));
        }
    }
    out
}

/// Quotas proportional to `weights` that add up to the sum of `sizes` (largest remainders;
/// ties go to the earlier source). Sources without samples get nothing.
fn quotas(sizes: &[u64], weights: &[f64]) -> Vec<u64> {
    let total: u64 = sizes.iter().sum();
    let live = |i: usize| sizes[i] > 0 && weights[i] > 0.0 && weights[i].is_finite();
    let wsum: f64 = (0..sizes.len())
        .filter(|i| live(*i))
        .map(|i| weights[i])
        .sum();
    if wsum <= 0.0 {
        return vec![0; sizes.len()];
    }
    let exact: Vec<f64> = (0..sizes.len())
        .map(|i| {
            if live(i) {
                weights[i] / wsum * total as f64
            } else {
                0.0
            }
        })
        .collect();
    let mut q: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut left = total - q.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..sizes.len()).filter(|i| live(*i)).collect();
    order.sort_by(|a, b| {
        let (fa, fb) = (exact[*a] - exact[*a].floor(), exact[*b] - exact[*b].floor());
        fb.total_cmp(&fa).then(a.cmp(b))
    });
    for i in order.into_iter().cycle() {
        if left == 0 {
            break;
        }
        q[i] += 1;
        left -= 1;
    }
    q
}

/// `n` rows of `blocks` chosen by `(seed, epoch, source)`, grouped back into their blocks.
fn subsample(blocks: &[Block], n: usize, seed: u64, epoch: u64, source: u64) -> Vec<Block> {
    let mut all: Vec<(usize, u32)> = blocks
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.rows.iter().map(move |r| (i, *r)))
        .collect();
    all.shuffle(&mut rng(seed, epoch, 0xA11C_E000 ^ source));
    all.truncate(n);
    all.sort_unstable();
    let mut out: Vec<Block> = Vec::new();
    for (i, row) in all {
        match out.last_mut() {
            Some(b) if b.shard == blocks[i].shard && b.row_group == blocks[i].row_group => {
                b.rows.push(row)
            }
            _ => out.push(Block {
                rows: vec![row],
                ..blocks[i].clone()
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(index: u32, groups: &[u32]) -> Vec<Block> {
        groups
            .iter()
            .enumerate()
            .map(|(g, n)| Block {
                source: index,
                shard: 0,
                row_group: g as u32,
                rows: (0..*n).collect(),
            })
            .collect()
    }

    fn count(blocks: &[Block], s: u32) -> usize {
        blocks
            .iter()
            .filter(|b| b.source == s)
            .map(|b| b.rows.len())
            .sum()
    }

    #[test]
    fn quotas_follow_the_weights_and_add_up() {
        assert_eq!(quotas(&[100, 100], &[1.0, 1.0]), [100, 100]);
        assert_eq!(quotas(&[100, 100], &[3.0, 1.0]), [150, 50]);
        assert_eq!(quotas(&[10, 0, 5], &[1.0, 5.0, 2.0]), [5, 0, 10]);
        assert_eq!(quotas(&[7, 7, 7], &[1.0, 1.0, 1.0]).iter().sum::<u64>(), 21);
    }

    #[test]
    fn oversampled_sources_repeat_and_undersampled_ones_change_with_the_epoch() {
        let a = source(0, &[30, 10]);
        let b = source(1, &[200]);
        let m = mix(&[(&a, 1.0), (&b, 1.0)], 7, 0);
        assert_eq!((count(&m, 0), count(&m, 1)), (120, 120));
        let m1 = mix(&[(&a, 1.0), (&b, 1.0)], 7, 1);
        let rows = |m: &[Block]| -> Vec<u32> {
            m.iter()
                .filter(|b| b.source == 1)
                .flat_map(|b| b.rows.clone())
                .collect()
        };
        assert_ne!(rows(&m), rows(&m1));
        assert_eq!(m, mix(&[(&a, 1.0), (&b, 1.0)], 7, 0));
    }
}
