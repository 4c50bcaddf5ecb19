use std::path::Path;

use tch::Tensor;

use crate::train::{config, latest_weights, reference, roco_with_vocab, torch_python};
use crate::util::*;

/// `python/hf_bert.py make DIR ARGS…`: a random Hugging Face BERT folder with inputs and its
/// `[CLS]` features.
fn hf_folder(py: &str, dir: &Path, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/hf_bert.py");
    let made = std::process::Command::new(py)
        .arg(script)
        .arg("make")
        .arg(dir)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

fn compare(py: &str, expected: &Path, got: &Path) -> String {
    let cmp = reference(
        py,
        &["compare", expected.to_str().unwrap(), got.to_str().unwrap()],
    );
    let report = String::from_utf8_lossy(&cmp.stdout).into_owned();
    assert!(
        cmp.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&cmp.stderr)
    );
    report
}

fn read(path: &Path) -> Vec<(String, Tensor)> {
    let mut t = Tensor::read_safetensors(path).unwrap();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn forward(config: &str, weights: &Path, inputs: &Path, out: &Path) {
    ok(&[
        "model",
        "forward",
        "--config",
        config,
        "--weights",
        weights.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
}

#[test]
fn a_hugging_face_bert_converts_and_starts_the_text_tower() {
    let Some(py) = torch_python() else { return };
    let d = tempfile::tempdir().unwrap();
    let hf = d.path().join("hf");
    hf_folder(&py, &hf, &[]);
    let conv = d.path().join("bert.safetensors");
    let env = [("UNIMLIP_TORCH_PYTHON", py.as_str())];
    let args = |dir: &Path, out: &Path| {
        vec![
            "convert".to_string(),
            "hf-bert".into(),
            dir.display().to_string(),
            out.display().to_string(),
            "--model".into(),
            "tiny".into(),
        ]
    };
    let a = args(&hf, &conv);
    let r = run_env(&a.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stdout.contains("39 tensors of a 2-layer, 64-wide BERT"),
        "{}",
        r.stdout
    );
    let toml = d.path().join("bert.model.toml");
    let vocab = d.path().join("bert.vocab.txt");
    assert_eq!(
        std::fs::read(&vocab).unwrap(),
        std::fs::read(hf.join("vocab.txt")).unwrap()
    );

    // A run starts its text tower from the folder itself; one step at a negligible rate keeps it.
    let (ds, _) = roco_with_vocab(d.path(), 64);
    let run_dir = d.path().join("run");
    let cfg = config(
        d.path(),
        ds.to_str().unwrap(),
        &vocab,
        run_dir.to_str().unwrap(),
        "[optim]\nlr = 1e-12\nwarmup = 0\nmax_steps = 1\n",
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "model = \"tiny\"",
        &format!(
            "model = \"{}\"\ninit_text = \"{}\"",
            toml.display(),
            hf.display()
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    ok(&["train", "--config", cfg.to_str().unwrap()]);
    let trained = d.path().join("trained.safetensors");
    std::fs::write(&trained, latest_weights(&run_dir)).unwrap();

    // The tower's [CLS] state equals Hugging Face's forward.
    let got = d.path().join("got.safetensors");
    forward(
        toml.to_str().unwrap(),
        &trained,
        &hf.join("inputs.safetensors"),
        &got,
    );
    let report = compare(&py, &hf.join("expected.safetensors"), &got);
    assert!(report.contains("text_cls"), "{report}");

    // Every converted tensor is in the run's start, and the converted file equals the folder.
    let start = read(&trained);
    for (name, t) in read(&conv) {
        let (_, w) = start.iter().find(|(n, _)| *n == name).unwrap();
        let diff = (w - &t).abs().max().double_value(&[]);
        assert!(diff < 1e-9, "{name}: {diff}");
    }

    // pytorch_model.bin of a BertForMaskedLM (`bert.` names, an MLM head, no pooler) converts
    // through torch to the same names, and the result equals that model's tensors.
    let mlm = d.path().join("mlm");
    hf_folder(
        &py,
        &mlm,
        &["--format", "bin", "--head", "mlm", "--seed", "4"],
    );
    let conv2 = d.path().join("mlm.safetensors");
    let a = args(&mlm, &conv2);
    let r = run_env(&a.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("37 tensors"), "{}", r.stdout);
    let names: Vec<String> = read(&conv2).into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().all(|n| n.starts_with("text_encoder.")));
    assert!(!names.iter().any(|n| n.contains("pooler")));
    // A run cannot read the pickle itself and says what to do.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&hf.display().to_string(), &mlm.display().to_string())
        .replace(
            run_dir.to_str().unwrap(),
            d.path().join("run2").to_str().unwrap(),
        );
    std::fs::write(&cfg, text).unwrap();
    let r = run(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(
        !r.ok && r.stderr.contains("convert hf-bert"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("error").count(), 1, "{}", r.stderr);

    // A folder of another shape is refused with the tensor named; not a folder, one line.
    let cfg_json = mlm.join("config.json");
    let c = std::fs::read_to_string(&cfg_json)
        .unwrap()
        .replace("\"intermediate_size\": 128", "\"intermediate_size\": 96");
    std::fs::write(&cfg_json, c).unwrap();
    let a = args(&mlm, &d.path().join("x.safetensors"));
    let r = run_env(&a.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    assert!(
        !r.ok && r.stderr.contains("intermediate.dense"),
        "{}",
        r.stderr
    );
    let a = args(&d.path().join("nowhere"), &d.path().join("x.safetensors"));
    let r = run_env(&a.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    assert!(!r.ok && r.stderr.contains("no such folder"), "{}", r.stderr);
    assert!(!d.path().join("x.safetensors").exists());
}

#[test]
fn exported_weights_load_in_pmc_clips_layout_and_reproduce_the_features() {
    let Some(py) = torch_python() else { return };
    let d = tempfile::tempdir().unwrap();
    let made = reference(&py, &["make", d.path().to_str().unwrap()]);
    assert!(made.status.success());
    let file = |n: &str| d.path().join(n);
    let env = [("UNIMLIP_TORCH_PYTHON", py.as_str())];
    let weights = file("weights.safetensors");
    let export = |kind: &str, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "export",
            kind,
            weights.to_str().unwrap(),
            out.to_str().unwrap(),
            "--config",
            "tiny",
        ];
        args.extend(extra);
        run_env(&args, &env)
    };
    let pt = file("export.pt");
    let r = export("pmc-clip", &pt, &[]);
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("module."), "{}", r.stdout);

    // PMC-CLIP's loader takes it (strict, with its optimiser), and its features are ours.
    forward(
        "tiny",
        &file("weights.safetensors"),
        &file("inputs.safetensors"),
        &file("ours.safetensors"),
    );
    let theirs = file("theirs.safetensors");
    let load = reference(
        &py,
        &[
            "load-pmc",
            pt.to_str().unwrap(),
            file("inputs.safetensors").to_str().unwrap(),
            theirs.to_str().unwrap(),
        ],
    );
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    let report = compare(&py, &theirs, &file("ours.safetensors"));
    for name in ["image_features", "text_features", "fusion_out", "loss_mlm"] {
        assert!(report.contains(name), "{report}");
    }
    assert!(!report.contains("loss_i2i"), "{report}");

    // With the SimCLR head kept, the SimCLR loss too.
    let r = export("pmc-clip", &file("ssl.pt"), &["--ssl-head"]);
    assert!(r.ok, "{}", r.stderr);
    let load = reference(
        &py,
        &[
            "load-pmc",
            file("ssl.pt").to_str().unwrap(),
            file("inputs.safetensors").to_str().unwrap(),
            theirs.to_str().unwrap(),
        ],
    );
    assert!(load.status.success());
    assert!(compare(&py, &theirs, &file("ours.safetensors")).contains("loss_i2i"));

    // safetensors: the same tensors under the same names; a file of another model is refused.
    let st = file("export.safetensors");
    let r = export("safetensors", &st, &[]);
    assert!(r.ok, "{}", r.stderr);
    let (a, b) = (read(&st), read(&file("weights.safetensors")));
    assert_eq!(a.len(), b.len());
    for ((n, x), (m, y)) in a.iter().zip(&b) {
        assert_eq!(n, m);
        assert!(x.equal(y), "{n}");
    }
    let r = run_env(
        &[
            "export",
            "safetensors",
            file("weights.safetensors").to_str().unwrap(),
            file("x.safetensors").to_str().unwrap(),
        ],
        &env,
    );
    assert!(
        !r.ok && r.stderr.contains("rn50-pubmedbert"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(!file("x.safetensors").exists());
}

#[test]
fn a_run_folder_exports_its_newest_checkpoint() {
    let Some(py) = torch_python() else { return };
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = roco_with_vocab(d.path(), 64);
    let run = d.path().join("run");
    let cfg = config(
        d.path(),
        ds.to_str().unwrap(),
        &vocab,
        run.to_str().unwrap(),
        "[optim]\nmax_steps = 2\n",
    );
    ok(&["train", "--config", cfg.to_str().unwrap()]);
    let out = d.path().join("w.safetensors");
    let env = [("UNIMLIP_TORCH_PYTHON", py.as_str())];
    let r = run_env(
        &[
            "export",
            "safetensors",
            run.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
        &env,
    );
    assert!(r.ok, "{}", r.stderr);
    let newest = d.path().join("newest.safetensors");
    std::fs::write(&newest, latest_weights(&run)).unwrap();
    let (a, b) = (read(&out), read(&newest));
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter()
            .zip(&b)
            .all(|((n, x), (m, y))| n == m && x.equal(y))
    );
    let r = run_env(
        &[
            "export",
            "pmc-clip",
            run.to_str().unwrap(),
            d.path().join("run.pt").to_str().unwrap(),
        ],
        &env,
    );
    assert!(r.ok && r.stdout.contains("epoch"), "{}", r.stderr);
}
