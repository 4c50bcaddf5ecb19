//! `unimlip demo`: the whole pipeline on generated data, stage by stage, through the same
//! commands a user runs: synth → ingest → splits → tokenizer → train `tiny` → retrieval,
//! classification and VQA → tables and a report page.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;

use unimlip::cli::{Cli, DemoArgs};

/// Input sizes and training length of a demo.
struct Size {
    roco: usize,
    chexpert: usize,
    vqa: usize,
    epochs: u32,
    batch: usize,
    eval_epochs: usize,
}

fn size(name: &str) -> anyhow::Result<Size> {
    Ok(match name {
        "full" => Size {
            roco: 2500,
            chexpert: 400,
            vqa: 120,
            epochs: 16,
            batch: 32,
            eval_epochs: 10,
        },
        "small" => Size {
            roco: 240,
            chexpert: 120,
            vqa: 40,
            epochs: 1,
            batch: 16,
            eval_epochs: 2,
        },
        other => bail!("--size {other}: expected full or small"),
    })
}

/// Runs one `unimlip …` command line in this process, its output indented under the stage.
fn unimlip(args: &[&str], out: &mut dyn Write) -> anyhow::Result<()> {
    let cli = Cli::try_parse_from(std::iter::once("unimlip").chain(args.iter().copied()))
        .map_err(|e| anyhow::anyhow!("demo: bad internal command {args:?}: {e}"))?;
    let mut buf = Vec::new();
    super::run(cli, &mut buf).with_context(|| format!("unimlip {}", args.join(" ")))?;
    for line in String::from_utf8_lossy(&buf).lines() {
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

pub fn run(a: DemoArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let s = size(&a.size)?;
    let dir = std::path::absolute(&a.out).with_context(|| format!("--out {}", a.out.display()))?;
    if dir.join("run").exists() {
        if !a.force {
            bail!(
                "{} holds an earlier demo: pass --force to start over, or choose another --out",
                dir.display()
            );
        }
        for sub in ["raw", "data", "run", "report", "vocab.txt", "run.toml"] {
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
        "1/7 generating small ROCO, CheXpert, VQA-RAD and SLAKE sets in their published layouts",
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
            ],
            out,
        )?;
    }
    stage(
        out,
        t0,
        &format!("2/7 ingesting them into checksummed Parquet shards under {store}"),
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
        "3/7 writing the evaluation splits (ROCO retrieval pairs, CheXpert train/validation/test)",
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
        "4/7 learning a WordPiece vocabulary from the ROCO training captions",
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
    let run = dir.join("run");
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        format!(
            "model = \"tiny\"\ntokenizer = \"vocab.txt\"\nout = \"{}\"\nseed = 0\n\n\
             [data]\nsources = [{{ url = \"{roco}\", splits = [\"train\"] }}]\nbatch_size = {}\n\n\
             [optim]\nlr = 1e-3\nwarmup = 50\nepochs = {}\n\n\
             [losses]\nsimclr_start_epoch = {}\n\n\
             [checkpoint]\nevery = 200\nkeep = 1\n\n\
             [eval]\nsources = [{{ url = \"{roco}\", splits = [\"test\"] }}]\n",
            path(&run),
            s.batch,
            s.epochs,
            (s.epochs * 3 / 4).max(1)
        ),
    )?;
    stage(
        out,
        t0,
        "5/7 training the tiny Uni-Mlip: ITC, perturbed ITC and MLM, then SimCLR (frozen BN) for the last quarter",
    )?;
    unimlip(&["train", "--config", &path(&config)], out)?;
    let eval = path(&run.join("eval"));
    let r = path(&run);
    let epochs = s.eval_epochs.to_string();
    stage(
        out,
        t0,
        "6/7 evaluating: ROCO retrieval, CheXpert linear probe, VQA-RAD and SLAKE",
    )?;
    unimlip(
        &[
            "eval",
            "retrieval",
            "--checkpoint",
            &r,
            "--data",
            &roco,
            "--out",
            &eval,
        ],
        out,
    )?;
    unimlip(
        &[
            "eval",
            "classify",
            "--checkpoint",
            &r,
            "--data",
            &chexpert,
            "--split",
            "chexpert-demo",
            "--epochs",
            &epochs,
            "--out",
            &eval,
        ],
        out,
    )?;
    for ds in ["vqa-rad", "slake"] {
        let url = format!("{store}/{ds}");
        unimlip(
            &[
                "eval",
                "vqa",
                "--checkpoint",
                &r,
                "--data",
                &url,
                "--epochs",
                &epochs,
                "--out",
                &eval,
            ],
            out,
        )?;
    }
    stage(out, t0, "7/7 writing the report")?;
    unimlip(&["report", &r, "--out", &path(&dir.join("report"))], out)?;
    writeln!(
        out,
        "\ndone in {:.0} s; open {}",
        t0.elapsed().as_secs_f64(),
        dir.join("report/index.html").display()
    )?;
    Ok(ExitCode::SUCCESS)
}
