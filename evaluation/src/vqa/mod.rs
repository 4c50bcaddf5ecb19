//! VQA as classification over the answer set (model.md §8.3), for VQA-RAD and SLAKE (English),
//! fine-tuned as M3AE fine-tunes it (`m3ae/modules/objectives.py::compute_vqa`,
//! `m3ae_utils.py::set_schedule`, `config.py::task_finetune_vqa_*`): the pre-trained encoders,
//! one fusion block (random, or from the pre-training fusion's first block), 20 learnable tokens
//! after the question (32 tokens, M3AE's `max_text_len`) with its padding masked, M3AE's answer
//! head, BCE on the answer targets, AdamW with M3AE's rates, multipliers and schedule, and
//! M3AE's epochs and batch per dataset. Each epoch is scored on validation and test: the result
//! gives the last epoch, the epoch chosen on validation, and M3AE's best epoch on test.

mod data;
mod fit;
mod head;

use std::collections::{BTreeMap, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};
use unimlip_loader::augment::{Augmenter, Crop, Interp, Pipeline, ViewSpec};
use unimlip_shards::{Manifest, Store};
use unimlip_trainer::Trained;
use unimlip_trainer::images_to_device;

use crate::metrics::{VqaAccuracy, vqa_accuracy};
use crate::{Error, Result};
use data::Question;
use head::Head;

pub use fit::{Schedule, VqaLoss};
pub use head::HeadInput;

/// Learnable tokens appended to the question.
pub const QUERY_TOKENS: i64 = 20;
/// Question length in tokens by default: M3AE's `max_text_len` (the pre-training context of 77
/// is the other choice model.md names).
pub const QUESTION_LENGTH: usize = 32;
/// How answers are normalised before matching.
pub const ANSWER_RULE: &str = "M3AE normalize_word on the lower-cased answer; answer set = \
     every split's answers (train ∪ validation ∪ test, as M3AE builds it); closed/open from \
     answer_type";

/// How the fine-tuning follows M3AE's and where it does not (recorded in every result).
pub const PROTOCOL: &str = "M3AE's fine-tuning: BCE with logits on the answer targets × the \
     number of answers (compute_vqa); AdamW β (0.9, 0.98), ε 1e-8, weight decay 0.01 except \
     biases and norms, head at lr × 50 and fusion at lr × 5 (set_schedule); 10 % linear warm-up \
     then linear decay to 0; the question's padding masked in the fusion; SLAKE's training \
     images RandomResizedCrop(0.9–1), VQA-RAD's resized and centre-cropped. Differs from M3AE: \
     one fusion block over [question, 20 learnable tokens, image token, image feature] instead \
     of M3AE's co-attention layers, the head reads its [CLS] and image outputs; each epoch is \
     scored on a validation part (M3AE reports its best test epoch: given here too, labelled)";

/// Where the VQA fusion block starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FusionInit {
    /// Randomly initialised, with the head (the paper, §4.2).
    Random,
    /// From the pre-training fusion's first block.
    Pretrained,
}

impl FusionInit {
    /// `random` or `pretrained`.
    pub fn parse(s: &str) -> Option<FusionInit> {
        match s {
            "random" => Some(FusionInit::Random),
            "pretrained" => Some(FusionInit::Pretrained),
            _ => None,
        }
    }
}

/// How the training images are cropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainCrop {
    /// M3AE's choice per dataset: SLAKE resized-crop (its `clip_resizedcrop` run), the rest
    /// centre.
    #[default]
    Auto,
    /// Resize the shorter side and centre-crop, as at test time (M3AE's `clip` transform).
    Centre,
    /// RandomResizedCrop(scale 0.9–1, bicubic) per epoch (M3AE's `clip_resizedcrop`).
    ResizedCrop,
}

impl TrainCrop {
    /// The crop for `dataset` (resolving [`TrainCrop::Auto`]).
    pub fn resolve(self, dataset: &str) -> TrainCrop {
        match (self, dataset) {
            (TrainCrop::Auto, "slake") => TrainCrop::ResizedCrop,
            (TrainCrop::Auto, _) => TrainCrop::Centre,
            (c, _) => c,
        }
    }
}

/// M3AE's epochs and batch for a dataset (`task_finetune_vqa_vqa_rad`: 50 at 64,
/// `task_finetune_vqa_slack`: 15 at 32).
pub fn m3ae_epochs_and_batch(dataset: &str) -> (usize, usize) {
    match dataset {
        "vqa-rad" => (50, 64),
        "slake" => (15, 32),
        _ => (20, 32),
    }
}

/// What to train and test on.
#[derive(Debug, Clone)]
pub struct VqaJob {
    /// Dataset root URL (`vqa-rad` or `slake`).
    pub data: String,
    /// Manifest split to train on.
    pub train: String,
    /// Manifest split to choose the epoch on; absent (or missing from the manifest), a seeded
    /// tenth of the training images is held out.
    pub validation: Option<String>,
    /// Manifest split to test on.
    pub test: String,
    /// Epochs (default: M3AE's for the dataset).
    pub epochs: Option<usize>,
    /// Questions per step (default: M3AE's for the dataset).
    pub batch_size: Option<usize>,
    /// The optimiser's rates and schedule.
    pub schedule: Schedule,
    /// The loss.
    pub loss: VqaLoss,
    /// What the answer classifier reads.
    pub head_input: HeadInput,
    /// How training images are cropped.
    pub crop: TrainCrop,
    /// Decoding threads.
    pub threads: usize,
    /// Seed.
    pub seed: u64,
    /// Where the fusion block starts.
    pub fusion_init: FusionInit,
    /// Question length in tokens (at most the model's context).
    pub question_length: usize,
    /// Leave the question's padding positions out of the fusion's attention (M3AE's text mask).
    pub mask_padding: bool,
}

impl VqaJob {
    /// M3AE's protocol on `data`: train on `train`, choose on `validation`, test on `test`.
    pub fn new(data: &str) -> VqaJob {
        VqaJob {
            data: data.to_string(),
            train: "train".into(),
            validation: Some("validation".into()),
            test: "test".into(),
            epochs: None,
            batch_size: None,
            schedule: Schedule::default(),
            loss: VqaLoss::default(),
            head_input: HeadInput::default(),
            crop: TrainCrop::default(),
            threads: 1,
            seed: 0,
            fusion_init: FusionInit::Random,
            question_length: QUESTION_LENGTH,
            mask_padding: true,
        }
    }
}

/// Test (and validation) accuracy after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochScore {
    /// The epoch (1-based).
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Validation accuracy.
    pub validation: VqaAccuracy,
    /// Test accuracy.
    pub test: VqaAccuracy,
}

/// The result of one VQA run.
#[derive(Debug, Clone, Serialize)]
pub struct VqaResult {
    /// `vqa`.
    pub task: &'static str,
    /// Dataset name.
    pub dataset: String,
    /// Train and test splits.
    pub splits: (String, String),
    /// Where the epoch was chosen: a manifest split, or the held-out tenth of train.
    pub validation: String,
    /// Answers in the answer set.
    pub answers: usize,
    /// The answer normalisation and answer-set rule.
    pub answer_rule: &'static str,
    /// Question length in tokens (`[CLS]`, pieces, `[SEP]`, padding).
    pub question_length: usize,
    /// Whether the question's padding was left out of the fusion's attention.
    pub mask_padding: bool,
    /// Questions trained on.
    pub train_questions: usize,
    /// Epochs and questions per step.
    pub epochs: usize,
    /// Questions per step.
    pub batch_size: usize,
    /// The optimiser's rates and schedule.
    pub schedule: Schedule,
    /// The loss.
    pub loss: VqaLoss,
    /// What the answer classifier read.
    pub head_input: HeadInput,
    /// How training images were cropped.
    pub train_crop: TrainCrop,
    /// Test accuracy after the last epoch.
    pub accuracy: VqaAccuracy,
    /// The epoch with the best validation accuracy (the earliest of ties): the honest figure.
    pub chosen: EpochScore,
    /// The epoch with the best test accuracy, as M3AE's `VQARADScore.get_best_score` reports
    /// it (chosen on the test set itself: M3AE's figure, not an unbiased one).
    pub m3ae_best_on_test: EpochScore,
    /// Every epoch's scores.
    pub epochs_scored: Vec<EpochScore>,
    /// The chance row: each test question answered with the most frequent training answer of
    /// its type (closed or open).
    pub majority: VqaAccuracy,
    /// Where the fusion block started.
    pub fusion_init: FusionInit,
    /// How the fine-tuning follows M3AE's.
    pub protocol: &'static str,
    /// Where the weights came from.
    pub weights: String,
}

/// The questions of one run, split three ways, with their images.
struct Parts {
    train: Vec<Question>,
    validation: Vec<Question>,
    test: Vec<Question>,
    validation_name: String,
    answers: BTreeMap<String, i64>,
    /// Encoded training images, when they are cropped anew each epoch.
    encoded: HashMap<String, Vec<u8>>,
    /// Evaluation-transform images of every split used.
    decoded: HashMap<String, Vec<u8>>,
}

fn parts(
    job: &VqaJob,
    manifest: &Manifest,
    store: &Store,
    side: u32,
    crop: TrainCrop,
) -> Result<Parts> {
    let keep = (crop == TrainCrop::ResizedCrop).then_some(job.train.as_str());
    let mut q = data::read(store, manifest, keep)?;
    let mut answers: BTreeMap<String, i64> = BTreeMap::new();
    for a in q.by_split.values().flatten() {
        answers.insert(a.answer.clone(), 0);
    }
    for (i, v) in answers.values_mut().enumerate() {
        *v = i as i64;
    }
    let mut take = |name: &str| q.by_split.remove(name).unwrap_or_default();
    let (train, test) = (take(&job.train), take(&job.test));
    let named = job
        .validation
        .as_deref()
        .filter(|v| manifest.splits.contains_key(*v));
    let (train, validation, validation_name) = match named {
        Some(v) => (train, take(v), v.to_string()),
        None => {
            let (rest, held) = data::hold_out(&train, job.seed);
            (
                rest,
                held,
                format!("a seeded tenth of `{}`'s images, held out", job.train),
            )
        }
    };
    if train.is_empty() || test.is_empty() || validation.is_empty() {
        return Err(Error::Data(format!(
            "{}: {} English questions to train on, {} to validate on ({validation_name}) and {} \
             in `{}`; VQA needs all three",
            store.url(),
            train.len(),
            validation.len(),
            test.len(),
            job.test
        )));
    }
    // Training images are decoded here when they are centre-cropped, or when the validation
    // part is held out of them; a resized crop decodes them anew each epoch.
    let train_decoded = crop == TrainCrop::Centre || named.is_none();
    let mut decoded = HashMap::new();
    for split in [
        train_decoded.then_some(job.train.as_str()),
        Some(&job.test),
        named,
    ]
    .into_iter()
    .flatten()
    {
        decoded.extend(data::decoded(&job.data, split, side, job.threads)?);
    }
    Ok(Parts {
        train,
        validation,
        test,
        validation_name,
        answers,
        encoded: q.encoded,
        decoded,
    })
}

/// The RandomResizedCrop(0.9–1) training view at `side`.
fn resized_crop(side: u32) -> Pipeline {
    Pipeline {
        views: vec![ViewSpec {
            name: "vqa-train".into(),
            crop: Crop::RandomResized {
                size: side,
                scale: (0.9, 1.0),
                ratio: (3.0 / 4.0, 4.0 / 3.0),
            },
            interp: Interp::Bicubic,
            jitter: None,
            greyscale_p: 0.0,
            blur: None,
            flip_p: 0.0,
            ops: Default::default(),
        }],
    }
}

/// Runs one fine-tuning and its evaluation.
struct Run<'a> {
    t: &'a Trained,
    head: Head,
    answers: BTreeMap<String, i64>,
    encoded: HashMap<String, Vec<u8>>,
    decoded: HashMap<String, Vec<u8>>,
    side: u32,
    len: usize,
    device: Device,
    augmenter: Option<Augmenter>,
}

impl Run<'_> {
    fn pixels(&mut self, qs: &[&Question], seeds: Option<&[u64]>) -> Result<Tensor> {
        let side = self.side as usize;
        let mut pixels = vec![0u8; qs.len() * side * side * 3];
        for (i, q) in qs.iter().enumerate() {
            let slot = &mut pixels[i * side * side * 3..(i + 1) * side * side * 3];
            match (seeds, &mut self.augmenter) {
                (Some(seeds), Some(aug)) => {
                    let bytes = self.encoded.get(&q.image).ok_or_else(|| {
                        Error::Data(format!(
                            "image {} of a question is not in the shards",
                            q.image
                        ))
                    })?;
                    aug.process(bytes, seeds[i], &mut [slot])
                        .map_err(|e| Error::Data(format!("image {}: {e}", q.image)))?;
                }
                _ => {
                    let img = self.decoded.get(&q.image).ok_or_else(|| {
                        Error::Data(format!("image {} of a question was not decoded", q.image))
                    })?;
                    slot.copy_from_slice(img);
                }
            }
        }
        Ok(images_to_device(&pixels, qs.len(), side, self.device)?)
    }

    fn ids(&self, qs: &[&Question]) -> Tensor {
        let ids: Vec<i64> = qs
            .iter()
            .flat_map(|q| self.t.tokenizer.encode_to(&q.question, self.len))
            .collect();
        Tensor::from_slice(&ids)
            .view([qs.len() as i64, self.len as i64])
            .to_device(self.device)
    }

    fn score(&mut self, qs: &[Question]) -> Result<VqaAccuracy> {
        let mut results = Vec::with_capacity(qs.len());
        let refs: Vec<&Question> = qs.iter().collect();
        for chunk in refs.chunks(32) {
            let (x, ids) = (self.pixels(chunk, None)?, self.ids(chunk));
            let pred =
                tch::no_grad(|| self.head.forward(self.t, &x, &ids, false)).argmax(-1, false);
            let pred: Vec<i64> = Vec::<i64>::try_from(&pred.to_device(Device::Cpu))?;
            for (q, p) in chunk.iter().zip(pred) {
                results.push((self.answers.get(&q.answer) == Some(&p), q.closed));
            }
        }
        Ok(vqa_accuracy(&results))
    }
}

/// The first epoch with the highest `key` (M3AE's `score > best_score`).
fn best(scores: &[EpochScore], key: impl Fn(&EpochScore) -> f64) -> EpochScore {
    let mut top = scores[0].clone();
    for s in &scores[1..] {
        if key(s) > key(&top) {
            top = s.clone();
        }
    }
    top
}

/// Runs the job.
pub fn vqa(t: &mut Trained, job: &VqaJob, device: Device) -> Result<VqaResult> {
    let store = Store::open_existing(&job.data)?;
    let manifest = Manifest::load(&store)?;
    let (m3ae_epochs, m3ae_batch) = m3ae_epochs_and_batch(&manifest.dataset);
    let (epochs, batch) = (
        job.epochs.unwrap_or(m3ae_epochs).max(1),
        job.batch_size.unwrap_or(m3ae_batch).max(2),
    );
    let crop = job.crop.resolve(&manifest.dataset);
    let side = t.config.vision.image_size as u32;
    let Parts {
        train,
        validation,
        test,
        validation_name,
        answers,
        encoded,
        decoded,
    } = parts(job, &manifest, &store, side, crop)?;
    tch::manual_seed(job.seed as i64);
    let head = Head::new(
        t,
        answers.len() as i64,
        job.fusion_init,
        job.mask_padding,
        job.head_input,
    );
    let mut opt = job.schedule.optimizer(&t.vs);
    let augmenter = match crop {
        TrainCrop::ResizedCrop => Some(Augmenter::new(resized_crop(side)).map_err(Error::Data)?),
        _ => None,
    };
    let len = job.question_length.clamp(2, t.tokenizer.context);
    let mut run = Run {
        t,
        head,
        answers,
        encoded,
        decoded,
        side,
        len,
        device,
        augmenter,
    };
    let steps_per_epoch = train.len().div_ceil(batch);
    let total = steps_per_epoch * epochs;
    let mut rng = ChaCha8Rng::seed_from_u64(job.seed);
    let mut scored = Vec::with_capacity(epochs);
    let mut step = 0;
    for epoch in 1..=epochs {
        let mut order: Vec<&Question> = train.iter().collect();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for (k, chunk) in order.chunks(batch).enumerate() {
            let seeds: Vec<u64> = (0..chunk.len())
                .map(|i| {
                    unimlip_shards::plan::splitmix(
                        job.seed ^ ((epoch * 1_000_003 + k * batch + i) as u64),
                    )
                })
                .collect();
            let (x, ids) = (run.pixels(chunk, Some(&seeds))?, run.ids(chunk));
            let y: Vec<i64> = chunk.iter().map(|q| run.answers[&q.answer]).collect();
            let y = Tensor::from_slice(&y).to_device(device);
            let logits = run.head.forward(run.t, &x, &ids, true);
            let loss = job.loss.of(&logits, &y);
            opt.zero_grad();
            loss.backward();
            opt.step(job.schedule.lr_at(step, total))
                .map_err(Error::Data)?;
            loss_sum += loss.double_value(&[]);
            step += 1;
        }
        scored.push(EpochScore {
            epoch,
            train_loss: loss_sum / steps_per_epoch.max(1) as f64,
            validation: run.score(&validation)?,
            test: run.score(&test)?,
        });
    }
    let last = scored.last().expect("at least one epoch").test.clone();
    Ok(VqaResult {
        task: "vqa",
        dataset: manifest.dataset.clone(),
        splits: (job.train.clone(), job.test.clone()),
        validation: validation_name,
        answers: run.answers.len(),
        answer_rule: ANSWER_RULE,
        question_length: job.question_length,
        mask_padding: job.mask_padding,
        train_questions: train.len(),
        epochs,
        batch_size: batch,
        schedule: job.schedule,
        loss: job.loss,
        head_input: job.head_input,
        train_crop: crop,
        accuracy: last,
        chosen: best(&scored, |s| s.validation.overall),
        m3ae_best_on_test: best(&scored, |s| s.test.overall),
        epochs_scored: scored,
        majority: data::majority(&train, &test),
        fusion_init: job.fusion_init,
        protocol: PROTOCOL,
        weights: run.t.weights.clone(),
    })
}
