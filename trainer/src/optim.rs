//! AdamW with decoupled weight decay (torch.optim.AdamW's update, by libtorch's fused kernel or
//! written out as tensor ops, with its state checkpointed and restored exactly) and the cosine
//! schedule with warmup (model.md §7).

use std::collections::BTreeMap;

use tch::{Kind, Tensor, nn};

/// How the update is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdamWKernel {
    /// libtorch's `_fused_adamw_`, as `torch.optim.AdamW(fused=True)`: one call per parameter
    /// group (CPU and CUDA).
    #[default]
    Fused,
    /// The update written out as about eight tensor ops per parameter (the earlier way, kept
    /// for comparison).
    Ops,
}

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    /// β₁, β₂.
    pub betas: (f64, f64),
    /// ε.
    pub eps: f64,
    /// Weight decay of the decayed group.
    pub weight_decay: f64,
    /// The kernel.
    #[serde(default)]
    pub kernel: AdamWKernel,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.1,
            kernel: AdamWKernel::Fused,
        }
    }
}

/// Whether a parameter is weight-decayed: PMC's rule (≥ 2-D, and not a BN, LN, bias or the
/// logit scale), decided once when the optimiser is created.
pub fn decays(name: &str, dims: usize) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    dims >= 2
        && !name.contains("bn")
        && !name.contains("ln")
        && !name.contains("LayerNorm")
        && last != "bias"
        && !name.contains("logit_scale")
}

#[derive(Debug)]
struct Slot {
    param: Tensor,
    decay: bool,
    /// This parameter's learning rate as a multiple of the step's.
    lr_scale: f64,
    m: Tensor,
    v: Tensor,
}

/// How one parameter is updated: weight-decayed or not, and its learning rate as a multiple of
/// the step's (M3AE's `lr_multiplier_head`, `lr_multiplier_multi_modal`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamGroup {
    /// Whether it is weight-decayed.
    pub decay: bool,
    /// Learning-rate multiple.
    pub lr_scale: f64,
}

/// The optimiser: one slot per trainable variable, in name order.
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    slots: BTreeMap<String, Slot>,
    step: i64,
}

impl AdamW {
    /// An optimiser over every trainable variable of `vs`, decayed by [`decays`], all at the
    /// step's learning rate.
    pub fn new(vs: &nn::VarStore, config: AdamWConfig) -> AdamW {
        AdamW::grouped(vs, config, |name, dims| ParamGroup {
            decay: decays(name, dims),
            lr_scale: 1.0,
        })
    }

    /// An optimiser over every trainable variable of `vs`, each in the group `group(name,
    /// dims)` gives it.
    pub fn grouped(
        vs: &nn::VarStore,
        config: AdamWConfig,
        group: impl Fn(&str, usize) -> ParamGroup,
    ) -> AdamW {
        let slots = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, param)| {
                let ParamGroup { decay, lr_scale } = group(&name, param.dim());
                let m = param.zeros_like().detach();
                let v = param.zeros_like().detach();
                let slot = Slot {
                    param,
                    decay,
                    lr_scale,
                    m,
                    v,
                };
                (name, slot)
            })
            .collect();
        AdamW {
            config,
            slots,
            step: 0,
        }
    }

    /// Steps taken.
    pub fn steps(&self) -> i64 {
        self.step
    }

    /// Names of the decayed parameters.
    pub fn decayed(&self) -> Vec<&str> {
        self.slots
            .iter()
            .filter(|(_, s)| s.decay)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Every parameter's group, in name order.
    pub fn groups(&self) -> Vec<(&str, ParamGroup)> {
        self.slots
            .iter()
            .map(|(n, s)| {
                let g = ParamGroup {
                    decay: s.decay,
                    lr_scale: s.lr_scale,
                };
                (n.as_str(), g)
            })
            .collect()
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for s in self.slots.values_mut() {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// One update with learning rate `lr` from the current gradients.
    pub fn step(&mut self, lr: f64) -> Result<(), String> {
        self.step += 1;
        match self.config.kernel {
            AdamWKernel::Fused => self.step_fused(lr),
            AdamWKernel::Ops => {
                self.step_ops(lr);
                Ok(())
            }
        }
    }

    /// The fused kernel, once per group (decayed or not, and each learning-rate multiple).
    fn step_fused(&mut self, lr: f64) -> Result<(), String> {
        let c = self.config;
        let mut scales: Vec<f64> = self.slots.values().map(|s| s.lr_scale).collect();
        scales.sort_by(f64::total_cmp);
        scales.dedup();
        for (decay, scale) in [true, false]
            .into_iter()
            .flat_map(|d| scales.iter().map(move |&s| (d, s)))
        {
            let slots: Vec<&Slot> = self
                .slots
                .values()
                .filter(|s| s.decay == decay && s.lr_scale == scale && s.param.grad().defined())
                .collect();
            let Some(first) = slots.first() else {
                continue;
            };
            let wd = if decay { c.weight_decay } else { 0.0 };
            let step = Tensor::full([], self.step as f64, (Kind::Float, first.param.device()));
            let grads: Vec<Tensor> = slots.iter().map(|s| s.param.grad()).collect();
            let params: Vec<&Tensor> = slots.iter().map(|s| &s.param).collect();
            let m: Vec<&Tensor> = slots.iter().map(|s| &s.m).collect();
            let v: Vec<&Tensor> = slots.iter().map(|s| &s.v).collect();
            let hyper = crate::shim::Hyper {
                lr: lr * scale,
                betas: c.betas,
                weight_decay: wd,
                eps: c.eps,
            };
            crate::shim::fused_adamw(
                &params,
                &grads.iter().collect::<Vec<_>>(),
                &m,
                &v,
                &step,
                hyper,
            )
            .map_err(|e| format!("fused AdamW: {e}"))?;
        }
        Ok(())
    }

    /// The update written out as tensor ops.
    fn step_ops(&mut self, lr: f64) {
        let (b1, b2) = self.config.betas;
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        let eps = self.config.eps;
        let wd = self.config.weight_decay;
        tch::no_grad(|| {
            for s in self.slots.values_mut() {
                let g = s.param.grad();
                if !g.defined() {
                    continue;
                }
                let lr = lr * s.lr_scale;
                if s.decay && wd != 0.0 {
                    let _ = s.param.g_mul_scalar_(1.0 - lr * wd);
                }
                let _ = s.m.g_mul_scalar_(b1);
                let _ = s.m.g_add_(&(&g * (1.0 - b1)));
                let _ = s.v.g_mul_scalar_(b2);
                let _ = s.v.g_add_(&(&g * &g * (1.0 - b2)));
                let denom = s.v.sqrt() / c2.sqrt() + eps;
                let _ = s.param.g_sub_(&(&s.m / denom * (lr / c1)));
            }
        });
    }

    /// The state as named tensors (`m.<name>`, `v.<name>`) and the step count.
    pub fn state(&self) -> (Vec<(String, Tensor)>, i64) {
        let mut out = Vec::with_capacity(self.slots.len() * 2);
        for (n, s) in &self.slots {
            out.push((format!("m.{n}"), s.m.shallow_clone()));
            out.push((format!("v.{n}"), s.v.shallow_clone()));
        }
        (out, self.step)
    }

    /// Restores a state written by [`AdamW::state`].
    pub fn load_state(&mut self, named: &[(String, Tensor)], step: i64) -> Result<(), String> {
        let map: BTreeMap<&str, &Tensor> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (n, s) in self.slots.iter_mut() {
            for (key, dst) in [(format!("m.{n}"), &mut s.m), (format!("v.{n}"), &mut s.v)] {
                let src = map
                    .get(key.as_str())
                    .ok_or_else(|| format!("optimiser state has no `{key}`"))?;
                if src.size() != dst.size() {
                    return Err(format!(
                        "`{key}`: shape {:?}, expected {:?}",
                        src.size(),
                        dst.size()
                    ));
                }
                tch::no_grad(|| dst.copy_(&src.to_kind(Kind::Float).to_device(dst.device())));
            }
        }
        self.step = step;
        Ok(())
    }
}

/// PMC's `cosine_lr`: linear warmup to `base` over `warmup` steps, then cosine to zero at `total`.
pub fn cosine_lr(base: f64, step: i64, warmup: i64, total: i64) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let e = (step - warmup) as f64;
    let es = (total - warmup).max(1) as f64;
    0.5 * (1.0 + (std::f64::consts::PI * e / es).cos()) * base
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, kind::FLOAT_CPU};

    #[test]
    fn decay_groups_follow_pmc() {
        let _rng = crate::rng_lock();
        assert!(decays("visual.conv1.weight", 4));
        assert!(decays("text_projection", 2));
        assert!(decays("img_special_token", 3));
        assert!(decays("text_encoder.embeddings.word_embeddings.weight", 2));
        assert!(!decays("visual.bn1.weight", 1));
        assert!(!decays("visual.attnpool.c_proj.bias", 1));
        assert!(!decays("logit_scale", 0));
        assert!(!decays("fusion_module.resblocks.0.ln_1.weight", 1));
        assert!(!decays("text_encoder.embeddings.LayerNorm.weight", 1));
    }

    #[test]
    fn one_step_matches_the_adamw_formula() {
        let _rng = crate::rng_lock();
        for kernel in [AdamWKernel::Fused, AdamWKernel::Ops] {
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs.root().var("w", &[2, 2], nn::Init::Const(1.0));
            let b = vs.root().var("b", &[2], nn::Init::Const(1.0));
            let cfg = AdamWConfig {
                kernel,
                ..AdamWConfig::default()
            };
            let mut opt = AdamW::new(&vs, cfg);
            assert_eq!(opt.decayed(), ["w"]);
            let loss = (&w * 3.0).sum(Kind::Float) + (&b * -2.0).sum(Kind::Float);
            opt.zero_grad();
            loss.backward();
            opt.step(0.01).unwrap();
            // Step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) = ±lr; decay first.
            let wv = w.double_value(&[0, 0]);
            let want = 1.0 * (1.0 - 0.01 * 0.1) - 0.01;
            assert!((wv - want).abs() < 1e-6, "{kernel:?}: {wv}");
            let bv = b.double_value(&[0]);
            assert!((bv - (1.0 + 0.01)).abs() < 1e-6, "{kernel:?}: {bv}");
        }
    }

    /// Ten steps of random gradients through both kernels from the same start.
    fn after_ten_steps(kernel: AdamWKernel) -> Vec<f32> {
        let vs = nn::VarStore::new(Device::Cpu);
        let visual = vs.root() / "visual";
        let w = (&visual / "conv").var("weight", &[8, 3, 3, 3], nn::Init::Const(0.5));
        let b = (&visual / "bn").var("bias", &[8], nn::Init::Const(-0.5));
        let cfg = AdamWConfig {
            kernel,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(&vs, cfg);
        tch::manual_seed(7);
        let targets: Vec<Tensor> = (0..10).map(|_| Tensor::randn([8], FLOAT_CPU)).collect();
        for (i, t) in targets.iter().enumerate() {
            opt.zero_grad();
            let y = w.sum_dim_intlist([1i64, 2, 3].as_slice(), false, Kind::Float) + &b;
            (y - t).square().sum(Kind::Float).backward();
            opt.step(cosine_lr(1e-2, i as i64, 3, 10)).unwrap();
        }
        let all = Tensor::cat(&[w.flatten(0, -1), b.shallow_clone()], 0);
        Vec::<f32>::try_from(&all).unwrap()
    }

    #[test]
    fn the_fused_kernel_follows_the_written_out_update() {
        let _rng = crate::rng_lock();
        let fused = after_ten_steps(AdamWKernel::Fused);
        let ops = after_ten_steps(AdamWKernel::Ops);
        let start = after_ten_steps(AdamWKernel::Fused);
        assert_eq!(fused, start, "the fused kernel is deterministic");
        let worst = fused
            .iter()
            .zip(&ops)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-6,
            "fused and written-out updates part by {worst}"
        );
        assert!(
            fused.iter().any(|&x| (x - 0.5).abs() > 1e-3),
            "the weights moved"
        );
    }

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        let _rng = crate::rng_lock();
        assert_eq!(cosine_lr(1.0, 0, 10, 110), 0.1);
        assert_eq!(cosine_lr(1.0, 9, 10, 110), 1.0);
        assert_eq!(cosine_lr(1.0, 10, 10, 110), 1.0);
        assert!((cosine_lr(1.0, 60, 10, 110) - 0.5).abs() < 1e-12);
        assert!(cosine_lr(1.0, 110, 10, 110).abs() < 1e-12);
    }
}
