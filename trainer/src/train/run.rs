//! The training loop: loader → device → five losses → AdamW → clamp → metrics → checkpoints.
//!
//! Every random draw of a step comes from a generator seeded by (run seed, step, micro-batch):
//! libtorch's (dropout, DropBlock) is re-seeded before each micro-batch, MLM masking and the
//! augmentations are seeded per sample by the loader's position. A checkpoint therefore needs
//! only the step and the reader's cursor besides the tensors, and a resumed CPU run reaches the
//! same weights bit for bit.

use std::time::{Duration, Instant};

use serde_json::json;
use tch::{Device, Tensor, nn};
use unimlip_loader::{Cursor, Loader, LoaderConfig, Pipeline, Tail};
use unimlip_shards::Store;
use unimlip_shards::plan::epoch_end;

use super::batch::{self, DeviceBatch};
use super::config::TrainConfig;
use super::dump::{self, Draws};
use super::eval::{self, Retrieval};
use super::metrics::Metrics;
use super::progress::{Silent, StepProgress};
use crate::checkpoint::{self, State, checkpoints_url};
use crate::dist::{
    Backend, C10dGroup, DistEnv, ProcessGroup, Single, average_grads, broadcast_vars,
};
use crate::model::{ModelConfig, UniMlip};
use crate::optim::{AdamW, cosine_lr};
use crate::step::{Losses, StepInput, losses_on, unscale_replicated};
use crate::text::TextTokenizer;
use crate::{Error, Result, amp};

/// How a run is driven (besides its config).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Continue from the newest checkpoint in the run folder (a fresh start when there is none).
    pub resume: bool,
    /// Stop (with a checkpoint) after this step, as a pre-empted job would; the schedule is
    /// unchanged.
    pub stop_after: Option<i64>,
    /// Bound on each rendezvous and collective of a distributed run (seconds).
    pub dist_timeout_s: u32,
    /// c10d backend of a distributed run: `auto`, `gloo` or `nccl`.
    pub backend: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            resume: false,
            stop_after: None,
            dist_timeout_s: 300,
            backend: "auto".into(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Optimiser steps reached.
    pub step: i64,
    /// The schedule's length.
    pub total_steps: i64,
    /// Samples trained on in this process.
    pub samples: u64,
    /// Seconds spent in this process's steps.
    pub seconds: f64,
    /// The last metrics line.
    pub last: Option<serde_json::Value>,
    /// The last held-out retrieval, when configured.
    pub eval: Option<Retrieval>,
}

/// Everything a run holds.
struct Run<'a> {
    cfg: &'a TrainConfig,
    pg: Box<dyn ProcessGroup>,
    config: ModelConfig,
    device: Device,
    vs: nn::VarStore,
    model: UniMlip,
    opt: AdamW,
    tok: TextTokenizer,
    loader: Loader,
    eval: Option<Loader>,
    per_epoch: i64,
    total: i64,
}

/// Trains as `cfg` says: one process, or rank `RANK` of `WORLD_SIZE` when torchrun's variables
/// are set (c10d over `MASTER_ADDR:MASTER_PORT`: NCCL on the rank's GPU, or Gloo on the CPU).
pub fn train(
    cfg: &TrainConfig,
    opts: &RunOptions,
    progress: &dyn StepProgress,
) -> Result<RunSummary> {
    cfg.check().map_err(Error::Config)?;
    // A run dumped for a step-by-step comparison keeps glibc's defaults, as the PyTorch process
    // it is compared with does (MKL's rounding follows buffer alignment).
    if cfg.dump_steps.is_none() {
        crate::host_memory_policy();
    }
    let (pg, device): (Box<dyn ProcessGroup>, Device) = match DistEnv::from_env()? {
        Some(env) => {
            let backend = Backend::parse(&opts.backend)?;
            let timeout = opts.dist_timeout_s.saturating_mul(1000);
            let device = backend.device(env.local_rank);
            (
                Box::new(C10dGroup::join_with(&env, backend, timeout)?),
                device,
            )
        }
        None => (Box::new(Single), crate::device()),
    };
    let mut run = Run::open(cfg, pg, device)?;
    let lead = run.pg.rank() == 0;
    let store = Store::open(&cfg.out)?;
    let ckpt = checkpoints_url(&cfg.out);
    if lead {
        let gone = checkpoint::remove_uncommitted(&ckpt)?;
        if gone > 0 {
            tracing::warn!("removed {gone} files of a checkpoint a killed run never committed");
        }
    }
    let (mut step, mut cursor) = (0i64, run.loader.start(0));
    if opts.resume {
        if !store.any_under("checkpoints/")? {
            return Err(Error::Config(format!(
                "--resume: {} holds no checkpoint yet (run without --resume to start)",
                unimlip_shards::redact_url(&cfg.out)
            )));
        }
        if let Some(st) = checkpoint::load_latest(&ckpt, &mut run.vs, &mut run.opt)? {
            step = st.step;
            cursor = serde_json::from_value(st.extra["cursor"].clone())
                .map_err(|e| Error::Mismatch(format!("{ckpt}: no reader cursor: {e}")))?;
        }
    } else if store.any_under("checkpoints/")? {
        return Err(Error::Config(format!(
            "{} already holds checkpoints: pass --resume to continue, or choose another --out",
            unimlip_shards::redact_url(&cfg.out)
        )));
    }
    // Every rank starts from rank 0's tensors (they load the same checkpoint anyway).
    broadcast_vars(run.pg.as_ref(), &run.vs)?;
    if step == 0 && lead {
        let given = serde_json::to_value(cfg).expect("config serialises");
        crate::trained::write_run_info(&store, &run.config, &cfg.tokenizer, given)?;
    }
    let mut metrics = match lead {
        true => Some(Metrics::open(&store, step, cfg.log.tensorboard)?),
        false => None,
    };
    let bar: &dyn StepProgress = if lead { progress } else { &Silent };
    bar.begin(step, run.total);
    let mut summary = RunSummary {
        step,
        total_steps: run.total,
        samples: 0,
        seconds: 0.0,
        last: None,
        eval: None,
    };
    while step < run.total {
        let epoch = cursor.epoch;
        let accumulate = cfg.optim.accumulate as u64;
        let mut stream = run.loader.stream(&cursor, run.pg.rank(), run.pg.world())?;
        while stream.remaining() >= accumulate && step < run.total {
            let out = run.step(&mut stream, step, epoch)?;
            step += 1;
            cursor = out.cursor;
            summary.samples += out.samples as u64;
            summary.seconds += out.seconds;
            let mut line = out.line;
            line["step"] = json!(step);
            if lead && run.eval_due(step) {
                let r = run.evaluate()?;
                line["eval"] = serde_json::to_value(r).expect("scores serialise");
                summary.eval = Some(r);
            }
            if let Some(m) = metrics.as_mut() {
                m.write(&line)?;
            }
            bar.step(step, &line);
            summary.last = Some(line);
            summary.step = step;
            let stop = opts.stop_after == Some(step);
            if lead && (step % cfg.checkpoint.every == 0 || step == run.total || stop) {
                run.save(&ckpt, step, &cursor)?;
                if let Some(m) = &metrics {
                    m.sync()?;
                }
            }
            if stop {
                bar.end();
                return Ok(summary);
            }
        }
        if step < run.total {
            cursor = run.loader.start(epoch + 1);
        }
    }
    bar.end();
    Ok(summary)
}

struct StepOut {
    line: serde_json::Value,
    cursor: Cursor,
    samples: usize,
    seconds: f64,
}

impl<'a> Run<'a> {
    fn open(cfg: &'a TrainConfig, pg: Box<dyn ProcessGroup>, device: Device) -> Result<Run<'a>> {
        let mc = ModelConfig::load(&cfg.model).map_err(Error::Config)?;
        let tok = TextTokenizer::from_file(&cfg.tokenizer, mc.context_length as usize)
            .map_err(Error::Config)?;
        if tok.vocab_size() > mc.text.vocab_size as usize {
            return Err(Error::Config(format!(
                "{}: {} tokens, more than the model's vocabulary of {}",
                cfg.tokenizer,
                tok.vocab_size(),
                mc.text.vocab_size
            )));
        }
        tch::manual_seed(cfg.seed as i64);
        let mut vs = nn::VarStore::new(device);
        let model = UniMlip::new(&vs, &mc);
        if let Some(init) = &cfg.init {
            load_init(&mut vs, init)?;
        }
        if let Some(text) = &cfg.init_text {
            crate::hf::load_init_text(&mut vs, text)?;
        }
        crate::layout::apply(&cfg.device, device, &vs)?;
        let opt = AdamW::new(&vs, cfg.optim.adamw());
        let side = mc.vision.image_size as u32;
        let d = &cfg.data;
        let mut lc = LoaderConfig::new(
            d.sources.clone(),
            Pipeline::unimlip_ops_at(side, cfg.losses.i2i.on(), d.colour_ops)
                .weak_crop_scale(d.crop_scale),
            d.batch_size,
        );
        lc.seed = cfg.seed;
        lc.order.digits = d.lane_digits;
        lc.threads = d.threads.unwrap_or(lc.threads).max(1);
        lc.cache = d.cache.clone();
        let threads = lc.threads;
        let loader = Loader::open(lc)?;
        let bs = d.batch_size as u64;
        let world = pg.world();
        let batches =
            epoch_end(loader.order(0).len(), world, bs as u32, Tail::Drop) / (bs * world as u64);
        let per_epoch = (batches / cfg.optim.accumulate as u64) as i64;
        if per_epoch == 0 {
            return Err(Error::Config(format!(
                "the data holds {} samples, fewer than one step's batch_size × accumulate = {}",
                loader.order(0).len(),
                bs * cfg.optim.accumulate as u64
            )));
        }
        let total = cfg
            .optim
            .max_steps
            .unwrap_or(per_epoch * cfg.optim.epochs as i64);
        let eval = match &cfg.eval {
            Some(e) => Some(eval::open(&e.sources, side, threads)?),
            None => None,
        };
        Ok(Run {
            cfg,
            pg,
            config: mc,
            device,
            vs,
            model,
            opt,
            tok,
            loader,
            eval,
            per_epoch,
            total,
        })
    }

    /// One optimiser step over `accumulate` micro-batches.
    fn step(
        &mut self,
        stream: &mut unimlip_loader::Stream,
        step: i64,
        epoch: u64,
    ) -> Result<StepOut> {
        let cfg = self.cfg;
        let t0 = Instant::now();
        let mut wait = Duration::ZERO;
        let lr = cosine_lr(cfg.optim.lr, step, cfg.optim.warmup, self.total);
        let on = cfg.losses.switches(epoch);
        let micro = cfg.optim.accumulate;
        let mut sums = LossSums::default();
        let (mut cursor, mut samples) = (stream.cursor().clone(), 0);
        self.opt.zero_grad();
        for m in 0..micro {
            let tw = Instant::now();
            let batch = stream
                .next()
                .ok_or_else(|| Error::Config("the reader ended inside a step".into()))??;
            wait += tw.elapsed();
            let mut x = batch::to_device(
                &batch,
                &self.tok,
                cfg.losses.mlm_ratio,
                cfg.seed,
                self.device,
            )?;
            let layout = |t: Tensor| crate::layout::images(&cfg.device, self.device, t);
            x.weak = layout(x.weak)?;
            x.strong = match x.strong.take() {
                Some((a, b)) => Some((layout(a)?, layout(b)?)),
                None => None,
            };
            tch::manual_seed(step_seed(cfg.seed, step, m));
            let draws = match &cfg.dump_steps {
                Some(dir) => {
                    let d = Draws::new(&self.config, &x);
                    dump::write(dir, step, m, &x, &d)?;
                    Some(d)
                }
                None => None,
            };
            let input = StepInput {
                dropblock_noise: draws.as_ref().map(|d| &d.noise),
                text_keep: draws.as_ref().map(|d| &d.keep),
                ..step_input(&x)
            };
            let pg = self.pg.as_ref();
            let l = amp::autocast(self.device, || {
                losses_on(
                    &self.model,
                    &input,
                    on,
                    cfg.losses.weights(),
                    true,
                    cfg.losses.semantics(),
                    pg,
                )
            })?;
            (&l.backward / micro as f64).backward();
            sums.add(&l.log, micro);
            cursor = batch.cursor.clone();
            samples += x.len * self.pg.world() as usize;
        }
        unscale_replicated(&self.vs, self.pg.world(), cfg.losses.semantics());
        average_grads(self.pg.as_ref(), &self.vs)?;
        self.opt.step(lr).map_err(Error::Optimiser)?;
        let mut scale = self.model.logit_scale.shallow_clone();
        tch::no_grad(|| {
            let _ = scale.clamp_(0.0, 100f64.ln());
        });
        let seconds = t0.elapsed().as_secs_f64();
        let mut line = sums.json();
        line["epoch"] = json!(epoch);
        line["lr"] = json!(lr);
        line["logit_scale"] = json!(scale.double_value(&[]).exp());
        line["samples_per_s"] = json!(samples as f64 / seconds);
        line["data_wait"] = json!(wait.as_secs_f64() / seconds);
        line["simclr"] = json!(on.i2i);
        Ok(StepOut {
            line,
            cursor,
            samples,
            seconds,
        })
    }

    fn eval_due(&self, step: i64) -> bool {
        let Some(e) = &self.cfg.eval else {
            return false;
        };
        let every = e.every.unwrap_or(self.per_epoch).max(1);
        step % every == 0 || step == self.total
    }

    fn evaluate(&self) -> Result<Retrieval> {
        let (Some(loader), Some(e)) = (&self.eval, &self.cfg.eval) else {
            unreachable!("eval_due checks the config");
        };
        eval::retrieval(&self.model, &self.tok, loader, e.max_pairs, self.device)
    }

    fn save(&self, url: &str, step: i64, cursor: &Cursor) -> Result<()> {
        let state = State {
            step,
            extra: json!({
                "cursor": cursor,
                "seed": self.cfg.seed,
                "total_steps": self.total,
                "rng": "libtorch re-seeded per micro-batch from (seed, step, micro); \
                        augmentation and masking seeded per sample from (seed, epoch, id, position)",
            }),
        };
        checkpoint::save(url, &self.vs, &self.opt, &state, self.cfg.checkpoint.keep)
    }
}

fn step_input(x: &DeviceBatch) -> StepInput<'_> {
    StepInput {
        weak: &x.weak,
        strong: x.strong.as_ref().map(|(a, b)| (a, b)),
        input_ids: &x.input_ids,
        mlm_labels: &x.mlm_labels,
        dropblock_noise: None,
        text_keep: None,
    }
}

/// The libtorch seed of micro-batch `micro` of `step`.
fn step_seed(seed: u64, step: i64, micro: u32) -> i64 {
    let mut z = seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((micro as u64) << 48);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// Loss values averaged over a step's micro-batches, kept as tensors until the step's end, so that logging does not wait for the device between
/// micro-batches.
#[derive(Default)]
struct LossSums {
    values: [Option<Tensor>; 5],
    total: Option<Tensor>,
}

fn add_to(slot: &mut Option<Tensor>, t: &Tensor, micro: u32) {
    let part = t.detach() / micro as f64;
    *slot = Some(match slot.take() {
        Some(sum) => sum + part,
        None => part,
    });
}

fn value(t: &Option<Tensor>) -> Option<f64> {
    t.as_ref().map(|t| t.double_value(&[]))
}

impl LossSums {
    fn add(&mut self, l: &Losses, micro: u32) {
        let parts = [&l.itc, &l.itc_img, &l.itc_txt, &l.i2i, &l.mlm];
        for (slot, t) in self.values.iter_mut().zip(parts) {
            if let Some(t) = t {
                add_to(slot, t, micro);
            }
        }
        add_to(&mut self.total, &l.total, micro);
    }

    fn json(&self) -> serde_json::Value {
        let mut v = json!({ "step": 0, "loss": value(&self.total).unwrap_or(0.0) });
        let names = [
            "loss_itc",
            "loss_itc_img",
            "loss_itc_txt",
            "loss_i2i",
            "loss_mlm",
        ];
        for (name, t) in names.iter().zip(&self.values) {
            if let Some(x) = value(t) {
                v[*name] = json!(x);
            }
        }
        v
    }
}

/// Loads start weights; only the SimCLR head (new in Uni-Mlip) may be missing from them.
fn load_init(vs: &mut nn::VarStore, path: &str) -> Result<()> {
    crate::trained::load_weights(vs, path).map(|_| ())
}
