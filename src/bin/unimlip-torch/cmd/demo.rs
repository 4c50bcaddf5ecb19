//! `unimlip demo`: the whole pipeline on generated data, stage by stage, through the same
//! commands a user runs: synth → ingest → splits → tokenizer → train `tiny` → retrieval,
//! classification and VQA → tables and a report page.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::Value;

use unimlip::cli::{Cli, DemoArgs};

/// Input sizes and training length of a demo.
struct Size {
    roco: usize,
    chexpert: usize,
    vqa: usize,
    /// PMC-CLIP pre-training from scratch.
    pretrain_epochs: u32,
    /// Each continuation (PMC-CLIP and Uni-Mlip) from the pre-trained weights.
    continue_epochs: u32,
    batch: usize,
    classify_epochs: usize,
    /// VQA fine-tuning of VQA-RAD and SLAKE, scaled down from M3AE's.
    vqa_plans: [VqaPlan; 2],
}

/// The demo's VQA fine-tuning of one dataset: M3AE's protocol, fewer epochs.
struct VqaPlan {
    dataset: &'static str,
    epochs: usize,
    batch: usize,
    /// The encoders' rate (M3AE's 5e-6 is for towers pre-trained far longer than the demo's).
    lr: f64,
}

/// The demo's head multiplier: M3AE's 50 times the demo's encoder rate (1.5e-2) diverges; 10
/// keeps the head at 3e-3. The fusion keeps M3AE's 5.
const VQA_HEAD_MULTIPLIER: f64 = 10.0;

impl VqaPlan {
    fn new(dataset: &'static str, epochs: usize, batch: usize, lr: f64) -> VqaPlan {
        VqaPlan {
            dataset,
            epochs,
            batch,
            lr,
        }
    }
}

fn size(name: &str) -> anyhow::Result<Size> {
    Ok(match name {
        "full" => Size {
            roco: 6000,
            chexpert: 600,
            vqa: 500,
            pretrain_epochs: 13,
            continue_epochs: 4,
            batch: 32,
            classify_epochs: 12,
            vqa_plans: [
                // The closed questions are learned late, after a plateau at the majority:
                // SLAKE's between epochs 15 and 30, VQA-RAD's between 7 and 15 (both models, as
                // measured on the demo's checkpoints).
                VqaPlan::new("vqa-rad", 20, 32, 3e-4),
                VqaPlan::new("slake", 30, 32, 3e-4),
            ],
        },
        "small" => Size {
            roco: 240,
            chexpert: 120,
            vqa: 40,
            pretrain_epochs: 1,
            continue_epochs: 1,
            batch: 16,
            classify_epochs: 2,
            vqa_plans: [
                VqaPlan::new("vqa-rad", 2, 16, 3e-4),
                VqaPlan::new("slake", 2, 16, 3e-4),
            ],
        },
        other => bail!("--size {other}: expected full or small"),
    })
}

/// Runs one `unimlip …` command line in this process and returns what it printed.
fn capture(args: &[&str]) -> anyhow::Result<String> {
    let cli = Cli::try_parse_from(std::iter::once("unimlip").chain(args.iter().copied()))
        .map_err(|e| anyhow::anyhow!("demo: bad internal command {args:?}: {e}"))?;
    let mut buf = Vec::new();
    super::run(cli, &mut buf).with_context(|| format!("unimlip {}", args.join(" ")))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Runs one `unimlip …` command line in this process, its output indented under the stage.
fn unimlip(args: &[&str], out: &mut dyn Write) -> anyhow::Result<()> {
    for line in capture(args)?.lines() {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}

fn stage(out: &mut dyn Write, t0: Instant, what: &str) -> anyhow::Result<()> {
    writeln!(out, "[{:>5.0}s] {what}", t0.elapsed().as_secs_f64())?;
    out.flush()?;
    Ok(())
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// What a training run of the demo trains.
struct Recipe<'a> {
    /// Run folder name under the demo folder.
    name: &'a str,
    /// Start weights (a `weights.safetensors`), or from scratch.
    init: Option<String>,
    epochs: u32,
    /// All five losses (Uni-Mlip, SimCLR with frozen BatchNorm statistics from the first step)
    /// or ITC + MLM (PMC-CLIP).
    uni_mlip: bool,
}

/// Writes the run config of `r` and trains it.
fn train(
    dir: &Path,
    roco: &str,
    (s, a): (&Size, &DemoArgs),
    r: &Recipe<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let run = dir.join(r.name);
    let config = dir.join(format!("{}.toml", r.name));
    let init = r
        .init
        .as_ref()
        .map_or(String::new(), |w| format!("init = \"{w}\"\n"));
    let losses = if r.uni_mlip {
        "simclr_start_epoch = 0\n"
    } else {
        "itc_img = false\nitc_txt = false\ni2i = false\nweight_cm = 0.5\n"
    };
    std::fs::write(
        &config,
        format!(
            "model = \"tiny\"\ntokenizer = \"vocab.txt\"\nout = \"{}\"\nseed = {}\n{init}\n\
             [data]\nsources = [{{ url = \"{roco}\", splits = [\"train\"] }}]\nbatch_size = {}\n\n\
             [optim]\nlr = 1e-3\nwarmup = 50\nweight_decay = 0.1\nepochs = {}\n\n\
             [losses]\n{losses}\n\
             [checkpoint]\nevery = 1000000\nkeep = 1\n\n\
             [eval]\nsources = [{{ url = \"{roco}\", splits = [\"test\"] }}]\nevery = 100\n",
            path(&run),
            a.seed,
            s.batch,
            r.epochs,
        ),
    )?;
    let mut args = vec!["train".to_string(), "--config".into(), path(&config)];
    args.extend(threads_arg(a));
    unimlip(&args.iter().map(String::as_str).collect::<Vec<_>>(), out)
}

/// `--threads N` when the demo was given it.
fn threads_arg(a: &DemoArgs) -> Vec<String> {
    a.threads
        .map_or_else(Vec::new, |n| vec!["--threads".into(), n.to_string()])
}

/// The weights of a run's last checkpoint.
fn last_weights(run: &Path) -> anyhow::Result<String> {
    let store = unimlip_shards::Store::open_existing(&path(&run.join("checkpoints")))?;
    let dir = unimlip_trainer::checkpoint::latest_dir(&store)?
        .with_context(|| format!("{} wrote no checkpoint", run.display()))?;
    Ok(path(
        &run.join("checkpoints")
            .join(dir)
            .join("weights.safetensors"),
    ))
}

/// Every evaluation of one run, as JSON results (also written under `<run>/eval`).
struct Results {
    retrieval: Value,
    classify: Value,
    vqa: Vec<Value>,
}

fn evaluate(run: &Path, store: &str, (s, a): (&Size, &DemoArgs)) -> anyhow::Result<Results> {
    let (r, eval) = (path(run), path(&run.join("eval")));
    let seed = a.seed.to_string();
    let json = |args: &[&str]| -> anyhow::Result<Value> {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        for extra in ["--checkpoint", &r, "--out", &eval, "--json"] {
            all.push(extra.to_string());
        }
        all.extend(threads_arg(a));
        Ok(serde_json::from_str(
            capture(&all.iter().map(String::as_str).collect::<Vec<_>>())?.trim(),
        )?)
    };
    let roco = format!("{store}/roco");
    let chexpert = format!("{store}/chexpert");
    let classify_epochs = s.classify_epochs.to_string();
    Ok(Results {
        retrieval: json(&["eval", "retrieval", "--data", &roco])?,
        classify: json(&[
            "eval",
            "classify",
            "--data",
            &chexpert,
            "--split",
            "chexpert-demo",
            "--epochs",
            &classify_epochs,
            "--patience",
            "4",
            "--batch-size",
            "32",
            "--seed",
            &seed,
        ])?,
        vqa: s
            .vqa_plans
            .iter()
            .map(|p| {
                let url = format!("{store}/{}", p.dataset);
                let (epochs, batch, lr) =
                    (p.epochs.to_string(), p.batch.to_string(), p.lr.to_string());
                let head = VQA_HEAD_MULTIPLIER.to_string();
                json(&[
                    "eval",
                    "vqa",
                    "--data",
                    &url,
                    "--epochs",
                    &epochs,
                    "--batch-size",
                    &batch,
                    "--lr",
                    &lr,
                    "--head-multiplier",
                    &head,
                    "--seed",
                    &seed,
                ])
            })
            .collect::<anyhow::Result<_>>()?,
    })
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "–".to_string(), |x| format!("{:.1}", 100.0 * x))
}

/// Figure 2, Table 1 and Table 2 with a chance row, a PMC-CLIP row and a Uni-Mlip row.
fn tables(rows: &[(&str, &Results)], out: &mut dyn Write) -> anyhow::Result<()> {
    let first = rows[0].1;
    let n = first.retrieval["pairs"].as_f64().unwrap_or(1.0).max(1.0);
    writeln!(
        out,
        "\nFigure 2 — ROCO retrieval, {} pairs of split {} (percent; chance R@k = k / pairs)\n",
        first.retrieval["pairs"], first.retrieval["split"]
    )?;
    writeln!(
        out,
        "| model | image→text R@1 | R@5 | R@10 | text→image R@1 | R@5 | R@10 | mean rank (i→t / t→i) |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|")?;
    let c = |k: f64| format!("{:.1}", 100.0 * (k / n).min(1.0));
    writeln!(
        out,
        "| chance | {} | {} | {} | {} | {} | {} | {:.1} / {:.1} |",
        c(1.0),
        c(5.0),
        c(10.0),
        c(1.0),
        c(5.0),
        c(10.0),
        (n + 1.0) / 2.0,
        (n + 1.0) / 2.0
    )?;
    for (name, r) in rows {
        let (i, t) = (&r.retrieval["i2t"], &r.retrieval["t2i"]);
        writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {:.1} / {:.1} |",
            pct(&i["r1"]),
            pct(&i["r5"]),
            pct(&i["r10"]),
            pct(&t["r1"]),
            pct(&t["r5"]),
            pct(&t["r10"]),
            i["mean_rank"].as_f64().unwrap_or(f64::NAN),
            t["mean_rank"].as_f64().unwrap_or(f64::NAN)
        )?;
    }
    let cl = &first.classify;
    writeln!(
        out,
        "\nTable 1 — CheXpert classification, {} ({}), test macro AUC (percent)\n",
        cl["split"],
        cl["mode"].as_str().unwrap_or("")
    )?;
    writeln!(
        out,
        "| model | macro AUC | best epoch | validation macro AUC |"
    )?;
    writeln!(out, "|---|---:|---:|---:|")?;
    writeln!(out, "| chance | 50.0 | – | – |")?;
    for (name, r) in rows {
        let c = &r.classify;
        writeln!(
            out,
            "| {name} | {} | {} | {} |",
            pct(&c["test"]["macro_auc"]),
            c["best_epoch"],
            pct(&c["validation_macro_auc"])
        )?;
    }
    writeln!(
        out,
        "\nTable 2 — VQA accuracy (percent) at the epoch chosen on validation; chance: the most \
         frequent training answer of each type; then each run's last epoch, and its best epoch \
         on test as M3AE reports it (chosen on the test set)\n"
    )?;
    let names: Vec<String> = first
        .vqa
        .iter()
        .map(|v| v["dataset"].as_str().unwrap_or("?").to_string())
        .collect();
    let mut head = String::from("| model |");
    let mut rule = String::from("|---|");
    for ds in &names {
        head.push_str(&format!(" {ds} open | closed | overall |"));
        rule.push_str("---:|---:|---:|");
    }
    writeln!(out, "{head}\n{rule}")?;
    let row = |name: &str, acc: &dyn Fn(&Value) -> &Value, r: &Results| {
        let mut line = format!("| {name} |");
        for v in &r.vqa {
            let a = acc(v);
            line.push_str(&format!(
                " {} | {} | {} |",
                pct(&a["open"]),
                pct(&a["closed"]),
                pct(&a["overall"])
            ));
        }
        line
    };
    writeln!(
        out,
        "{}",
        row("chance (majority)", &|v| &v["majority"], first)
    )?;
    for (name, r) in rows {
        writeln!(out, "{}", row(name, &|v| &v["chosen"]["test"], r))?;
    }
    for (name, r) in rows {
        let label = format!("{name} · last epoch");
        writeln!(out, "{}", row(&label, &|v| &v["accuracy"], r))?;
    }
    for (name, r) in rows {
        let label = format!("{name} · best test epoch (M3AE's figure)");
        writeln!(
            out,
            "{}",
            row(&label, &|v| &v["m3ae_best_on_test"]["test"], r)
        )?;
    }
    Ok(())
}

pub fn run(a: DemoArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let s = size(&a.size)?;
    let seed = a.seed.to_string();
    let dir = std::path::absolute(&a.out).with_context(|| format!("--out {}", a.out.display()))?;
    if dir.join("pretrain").exists() || dir.join("run").exists() {
        if !a.force {
            bail!(
                "{} holds an earlier demo: pass --force to start over, or choose another --out",
                dir.display()
            );
        }
        for sub in [
            "raw",
            "data",
            "run",
            "pretrain",
            "pmc-clip",
            "uni-mlip",
            "report",
            "vocab.txt",
            "run.toml",
            "pretrain.toml",
            "pmc-clip.toml",
            "uni-mlip.toml",
        ] {
            let p = dir.join(sub);
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let store = a
        .store
        .clone()
        .unwrap_or_else(|| path(&dir.join("data")))
        .trim_end_matches('/')
        .to_string();
    let t0 = Instant::now();
    let sets = [
        ("roco", s.roco),
        ("chexpert", s.chexpert),
        ("vqa-rad", s.vqa),
        ("slake", s.vqa),
    ];
    stage(
        out,
        t0,
        "1/8 generating small ROCO, CheXpert, VQA-RAD and SLAKE sets in their published layouts",
    )?;
    for (ds, n) in sets {
        let raw = path(&dir.join("raw").join(ds));
        unimlip(
            &[
                "synth",
                "--dataset",
                ds,
                "--out",
                &raw,
                "--n",
                &n.to_string(),
                "--seed",
                &seed,
            ],
            out,
        )?;
    }
    stage(
        out,
        t0,
        &format!("2/8 ingesting them into checksummed Parquet shards under {store}"),
    )?;
    for (ds, _) in sets {
        let raw = path(&dir.join("raw").join(ds));
        let url = format!("{store}/{ds}");
        unimlip(
            &[
                "ingest",
                "--dataset",
                ds,
                "--src",
                &raw,
                "--out",
                &url,
                "--overwrite",
            ],
            out,
        )?;
    }
    stage(
        out,
        t0,
        "3/8 writing the evaluation splits (ROCO retrieval pairs, CheXpert train/validation/test)",
    )?;
    let roco = format!("{store}/roco");
    let chexpert = format!("{store}/chexpert");
    unimlip(&["splits", "--data", &roco, "--recipe", "roco-2000"], out)?;
    unimlip(
        &[
            "splits",
            "--data",
            &chexpert,
            "--recipe",
            "lowdata",
            "--fraction",
            "1.0",
            "--name",
            "chexpert-demo",
            "--allow-patient-overlap",
        ],
        out,
    )?;
    stage(
        out,
        t0,
        "4/8 learning a WordPiece vocabulary from the ROCO training captions",
    )?;
    let vocab = dir.join("vocab.txt");
    unimlip(
        &[
            "tokenizer",
            "train",
            "--data",
            &roco,
            "--vocab-size",
            "1000",
            "--out",
            &path(&vocab),
        ],
        out,
    )?;
    stage(
        out,
        t0,
        &format!(
            "5/8 pre-training PMC-CLIP (ITC + MLM) from scratch for {} epochs",
            s.pretrain_epochs
        ),
    )?;
    let pretrain = Recipe {
        name: "pretrain",
        init: None,
        epochs: s.pretrain_epochs,
        uni_mlip: false,
    };
    train(&dir, &roco, (&s, &a), &pretrain, out)?;
    let start = last_weights(&dir.join("pretrain"))?;
    stage(
        out,
        t0,
        &format!(
            "6/8 continuing from it for {} epochs each: PMC-CLIP (ITC + MLM) and Uni-Mlip (five losses, SimCLR with frozen BN statistics)",
            s.continue_epochs
        ),
    )?;
    let runs = [
        ("PMC-CLIP", "pmc-clip", false),
        ("Uni-Mlip", "uni-mlip", true),
    ];
    for (_, name, uni_mlip) in runs {
        let r = Recipe {
            name,
            init: Some(start.clone()),
            epochs: s.continue_epochs,
            uni_mlip,
        };
        train(&dir, &roco, (&s, &a), &r, out)?;
    }
    stage(
        out,
        t0,
        "7/8 evaluating both with the same protocols: ROCO retrieval, CheXpert fine-tuning, VQA-RAD and SLAKE",
    )?;
    for p in &s.vqa_plans {
        let (epochs, batch) = unimlip_evaluation::m3ae_epochs_and_batch(p.dataset);
        writeln!(
            out,
            "    VQA as M3AE fine-tunes it, scaled down for the demo: {} {} epochs at batch {}, \
             encoder rate {:e}, head ×{} (M3AE: {epochs} at {batch}, 5e-6, head ×50)",
            p.dataset, p.epochs, p.batch, p.lr, VQA_HEAD_MULTIPLIER
        )?;
    }
    let mut results = Vec::new();
    for (label, name, _) in runs {
        results.push((label, evaluate(&dir.join(name), &store, (&s, &a))?));
    }
    let rows: Vec<(&str, &Results)> = results.iter().map(|(l, r)| (*l, r)).collect();
    tables(&rows, out)?;
    stage(out, t0, "8/8 writing the report (both runs side by side)")?;
    let samples = path(&dir.join("samples"));
    unimlip(
        &[
            "inspect",
            &roco,
            "--sample",
            "6",
            "--pipeline",
            "unimlip",
            "--split",
            "train",
            "--out",
            &samples,
        ],
        out,
    )?;
    unimlip(
        &[
            "report",
            &path(&dir.join("pmc-clip")),
            &path(&dir.join("uni-mlip")),
            "--samples",
            &samples,
            "--out",
            &path(&dir.join("report")),
        ],
        out,
    )?;
    writeln!(
        out,
        "\ndone in {:.0} s; open {}",
        t0.elapsed().as_secs_f64(),
        dir.join("report/index.html").display()
    )?;
    Ok(ExitCode::SUCCESS)
}
