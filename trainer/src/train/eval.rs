//! Held-out image↔text retrieval during a run: every pair of the held-out sources once (eval
//! transform), both directions, Recall@1 against the pair's own index (model.md §8.1's metric).

use serde::Serialize;
use tch::{Device, Kind, Tensor};
use unimlip_loader::{Loader, Pipeline, SourceSpec};

use crate::model::{UniMlip, l2_normalize};
use crate::text::TextTokenizer;
use crate::{Result, images_to_device};

/// Retrieval scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Retrieval {
    /// Pairs scored.
    pub pairs: usize,
    /// Image → text Recall@1.
    pub i2t_r1: f64,
    /// Text → image Recall@1.
    pub t2i_r1: f64,
    /// Recall@1 of a random ranking (1 / pairs).
    pub chance: f64,
}

/// A loader over held-out pairs, eval transform at `side`.
pub fn open(sources: &[SourceSpec], side: u32, threads: usize) -> Result<Loader> {
    Ok(Loader::once(
        sources.to_vec(),
        Pipeline::eval(side),
        threads,
    )?)
}

/// Scores `model` on the first `max_pairs` pairs of `loader` (all when `None`).
pub fn retrieval(
    model: &UniMlip,
    tok: &TextTokenizer,
    loader: &Loader,
    max_pairs: Option<usize>,
    device: Device,
) -> Result<Retrieval> {
    let (mut images, mut texts) = (Vec::new(), Vec::new());
    let seen = loader.each_once(max_pairs.map(|m| m as u64), |batch, keep| -> Result<()> {
        let side = batch.side(0) as usize;
        let mut pixels = Vec::with_capacity(keep.len() * side * side * 3);
        let mut ids = Vec::with_capacity(keep.len() * tok.context);
        for &i in keep {
            pixels.extend_from_slice(batch.image(i, 0));
            ids.extend(tok.encode(batch.samples()[i].caption().unwrap_or("")));
        }
        let (img, txt) = tch::no_grad(|| -> Result<(Tensor, Tensor)> {
            let x = images_to_device(&pixels, keep.len(), side, device)?;
            let ids = Tensor::f_from_slice(&ids)?
                .f_view([keep.len() as i64, tok.context as i64])?
                .f_to_device(device)?;
            Ok((
                l2_normalize(&model.encode_image(&x, false).pooled),
                l2_normalize(&model.encode_text(&ids, false).projected),
            ))
        })?;
        images.push(img.to_kind(Kind::Float));
        texts.push(txt.to_kind(Kind::Float));
        Ok(())
    })?;
    if seen < 2 {
        return Ok(Retrieval {
            pairs: seen as usize,
            i2t_r1: 0.0,
            t2i_r1: 0.0,
            chance: 1.0,
        });
    }
    let (i, t) = (Tensor::cat(&images, 0), Tensor::cat(&texts, 0));
    Ok(scores(&i, &t))
}

/// Recall@1 both ways for row-aligned normalised features.
pub fn scores(images: &Tensor, texts: &Tensor) -> Retrieval {
    let sim = images.matmul(&texts.tr());
    let n = sim.size()[0];
    let truth = Tensor::arange(n, (Kind::Int64, sim.device()));
    let r1 = |dim: i64| {
        let hits = sim.argmax(dim, false).eq_tensor(&truth);
        hits.sum(Kind::Int64).int64_value(&[]) as f64 / n as f64
    };
    Retrieval {
        pairs: n as usize,
        i2t_r1: r1(1),
        t2i_r1: r1(0),
        chance: 1.0 / n as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_at_one_counts_the_pairs_own_index() {
        // Image 0 is closest to text 0, image 1 to text 0 too (a miss), image 2 to text 2.
        let i = Tensor::from_slice(&[1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0]).view([3, 2]);
        let t = Tensor::from_slice(&[1.0f32, 0.0, 0.6, 0.8, 0.0, 1.0]).view([3, 2]);
        let r = scores(&i, &t);
        assert_eq!(r.pairs, 3);
        assert!((r.i2t_r1 - 2.0 / 3.0).abs() < 1e-9, "{r:?}");
        // Texts: 0 → image 0, 1 → image 2 (0.8 > 0.06), 2 → image 2: 2 of 3.
        assert!((r.t2i_r1 - 2.0 / 3.0).abs() < 1e-9, "{r:?}");
        assert!((r.chance - 1.0 / 3.0).abs() < 1e-12);
    }
}
