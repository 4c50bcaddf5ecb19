use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

/// synth ROCO → ingest → `tokenizer train`; returns (dataset, vocab).
pub fn roco_with_vocab(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let (_, ds, _) = synth_and_ingest("roco", dir, n, 5);
    let vocab = dir.join("vocab.txt");
    learn_vocab(&ds, &vocab, &[]);
    (ds, vocab)
}

/// `tokenizer train` of a 1,000-entry vocabulary from `ds` into `vocab`.
fn learn_vocab(ds: &Path, vocab: &Path, extra: &[&str]) {
    let mut args = vec!["tokenizer", "train", "--data", ds.to_str().unwrap()];
    args.extend(["--vocab-size", "1000", "--out", vocab.to_str().unwrap()]);
    args.extend(extra);
    let out = ok(&args);
    assert!(out.contains("tokens from"), "{out}");
}

/// A `tiny` run config over `data`'s train split, writing to `out`.
pub fn config(dir: &Path, data: &str, vocab: &Path, out: &str, extra: &str) -> PathBuf {
    let p = dir.join(format!("run-{}.toml", out.len() ^ extra.len()));
    std::fs::write(
        &p,
        format!(
            "model = \"tiny\"\ntokenizer = \"{}\"\nout = \"{out}\"\nseed = 3\n\n\
             [data]\nsources = [{{ url = \"{data}\", splits = [\"train\"] }}]\n\
             batch_size = 16\nthreads = 2\n\n{extra}",
            vocab.display()
        ),
    )
    .unwrap();
    p
}

pub fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The tensors of the newest checkpoint of a local run folder.
pub fn latest_weights(run: &Path) -> Vec<u8> {
    let ckpt = run.join("checkpoints");
    let latest: Value =
        serde_json::from_slice(&std::fs::read(ckpt.join("latest.json")).unwrap()).unwrap();
    std::fs::read(
        ckpt.join(latest["dir"].as_str().unwrap())
            .join("weights.safetensors"),
    )
    .unwrap()
}

/// `tokenizer train` writes the same bytes for the same shards and options on every run and at
/// any thread count.
#[test]
fn the_learned_vocabulary_is_the_same_file_on_every_run() {
    let d = tempfile::tempdir().unwrap();
    let (ds, first) = roco_with_vocab(d.path(), 400);
    let first = std::fs::read(first).unwrap();
    assert!(first.len() > 1000, "{} bytes", first.len());
    for (run, threads) in [(1, "1"), (2, "2"), (3, "1"), (4, "2")] {
        let vocab = d.path().join(format!("vocab-{run}.txt"));
        learn_vocab(&ds, &vocab, &["--threads", threads]);
        assert!(
            std::fs::read(&vocab).unwrap() == first,
            "run {run} ({threads} threads) differs"
        );
    }
}

#[test]
fn tiny_trains_from_synth_shards_and_its_losses_go_down() {
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = roco_with_vocab(d.path(), 300);
    let run = d.path().join("run");
    let cfg = config(
        d.path(),
        ds.to_str().unwrap(),
        &vocab,
        run.to_str().unwrap(),
        "[optim]\nlr = 2e-3\nwarmup = 3\nepochs = 3\n\n[checkpoint]\nevery = 10\nkeep = 2\n\n\
         [eval]\nsources = [{ url = \"DS\", splits = [\"test\"] }]\n"
            .replace("DS", ds.to_str().unwrap())
            .as_str(),
    );
    let v = json(&ok(&["train", "--config", cfg.to_str().unwrap(), "--json"]));
    let m = metrics(&run);
    let steps = v["total_steps"].as_i64().unwrap();
    assert_eq!(v["step"], steps);
    assert_eq!(m.len() as i64, steps);
    for (i, line) in m.iter().enumerate() {
        assert_eq!(line["step"], i as i64 + 1);
        for key in [
            "loss",
            "loss_itc",
            "loss_itc_img",
            "loss_itc_txt",
            "loss_i2i",
            "loss_mlm",
            "lr",
            "logit_scale",
            "samples_per_s",
        ] {
            assert!(line[key].as_f64().unwrap().is_finite(), "{key}: {line}");
        }
        let wait = line["data_wait"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&wait), "{line}");
        assert!(line["logit_scale"].as_f64().unwrap() <= 100.0 + 1e-9);
    }
    let mean = |key: &str, r: std::ops::Range<usize>| {
        r.clone().map(|i| m[i][key].as_f64().unwrap()).sum::<f64>() / r.len() as f64
    };
    let n = m.len();
    for key in ["loss", "loss_mlm", "loss_i2i"] {
        let (first, last) = (mean(key, 0..3), mean(key, n - 3..n));
        assert!(
            last < first * 0.9,
            "{key} did not go down: {first} → {last}"
        );
    }
    // TensorBoard has every metric of every line, as TensorBoard itself reads the file.
    if let Some(tb) = tb_scalars(&run.join("tensorboard")) {
        for key in ["loss", "loss_mlm", "lr", "logit_scale", "data_wait"] {
            let s = series(&tb, &format!("train/{key}"));
            assert_eq!(s.len(), m.len(), "{key}");
            for ((step, got), line) in s.iter().zip(&m) {
                let want = line[key].as_f64().unwrap();
                assert_eq!(*step, line["step"].as_i64().unwrap());
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs().max(1e-3),
                    "{key} at step {step}: {got} against {want}"
                );
            }
        }
        let r1 = series(&tb, "eval/i2t_r1");
        assert_eq!(r1.last().unwrap().0, steps);
    }
    // Held-out retrieval is measured at the end; checkpoints: the last two kept.
    let r1 = v["eval"]["i2t_r1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&r1));
    assert!(v["eval"]["pairs"].as_u64().unwrap() > 10);
    let kept = std::fs::read_dir(run.join("checkpoints")).unwrap().count();
    assert_eq!(kept, 3, "two step folders and latest.json");

    // A second run into the same folder must be asked for explicitly.
    let again = crate::util::run(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(!again.ok);
    let errors: Vec<&str> = again
        .stderr
        .lines()
        .filter(|l| l.contains("error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", again.stderr);
    assert!(errors[0].contains("--resume"), "{}", again.stderr);
}

#[test]
fn a_stopped_then_resumed_run_reaches_bit_identical_weights() {
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = roco_with_vocab(d.path(), 160);
    let optim = "[optim]\nlr = 1e-3\nwarmup = 2\nepochs = 2\naccumulate = 2\n\n\
                 [checkpoint]\nevery = 3\nkeep = 3\n";
    let whole = d.path().join("whole");
    let cfg = config(
        d.path(),
        ds.to_str().unwrap(),
        &vocab,
        whole.to_str().unwrap(),
        optim,
    );
    let v = json(&ok(&["train", "--config", cfg.to_str().unwrap(), "--json"]));
    let total = v["total_steps"].as_i64().unwrap();
    assert!(total >= 4, "{v}");

    // Stopped after step 1 (mid-epoch, between checkpoints), resumed; then stopped again inside
    // the second epoch and resumed to the end.
    let parts = d.path().join("parts");
    let p = parts.to_str().unwrap();
    let stop2 = (total - 1).to_string();
    for extra in [
        &["--stop-after", "1"][..],
        &["--resume", "--stop-after", &stop2],
        &["--resume"],
    ] {
        let mut args = vec![
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            p,
            "--json",
        ];
        args.extend_from_slice(extra);
        ok(&args);
    }
    assert_eq!(latest_weights(&whole), latest_weights(&parts));
    // The metrics read as one run: the same losses at every step.
    let (a, b) = (metrics(&whole), metrics(&parts));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["step"], y["step"]);
        assert_eq!(x["loss"], y["loss"], "step {}", x["step"]);
    }
    // So does TensorBoard: one event file, every step once, the same losses.
    let files = |run: &Path| std::fs::read_dir(run.join("tensorboard")).unwrap().count();
    assert_eq!(files(&parts), 1);
    if let (Some(x), Some(y)) = (
        tb_scalars(&whole.join("tensorboard")),
        tb_scalars(&parts.join("tensorboard")),
    ) {
        let (lx, ly) = (series(&x, "train/loss"), series(&y, "train/loss"));
        assert_eq!(lx.len() as i64, total);
        assert_eq!(lx, ly);
    }
}

/// The scalars of a TensorBoard log folder as TensorBoard's own EventAccumulator reads them:
/// `{tag: [[step, value], ...]}` (None without the torch environment, which has tensorboard).
pub fn tb_scalars(dir: &Path) -> Option<Value> {
    let py = torch_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/tb_scalars.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .arg(dir)
        .output()
        .expect("run tb_scalars.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// `tag`'s (step, value) pairs.
pub fn series(tb: &Value, tag: &str) -> Vec<(i64, f64)> {
    tb[tag]
        .as_array()
        .unwrap_or_else(|| panic!("no scalar {tag} in {tb}"))
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

pub fn torch_python() -> Option<String> {
    match std::env::var("UNIMLIP_TORCH_PYTHON") {
        Ok(p) if Path::new(&p).exists() => Some(p),
        _ => {
            require_tool("python with torch (UNIMLIP_TORCH_PYTHON)");
            None
        }
    }
}

pub fn reference(py: &str, args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/uni_mlip_ref.py");
    std::process::Command::new(py)
        .arg(script)
        .args(args)
        .output()
        .expect("run the PyTorch reference")
}

#[test]
fn model_forward_matches_the_pytorch_reference() {
    let Some(py) = torch_python() else { return };
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_str().unwrap();
    let made = reference(&py, &["make", dir]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let file = |n: &str| d.path().join(n).display().to_string();
    let forward = |weights: &str, out: &str| {
        ok(&[
            "model",
            "forward",
            "--config",
            "tiny",
            "--weights",
            weights,
            "--inputs",
            &file("inputs.safetensors"),
            "--out",
            out,
        ])
    };
    forward(&file("weights.safetensors"), &file("got.safetensors"));
    let cmp = reference(
        &py,
        &[
            "compare",
            &file("expected.safetensors"),
            &file("got.safetensors"),
        ],
    );
    let report = String::from_utf8_lossy(&cmp.stdout);
    assert!(
        cmp.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&cmp.stderr)
    );
    for name in [
        "image_features",
        "layer4",
        "fusion_out",
        "mlm_logprobs",
        "loss_i2i",
        "loss_mlm",
    ] {
        assert!(report.contains(name), "{report}");
    }

    // Other weights give other outputs, and the comparison says so.
    let other = d.path().join("other");
    let made = reference(&py, &["make", other.to_str().unwrap(), "--seed", "1"]);
    assert!(made.status.success());
    forward(
        &other.join("weights.safetensors").display().to_string(),
        &file("other.safetensors"),
    );
    let cmp = reference(
        &py,
        &[
            "compare",
            &file("expected.safetensors"),
            &file("other.safetensors"),
        ],
    );
    assert!(!cmp.status.success());
    assert!(String::from_utf8_lossy(&cmp.stderr).contains("parity failed"));
}

#[test]
fn a_pmc_clip_checkpoint_converts_and_loads() {
    let Some(py) = torch_python() else { return };
    let d = tempfile::tempdir().unwrap();
    let file = |n: &str| d.path().join(n).display().to_string();
    let made = reference(&py, &["make", d.path().to_str().unwrap()]);
    assert!(made.status.success());
    let made = reference(&py, &["checkpoint", &file("pmc.pt")]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let env = [("UNIMLIP_TORCH_PYTHON", py.as_str())];
    let r = run_env(
        &[
            "convert",
            "pmc-clip",
            &file("pmc.pt"),
            &file("conv.safetensors"),
            "--config",
            "tiny",
        ],
        &env,
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("14 SimCLR-head tensors"), "{}", r.stdout);
    // Every converted tensor is the reference model's, under the same name.
    let cmp = reference(
        &py,
        &[
            "compare",
            &file("conv.safetensors"),
            &file("weights.safetensors"),
        ],
    );
    assert!(
        cmp.status.success(),
        "{}",
        String::from_utf8_lossy(&cmp.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&cmp.stdout).lines().count(), 174);
    // The converted weights (no SimCLR head) run through the forward harness: everything but
    // the SimCLR loss, and a note saying so.
    let fwd = ok(&[
        "model",
        "forward",
        "--config",
        "tiny",
        "--weights",
        &file("conv.safetensors"),
        "--inputs",
        &file("inputs.safetensors"),
        "--out",
        &file("conv-out.safetensors"),
    ]);
    assert!(
        fwd.contains("loss_itc") && !fwd.contains("loss_i2i,") && fwd.contains("no SimCLR head"),
        "{fwd}"
    );

    // Not a checkpoint; not this model: one line each, nothing left behind.
    std::fs::write(file("bad.pt"), b"not a checkpoint").unwrap();
    let r = run_env(
        &[
            "convert",
            "pmc-clip",
            &file("bad.pt"),
            &file("x.safetensors"),
            "--config",
            "tiny",
        ],
        &env,
    );
    assert!(
        !r.ok && r.stderr.trim().lines().count() == 1,
        "{}",
        r.stderr
    );
    let r = run_env(
        &[
            "convert",
            "pmc-clip",
            &file("pmc.pt"),
            &file("y.safetensors"),
        ],
        &env,
    );
    assert!(
        !r.ok && r.stderr.contains("rn50-pubmedbert"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(!d.path().join("y.safetensors").exists());
}

#[test]
fn simclr_switches_on_at_its_epoch() {
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = roco_with_vocab(d.path(), 100);
    let run = d.path().join("run");
    let cfg = config(
        d.path(),
        ds.to_str().unwrap(),
        &vocab,
        run.to_str().unwrap(),
        "[optim]\nwarmup = 1\nepochs = 2\n\n[losses]\nsimclr_start_epoch = 1\n",
    );
    ok(&["train", "--config", cfg.to_str().unwrap(), "--json"]);
    let m = metrics(&run);
    let (first, second): (Vec<&Value>, Vec<&Value>) = m.iter().partition(|l| l["epoch"] == 0);
    assert!(!first.is_empty() && !second.is_empty());
    for l in first {
        assert_eq!(l["simclr"], false);
        assert!(l.get("loss_i2i").is_none(), "{l}");
    }
    for l in second {
        assert_eq!(l["simclr"], true);
        assert!(l["loss_i2i"].as_f64().unwrap() > 0.0, "{l}");
    }
}
