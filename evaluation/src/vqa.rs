//! VQA as classification over the answer set (model.md §8.3), for VQA-RAD and SLAKE (English):
//! the pre-trained encoders, one fusion block (random, or from the pre-training fusion's first
//! block), 20 learnable tokens after the question (32 tokens by default, as M3AE), a two-layer
//! MLP head, cross-entropy, AdamW with lr 5e-5 for the encoders and 5e-4 for the rest. Accuracy
//! overall, closed and open.

use std::collections::{BTreeMap, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use unimlip_loader::{Loader, Pipeline, SourceSpec};
use unimlip_shards::{Manifest, Store, fetch_verified, read_shard};
use unimlip_trainer::Trained;
use unimlip_trainer::images_to_device;
use unimlip_trainer::model::init::torch_linear;
use unimlip_trainer::{Fusion, l2_normalize};

use crate::answers::normalize_answer;
use crate::metrics::{VqaAccuracy, vqa_accuracy};
use crate::{Error, Result};

/// Learnable tokens appended to the question.
pub const QUERY_TOKENS: i64 = 20;
/// Question length in tokens by default: M3AE's `max_text_len` (the pre-training context of 77
/// is the other choice model.md names; padding positions dilute the fusion's attention).
pub const QUESTION_LENGTH: usize = 32;
/// How answers are normalised before matching.
pub const ANSWER_RULE: &str = "M3AE normalize_word on the lower-cased answer; answer set = \
     every split's answers (train ∪ validation ∪ test, as M3AE builds it); closed/open from \
     answer_type";

/// How the fine-tuning differs from M3AE's VQA fine-tuning (recorded in every result).
pub const PROTOCOL: &str = "answer classification with softmax cross-entropy on the one \
     normalised answer (M3AE: BCE on soft scores, identical for one answer per question); \
     AdamW, encoders at lr, fusion and head at 10× lr, constant rate (M3AE: linear warmup and \
     decay)";

/// Where the VQA fusion block starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// What to train and test on.
#[derive(Debug, Clone)]
pub struct VqaJob {
    /// Dataset root URL (`vqa-rad` or `slake`).
    pub data: String,
    /// Manifest split to train on.
    pub train: String,
    /// Manifest split to test on.
    pub test: String,
    /// Epochs.
    pub epochs: usize,
    /// Questions per step.
    pub batch_size: usize,
    /// Learning rate of the encoders (the rest gets 10×).
    pub lr: f64,
    /// Decoding threads.
    pub threads: usize,
    /// Seed.
    pub seed: u64,
    /// Where the fusion block starts.
    pub fusion_init: FusionInit,
    /// Question length in tokens (at most the model's context).
    pub question_length: usize,
    /// Leave the question's padding positions out of the fusion's attention (M3AE masks
    /// them; model.md's design has no mask).
    pub mask_padding: bool,
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
    /// Test accuracy.
    pub accuracy: VqaAccuracy,
    /// The chance row: each test question answered with the most frequent training answer of
    /// its type (closed or open).
    pub majority: VqaAccuracy,
    /// Where the fusion block started.
    pub fusion_init: FusionInit,
    /// How the fine-tuning differs from M3AE's.
    pub protocol: &'static str,
    /// Where the weights came from.
    pub weights: String,
}

struct Question {
    image: String,
    question: String,
    answer: String,
    closed: bool,
}

/// English questions of `split`, by image id.
fn questions(store: &Store, manifest: &Manifest, split: &str) -> Result<Vec<Question>> {
    let mut out = Vec::new();
    for shard in manifest.shards.iter().filter(|s| s.split == split) {
        for r in read_shard(&shard.path, fetch_verified(store, shard)?)? {
            for q in r.qa.iter().flatten() {
                if q.lang.as_deref().is_some_and(|l| l != "en") {
                    continue;
                }
                let (Some(question), Some(answer)) = (&q.question, &q.answer) else {
                    continue;
                };
                let answer = normalize_answer(answer);
                if answer.is_empty() {
                    continue;
                }
                let closed = q
                    .answer_type
                    .as_deref()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("closed"));
                out.push(Question {
                    image: r.id.clone(),
                    question: question.trim().to_string(),
                    answer,
                    closed,
                });
            }
        }
    }
    Ok(out)
}

/// Decoded images of `split` (eval transform), by id.
fn images(job: &VqaJob, split: &str, side: u32) -> Result<HashMap<String, Vec<u8>>> {
    let mut s = SourceSpec::new(&job.data);
    s.splits = vec![split.to_string()];
    let l = Loader::once(vec![s], Pipeline::eval(side), job.threads)?;
    let mut out = HashMap::new();
    l.each_once(None, |batch, keep| -> Result<()> {
        for &i in keep {
            out.insert(
                batch.samples()[i].id().to_string(),
                batch.image(i, 0).to_vec(),
            );
        }
        Ok(())
    })?;
    Ok(out)
}

/// Accuracy of answering each test question with the most frequent training answer of its type.
fn majority(train: &[Question], test: &[Question]) -> VqaAccuracy {
    let top = |closed: bool| {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for q in train.iter().filter(|q| q.closed == closed) {
            *counts.entry(&q.answer).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|&(a, n)| (n, std::cmp::Reverse(a)))
            .map(|(a, _)| a.to_string())
    };
    let (closed, open) = (top(true), top(false));
    let results: Vec<(bool, bool)> = test
        .iter()
        .map(|q| {
            let guess = if q.closed { &closed } else { &open };
            (guess.as_deref() == Some(q.answer.as_str()), q.closed)
        })
        .collect();
    vqa_accuracy(&results)
}

/// The VQA head on top of the pre-trained towers.
struct Head {
    fusion: Fusion,
    /// Leave the question's padding out of the fusion's attention.
    mask_padding: bool,
    queries: Tensor,
    fc1: nn::Linear,
    ln: nn::LayerNorm,
    fc2: nn::Linear,
}

impl Head {
    fn new(t: &Trained, answers: i64, init: FusionInit, mask_padding: bool) -> Head {
        let root = t.vs.root().set_group(1) / "vqa";
        let w = t.config.text.hidden;
        let fusion = Fusion::new(&root / "fusion", w, 1, t.config.fusion_heads);
        let queries = root.var(
            "queries",
            &[1, QUERY_TOKENS, w],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        );
        let head = Head {
            fusion,
            mask_padding,
            queries,
            fc1: torch_linear(&root / "head" / "0", w, 2 * w),
            ln: nn::layer_norm(&root / "head" / "1", vec![2 * w], Default::default()),
            fc2: torch_linear(&root / "head" / "3", 2 * w, answers),
        };
        if init == FusionInit::Random {
            return head;
        }
        // The fusion block starts from the pre-training fusion's first block.
        let vars = t.vs.variables();
        tch::no_grad(|| {
            for (name, dst) in &vars {
                if let Some(rest) = name.strip_prefix("vqa.fusion.resblocks.0.")
                    && let Some(src) = vars.get(&format!("fusion_module.resblocks.0.{rest}"))
                {
                    dst.shallow_clone().copy_(src);
                }
            }
        });
        head
    }

    fn forward(&self, t: &Trained, pixels: &Tensor, ids: &Tensor, train: bool) -> Tensor {
        let m = &t.model;
        let image = l2_normalize(&m.encode_image(pixels, train).pooled);
        let states = m.encode_text(ids, train).states;
        let (b, l, _) = states.size3().expect("[B, L, D]");
        let seq = Tensor::cat(
            &[
                states,
                self.queries.expand([b, -1, -1], false),
                m.img_special_token.expand([b, 1, -1], false),
                image.unsqueeze(1),
            ],
            1,
        );
        let fused = match self.mask_padding {
            true => {
                let rest = Tensor::ones([b, QUERY_TOKENS + 2], (Kind::Bool, ids.device()));
                let keep = Tensor::cat(&[ids.ne(t.tokenizer.specials.pad), rest], 1);
                self.fusion.forward_masked(&seq, &keep)
            }
            false => self.fusion.forward(&seq),
        };
        let pooled = fused
            .narrow(1, l, QUERY_TOKENS)
            .mean_dim(1, false, Kind::Float);
        pooled
            .apply(&self.fc1)
            .apply(&self.ln)
            .gelu("none")
            .apply(&self.fc2)
    }
}

/// Runs the job.
pub fn vqa(t: &mut Trained, job: &VqaJob, device: Device) -> Result<VqaResult> {
    let store = Store::open_existing(&job.data)?;
    let manifest = Manifest::load(&store)?;
    // Every split's questions, each read once: the answer set is their union (M3AE).
    let mut by_split: BTreeMap<&str, Vec<Question>> = BTreeMap::new();
    for split in manifest.splits.keys() {
        by_split.insert(split, questions(&store, &manifest, split)?);
    }
    let part = |name: &str| by_split.get(name).map_or(&[][..], Vec::as_slice);
    let (train, test) = (part(&job.train), part(&job.test));
    if train.is_empty() || test.is_empty() {
        return Err(Error::Data(format!(
            "{}: {} English questions in `{}` and {} in `{}`; VQA needs both",
            store.url(),
            train.len(),
            job.train,
            test.len(),
            job.test
        )));
    }
    let mut set: BTreeMap<&str, i64> = BTreeMap::new();
    for q in by_split.values().flatten() {
        set.insert(&q.answer, 0);
    }
    for (i, v) in set.values_mut().enumerate() {
        *v = i as i64;
    }
    let side = t.config.vision.image_size as u32;
    let (train_img, test_img) = (
        images(job, &job.train, side)?,
        images(job, &job.test, side)?,
    );
    tch::manual_seed(job.seed as i64);
    let head = Head::new(t, set.len() as i64, job.fusion_init, job.mask_padding);
    let mut opt = nn::AdamW::default().build(&t.vs, job.lr)?;
    opt.set_lr_group(0, job.lr);
    opt.set_lr_group(1, job.lr * 10.0);
    let len = job.question_length.clamp(2, t.tokenizer.context);
    let batch = |qs: &[&Question], imgs: &HashMap<String, Vec<u8>>| -> Result<(Tensor, Tensor)> {
        let mut pixels = Vec::new();
        let mut ids = Vec::new();
        for q in qs {
            let img = imgs.get(&q.image).ok_or_else(|| {
                Error::Data(format!("image {} of a question was not decoded", q.image))
            })?;
            pixels.extend_from_slice(img);
            ids.extend(t.tokenizer.encode_to(&q.question, len));
        }
        let x = images_to_device(&pixels, qs.len(), side as usize, device)?;
        let ids = Tensor::from_slice(&ids)
            .view([qs.len() as i64, len as i64])
            .to_device(device);
        Ok((x, ids))
    };
    let mut rng = ChaCha8Rng::seed_from_u64(job.seed);
    for _ in 0..job.epochs {
        let mut order: Vec<&Question> = train.iter().collect();
        order.shuffle(&mut rng);
        for chunk in order.chunks(job.batch_size.max(2)) {
            let (x, ids) = batch(chunk, &train_img)?;
            let y: Vec<i64> = chunk.iter().map(|q| set[q.answer.as_str()]).collect();
            let y = Tensor::from_slice(&y).to_device(device);
            let logits = head.forward(t, &x, &ids, true);
            let loss = logits.cross_entropy_for_logits(&y);
            opt.backward_step(&loss);
        }
    }
    let mut results = Vec::with_capacity(test.len());
    let refs: Vec<&Question> = test.iter().collect();
    for chunk in refs.chunks(32) {
        let (x, ids) = batch(chunk, &test_img)?;
        let pred = tch::no_grad(|| head.forward(t, &x, &ids, false)).argmax(-1, false);
        let pred: Vec<i64> = Vec::<i64>::try_from(&pred.to_device(Device::Cpu))?;
        for (q, p) in chunk.iter().zip(pred) {
            let ok = set.get(q.answer.as_str()) == Some(&p);
            results.push((ok, q.closed));
        }
    }
    Ok(VqaResult {
        task: "vqa",
        dataset: manifest.dataset.clone(),
        splits: (job.train.clone(), job.test.clone()),
        answers: set.len(),
        answer_rule: ANSWER_RULE,
        question_length: job.question_length,
        mask_padding: job.mask_padding,
        train_questions: train.len(),
        accuracy: vqa_accuracy(&results),
        majority: majority(train, test),
        fusion_init: job.fusion_init,
        protocol: PROTOCOL,
        weights: t.weights.clone(),
    })
}
