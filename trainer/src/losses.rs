//! The five Uni-Mlip losses (model.md §5) and the two perturbations they use. Every random
//! choice can be injected (a DropBlock seed tensor, a dropout mask) so that a reference
//! implementation sees the same draws.

use tch::{Kind, Reduction, Tensor};

use crate::amp;
use crate::model::l2_normalize;

/// CLIP's symmetric contrastive loss on L2-normalised `[N, E]` features (§5.1), in fp32 under
/// autocast.
pub fn itc(image: &Tensor, text: &Tensor, logit_scale: &Tensor) -> Tensor {
    amp::fp32(|| {
        let (image, text) = (image.to_kind(Kind::Float), text.to_kind(Kind::Float));
        let n = image.size()[0];
        let labels = Tensor::arange(n, (Kind::Int64, image.device()));
        let logits = logit_scale.to_kind(Kind::Float).exp() * image.matmul(&text.tr());
        let ce =
            |l: &Tensor| l.cross_entropy_loss::<Tensor>(&labels, None, Reduction::Mean, -100, 0.0);
        (ce(&logits) + ce(&logits.tr())) / 2.0
    })
}

/// DropBlock's keep-mask from its seeds: each seed grown to a `b × b` block by a max-pool,
/// inverted, cut to the `h × w` map.
pub fn drop_block_mask(seeds: &Tensor, b: i64, h: i64, w: i64) -> Tensor {
    let pad = b / 2;
    // An even block (only on maps smaller than the block) grows one row and column too many,
    // where torchvision would fail; keep the top-left H × W.
    let grown = seeds
        .constant_pad_nd([pad, pad, pad, pad])
        .max_pool2d([b, b], [1, 1], [pad, pad], [1, 1], false)
        .narrow(2, 0, h)
        .narrow(3, 0, w);
    grown.ones_like() - grown
}

/// DropBlock's drop rate on layer4 for the image-perturbed ITC (§5.3).
pub const DROP_BLOCK_P: f64 = 0.5;
/// DropBlock's block side.
pub const DROP_BLOCK_SIZE: i64 = 3;
/// The text dropout's rate on the projected embedding for the text-perturbed ITC (A6).
pub const TEXT_DROP_P: f64 = 0.75;

/// The block size used on an `h × w` map (at most the map) and torchvision's seed rate γ.
pub fn drop_block_gamma(p: f64, block: i64, h: i64, w: i64) -> (i64, f64) {
    let b = block.min(w).min(h);
    let gamma = p * (h * w) as f64 / ((b * b) as f64 * ((h - b + 1) * (w - b + 1)) as f64);
    (b, gamma)
}

/// torchvision's `drop_block2d` (§5.3): seeds ~ Bernoulli(γ) on `[N, C, H−b+1, W−b+1]`
/// (or `noise` when given), grown to b×b blocks by a max-pool, the survivors rescaled by one
/// global factor. The identity when not training or `p == 0`.
pub fn drop_block2d(x: &Tensor, p: f64, block: i64, noise: Option<&Tensor>, train: bool) -> Tensor {
    if !train || p == 0.0 {
        return x.shallow_clone();
    }
    let (n, c, h, w) = x.size4().expect("[N, C, H, W]");
    let (b, gamma) = drop_block_gamma(p, block, h, w);
    let seeds = match noise {
        Some(t) => t.to_kind(x.kind()),
        None => {
            Tensor::empty([n, c, h - b + 1, w - b + 1], (x.kind(), x.device())).bernoulli_p(gamma)
        }
    };
    let mask = drop_block_mask(&seeds, b, h, w);
    let scale = mask.numel() as f64 / (1e-6 + mask.sum(Kind::Float).double_value(&[]));
    x * mask * scale
}

/// Dropout on the projected text feature before normalisation (§5.2): `keep` is a 0/1 mask
/// (drawn with probability 1 − p when not given), survivors scaled by 1/(1 − p).
pub fn text_dropout(t: &Tensor, p: f64, keep: Option<&Tensor>) -> Tensor {
    let keep = match keep {
        Some(k) => k.to_kind(t.kind()),
        None => t.ones_like().bernoulli_p(1.0 - p),
    };
    l2_normalize(&(t * keep / (1.0 - p)))
}

/// Symmetric InfoNCE between row-aligned L2-normalised `[N, E]` embeddings at temperature
/// `tau` (the paper's Eq. 2 on two views), in fp32 under autocast.
pub fn info_nce(a: &Tensor, b: &Tensor, tau: f64) -> Tensor {
    amp::fp32(|| {
        let (a, b) = (a.to_kind(Kind::Float), b.to_kind(Kind::Float));
        let labels = Tensor::arange(a.size()[0], (Kind::Int64, a.device()));
        let logits = a.matmul(&b.tr()) / tau;
        let ce =
            |l: &Tensor| l.cross_entropy_loss::<Tensor>(&labels, None, Reduction::Mean, -100, 0.0);
        (ce(&logits) + ce(&logits.tr())) / 2.0
    })
}

/// SLIP's NT-Xent on the head outputs of two views (§5.4), temperature `tau`, in fp32 under
/// autocast.
pub fn nt_xent(za: &Tensor, zb: &Tensor, tau: f64) -> Tensor {
    amp::fp32(|| nt_xent_fp32(&za.to_kind(Kind::Float), &zb.to_kind(Kind::Float), tau))
}

fn nt_xent_fp32(za: &Tensor, zb: &Tensor, tau: f64) -> Tensor {
    let (qa, qb) = (l2_normalize(za), l2_normalize(zb));
    let n = qa.size()[0];
    let labels = Tensor::arange(n, (Kind::Int64, za.device()));
    let self_mask = Tensor::eye(n, (qa.kind(), qa.device())) * 1e9;
    let aa = qa.matmul(&qa.tr()) / tau - &self_mask;
    let bb = qb.matmul(&qb.tr()) / tau - &self_mask;
    let ab = qa.matmul(&qb.tr()) / tau;
    let ba = qb.matmul(&qa.tr()) / tau;
    let ce = |l: Tensor| l.cross_entropy_loss::<Tensor>(&labels, None, Reduction::Mean, -100, 0.0);
    (ce(Tensor::cat(&[ab, aa], 1)) + ce(Tensor::cat(&[ba, bb], 1))) / 2.0
}

/// MLM: mean negative log-likelihood over positions whose label is not `[PAD]` (id 0) (§4.3).
pub fn mlm(logprobs: &Tensor, labels: &Tensor) -> Tensor {
    let v = logprobs.size()[2];
    logprobs
        .reshape([-1, v])
        .g_nll_loss::<Tensor>(&labels.reshape([-1]), None, Reduction::Mean, 0)
}

/// Loss weights of the total (§5.6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Each of the three contrastive terms (ITC, image-perturbed, text-perturbed).
    pub cm: f64,
    /// SimCLR.
    pub um: f64,
    /// MLM.
    pub fm: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            cm: 0.167,
            um: 0.5,
            fm: 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn t(v: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).reshape(shape)
    }

    fn close(a: &Tensor, b: f64) {
        let a = a.double_value(&[]);
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }

    #[test]
    fn contrastive_logits_and_softmaxes_stay_fp32_under_autocast() {
        let _rng = crate::rng_lock();
        tch::manual_seed(5);
        let unit = |n| l2_normalize(&Tensor::randn([n, 64], (Kind::Float, Device::Cpu)));
        let (a, b, ls) = (unit(16), unit(16), Tensor::from(100.0f32.ln()));
        // Autocast is really on: a plain matmul comes out in bf16.
        let probe = crate::amp::cpu_autocast(|| a.matmul(&b.tr()).kind());
        assert_eq!(probe, Kind::BFloat16);
        let plain = (itc(&a, &b, &ls), nt_xent(&a, &b, 0.1));
        let cast = crate::amp::cpu_autocast(|| {
            // bf16 inputs, as the towers give under autocast.
            let (ha, hb) = (a.to_kind(Kind::BFloat16), b.to_kind(Kind::BFloat16));
            (itc(&ha, &hb, &ls), nt_xent(&ha, &hb, 0.1), itc(&a, &b, &ls))
        });
        for l in [&cast.0, &cast.1, &cast.2] {
            assert_eq!(l.kind(), Kind::Float);
        }
        // fp32 features give fp32 results under autocast: identical to no autocast.
        assert_eq!(cast.2.double_value(&[]), plain.0.double_value(&[]));
        // bf16 features differ only by their own rounding, not by bf16 logits at scale 100.
        let rel = |x: &Tensor, y: &Tensor| {
            (x.double_value(&[]) - y.double_value(&[])).abs() / y.double_value(&[])
        };
        assert!(rel(&cast.0, &plain.0) < 2e-2, "{}", rel(&cast.0, &plain.0));
        assert!(rel(&cast.1, &plain.1) < 2e-2, "{}", rel(&cast.1, &plain.1));
    }

    #[test]
    fn eq2_info_nce_is_itc_at_scale_one_over_tau() {
        let _rng = crate::rng_lock();
        tch::manual_seed(8);
        let unit = |n| l2_normalize(&Tensor::randn([n, 16], (Kind::Float, Device::Cpu)));
        let (a, b) = (unit(6), unit(6));
        let want = itc(&a, &b, &Tensor::from(10.0f32.ln()));
        let got = info_nce(&a, &b, 0.1);
        assert!((got.double_value(&[]) - want.double_value(&[])).abs() < 1e-5);
    }

    #[test]
    fn itc_of_perfectly_aligned_orthonormal_pairs() {
        let _rng = crate::rng_lock();
        let eye = Tensor::eye(2, (Kind::Float, Device::Cpu));
        let ls = Tensor::from(2.0f32.ln());
        // logits = 2·I: each row's CE is log(1 + e^-2).
        close(&itc(&eye, &eye, &ls), (1.0 + (-2.0f64).exp()).ln());
        // Swapped texts: CE is log(1 + e^2).
        let swapped = t(&[0., 1., 1., 0.], &[2, 2]);
        close(&itc(&eye, &swapped, &ls), (1.0 + 2.0f64.exp()).ln());
    }

    #[test]
    fn drop_block_zeroes_a_block_around_each_seed_and_rescales_globally() {
        let _rng = crate::rng_lock();
        let x = Tensor::ones([1, 1, 7, 7], (Kind::Float, Device::Cpu));
        let mut noise = vec![0f32; 25];
        noise[12] = 1.0; // the centre of the 5×5 seed grid → rows/cols 2..5 of the map
        let noise = t(&noise, &[1, 1, 5, 5]);
        let out = drop_block2d(&x, 0.5, 3, Some(&noise), true);
        let scale = 49.0 / (1e-6 + 40.0);
        for y in 0..7i64 {
            for xx in 0..7i64 {
                let inside = (2..5).contains(&y) && (2..5).contains(&xx);
                let want = if inside { 0.0 } else { scale };
                let got = out.double_value(&[0, 0, y, xx]);
                assert!((got - want).abs() < 1e-4, "({y},{xx}) {got}");
            }
        }
        assert!(drop_block2d(&x, 0.5, 3, None, false).equal(&x));
        // γ for the spec's 7×7 map: 0.5·49/(9·25).
        let big = Tensor::ones([64, 256, 7, 7], (Kind::Float, Device::Cpu));
        let kept = drop_block2d(&big, 0.5, 3, None, true)
            .ne(0.0)
            .to_kind(Kind::Float)
            .mean(Kind::Float);
        close(&((kept - 0.615).abs().lt(0.02).to_kind(Kind::Float)), 1.0);
    }

    #[test]
    fn text_dropout_rescales_then_normalises() {
        let _rng = crate::rng_lock();
        let x = t(&[3., 4., 12.], &[1, 3]);
        let keep = t(&[1., 1., 0.], &[1, 3]);
        let out = text_dropout(&x, 0.75, Some(&keep));
        // (3, 4, 0)·4 normalised = (0.6, 0.8, 0).
        close(&out.get(0).get(0), 0.6);
        close(&out.get(0).get(1), 0.8);
        close(&out.get(0).get(2), 0.0);
    }

    #[test]
    fn nt_xent_by_hand() {
        let _rng = crate::rng_lock();
        // Two samples, orthogonal, identical across views: ab = diag(1/τ), aa masked on the
        // diagonal. Row 0: logits [10, 0, -1e9, 0] → CE = log(1 + 2e^-10)... with τ = 0.1.
        let z = t(&[1., 0., 0., 1.], &[2, 2]);
        let want = (1.0 + 2.0 * (-10.0f64).exp()).ln();
        close(&nt_xent(&z, &z, 0.1), want);
    }

    #[test]
    fn mlm_ignores_pad_labels() {
        let _rng = crate::rng_lock();
        // Vocabulary of 3, two positions; only the second (label 2) counts.
        let lp = t(&[0.5, 0.3, 0.2, 0.1, 0.1, 0.8], &[1, 2, 3]).log();
        let labels = Tensor::from_slice(&[0i64, 2]).reshape([1, 2]);
        close(&mlm(&lp, &labels), -(0.8f64.ln()));
    }
}
