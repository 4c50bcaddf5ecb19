//! Training parity: `unimlip train` and the PyTorch reference (`python/uni_mlip_ref.py
//! replay`) start from the same weights, take the same micro-batches and random draws (the
//! run's `dump_steps`) and the same optimiser and schedule; their per-step losses must agree.

use std::path::Path;

use serde_json::Value;

use crate::train::{config, metrics, reference, roco_with_vocab, torch_python};
use crate::util::*;

/// `tiny` with the text tower's dropout off: the reference has no dropout, and dropout masks
/// inside BERT are not dumped (DropBlock seeds and the text-feature dropout masks are).
const TINY_NO_DROPOUT: &str = "embed_dim = 64\ncontext_length = 77\nfusion_layers = 2\n\
    fusion_heads = 4\nssl_mlp_dim = 128\nssl_emb_dim = 32\n\n[vision]\nimage_size = 96\n\
    layers = [1, 1, 1, 1]\nwidth = 8\nheads = 4\noutput_dim = 64\n\n[text]\nvocab_size = 1000\n\
    hidden = 64\nlayers = 2\nheads = 4\nintermediate = 128\nmax_positions = 77\ntype_vocab = 2\n\
    dropout = 0.0\n";

/// Each step's largest relative difference over the losses both sides logged.
fn rel_diffs(a: &[Value], b: &[Value]) -> Vec<f64> {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            assert_eq!(x["step"], y["step"]);
            let keys = x
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with("loss"));
            keys.map(|k| {
                let (p, q) = (x[k].as_f64().unwrap(), y[k].as_f64().unwrap());
                (p - q).abs() / q.abs().max(1e-12)
            })
            .fold(0.0, f64::max)
        })
        .collect()
}

fn show(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.1e}")).collect();
    parts.join(" ")
}

fn replay(py: &str, cfg: &Path, dump: &Path, out: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "replay",
        cfg.to_str().unwrap(),
        dump.to_str().unwrap(),
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = reference(py, &args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

/// The reference's replay of a dumped run in float32 and in float64.
fn replay_f32_f64(
    py: &str,
    cfg: &Path,
    dump: &Path,
    dir: &Path,
    name: &str,
) -> (Vec<Value>, Vec<Value>) {
    let f32 = replay(py, cfg, dump, &dir.join(format!("{name}.json")), &[]);
    let out64 = dir.join(format!("{name}64.json"));
    (f32, replay(py, cfg, dump, &out64, &["--float64"]))
}

/// A dumped `unimlip train` run of `steps` steps from `init`; returns (config, dump folder).
fn dumped_run(
    dir: &Path,
    name: &str,
    data: &(std::path::PathBuf, std::path::PathBuf),
    init: &Path,
    steps: u32,
    losses: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let model = dir.join("tiny-no-dropout.toml");
    std::fs::write(&model, TINY_NO_DROPOUT).unwrap();
    let (run, dump) = (dir.join(name), dir.join(format!("{name}-dump")));
    let cfg = config(
        dir,
        data.0.to_str().unwrap(),
        &data.1,
        run.to_str().unwrap(),
        &format!("[optim]\nlr = 1e-3\nwarmup = 5\nmax_steps = {steps}\n\n[losses]\n{losses}"),
    );
    let head = format!(
        "model = \"{}\"\ninit = \"{}\"\ndump_steps = \"{}\"\n",
        model.display(),
        init.display(),
        dump.display()
    );
    let body = std::fs::read_to_string(&cfg)
        .unwrap()
        .replacen("model = \"tiny\"\n", "", 1);
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, head + &body).unwrap();
    ok(&["train", "--config", cfg.to_str().unwrap()]);
    (cfg, dump)
}

#[test]
fn training_matches_the_pytorch_reference_step_by_step() {
    let Some(py) = torch_python() else { return };
    let d = tempfile::tempdir().unwrap();
    let data = roco_with_vocab(d.path(), 300);
    let init = d.path().join("init.safetensors");
    let made = reference(&py, &["init", init.to_str().unwrap()]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    // PMC-CLIP (ITC + MLM) from the originals' initialisation, 50 steps.
    let pmc = "itc_img = false\nitc_txt = false\ni2i = false\nweight_cm = 1.0\n";
    let (cfg, dump) = dumped_run(d.path(), "pmc", &data, &init, 50, pmc);
    let rust = metrics(&d.path().join("pmc"));
    let (torch, exact) = replay_f32_f64(&py, &cfg, &dump, d.path(), "pmc");
    let diffs = rel_diffs(&torch, &rust);
    eprintln!("PMC-CLIP, unimlip vs PyTorch fp32: {}", show(&diffs));
    eprintln!(
        "PMC-CLIP, unimlip vs PyTorch fp64: {}",
        show(&rel_diffs(&exact, &rust))
    );
    eprintln!(
        "PMC-CLIP, PyTorch fp32 vs fp64:    {}",
        show(&rel_diffs(&exact, &torch))
    );
    assert!(diffs[..10].iter().all(|&x| x <= 1e-4), "{}", show(&diffs));
    assert!(diffs.iter().all(|&x| x <= 1e-3), "{}", show(&diffs));
    let (first, last) = (
        torch[0]["loss"].as_f64().unwrap(),
        torch[49]["loss"].as_f64().unwrap(),
    );
    assert!(
        last < first * 0.7,
        "the reference learns too: {first} → {last}"
    );

    // The comparison sees a different run: the reference at twice the learning rate.
    let other = d.path().join("pmc-lr.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&other, text.replace("lr = 1e-3", "lr = 2e-3")).unwrap();
    let moved = replay(&py, &other, &dump, &d.path().join("pmc-lr.json"), &[]);
    assert!(rel_diffs(&moved, &rust)[..10].iter().any(|&x| x > 1e-3));

    // All five losses from the PMC-CLIP weights. Frozen BatchNorm statistics and Adam make
    // this run chaotic: Adam's first updates are about ±lr wherever a gradient is near zero, so
    // a last-bit difference flips whole updates, and the reference in float64 parts from itself
    // in float32 within a few steps. Repeated runs part from the reference at step 4 to 16
    // (seen over ten runs: at most 2.2e-5 through step 3, 1.3e-4 at step 5 in some, up to 0.10
    // by step 20, while the reference's fp32 run parts from its fp64 run by 5e-3 to 9e-2). The
    // two fp32 implementations must agree through the first three steps (a wrong term shows at
    // step 1), and over the run stay within the spread that rounding alone produces: four
    // times this run's fp32-vs-fp64 envelope, or 15 %, whichever is larger.
    let ckpt = d.path().join("pmc/checkpoints");
    let latest: Value =
        serde_json::from_slice(&std::fs::read(ckpt.join("latest.json")).unwrap()).unwrap();
    let warm = ckpt
        .join(latest["dir"].as_str().unwrap())
        .join("weights.safetensors");
    let (cfg, dump) = dumped_run(d.path(), "five", &data, &warm, 20, "");
    let rust = metrics(&d.path().join("five"));
    let (f32, f64) = replay_f32_f64(&py, &cfg, &dump, d.path(), "five");
    let ours = rel_diffs(&f32, &rust);
    let rounding = rel_diffs(&f32, &f64);
    eprintln!("five losses, unimlip vs PyTorch fp32: {}", show(&ours));
    eprintln!("five losses, PyTorch fp32 vs fp64:    {}", show(&rounding));
    assert!(ours[..3].iter().all(|&x| x <= 1e-4), "{}", show(&ours));
    let envelope = rounding.iter().copied().fold(1e-4, f64::max);
    assert!(
        ours.iter().all(|&x| x <= (4.0 * envelope).max(0.15)),
        "{} vs {}",
        show(&ours),
        show(&rounding)
    );
}
