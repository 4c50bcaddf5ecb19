use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::train::{latest_weights, metrics, roco_with_vocab};
use crate::util::*;

/// `tiny` without dropout: the only randomness left is drawn per sample or per global batch.
const TINY_NO_DROPOUT: &str = "embed_dim = 64\ncontext_length = 77\nfusion_layers = 2\n\
    fusion_heads = 4\nssl_mlp_dim = 128\nssl_emb_dim = 32\n\n[vision]\nimage_size = 96\n\
    layers = [1, 1, 1, 1]\nwidth = 8\nheads = 4\noutput_dim = 64\n\n[text]\nvocab_size = 1000\n\
    hidden = 64\nlayers = 2\nheads = 4\nintermediate = 128\nmax_positions = 77\ntype_vocab = 2\n\
    dropout = 0.0\n";

fn config(dir: &Path, data: &Path, vocab: &Path, out: &Path, batch: usize, steps: i64) -> String {
    config_with(dir, data, vocab, out, batch, steps, "")
}

/// [`config`] with more top-level lines (`init = …`) and sections appended.
fn config_with(
    dir: &Path,
    data: &Path,
    vocab: &Path,
    out: &Path,
    batch: usize,
    steps: i64,
    extra: &str,
) -> String {
    std::fs::write(dir.join("tiny-nodrop.toml"), TINY_NO_DROPOUT).unwrap();
    let p = dir.join(format!(
        "{}.toml",
        out.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &p,
        format!(
            "model = \"tiny-nodrop.toml\"\ntokenizer = \"{}\"\nout = \"{}\"\nseed = 5\n{extra}\n\
             [data]\nsources = [{{ url = \"{}\", splits = [\"train\"] }}]\nbatch_size = {batch}\n\
             threads = 1\n\n[optim]\nlr = 1e-3\nwarmup = 2\nmax_steps = {steps}\n\n\
             [checkpoint]\nevery = 1\nkeep = 10\n{sections}",
            vocab.display(),
            out.display(),
            data.display(),
            sections = ""
        ),
    )
    .unwrap();
    p.display().to_string()
}

/// Start weights whose visual BatchNorm statistics are trained: 20 steps of one process with
/// SimCLR off. SimCLR freezes those statistics, and at their initial 0 and 1 every image gets
/// nearly the same feature (ITC at exactly ln N), where float noise decides the step.
fn warm_start(dir: &Path, data: &Path, vocab: &Path) -> String {
    let out = dir.join("warm");
    let cfg = config(dir, data, vocab, &out, 8, 20);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n[losses]\ni2i = false\n")).unwrap();
    ok(&["train", "--config", &cfg, "--json"]);
    let store = out.join("checkpoints");
    let latest: Value =
        serde_json::from_slice(&std::fs::read(store.join("latest.json")).unwrap()).unwrap();
    let w = store
        .join(latest["dir"].as_str().unwrap())
        .join("weights.safetensors");
    format!("init = \"{}\"", w.display())
}

/// The share of weights that differ by more than 1e-4 between two safetensors files.
///
/// Not the max: a few parameters have a gradient that is zero in exact arithmetic (a Linear's
/// bias before BatchNorm, attention key biases), and AdamW scales their float noise up to ±lr
/// per step, differently for different summation orders.
fn share_differing(a: &[u8], b: &[u8]) -> f64 {
    let d = tempfile::tempdir().unwrap();
    let (pa, pb) = (
        d.path().join("a.safetensors"),
        d.path().join("b.safetensors"),
    );
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    let (ta, tb) = (
        tch::Tensor::read_safetensors(&pa).unwrap(),
        tch::Tensor::read_safetensors(&pb).unwrap(),
    );
    assert_eq!(ta.len(), tb.len());
    let b: std::collections::HashMap<_, _> = tb.into_iter().collect();
    let (mut differ, mut total) = (0i64, 0i64);
    for (n, t) in &ta {
        let d = (t.to_kind(tch::Kind::Double) - b[n].to_kind(tch::Kind::Double)).abs();
        differ += d.gt(1e-4).sum(tch::Kind::Int64).int64_value(&[]);
        total += t.numel() as i64;
    }
    differ as f64 / total as f64
}

fn close(a: &Value, b: &Value, key: &str) {
    let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
    assert!(
        (x - y).abs() <= 3e-4 * x.abs().max(1.0),
        "{key} at step {}: {x} vs {y}",
        a["step"]
    );
}

#[test]
fn two_gloo_ranks_match_one_process_with_the_global_batch_and_resume_as_one() {
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = roco_with_vocab(d.path(), 120);
    let init = warm_start(d.path(), &ds, &vocab);
    let (one, two) = (d.path().join("one"), d.path().join("two"));
    ok(&[
        "train",
        "--config",
        &config_with(d.path(), &ds, &vocab, &one, 8, 3, &init),
        "--json",
    ]);
    let cfg2 = config_with(d.path(), &ds, &vocab, &two, 4, 3, &init);
    let v = json(&ok(&[
        "train",
        "--config",
        &cfg2,
        "--nproc",
        "2",
        "--json",
        "--dist-timeout",
        "60",
    ]));
    assert_eq!(v["step"], 3);
    let (a, b) = (metrics(&one), metrics(&two));
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    for (x, y) in a.iter().zip(&b) {
        for key in [
            "loss",
            "loss_itc",
            "loss_itc_img",
            "loss_itc_txt",
            "loss_i2i",
            "loss_mlm",
        ] {
            close(x, y, key);
        }
    }
    let share = share_differing(&latest_weights(&one), &latest_weights(&two));
    assert!(share < 0.005, "{share} of the weights differ");

    // The 2-process run stopped after step 1 and resumed as one process of batch 8 continues
    // the same sample sequence.
    let three = d.path().join("three");
    let cfg3 = config_with(d.path(), &ds, &vocab, &three, 4, 3, &init);
    ok(&[
        "train",
        "--config",
        &cfg3,
        "--nproc",
        "2",
        "--stop-after",
        "1",
        "--json",
    ]);
    let cfg3_single = config_with(d.path(), &ds, &vocab, &three, 8, 3, &init);
    ok(&["train", "--config", &cfg3_single, "--resume", "--json"]);
    let c = metrics(&three);
    assert_eq!(c.len(), 3);
    for (x, y) in a.iter().zip(&c) {
        close(x, y, "loss");
    }
    let share = share_differing(&latest_weights(&one), &latest_weights(&three));
    assert!(share < 0.005, "{share} of the resumed weights differ");
}

#[test]
fn openclip_gradients_on_two_ranks_equal_one_process_with_halved_contrastive_weights() {
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = roco_with_vocab(d.path(), 120);
    let init = warm_start(d.path(), &ds, &vocab);
    let (one, two) = (d.path().join("halved"), d.path().join("openclip"));
    let with = |cfg: String, losses: &str| {
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, format!("{text}\n[losses]\n{losses}")).unwrap();
        cfg
    };
    // One process, the contrastive weights halved (0.167 → 0.0835, 0.5 → 0.25).
    let single = with(
        config_with(d.path(), &ds, &vocab, &one, 8, 3, &init),
        "weight_cm = 0.0835\nweight_um = 0.25\n",
    );
    ok(&["train", "--config", &single, "--json"]);
    let double = with(
        config_with(d.path(), &ds, &vocab, &two, 4, 3, &init),
        "contrastive_grad = \"openclip\"\n",
    );
    ok(&[
        "train",
        "--config",
        &double,
        "--nproc",
        "2",
        "--json",
        "--dist-timeout",
        "60",
    ]);
    // AdamW is blind to a gradient's scale, so the logit scale and the SimCLR head (contrastive
    // gradient only) move alike; the towers see contrastive and MLM gradients mixed 1 : 2 both
    // ways.
    let share = share_differing(&latest_weights(&one), &latest_weights(&two));
    assert!(share < 0.005, "{share} of the weights differ");
    // The exact gradient is not that: it differs from the halved run.
    let exact = d.path().join("exact");
    ok(&[
        "train",
        "--config",
        &config_with(d.path(), &ds, &vocab, &exact, 4, 3, &init),
        "--nproc",
        "2",
        "--json",
        "--dist-timeout",
        "60",
    ]);
    let share = share_differing(&latest_weights(&one), &latest_weights(&exact));
    assert!(share > 0.05, "only {share} of the weights differ");
}

#[test]
fn a_killed_rank_stops_the_other_within_the_timeout() {
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = roco_with_vocab(d.path(), 120);
    let run_dir = d.path().join("run");
    let cfg = config(d.path(), &ds, &vocab, &run_dir, 4, 100_000);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let start = |rank: &str| {
        Command::new(bin())
            .args(["train", "--config", &cfg, "--json", "--dist-timeout", "20"])
            .env("RANK", rank)
            .env("WORLD_SIZE", "2")
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", &port)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut r0, mut r1) = (start("0"), start("1"));
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(run_dir.join("metrics.jsonl")).map_or(0, |s| s.lines().count())
        < 2
    {
        assert!(Instant::now() < deadline, "training did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    r1.kill().unwrap();
    let _ = r1.wait();
    let killed = Instant::now();
    let status = loop {
        if let Some(s) = r0.try_wait().unwrap() {
            break s;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "rank 0 did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(r0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("c10d"), "{err}");
    // The last checkpoint is intact and loads.
    let w = latest_weights(&run_dir);
    assert!(w.len() > 1000);
}

#[test]
fn the_slurm_wrapper_sets_torchruns_variables() {
    let d = tempfile::tempdir().unwrap();
    let fake = d.path().join("fake-unimlip");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"$RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MASTER_PORT $*\"\n",
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-train.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(["--config", "run.toml"])
        .env("UNIMLIP", &fake)
        .env("SLURM_PROCID", "5")
        .env("SLURM_NTASKS", "8")
        .env("SLURM_LOCALID", "1")
        .env("MASTER_ADDR", "node07")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "5 8 1 node07 29500 train --config run.toml"
    );
}

#[test]
fn one_launched_rank_is_a_group_of_one_and_trains_like_a_plain_process() {
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = roco_with_vocab(d.path(), 80);
    let (plain, group) = (d.path().join("plain"), d.path().join("group"));
    ok(&[
        "train",
        "--config",
        &config(d.path(), &ds, &vocab, &plain, 8, 2),
        "--json",
    ]);
    let cfg = config(d.path(), &ds, &vocab, &group, 8, 2);
    ok(&[
        "train",
        "--config",
        &cfg,
        "--nproc",
        "1",
        "--backend",
        "gloo",
        "--json",
    ]);
    assert_eq!(latest_weights(&plain), latest_weights(&group));
    let bad = run(&["train", "--config", &cfg, "--nproc", "0"]);
    assert!(
        !bad.ok && bad.stderr.contains("--nproc 0"),
        "{}",
        bad.stderr
    );
}
