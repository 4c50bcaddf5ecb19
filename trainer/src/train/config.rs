//! `unimlip train --config FILE`: one TOML file for a run (unknown fields are errors).
//!
//! ```toml
//! model = "tiny"                      # a preset or a model TOML (relative to this file)
//! tokenizer = "vocab.txt"             # vocab.txt or tokenizer.json (relative to this file)
//! out = "s3://bucket/runs/tiny"       # checkpoints/ and metrics.jsonl go here
//! seed = 0
//!
//! [data]
//! sources = [{ url = "s3://bucket/roco", splits = ["train"] }]
//! batch_size = 32
//!
//! [optim]
//! lr = 1e-4
//! epochs = 100
//!
//! [losses]
//! simclr_start_epoch = 0
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use unimlip_loader::{CacheConfig, LaneDigits, SourceSpec};

use crate::losses::Weights;
use crate::optim::{AdamWConfig, AdamWKernel};
use crate::step::{ContrastiveGrad, I2iForm, Semantics, Switches};

/// A training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model preset (`tiny`, `rn50-pubmedbert`) or model TOML path.
    pub model: String,
    /// Vocabulary (`vocab.txt`) or `tokenizer.json`.
    pub tokenizer: String,
    /// Run folder or URL: `checkpoints/` and `metrics.jsonl`.
    pub out: String,
    /// Seed of the initialisation, the data order, the augmentations and every draw of the loop.
    #[serde(default)]
    pub seed: u64,
    /// Optional start weights (safetensors with PMC-CLIP names, e.g. a converted checkpoint).
    #[serde(default)]
    pub init: Option<String>,
    /// Optional start of the text tower alone, after `init`: a Hugging Face BERT folder
    /// (`config.json`, `model.safetensors`), as PMC-CLIP starts from PubMedBERT, or a file
    /// `unimlip convert hf-bert` wrote. The model's `[text]` must have the folder's shape.
    #[serde(default)]
    pub init_text: Option<String>,
    /// Input.
    pub data: DataConfig,
    /// Optimiser and schedule.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Losses.
    #[serde(default)]
    pub losses: LossConfig,
    /// Checkpoints.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    /// Held-out retrieval measured during the run.
    #[serde(default)]
    pub eval: Option<EvalConfig>,
    /// CUDA performance switches.
    #[serde(default)]
    pub device: DeviceConfig,
    /// A local folder to write every micro-batch's inputs and random draws to (one
    /// safetensors file per micro-batch), for replaying the run in another implementation:
    /// `python/uni_mlip_ref.py replay` runs the same steps and compares the losses.
    #[serde(default)]
    pub dump_steps: Option<String>,
    /// Logs beside `metrics.jsonl`.
    #[serde(default)]
    pub log: LogConfig,
}

/// What a run logs besides `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// TensorBoard event files in `<out>/tensorboard/`: every metric of `metrics.jsonl`
    /// (`train/<key>`, the held-out retrieval as `eval/<score>`), the learning rate included.
    pub tensorboard: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { tensorboard: true }
    }
}

/// Where the batches come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Datasets, mixed by weight.
    pub sources: Vec<SourceSpec>,
    /// Samples per micro-batch.
    pub batch_size: usize,
    /// Augmentation threads (all cores when absent).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Local shard cache.
    #[serde(default)]
    pub cache: Option<CacheConfig>,
    /// The weak view's RandomResizedCrop draws areas from this share of the image to all of
    /// it: PMC-CLIP's `--crop-scale`, 0.5 as its README's training commands (its code's
    /// default is 0.9). The SimCLR views keep 0.5.
    #[serde(default = "default_crop_scale")]
    pub crop_scale: f64,
    /// The order's lane digits: `twos-first` (default; each rank of 2, 4 or 8 reads only its
    /// share of a shuffle window's row groups) or `three-first` (the same for 3, 6, 12 or 24
    /// ranks). Part of the sample order: a resumed run must keep it.
    #[serde(default)]
    pub lane_digits: LaneDigits,
    /// Whose arithmetic the SimCLR views' colour jitter, greyscale and blur follow: `"pil"`
    /// (default; PIL's, as PMC-CLIP's and SLIP's torchvision transforms on PIL images, with
    /// SLIP's bilinear crop) or `"torchvision-tensor"` (torchvision's uint8 tensor kernels, a
    /// 23-tap blur and a bicubic crop: the views before PIL's became the default).
    #[serde(default)]
    pub colour_ops: unimlip_loader::ColourOps,
}

fn default_crop_scale() -> f64 {
    0.5
}

/// AdamW and the cosine schedule (model.md §7; PMC README values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Warmup steps.
    pub warmup: i64,
    /// Decoupled weight decay on ≥ 2-D tensors.
    pub weight_decay: f64,
    /// β₁, β₂.
    pub betas: (f64, f64),
    /// ε.
    pub eps: f64,
    /// Epochs (the schedule's length unless `max_steps` is set).
    pub epochs: u64,
    /// Stop after this many optimiser steps (and make it the schedule's length).
    pub max_steps: Option<i64>,
    /// Micro-batches per optimiser step.
    pub accumulate: u32,
    /// AdamW's kernel: `fused` (libtorch's `_fused_adamw_`, as `torch.optim.AdamW(fused=True)`)
    /// or `ops` (the update written out as tensor ops).
    pub adamw: AdamWKernel,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 1e-4,
            warmup: 500,
            weight_decay: 0.1,
            betas: (0.9, 0.999),
            eps: 1e-8,
            epochs: 1,
            max_steps: None,
            accumulate: 1,
            adamw: AdamWKernel::Fused,
        }
    }
}

impl OptimConfig {
    /// The AdamW part.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            kernel: self.adamw,
        }
    }
}

/// CUDA performance switches (no effect on the CPU, where batches and weights stay contiguous
/// NCHW for the reasons in `input.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Convolution weights and image batches in channels-last memory format (NHWC), which
    /// tensor-core convolutions prefer.
    pub channels_last: bool,
    /// cuDNN benchmarks the convolution algorithms for each new shape and keeps the fastest
    /// (`torch.backends.cudnn.benchmark`); results stay deterministic only with it off.
    pub cudnn_benchmark: bool,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            channels_last: true,
            cudnn_benchmark: true,
        }
    }
}

/// Which losses, with which weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Plain ITC.
    pub itc: bool,
    /// ITC with DropBlock on the image features.
    pub itc_img: bool,
    /// ITC with dropout on the text features.
    pub itc_txt: bool,
    /// The image–image loss on the strong views: `"slip"` (SLIP's NT-Xent through the MLP
    /// head; `true` means this), `"eq2"` (the paper's Eq. 2: cross-view InfoNCE on the
    /// normalised image embeddings) or `false` (off).
    pub i2i: I2i,
    /// MLM.
    pub mlm: bool,
    /// The first epoch with SimCLR on (BatchNorm statistics frozen from then on).
    pub simclr_start_epoch: u64,
    /// Freeze the visual BatchNorm statistics while SimCLR is on (the paper's); `false` is the
    /// naive SimCLR of the ablation.
    pub freeze_bn: bool,
    /// In a distributed run, normalise the SimCLR head's BatchNorm over the global batch.
    pub sync_head_bn: bool,
    /// In a distributed run, `"exact"` (one process's gradient on the global batch) or
    /// `"openclip"` (PMC-CLIP's code: the contrastive terms weigh 1/W relative to MLM).
    pub contrastive_grad: ContrastiveGrad,
    /// Share of caption words masked.
    pub mlm_ratio: f64,
    /// λ_cm (each ITC term).
    pub weight_cm: f64,
    /// λ_um (SimCLR).
    pub weight_um: f64,
    /// λ_fm (MLM).
    pub weight_fm: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        let w = Weights::default();
        LossConfig {
            itc: true,
            itc_img: true,
            itc_txt: true,
            i2i: I2i::Slip,
            mlm: true,
            simclr_start_epoch: 0,
            freeze_bn: true,
            sync_head_bn: true,
            contrastive_grad: ContrastiveGrad::Exact,
            mlm_ratio: 0.15,
            weight_cm: w.cm,
            weight_um: w.um,
            weight_fm: w.fm,
        }
    }
}

impl LossConfig {
    /// The switches in force during `epoch`.
    pub fn switches(&self, epoch: u64) -> Switches {
        Switches {
            itc: self.itc,
            itc_img: self.itc_img,
            itc_txt: self.itc_txt,
            i2i: self.i2i.on() && epoch >= self.simclr_start_epoch,
            mlm: self.mlm,
            i2i_form: match self.i2i {
                I2i::Eq2 => I2iForm::Eq2,
                _ => I2iForm::Slip,
            },
            freeze_bn: self.freeze_bn,
        }
    }

    /// What a multi-rank step does beyond one process's.
    pub fn semantics(&self) -> Semantics {
        Semantics {
            sync_head_bn: self.sync_head_bn,
            contrastive_grad: self.contrastive_grad,
        }
    }

    /// The weights.
    pub fn weights(&self) -> Weights {
        Weights {
            cm: self.weight_cm,
            um: self.weight_um,
            fm: self.weight_fm,
        }
    }
}

/// The image–image loss setting: off, SLIP's, or the paper's Eq. 2. In TOML a bool (`true` is
/// SLIP's) or a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I2i {
    /// Off (`false`).
    Off,
    /// SLIP's NT-Xent through the MLP head (`true` or `"slip"`).
    Slip,
    /// The paper's Eq. 2 (`"eq2"`).
    Eq2,
}

impl I2i {
    /// Whether the loss is on.
    pub fn on(self) -> bool {
        self != I2i::Off
    }
}

impl Serialize for I2i {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            I2i::Off => s.serialize_bool(false),
            I2i::Slip => s.serialize_str("slip"),
            I2i::Eq2 => s.serialize_str("eq2"),
        }
    }
}

impl<'de> Deserialize<'de> for I2i {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<I2i, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Flag(bool),
            Name(String),
        }
        match Repr::deserialize(d)? {
            Repr::Flag(false) => Ok(I2i::Off),
            Repr::Flag(true) => Ok(I2i::Slip),
            Repr::Name(n) if n == "slip" => Ok(I2i::Slip),
            Repr::Name(n) if n == "eq2" => Ok(I2i::Eq2),
            Repr::Name(n) => Err(serde::de::Error::custom(format!(
                "losses.i2i `{n}`: expected \"slip\", \"eq2\", true or false"
            ))),
        }
    }
}

/// How often checkpoints are written and how many are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Every this many optimiser steps (and always at the end).
    pub every: i64,
    /// Checkpoints kept.
    pub keep: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            every: 500,
            keep: 3,
        }
    }
}

/// Held-out image↔text retrieval during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// The held-out pairs.
    pub sources: Vec<SourceSpec>,
    /// Pairs scored (the first ones of the canonical order; all when absent).
    #[serde(default)]
    pub max_pairs: Option<usize>,
    /// Every this many steps (and always at the end).
    #[serde(default)]
    pub every: Option<i64>,
}

impl TrainConfig {
    /// Reads a config file; relative `model`, `tokenizer`, `init` and `init_text` paths are
    /// taken from the file's folder.
    pub fn load(path: &Path) -> Result<TrainConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let mut c: TrainConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &str| -> String {
            if Path::new(p).is_relative() && !p.contains("://") {
                base.join(p).display().to_string()
            } else {
                p.to_string()
            }
        };
        if crate::model::ModelConfig::preset(&c.model).is_none() {
            c.model = rel(&c.model);
        }
        c.tokenizer = rel(&c.tokenizer);
        c.init = c.init.as_deref().map(rel);
        c.init_text = c.init_text.as_deref().map(rel);
        c.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(c)
    }

    /// What a run of this config should be warned about: SimCLR from the first step of a model
    /// started from scratch freezes BatchNorm statistics that were never trained.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.init.is_none()
            && self.losses.i2i.on()
            && self.losses.freeze_bn
            && self.losses.simclr_start_epoch == 0
        {
            out.push(
                "SimCLR freezes the visual BatchNorm statistics from the first step, but the model \
                 starts from scratch (no `init`): the statistics stay at their initial 0 and 1 and the \
                 image features can collapse; set losses.simclr_start_epoch ≥ 1 or start from \
                 PMC-CLIP weights"
                    .to_string(),
            );
        }
        out
    }

    /// Rejects values no run can use.
    pub fn check(&self) -> Result<(), String> {
        if self.data.sources.is_empty() {
            return Err("data.sources is empty".into());
        }
        if self.data.batch_size < 2 {
            return Err("data.batch_size must be at least 2 (contrastive losses)".into());
        }
        if self.optim.accumulate == 0 {
            return Err("optim.accumulate must be at least 1".into());
        }
        if self.optim.warmup < 0 {
            return Err(format!(
                "optim.warmup must be 0 or more steps, not {}",
                self.optim.warmup
            ));
        }
        if self.optim.epochs == 0 && self.optim.max_steps.is_none() {
            return Err("optim.epochs must be at least 1 (or set optim.max_steps)".into());
        }
        if let Some(n) = self.optim.max_steps.filter(|n| *n < 1) {
            return Err(format!("optim.max_steps must be at least 1, not {n}"));
        }
        if !self.optim.lr.is_finite() || self.optim.lr <= 0.0 {
            return Err(format!("optim.lr must be positive, not {}", self.optim.lr));
        }
        if self.checkpoint.every < 1 || self.checkpoint.keep < 1 {
            return Err("checkpoint.every and checkpoint.keep must be at least 1".into());
        }
        let c = self.data.crop_scale;
        if !(c > 0.0 && c <= 1.0) {
            return Err(format!("data.crop_scale must lie in (0, 1], not {c}"));
        }
        if !(0.0..=1.0).contains(&self.losses.mlm_ratio) {
            return Err("losses.mlm_ratio must lie in [0, 1]".into());
        }
        let l = &self.losses;
        if !(l.itc || l.itc_img || l.itc_txt || l.i2i.on() || l.mlm) {
            return Err("every loss is switched off".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_parse_resolve_paths_and_reject_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.toml");
        std::fs::write(
            &p,
            "model = \"tiny\"\ntokenizer = \"vocab.txt\"\nout = \"s3://b/run\"\n\
             [data]\nsources = [{ url = \"roco\" }]\nbatch_size = 8\n\
             [losses]\ni2i = false\n",
        )
        .unwrap();
        let c = TrainConfig::load(&p).unwrap();
        assert_eq!(c.model, "tiny");
        assert_eq!(
            c.tokenizer,
            dir.path().join("vocab.txt").display().to_string()
        );
        assert_eq!(c.out, "s3://b/run");
        assert_eq!(c.optim.warmup, 500);
        assert!(!c.losses.switches(0).i2i && c.losses.switches(0).mlm);

        std::fs::write(
            &p,
            "model = \"tiny\"\ntokenizer = \"v\"\nout = \"o\"\nbogus = 1\n",
        )
        .unwrap();
        let e = TrainConfig::load(&p).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn the_weak_crop_scale_defaults_to_pmc_clips_readme_and_is_checked() {
        let parse = |extra: &str| {
            toml::from_str::<TrainConfig>(&format!(
                "model = \"tiny\"\ntokenizer = \"v\"\nout = \"o\"\n\
                 [data]\nsources = [{{ url = \"roco\" }}]\nbatch_size = 8\n{extra}"
            ))
            .unwrap()
        };
        assert_eq!(parse("").data.crop_scale, 0.5);
        assert_eq!(parse("crop_scale = 0.9").data.crop_scale, 0.9);
        for bad in ["crop_scale = 0.0", "crop_scale = 1.5"] {
            let e = parse(bad).check().unwrap_err();
            assert!(e.contains("data.crop_scale"), "{e}");
        }
        let p = unimlip_loader::Pipeline::unimlip_at(96, true).weak_crop_scale(0.9);
        let lows: Vec<f64> = p
            .views
            .iter()
            .map(|v| match v.crop {
                unimlip_loader::Crop::RandomResized { scale, .. } => scale.0,
                _ => unreachable!("every Uni-Mlip view is a random resized crop"),
            })
            .collect();
        assert_eq!(lows, [0.9, 0.5, 0.5]);
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n").expect("a TOML example") + 8;
        let len = readme[start..].find("```").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.toml");
        std::fs::write(&p, &readme[start..start + len]).unwrap();
        let c = TrainConfig::load(&p).unwrap();
        assert_eq!(c.model, "rn50-pubmedbert");
        assert_eq!(c.data.batch_size, 128);
        assert!(c.eval.is_some() && c.data.cache.is_some());
    }

    #[test]
    fn the_image_image_loss_is_named_or_switched() {
        let parse = |v: &str| toml::from_str::<LossConfig>(&format!("i2i = {v}"));
        assert_eq!(parse("true").unwrap().i2i, I2i::Slip);
        assert_eq!(parse("false").unwrap().i2i, I2i::Off);
        assert_eq!(parse("\"slip\"").unwrap().i2i, I2i::Slip);
        let eq2 = parse("\"eq2\"").unwrap();
        assert_eq!(
            (eq2.i2i, eq2.switches(0).i2i_form),
            (I2i::Eq2, I2iForm::Eq2)
        );
        assert!(eq2.switches(0).i2i);
        let e = parse("\"nt-xent\"").unwrap_err().to_string();
        assert!(e.contains("expected \"slip\", \"eq2\""), "{e}");
    }

    #[test]
    fn simclr_switches_on_at_its_epoch() {
        let l = LossConfig {
            simclr_start_epoch: 2,
            ..LossConfig::default()
        };
        assert!(!l.switches(1).i2i);
        assert!(l.switches(2).i2i);
    }
}
