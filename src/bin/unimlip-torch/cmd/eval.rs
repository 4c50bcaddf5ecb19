//! `unimlip eval retrieval|classify|vqa`: the downstream jobs, with a JSON result and a Markdown
//! table per run.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::Serialize;
use unimlip_evaluation::{
    ClassifyJob, FusionInit, HeadInput, Mode, RetrievalJob, Schedule, TrainCrop, VqaJob, VqaLoss,
    classify_table, retrieval_table, vqa_table,
};
use unimlip_trainer::Trained;

use unimlip::cli::{
    ClassifyArgs, HeadInputArg, ModelArgs, RetrievalArgs, TrainCropArg, VqaArgs, VqaLossArg,
};

/// Decoding threads: `--threads` (libtorch's too), or the cores free now (libtorch keeps its
/// default, so that results do not depend on the load of the moment).
fn threads(m: &ModelArgs) -> usize {
    match m.threads {
        Some(n) => {
            tch::set_num_threads(n.max(1) as i32);
            n.max(1)
        }
        None => {
            let plan = unimlip_trainer::ThreadPlan::now();
            tracing::info!("{}", plan.describe());
            plan.loader
        }
    }
}

/// The model the flags name: a run folder, or a weights file with its config and tokenizer.
fn load(m: &ModelArgs) -> anyhow::Result<Trained> {
    let device = unimlip_trainer::device();
    if m.checkpoint.ends_with(".safetensors") {
        let (Some(config), Some(tok)) = (&m.config, &m.tokenizer) else {
            bail!(
                "--checkpoint {} is a weights file: give --config and --tokenizer too",
                m.checkpoint
            );
        };
        return Ok(Trained::from_files(config, tok, &m.checkpoint, device)?);
    }
    Trained::from_run(&m.checkpoint, device).with_context(|| {
        format!(
            "cannot load the run {}",
            unimlip_shards::redact_url(&m.checkpoint)
        )
    })
}

/// The optimiser step of the checkpoint the weights came from (`…/step-NNNNNNNN/…`), else 0.
fn checkpoint_step(weights: &str) -> i64 {
    weights
        .split('/')
        .filter_map(|part| part.strip_prefix("step-"))
        .filter_map(|n| n.parse().ok())
        .next_back()
        .unwrap_or(0)
}

/// The result's numbers as TensorBoard scalars `eval/<stem>/<field>` at the checkpoint's step,
/// in `<dir>/tensorboard/`.
fn write_events<T: Serialize>(dir: &Path, stem: &str, result: &T, step: i64) -> anyhow::Result<()> {
    let mut values = Vec::new();
    let v = serde_json::to_value(result)?;
    unimlip_trainer::tensorboard::scalars(&format!("eval/{stem}"), &v, &mut values);
    let mut w = unimlip_trainer::tensorboard::EventWriter::create(&dir.join("tensorboard"))?;
    w.write(step, &values)?;
    w.flush()?;
    Ok(())
}

/// Prints the result (JSON or the table) and writes both under --out (and, unless
/// --no-tensorboard, its numbers as TensorBoard scalars).
fn report<T: Serialize>(
    (m, t): (&ModelArgs, &Trained),
    stem: &str,
    result: &T,
    table: &str,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let json = serde_json::to_string_pretty(result)?;
    if let Some(dir) = &m.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let stem = stem.replace([':', '/'], "-");
        std::fs::write(dir.join(format!("{stem}.json")), &json)?;
        std::fs::write(dir.join(format!("{stem}.md")), table)?;
        if !m.no_tensorboard {
            write_events(dir, &stem, result, checkpoint_step(&t.weights))?;
        }
    }
    if m.json {
        writeln!(out, "{}", serde_json::to_string(result)?)?;
    } else {
        write!(out, "{table}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn retrieval(a: RetrievalArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let t = load(&a.model)?;
    let job = RetrievalJob {
        data: a.model.data.clone(),
        split: a.split,
        part: a.part,
        threads: threads(&a.model),
    };
    let r = unimlip_evaluation::retrieval(&t, &job, unimlip_trainer::device())?;
    let stem = format!("retrieval-{}-{}", r.dataset, r.split);
    report(
        (&a.model, &t),
        &stem,
        &r,
        &retrieval_table(std::slice::from_ref(&r)),
        out,
    )
}

pub fn classify(a: ClassifyArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mode = match a.mode.as_str() {
        "linear" => Mode::Linear,
        "finetune" => Mode::Finetune,
        other => bail!("--mode {other}: expected linear or finetune"),
    };
    let mut t = load(&a.model)?;
    let job = ClassifyJob {
        data: a.model.data.clone(),
        split: a.split,
        mode,
        epochs: a.epochs,
        patience: a.patience.max(1),
        lr: a.lr,
        batch_size: a.batch_size,
        threads: threads(&a.model),
        seed: a.seed,
    };
    let r = unimlip_evaluation::classify(&mut t, &job, unimlip_trainer::device())?;
    let stem = format!("classify-{}-{}-{}", r.dataset, r.split, a.mode);
    report(
        (&a.model, &t),
        &stem,
        &r,
        &classify_table(std::slice::from_ref(&r)),
        out,
    )
}

pub fn vqa(a: VqaArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut t = load(&a.model)?;
    anyhow::ensure!(
        (2..=t.tokenizer.context).contains(&a.question_length),
        "--question-length {}: between 2 and the model's context of {}",
        a.question_length,
        t.tokenizer.context
    );
    let job = VqaJob {
        question_length: a.question_length,
        mask_padding: a.mask_padding,
        train: a.train,
        validation: Some(a.validation),
        test: a.test,
        epochs: a.epochs,
        batch_size: a.batch_size,
        schedule: Schedule {
            lr: a.lr,
            head_multiplier: a.head_multiplier,
            fusion_multiplier: a.fusion_multiplier,
            ..Schedule::default()
        },
        loss: match a.loss {
            VqaLossArg::Bce => VqaLoss::Bce,
            VqaLossArg::Softmax => VqaLoss::Softmax,
        },
        head_input: match a.head_input {
            HeadInputArg::M3ae => HeadInput::M3ae,
            HeadInputArg::Queries => HeadInput::Queries,
        },
        crop: match a.train_crop {
            TrainCropArg::Auto => TrainCrop::Auto,
            TrainCropArg::Centre => TrainCrop::Centre,
            TrainCropArg::ResizedCrop => TrainCrop::ResizedCrop,
        },
        threads: threads(&a.model),
        seed: a.seed,
        fusion_init: FusionInit::parse(&a.fusion_init).with_context(|| {
            format!(
                "--fusion-init {}: expected random or pretrained",
                a.fusion_init
            )
        })?,
        ..VqaJob::new(&a.model.data)
    };
    let r = unimlip_evaluation::vqa(&mut t, &job, unimlip_trainer::device())?;
    let stem = format!("vqa-{}", r.dataset);
    report(
        (&a.model, &t),
        &stem,
        &r,
        &vqa_table(std::slice::from_ref(&r)),
        out,
    )
}
