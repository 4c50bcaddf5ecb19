//! M3AE's fine-tuning loop (`m3ae_utils.set_schedule`, `objectives.compute_vqa`): AdamW with
//! β (0.9, 0.98), ε 1e-8 and weight decay 0.01 (none on biases and norms), the head at 50× and
//! the fusion at 5× the encoders' rate, linear warm-up over the first 10 % of the steps and
//! linear decay to 0, and BCE with logits on the answer targets times the number of answers.

use serde::{Deserialize, Serialize};
use tch::{Reduction, Tensor};
use unimlip_trainer::{AdamW, AdamWConfig, AdamWKernel, ParamGroup, decays};

/// The loss on the answer logits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VqaLoss {
    /// M3AE's: `binary_cross_entropy_with_logits(logits, targets) · answers`, an independent
    /// sigmoid per answer. The default.
    #[default]
    Bce,
    /// Softmax cross-entropy over the answers.
    Softmax,
}

impl VqaLoss {
    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            VqaLoss::Bce => "bce",
            VqaLoss::Softmax => "softmax",
        }
    }

    /// The loss of `logits` `[B, answers]` for answer indices `y` `[B]`.
    pub fn of(self, logits: &Tensor, y: &Tensor) -> Tensor {
        match self {
            VqaLoss::Bce => {
                let answers = logits.size()[1];
                let targets = y.one_hot(answers).to_kind(logits.kind());
                logits.binary_cross_entropy_with_logits::<Tensor>(
                    &targets,
                    None,
                    None,
                    Reduction::Mean,
                ) * answers as f64
            }
            VqaLoss::Softmax => logits.cross_entropy_for_logits(y),
        }
    }
}

/// The optimiser and learning-rate schedule of a fine-tuning run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The encoders' peak learning rate (M3AE's `learning_rate`, 5e-6).
    pub lr: f64,
    /// The head's multiple of it (M3AE's `lr_multiplier_head`, 50).
    pub head_multiplier: f64,
    /// The fusion's (and learnable tokens') multiple (M3AE's `lr_multiplier_multi_modal`, 5).
    pub fusion_multiplier: f64,
    /// AdamW's weight decay (M3AE's 0.01).
    pub weight_decay: f64,
    /// The share of the steps spent warming up (M3AE's `warmup_steps = 0.1`).
    pub warmup: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            lr: 5e-6,
            head_multiplier: 50.0,
            fusion_multiplier: 5.0,
            weight_decay: 0.01,
            warmup: 0.1,
        }
    }
}

impl Schedule {
    /// The optimiser over every trainable variable: `vqa.head.*` and the poolers at the head's
    /// rate, `vqa.fusion.*` and `vqa.queries` at the fusion's, the rest at `lr`.
    pub fn optimizer(&self, vs: &tch::nn::VarStore) -> AdamW {
        let config = AdamWConfig {
            betas: (0.9, 0.98),
            eps: 1e-8,
            weight_decay: self.weight_decay,
            kernel: AdamWKernel::Fused,
        };
        let (head, fusion) = (self.head_multiplier, self.fusion_multiplier);
        AdamW::grouped(vs, config, |name, dims| ParamGroup {
            decay: decays(name, dims),
            lr_scale: if name.starts_with("vqa.head.") || name.starts_with("vqa.pooler_") {
                head
            } else if name.starts_with("vqa.fusion.") || name == "vqa.queries" {
                fusion
            } else {
                1.0
            },
        })
    }

    /// The encoders' rate at optimiser step `step` (0-based) of `total`: Hugging Face's
    /// `get_polynomial_decay_schedule_with_warmup` at power 1 and end rate 0, with
    /// `int(total · warmup)` warm-up steps, as M3AE's `LambdaLR` applies it (step 0 at rate 0
    /// when there is a warm-up).
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        let warmup = (total as f64 * self.warmup) as usize;
        if step < warmup {
            return self.lr * step as f64 / warmup.max(1) as f64;
        }
        if step > total {
            return 0.0;
        }
        let decay = (total - warmup).max(1) as f64;
        self.lr * (1.0 - (step - warmup) as f64 / decay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_over_a_tenth_then_decays_linearly_to_zero() {
        let s = Schedule::default();
        assert_eq!(s.lr_at(0, 100), 0.0);
        assert!((s.lr_at(5, 100) - 2.5e-6).abs() < 1e-18);
        assert!((s.lr_at(10, 100) - 5e-6).abs() < 1e-18);
        assert!((s.lr_at(55, 100) - 2.5e-6).abs() < 1e-18);
        assert!(s.lr_at(99, 100) > 0.0 && s.lr_at(100, 100) == 0.0);
        // Fewer than ten steps: no warm-up, the first step at the full rate.
        assert_eq!(s.lr_at(0, 9), 5e-6);
    }

    #[test]
    fn the_head_learns_at_fifty_times_and_the_fusion_at_five_times_the_encoders() {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        for (name, dims) in [
            ("visual.conv1.weight", &[2i64, 2][..]),
            ("vqa.fusion.attn.weight", &[2, 2]),
            ("vqa.head.0.weight", &[2, 2]),
            ("vqa.head.0.bias", &[2]),
            ("vqa.queries", &[1, 2, 2]),
            ("vqa.pooler_text.weight", &[2, 2]),
        ] {
            let mut parts: Vec<&str> = name.split('.').collect();
            let last = parts.pop().unwrap();
            let path = parts.iter().fold(vs.root(), |p, s| p / *s);
            let _ = path.var(last, dims, tch::nn::Init::Const(0.0));
        }
        let opt = Schedule::default().optimizer(&vs);
        let groups: std::collections::BTreeMap<&str, ParamGroup> =
            opt.groups().into_iter().collect();
        let g = |n: &str| (groups[n].lr_scale, groups[n].decay);
        assert_eq!(g("visual.conv1.weight"), (1.0, true));
        assert_eq!(g("vqa.fusion.attn.weight"), (5.0, true));
        assert_eq!(g("vqa.queries"), (5.0, true));
        assert_eq!(g("vqa.head.0.weight"), (50.0, true));
        assert_eq!(g("vqa.pooler_text.weight"), (50.0, true));
        assert_eq!(g("vqa.head.0.bias"), (50.0, false));
    }

    #[test]
    fn bce_is_m3aes_and_differs_from_softmax() {
        let logits = Tensor::from_slice(&[2.0f32, -1.0, 0.5, 0.0, 1.0, -2.0]).view([2, 3]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let bce = VqaLoss::Bce.of(&logits, &y).double_value(&[]);
        // Mean over the six sigmoid terms, times the three answers.
        let t = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let x = [2.0f64, -1.0, 0.5, 0.0, 1.0, -2.0];
        let want: f64 = x
            .iter()
            .zip(t)
            .map(|(x, t)| x.max(0.0) - x * t + (1.0 + (-x.abs()).exp()).ln())
            .sum::<f64>()
            / 6.0
            * 3.0;
        assert!((bce - want).abs() < 1e-5, "{bce} vs {want}");
        let ce = VqaLoss::Softmax.of(&logits, &y).double_value(&[]);
        assert!((ce - bce).abs() > 0.1);
    }
}
