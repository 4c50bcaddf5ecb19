//! Image↔text retrieval (model.md §8.1) on any image–text split: a split file such as
//! `roco-2000` (its captions, in its order, duplicates kept as `pmc-clip-compat` has them) or a
//! manifest split. R@1/5/10, mean and median rank both ways, in float32.

use std::collections::HashMap;

use serde::Serialize;
use tch::{Device, Tensor};
use unimlip_loader::SourceSpec;
use unimlip_shards::splits::read_split_rows;
use unimlip_shards::{Manifest, Store};
use unimlip_trainer::Trained;
use unimlip_trainer::l2_normalize;

use crate::features::{encode_images, encode_texts};
use crate::metrics::{RetrievalScores, ranks, retrieval_scores, transpose};
use crate::{Error, Result};

/// What to retrieve on.
#[derive(Debug, Clone)]
pub struct RetrievalJob {
    /// Dataset root URL.
    pub data: String,
    /// A split file name (`roco-2000`) or a manifest split (`test`).
    pub split: String,
    /// The split file's part (`test`).
    pub part: String,
    /// Augmentation/decoding threads.
    pub threads: usize,
}

/// The result of one retrieval run.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalResult {
    /// `retrieval`.
    pub task: &'static str,
    /// Dataset name.
    pub dataset: String,
    /// Split evaluated (and its part).
    pub split: String,
    /// Pairs scored.
    pub pairs: usize,
    /// Distinct images among them.
    pub distinct_images: usize,
    /// Image → text.
    pub i2t: RetrievalScores,
    /// Text → image.
    pub t2i: RetrievalScores,
    /// How ties are ranked.
    pub tie_rule: &'static str,
    /// Pairs left out as PMC-CLIP's evaluation leaves them out: the last partial batch of
    /// [`PMC_EVAL_BATCH`] under `pmc-clip-compat` (its loader has `drop_last=True`), else 0.
    pub dropped_partial_batch: usize,
    /// Where the weights came from.
    pub weights: String,
}

/// PMC-CLIP's evaluation batch size (`--batch-size` default in its `params.py`).
pub const PMC_EVAL_BATCH: usize = 64;

/// How many of `n` pairs PMC-CLIP's evaluation would not score on `split`: under
/// `pmc-clip-compat`, the last partial batch (its DataLoader drops it: 2,000 pairs → 1,984
/// scored); none otherwise.
pub fn dropped_partial_batch(split: &str, n: usize) -> usize {
    match split {
        "pmc-clip-compat" if n >= PMC_EVAL_BATCH => n % PMC_EVAL_BATCH,
        _ => 0,
    }
}

/// Runs the job.
pub fn retrieval(t: &Trained, job: &RetrievalJob, device: Device) -> Result<RetrievalResult> {
    let store = Store::open_existing(&job.data)?;
    let manifest = Manifest::load(&store)?;
    let split_file = store
        .get_opt(&format!("splits/{}.parquet", job.split))?
        .is_some();
    let side = t.config.vision.image_size as u32;
    let (source, label) = if split_file {
        let mut s = SourceSpec::new(&job.data);
        s.split_file = Some((job.split.clone(), job.part.clone()));
        (s, format!("{}:{}", job.split, job.part))
    } else if manifest.splits.contains_key(&job.split) {
        let mut s = SourceSpec::new(&job.data);
        s.splits = vec![job.split.clone()];
        (s, job.split.clone())
    } else {
        return Err(Error::Data(format!(
            "{}: no split file splits/{}.parquet and no manifest split `{}` (manifest splits: {})",
            store.url(),
            job.split,
            job.split,
            manifest
                .splits
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let images = encode_images(&t.model, source, side, job.threads, device)?;
    let row_of: HashMap<&str, usize> = images
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    // The pairs: the split file's entries in its order, or the manifest split's rows by id.
    let pairs: Vec<(usize, String)> = if split_file {
        read_split_rows(&store, &job.split)?
            .into_iter()
            .filter(|r| r.part == job.part)
            .map(|r| {
                let i = *row_of.get(r.id.as_str()).ok_or_else(|| {
                    Error::Data(format!(
                        "split {}: id {} is not in the dataset",
                        job.split, r.id
                    ))
                })?;
                let caption = r
                    .caption
                    .or_else(|| images.captions[i].clone())
                    .unwrap_or_default();
                Ok((i, caption))
            })
            .collect::<Result<_>>()?
    } else {
        let mut order: Vec<usize> = (0..images.ids.len()).collect();
        order.sort_by(|&a, &b| images.ids[a].cmp(&images.ids[b]));
        order
            .into_iter()
            .filter_map(|i| images.captions[i].clone().map(|c| (i, c)))
            .collect()
    };
    let dropped = dropped_partial_batch(&job.split, pairs.len());
    let pairs = &pairs[..pairs.len() - dropped];
    if pairs.len() < 2 {
        return Err(Error::Data(format!(
            "{label}: {} image–text pairs; retrieval needs at least 2",
            pairs.len()
        )));
    }
    let idx: Vec<i64> = pairs.iter().map(|(i, _)| *i as i64).collect();
    let img = l2_normalize(&images.features.index_select(0, &Tensor::from_slice(&idx)));
    let texts: Vec<String> = pairs.iter().map(|(_, c)| c.clone()).collect();
    let txt = l2_normalize(&encode_texts(&t.model, &t.tokenizer, &texts, device)?);
    let n = pairs.len();
    let sim = img.matmul(&txt.tr()).contiguous().view([-1]);
    let scores: Vec<f32> = Vec::<f32>::try_from(&sim)?;
    let mut distinct = idx.clone();
    distinct.sort_unstable();
    distinct.dedup();
    Ok(RetrievalResult {
        task: "retrieval",
        dataset: manifest.dataset.clone(),
        split: label,
        pairs: n,
        distinct_images: distinct.len(),
        i2t: retrieval_scores(&ranks(&scores, n)),
        t2i: retrieval_scores(&ranks(&transpose(&scores, n), n)),
        tie_rule: "stable descending sort: of equal scores the earlier pair ranks first",
        dropped_partial_batch: dropped,
        weights: t.weights.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmc_clip_compat_scores_whole_batches_as_pmc_clip_does() {
        assert_eq!(dropped_partial_batch("pmc-clip-compat", 2000), 16);
        assert_eq!(dropped_partial_batch("pmc-clip-compat", 1984), 0);
        assert_eq!(dropped_partial_batch("pmc-clip-compat", 40), 0);
        assert_eq!(dropped_partial_batch("roco-2000", 2000), 0);
    }
}
