//! Chest X-ray classification (model.md §8.2) on a split file with train / validation / test
//! parts (e.g. `unimlip splits --recipe lowdata --fraction 0.01`): a linear head on the raw
//! attention-pool features, trained with BCE and Adam, early-stopped on the validation macro
//! AUC, reported as test macro AUC and per-class AUC.
//!
//! - `linear`: the encoder frozen (BatchNorm in eval mode); features are computed once with the
//!   eval transform (a CLIP-style linear probe).
//! - `finetune`: the head and the whole vision tower trained on RandomResizedCrop views (the
//!   PMC train transform), evaluated with the eval transform after each epoch.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};
use unimlip_loader::{Loader, Pipeline, SourceSpec};
use unimlip_shards::splits::{SplitRow, read_split_rows};
use unimlip_shards::{Manifest, Store};
use unimlip_trainer::Trained;
use unimlip_trainer::images_to_device;
use unimlip_trainer::model::init::torch_linear;

use crate::features::{ImageSet, encode_images};
use crate::metrics::{MacroAuc, macro_auc};
use crate::{Error, Result};

/// Linear probe or fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Frozen encoder.
    Linear,
    /// Everything trained.
    Finetune,
}

/// What to classify and how.
#[derive(Debug, Clone)]
pub struct ClassifyJob {
    /// Dataset root URL.
    pub data: String,
    /// Split file with `train`, `validation` and `test` parts.
    pub split: String,
    /// Linear probe or fine-tuning.
    pub mode: Mode,
    /// Most epochs.
    pub epochs: usize,
    /// Epochs without a better validation AUC before stopping.
    pub patience: usize,
    /// Adam's learning rate (the head's; fine-tuning uses a tenth of it for the encoder).
    pub lr: f64,
    /// Samples per step ([`paper_batch_size`] of the dataset when absent).
    pub batch_size: Option<usize>,
    /// Decoding threads.
    pub threads: usize,
    /// Seed of the head's initialisation and the sample order.
    pub seed: u64,
}

/// The result of one classification run.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyResult {
    /// `classify`.
    pub task: &'static str,
    /// Dataset name.
    pub dataset: String,
    /// Split file.
    pub split: String,
    /// Linear probe or fine-tuning.
    pub mode: Mode,
    /// The label set, in order.
    pub label_names: Vec<String>,
    /// How uncertain labels became targets (from the split's recipe).
    pub policy: String,
    /// Images per part.
    pub counts: BTreeMap<String, usize>,
    /// Which parts validated and tested.
    pub protocol: String,
    /// The epoch whose head was kept (1-based).
    pub best_epoch: usize,
    /// Its validation macro AUC.
    pub validation_macro_auc: Option<f64>,
    /// Samples per step.
    pub batch_size: usize,
    /// Adam's learning rate of the head (the encoder's is a tenth of it when fine-tuned).
    pub lr: f64,
    /// Most epochs.
    pub max_epochs: usize,
    /// Epochs without a better validation macro AUC before stopping.
    pub patience: usize,
    /// Test macro AUC, per class and skipped classes.
    pub test: MacroAuc,
    /// Where the weights came from.
    pub weights: String,
}

struct Parts {
    /// The part tested on (`test`, or `validation` when the split has no test part).
    test_part: String,
    /// Train ids held out for validation when the split has no validation part to spare.
    carved: Option<HashSet<String>>,
    /// How the parts were used.
    protocol: String,
    labels: HashMap<String, Vec<f32>>,
    names: Vec<String>,
    policy: String,
    dataset: String,
}

fn parts(job: &ClassifyJob) -> Result<Parts> {
    let store = Store::open_existing(&job.data)?;
    let manifest = Manifest::load(&store)?;
    if manifest.label_names.is_empty() {
        return Err(Error::Data(format!(
            "{}: dataset {} has no labels to classify",
            store.url(),
            manifest.dataset
        )));
    }
    let rows = read_split_rows(&store, &job.split)?;
    let info: serde_json::Value = store
        .get_opt(&format!("splits/{}.json", job.split))?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let names: Vec<String> = info["label_names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .filter(|v: &Vec<String>| !v.is_empty())
        .unwrap_or_else(|| manifest.label_names.clone());
    let policy = info["params"]["policy"]
        .as_str()
        .unwrap_or("raw labels: 1 and −1 positive, 0 and unmentioned negative")
        .to_string();
    let (test_part, carved, protocol) = layout(&rows, job.seed)?;
    let labels = rows
        .into_iter()
        .filter_map(|r| r.labels.map(|l| (format!("{}\t{}", r.part, r.id), l)))
        .collect();
    Ok(Parts {
        test_part,
        carved,
        protocol,
        labels,
        names,
        policy,
        dataset: manifest.dataset,
    })
}

/// Which parts validate and test: the split's own `validation` and `test`, or, when it lacks a
/// test part (CheXpert's published data has train and valid only), its `validation` part as the
/// test set and a seeded tenth of the train images held out for validation.
fn layout(rows: &[SplitRow], seed: u64) -> Result<(String, Option<HashSet<String>>, String)> {
    let has = |p: &str| rows.iter().any(|r| r.part == p);
    if !has("train") {
        return Err(Error::Data("the split has no `train` part".into()));
    }
    if has("test") && has("validation") {
        return Ok((
            "test".into(),
            None,
            "the split's train, validation and test parts".into(),
        ));
    }
    let test = if has("test") {
        "test"
    } else if has("validation") {
        "validation"
    } else {
        return Err(Error::Data(
            "the split has neither a `test` nor a `validation` part".into(),
        ));
    };
    let mut ids: Vec<&str> = rows
        .iter()
        .filter(|r| r.part == "train")
        .map(|r| r.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x7661_6c69));
    let k = (ids.len() / 10).max(1);
    let carved: HashSet<String> = ids[..k].iter().map(|s| s.to_string()).collect();
    let protocol = format!(
        "validation: {k} of the {} train images held out (seed {seed}); test: the split's `{test}` part",
        ids.len()
    );
    Ok((test.into(), Some(carved), protocol))
}

/// The rows of `set` whose id is (`inside`) or is not in `ids`.
fn subset(set: ImageSet, ids: &HashSet<String>, inside: bool) -> ImageSet {
    let keep: Vec<i64> = (0..set.ids.len())
        .filter(|&i| ids.contains(&set.ids[i]) == inside)
        .map(|i| i as i64)
        .collect();
    ImageSet {
        ids: pick(&set.ids, &keep),
        captions: pick(&set.captions, &keep),
        labels: pick(&set.labels, &keep),
        features: set.features.index_select(0, &Tensor::from_slice(&keep)),
    }
}

/// The best validation AUC so far, its epoch and the weights that reached it.
type Best = (f64, usize, Vec<(String, Tensor)>);

fn pick<T: Clone>(v: &[T], keep: &[i64]) -> Vec<T> {
    keep.iter().map(|&i| v[i as usize].clone()).collect()
}

fn source(job: &ClassifyJob, part: &str) -> SourceSpec {
    let mut s = SourceSpec::new(&job.data);
    s.split_file = Some((job.split.clone(), part.to_string()));
    s
}

/// Targets of a set: the split's labels, else the images' own mapped as 1/−1 → 1, else 0.
fn targets(set: &ImageSet, part: &str, p: &Parts) -> Vec<Vec<f32>> {
    let c = p.names.len();
    set.ids
        .iter()
        .zip(&set.labels)
        .map(|(id, own)| {
            if let Some(l) = p.labels.get(&format!("{part}\t{id}")) {
                return l.clone();
            }
            let own = own.clone().unwrap_or_default();
            (0..c)
                .map(|k| match own.get(k) {
                    Some(v) if *v == 1.0 || *v == -1.0 => 1.0,
                    _ => 0.0,
                })
                .collect()
        })
        .collect()
}

fn target_tensor(y: &[Vec<f32>]) -> Tensor {
    let c = y.first().map_or(0, Vec::len) as i64;
    let flat: Vec<f32> = y.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([y.len() as i64, c])
}

/// BCE over the entries that are 0 or 1.
fn bce(logits: &Tensor, y: &Tensor) -> Tensor {
    let known = y.eq(0.0).logical_or(&y.eq(1.0)).to_kind(Kind::Float);
    let t = y.nan_to_num(0.0, None, None).clamp(0.0, 1.0);
    let per = logits.binary_cross_entropy_with_logits::<Tensor>(&t, None, None, Reduction::None);
    (per * &known).sum(Kind::Float) / known.sum(Kind::Float).clamp_min(1.0)
}

fn auc_of(logits: &Tensor, y: &[Vec<f32>], names: &[String]) -> Result<MacroAuc> {
    let p = logits
        .sigmoid()
        .to_kind(Kind::Double)
        .to_device(Device::Cpu);
    let flat: Vec<f64> = Vec::<f64>::try_from(&p.view([-1]))?;
    let c = names.len().max(1);
    let scores: Vec<Vec<f64>> = flat.chunks(c).map(<[f64]>::to_vec).collect();
    Ok(macro_auc(&scores, y, names))
}

/// The paper's fine-tuning batch size for a dataset: 190 for CheXpert, 150 for MIMIC-CXR and
/// NIH ChestX-ray14 (and others).
pub fn paper_batch_size(dataset: &str) -> usize {
    match dataset {
        "chexpert" => 190,
        _ => 150,
    }
}

/// Runs the job.
pub fn classify(t: &mut Trained, job: &ClassifyJob, device: Device) -> Result<ClassifyResult> {
    let p = parts(job)?;
    let batch_size = job
        .batch_size
        .unwrap_or_else(|| paper_batch_size(&p.dataset));
    let job = &ClassifyJob {
        batch_size: Some(batch_size),
        ..job.clone()
    };
    let side = t.config.vision.image_size as u32;
    let d = t.config.vision.output_dim;
    let c = p.names.len() as i64;
    tch::manual_seed(job.seed as i64);
    let head_vs = nn::VarStore::new(device);
    let head = torch_linear(head_vs.root() / "head", d, c);
    let mut head_opt = nn::Adam::default().build(&head_vs, job.lr)?;
    let mut enc_opt = match job.mode {
        Mode::Linear => None,
        Mode::Finetune => Some(nn::Adam::default().build(&t.vs, job.lr / 10.0)?),
    };
    let encode = |t: &Trained, part: &str| {
        encode_images(&t.model, source(job, part), side, job.threads, device)
    };
    let (val_part, carved) = match &p.carved {
        Some(ids) => ("train", Some(ids)),
        None => ("validation", None),
    };
    let validation = |t: &Trained| -> Result<ImageSet> {
        let set = encode(t, val_part)?;
        Ok(match carved {
            Some(ids) => subset(set, ids, true),
            None => set,
        })
    };
    let val = validation(t)?;
    let train_frozen = match job.mode {
        Mode::Linear => {
            let set = encode(t, "train")?;
            Some(match carved {
                Some(ids) => subset(set, ids, false),
                None => set,
            })
        }
        Mode::Finetune => None,
    };
    let y_val = targets(&val, val_part, &p);
    let mut rng = ChaCha8Rng::seed_from_u64(job.seed);
    let mut best: Option<Best> = None;
    let mut since = 0;
    for epoch in 1..=job.epochs {
        match (&train_frozen, &mut enc_opt) {
            (Some(set), _) => {
                let y = target_tensor(&targets(set, "train", &p)).to_device(device);
                let x = set.features.to_device(device);
                let mut order: Vec<i64> = (0..set.ids.len() as i64).collect();
                order.shuffle(&mut rng);
                for chunk in order.chunks(batch_size.max(1)) {
                    let i = Tensor::from_slice(chunk).to_device(device);
                    let loss = bce(
                        &head.forward(&x.index_select(0, &i)),
                        &y.index_select(0, &i),
                    );
                    head_opt.backward_step(&loss);
                }
            }
            (None, Some(opt)) => {
                finetune_epoch(t, job, &p, &head, &mut head_opt, opt, epoch, device)?
            }
            (None, None) => unreachable!("fine-tuning has an encoder optimiser"),
        }
        let v = match job.mode {
            Mode::Linear => val.features.to_device(device),
            Mode::Finetune => validation(t)?.features.to_device(device),
        };
        let auc = auc_of(&tch::no_grad(|| head.forward(&v)), &y_val, &p.names)?
            .macro_auc
            .unwrap_or(0.0);
        if best.as_ref().is_none_or(|b| auc > b.0) {
            let mut state: Vec<(String, Tensor)> = head_vs
                .variables()
                .into_iter()
                .map(|(n, t)| (format!("head/{n}"), t.copy()))
                .collect();
            if job.mode == Mode::Finetune {
                state.extend(t.vs.variables().into_iter().map(|(n, t)| (n, t.copy())));
            }
            best = Some((auc, epoch, state));
            since = 0;
        } else {
            since += 1;
            if since >= job.patience {
                break;
            }
        }
    }
    let (val_auc, best_epoch, state) =
        best.ok_or_else(|| Error::Data("epochs must be at least 1".into()))?;
    restore(&head_vs, &t.vs, &state);
    let test = encode(t, &p.test_part)?;
    let y_test = targets(&test, &p.test_part, &p);
    let logits = tch::no_grad(|| head.forward(&test.features.to_device(device)));
    let counts = [
        ("train", train_frozen.as_ref().map(|s| s.ids.len())),
        ("validation", Some(val.ids.len())),
        ("test", Some(test.ids.len())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect();
    Ok(ClassifyResult {
        task: "classify",
        dataset: p.dataset.clone(),
        split: job.split.clone(),
        mode: job.mode,
        label_names: p.names.clone(),
        policy: p.policy.clone(),
        counts,
        protocol: p.protocol.clone(),
        best_epoch,
        validation_macro_auc: Some(val_auc),
        batch_size,
        lr: job.lr,
        max_epochs: job.epochs,
        patience: job.patience,
        test: auc_of(&logits, &y_test, &p.names)?,
        weights: t.weights.clone(),
    })
}

fn restore(head_vs: &nn::VarStore, model_vs: &nn::VarStore, state: &[(String, Tensor)]) {
    let (head, model) = (head_vs.variables(), model_vs.variables());
    tch::no_grad(|| {
        for (name, value) in state {
            let dst = match name.strip_prefix("head/") {
                Some(n) => head.get(n),
                None => model.get(name),
            };
            if let Some(dst) = dst {
                dst.shallow_clone().copy_(value);
            }
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn finetune_epoch(
    t: &Trained,
    job: &ClassifyJob,
    p: &Parts,
    head: &nn::Linear,
    head_opt: &mut nn::Optimizer,
    enc_opt: &mut nn::Optimizer,
    epoch: usize,
    device: Device,
) -> Result<()> {
    let side = t.config.vision.image_size as u32;
    let train = Pipeline::unimlip_at(side, false);
    let batch = job
        .batch_size
        .unwrap_or_else(|| paper_batch_size(&p.dataset));
    let l = Loader::once_batched(vec![source(job, "train")], train, job.threads, batch)?;
    let cursor = l.start(epoch as u64);
    for batch in l.stream(&cursor, 0, 1)? {
        let batch = batch?;
        let n = batch.len();
        let x = images_to_device(batch.view(0), n, batch.side(0) as usize, device)?;
        let ids: Vec<String> = batch.samples().iter().map(|s| s.id().to_string()).collect();
        let own: Vec<Option<Vec<f32>>> = batch
            .samples()
            .iter()
            .map(|s| s.labels().map(<[f32]>::to_vec))
            .collect();
        let set = ImageSet {
            ids,
            captions: vec![None; n],
            labels: own,
            features: Tensor::zeros([0], (Kind::Float, Device::Cpu)),
        };
        let y = target_tensor(&targets(&set, "train", p)).to_device(device);
        let f = t.model.encode_image(&x, true).pooled;
        let loss = bce(&head.forward(&f), &y);
        head_opt.zero_grad();
        enc_opt.zero_grad();
        loss.backward();
        head_opt.step();
        enc_opt.step();
    }
    Ok(())
}
