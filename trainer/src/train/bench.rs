//! `unimlip bench step`: one full training step (forward, the five losses, backward, AdamW, the
//! logit-scale clamp) timed on one fixed batch, as the training loop runs it but without the
//! loader, so that it can be set against the PyTorch reference doing the same step on the same
//! inputs (`python/bench_step.py`, `bench/step.sh`).

use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor, nn};

use super::batch::DeviceBatch;
use super::config::{DeviceConfig, LossConfig};
use super::dump::{self, Draws};
use crate::dist::Single;
use crate::model::{ModelConfig, UniMlip};
use crate::optim::{AdamW, AdamWConfig, AdamWKernel};
use crate::step::{StepInput, losses_on};
use crate::{Error, Result, amp, images_to_device};

/// What to time.
#[derive(Debug, Clone)]
pub struct StepBench {
    /// Model preset or model TOML.
    pub model: String,
    /// Samples per step.
    pub batch: usize,
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps before them (allocator and kernel warm-up).
    pub warmup: usize,
    /// AdamW's kernel.
    pub kernel: AdamWKernel,
    /// The CUDA switches.
    pub device_config: DeviceConfig,
    /// Where to run.
    pub device: Device,
    /// Writes the batch and its random draws here (`step-00000-0.safetensors`, the step-dump
    /// layout) for the reference to run the same step on.
    pub dump: Option<PathBuf>,
    /// Seed of the weights and the batch.
    pub seed: u64,
}

/// The step times, in seconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTimes {
    /// Every timed step.
    pub times: Vec<f64>,
    /// Their median.
    pub median: f64,
    /// Samples per second at the median.
    pub samples_per_s: f64,
    /// The last step's total loss (a check that both sides ran the same step).
    pub loss: f64,
    /// The text tower's dropout probability (the reference must be given the same).
    pub text_dropout: f64,
}

/// Times `b.steps` steps after `b.warmup` untimed ones.
pub fn bench_step(b: &StepBench) -> Result<StepTimes> {
    let mc = ModelConfig::load(&b.model).map_err(Error::Config)?;
    if b.batch < 2 || b.steps == 0 {
        return Err(Error::Config(
            "bench step needs a batch of at least 2 and at least one step".into(),
        ));
    }
    crate::host_memory_policy();
    tch::manual_seed(b.seed as i64);
    let vs = nn::VarStore::new(b.device);
    let model = UniMlip::new(&vs, &mc);
    crate::layout::apply(&b.device_config, b.device, &vs)?;
    let mut opt = AdamW::new(
        &vs,
        AdamWConfig {
            kernel: b.kernel,
            ..AdamWConfig::default()
        },
    );
    let x = random_batch(&mc, b)?;
    let draws = Draws::new(&mc, &x);
    if let Some(dir) = &b.dump {
        dump::write(&dir.display().to_string(), 0, 0, &x, &draws)?;
    }
    let losses = LossConfig::default();
    let input = StepInput {
        weak: &x.weak,
        strong: x.strong.as_ref().map(|(a, b)| (a, b)),
        input_ids: &x.input_ids,
        mlm_labels: &x.mlm_labels,
        dropblock_noise: Some(&draws.noise),
        text_keep: Some(&draws.keep),
    };
    let mut times = Vec::with_capacity(b.steps);
    let mut loss = 0.0;
    for i in 0..b.warmup + b.steps {
        let t0 = Instant::now();
        opt.zero_grad();
        let l = amp::autocast(b.device, || {
            losses_on(
                &model,
                &input,
                losses.switches(0),
                losses.weights(),
                true,
                losses.semantics(),
                &Single,
            )
        })?;
        l.backward.backward();
        opt.step(1e-4).map_err(Error::Optimiser)?;
        let mut scale = model.logit_scale.shallow_clone();
        tch::no_grad(|| {
            let _ = scale.clamp_(0.0, 100f64.ln());
        });
        if let Device::Cuda(d) = b.device {
            tch::Cuda::synchronize(d as i64);
        }
        if i >= b.warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
        if i + 1 == b.warmup + b.steps {
            loss = l.log.total.double_value(&[]);
        }
    }
    let median = median(&times);
    Ok(StepTimes {
        samples_per_s: b.batch as f64 / median,
        times,
        median,
        loss,
        text_dropout: mc.text.dropout,
    })
}

/// The median of `v` (not empty).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() % 2 {
        1 => s[s.len() / 2],
        _ => (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0,
    }
}

/// A batch of the model's shapes: random pixels through the trainer's normalisation, random
/// token ids, about 15 % of the positions as MLM labels.
fn random_batch(mc: &ModelConfig, b: &StepBench) -> Result<DeviceBatch> {
    let mut rng = ChaCha8Rng::seed_from_u64(b.seed);
    let side = mc.vision.image_size as usize;
    let mut view = || -> Result<Tensor> {
        let mut px = vec![0u8; b.batch * side * side * 3];
        rng.fill(px.as_mut_slice());
        let t = images_to_device(&px, b.batch, side, b.device)?;
        crate::layout::images(&b.device_config, b.device, t)
    };
    let (weak, va, vb) = (view()?, view()?, view()?);
    let l = mc.context_length as usize;
    let vocab = mc.text.vocab_size;
    let (mut ids, mut labels) = (Vec::with_capacity(b.batch * l), Vec::new());
    for _ in 0..b.batch * l {
        let id = rng.random_range(5..vocab);
        let picked = rng.random_bool(0.15);
        ids.push(id);
        labels.push(if picked { id } else { 0 });
    }
    let shape = [b.batch as i64, l as i64];
    let long = |v: &[i64]| -> Result<Tensor> {
        Ok(Tensor::f_from_slice(v)?
            .f_view(shape)?
            .f_to_kind(Kind::Int64)?
            .f_to_device(b.device)?)
    };
    Ok(DeviceBatch {
        len: b.batch,
        weak,
        strong: Some((va, vb)),
        input_ids: long(&ids)?,
        mlm_labels: long(&labels)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_step_runs_and_writes_its_batch() {
        let _rng = crate::rng_lock();
        let dir = tempfile::tempdir().unwrap();
        let b = StepBench {
            model: "tiny".into(),
            batch: 4,
            steps: 2,
            warmup: 1,
            kernel: AdamWKernel::Fused,
            device_config: DeviceConfig::default(),
            device: Device::Cpu,
            dump: Some(dir.path().to_path_buf()),
            seed: 3,
        };
        let t = bench_step(&b).unwrap();
        assert_eq!(t.times.len(), 2);
        assert!(
            t.median > 0.0 && t.loss.is_finite() && t.loss > 0.0,
            "{t:?}"
        );
        let file = dir.path().join("step-00000-0.safetensors");
        let named = Tensor::read_safetensors(&file).unwrap();
        let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "weak",
            "view_a",
            "view_b",
            "input_ids",
            "mlm_labels",
            "dropblock_noise",
        ] {
            assert!(names.contains(&want), "{names:?}");
        }
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
