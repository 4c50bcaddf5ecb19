use serde_json::Value;

use crate::train::metrics;
use crate::util::*;

/// The demo at its small size: every stage, the three tables with their chance, PMC-CLIP and
/// Uni-Mlip rows, the result files of both runs and the report; then each evaluation on its own
/// with `--json`.
#[test]
fn the_small_demo_runs_every_stage_and_each_eval_stands_alone() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("demo");
    let out = ok(&["demo", "--out", dir.to_str().unwrap(), "--size", "small"]);
    for stage in 1..=8 {
        assert!(out.contains(&format!("{stage}/8 ")), "{out}");
    }
    for header in [
        "| image→text R@1 |",
        "| macro AUC |",
        " open | closed | overall |",
    ] {
        assert!(out.contains(header), "{out}");
    }
    for row in [
        "| chance |",
        "| chance (majority) |",
        "| PMC-CLIP |",
        "| Uni-Mlip |",
    ] {
        assert!(out.contains(row), "{out}");
    }
    // Both continuations start from the pre-trained weights and run the same steps.
    let steps = |run: &str| metrics(&dir.join(run)).len();
    assert_eq!(steps("pmc-clip"), steps("uni-mlip"));
    let first = |run: &str| metrics(&dir.join(run))[0].clone();
    assert!(first("pmc-clip")["loss_i2i"].is_null() && first("uni-mlip")["loss_i2i"].is_number());
    assert!(dir.join("pmc-clip/eval").is_dir());
    let eval = dir.join("uni-mlip/eval");
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(eval.join(name)).unwrap()).unwrap()
    };
    let r = read("retrieval-roco-roco-2000-test.json");
    assert_eq!(r["task"], "retrieval");
    assert_eq!(r["pairs"], r["distinct_images"]);
    let n = r["pairs"].as_f64().unwrap();
    for dir in ["i2t", "t2i"] {
        let s = &r[dir];
        assert!(s["r1"].as_f64().unwrap() <= s["r5"].as_f64().unwrap());
        assert!(s["r5"].as_f64().unwrap() <= s["r10"].as_f64().unwrap());
        let mean = s["mean_rank"].as_f64().unwrap();
        assert!((1.0..=n).contains(&mean), "{s}");
    }
    let c = read("classify-chexpert-chexpert-demo-finetune.json");
    assert_eq!(c["mode"], "finetune");
    assert_eq!(
        (c["batch_size"].as_u64(), c["patience"].as_u64()),
        (Some(32), Some(4))
    );
    assert_eq!(c["label_names"].as_array().unwrap().len(), 14);
    assert!(c["protocol"].as_str().unwrap().contains("held out"), "{c}");
    let per_class = c["test"]["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 14);
    let skipped = c["test"]["skipped"].as_array().unwrap().len();
    let scored = per_class.iter().filter(|p| !p[1].is_null()).count();
    assert_eq!(scored + skipped, 14);
    for ds in ["vqa-rad", "slake"] {
        let v = read(&format!("vqa-{ds}.json"));
        assert_eq!(v["fusion_init"], "random");
        assert!(v["majority"]["overall"].as_f64().is_some(), "{v}");
        let a = &v["accuracy"];
        let (n, nc, no) = (
            a["counts"][0].as_u64().unwrap(),
            a["counts"][1].as_u64().unwrap(),
            a["counts"][2].as_u64().unwrap(),
        );
        assert_eq!(n, nc + no, "{v}");
        let overall = a["overall"].as_f64().unwrap();
        let mix = a["closed"].as_f64().unwrap_or(0.0) * nc as f64
            + a["open"].as_f64().unwrap_or(0.0) * no as f64;
        assert!((overall * n as f64 - mix).abs() < 1e-9, "{v}");
    }
    // The evaluations' numbers are TensorBoard scalars too, at the checkpoint's step.
    if let Some(tb) = crate::train::tb_scalars(&eval.join("tensorboard")) {
        let last = metrics(&dir.join("uni-mlip")).len() as i64;
        let want = read("vqa-slake.json")["accuracy"]["overall"]
            .as_f64()
            .unwrap();
        let got = crate::train::series(&tb, "eval/vqa-slake/accuracy/overall");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, last);
        assert!((got[0].1 - want).abs() < 1e-6, "{got:?} against {want}");
        assert!(
            tb.as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with("eval/retrieval-"))
        );
    }
    let page = std::fs::read_to_string(dir.join("report/index.html")).unwrap();
    assert!(
        page.contains("run0-losses.png")
            && page.contains("run1-losses.png")
            && page.contains("<table>"),
        "{page}"
    );
    assert!(dir.join("report/run0-losses.png").exists());
    // Both runs side by side, and six training views with their captions.
    assert!(page.contains("compare-loss_itc.png") && page.contains("compare-result0.png"));
    assert_eq!(page.matches("<figcaption>").count(), 6, "{page}");
    assert!(dir.join("report/samples/0000-weak.png").exists());

    // The same command again (--force, the same folder) prints the same tables and writes the
    // same result files, byte for byte.
    let results = result_files(&dir);
    assert!(results.len() >= 8, "{results:?}");
    let first: Vec<Vec<u8>> = results
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect();
    let vocab = std::fs::read(dir.join("vocab.txt")).unwrap();
    let out2 = ok(&[
        "demo",
        "--out",
        dir.to_str().unwrap(),
        "--size",
        "small",
        "--force",
    ]);
    assert!(tables_of(&out).contains("Table 2"), "{out}");
    assert_eq!(tables_of(&out2), tables_of(&out), "{out}\n{out2}");
    assert_eq!(results, result_files(&dir));
    for (name, before) in results.iter().zip(&first) {
        let after = std::fs::read(dir.join(name)).unwrap();
        assert!(
            &after == before,
            "{name} differs between two runs of the same demo"
        );
    }
    assert!(std::fs::read(dir.join("vocab.txt")).unwrap() == vocab);

    // A second demo in the same folder must be asked for.
    let again = run(&["demo", "--out", dir.to_str().unwrap(), "--size", "small"]);
    assert!(
        !again.ok && again.stderr.contains("--force"),
        "{}",
        again.stderr
    );

    // Each evaluation on its own, as JSON.
    let run_dir = dir.join("uni-mlip");
    let data = dir.join("data");
    let v = json(&ok(&[
        "eval",
        "retrieval",
        "--checkpoint",
        run_dir.to_str().unwrap(),
        "--data",
        data.join("roco").to_str().unwrap(),
        "--split",
        "test",
        "--json",
    ]));
    assert_eq!(v["split"], "test");
    assert!(v["pairs"].as_u64().unwrap() >= 20, "{v}");
    let bad = run(&[
        "eval",
        "retrieval",
        "--checkpoint",
        run_dir.to_str().unwrap(),
        "--data",
        data.join("roco").to_str().unwrap(),
        "--split",
        "nope",
    ]);
    assert!(!bad.ok);
    assert!(
        bad.stderr.contains("no split file splits/nope.parquet"),
        "{}",
        bad.stderr
    );
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{}", bad.stderr);
    // Fine-tuning on NIH ChestX-ray14 (official train_val / test lists) at a low-data split.
    let (_, nih, _) = synth_and_ingest("nih-cxr14", d.path(), 160, 3);
    ok(&[
        "splits",
        "--data",
        nih.to_str().unwrap(),
        "--recipe",
        "lowdata",
        "--fraction",
        "0.5",
        "--allow-patient-overlap",
    ]);
    let v = json(&ok(&[
        "eval",
        "classify",
        "--checkpoint",
        run_dir.to_str().unwrap(),
        "--data",
        nih.to_str().unwrap(),
        "--split",
        "lowdata-0.5",
        "--mode",
        "finetune",
        "--epochs",
        "2",
        "--json",
    ]));
    assert_eq!(v["mode"], "finetune");
    assert_eq!(v["dataset"], "nih-cxr14");
    assert!(v["best_epoch"].as_u64().unwrap() >= 1);
    assert!(v["counts"]["test"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["test"]["per_class"].as_array().unwrap().len(), 14);

    let missing = run(&[
        "eval",
        "vqa",
        "--checkpoint",
        d.path().join("nothing").to_str().unwrap(),
        "--data",
        data.join("slake").to_str().unwrap(),
    ]);
    assert!(
        !missing.ok && missing.stderr.trim().lines().count() == 1,
        "{}",
        missing.stderr
    );
}

/// The demo's printed tables: everything from Figure 2 to the report stage.
fn tables_of(out: &str) -> String {
    let start = out.find("Figure 2").unwrap_or(out.len());
    let end = out[start..].find("8/8").map_or(out.len(), |e| start + e);
    // The stage line's elapsed time comes before "8/8" on the same line.
    let end = out[..end].rfind('\n').unwrap_or(end);
    out[start..end].to_string()
}

/// Every evaluation result file of both runs (JSON and Markdown), relative to the demo folder.
fn result_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for run in ["pmc-clip", "uni-mlip"] {
        let eval = dir.join(run).join("eval");
        for e in std::fs::read_dir(&eval).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") || name.ends_with(".md") {
                out.push(format!("{run}/eval/{name}"));
            }
        }
    }
    out.sort();
    out
}
