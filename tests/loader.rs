use crate::util::*;

fn bench(data: &str, extra: &[&str]) -> serde_json::Value {
    let mut a = vec![
        "bench",
        "loader",
        "--data",
        data,
        "--json",
        "--batch-size",
        "16",
    ];
    a.extend_from_slice(extra);
    json(&ok(&a))
}

#[test]
fn bench_loader_streams_an_epoch_the_same_way_with_any_thread_count() {
    let d = tempfile::tempdir().unwrap();
    let (_, out, _) = synth_and_ingest("pmc-oa", d.path(), 120, 8);
    let data = out.to_str().unwrap();
    let one = bench(
        data,
        &["--pipeline", "unimlip", "--threads", "1", "--digest"],
    );
    let two = bench(
        data,
        &["--pipeline", "unimlip", "--threads", "2", "--digest"],
    );
    let rows = one["epoch_samples"].as_u64().unwrap();
    assert_eq!(one["samples"].as_u64().unwrap(), rows / 16 * 16);
    assert_eq!(one["sequence_sha256"], two["sequence_sha256"]);
    assert!(one["samples_per_s"].as_f64().unwrap() > 0.0);
    let stages = &one["stages"];
    for key in [
        "bytes_fetched",
        "decode_ms_per_sample",
        "augment_ms_per_sample",
        "consumer_wait_s",
        "mean_job_queue",
    ] {
        assert!(stages.get(key).is_some(), "{key} missing from {stages}");
    }
    // Another seed is another sequence; the cursor says where the stream ended.
    let other = bench(data, &["--pipeline", "unimlip", "--seed", "1", "--digest"]);
    assert_ne!(one["sequence_sha256"], other["sequence_sha256"]);
    assert_eq!(one["cursor"]["position"].as_u64().unwrap(), rows / 16 * 16);
    // The human summary names every stage.
    let text = ok(&["bench", "loader", "--data", data, "--batch-size", "16"]);
    for word in ["samples/s", "fetch", "verify", "decode", "queues"] {
        assert!(text.contains(word), "{text}");
    }
}

#[test]
fn inspect_sample_writes_every_view_as_png() {
    let d = tempfile::tempdir().unwrap();
    let (_, out, _) = synth_and_ingest("roco", d.path(), 40, 2);
    let look = d.path().join("look");
    let text = ok(&[
        "inspect",
        out.to_str().unwrap(),
        "--sample",
        "4",
        "--out",
        look.to_str().unwrap(),
        "--pipeline",
        "unimlip",
    ]);
    assert!(text.contains("4 samples"), "{text}");
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(look.join("samples.json")).unwrap()).unwrap();
    assert_eq!(listed.len(), 4);
    for s in &listed {
        assert!(s["id"].as_str().unwrap().starts_with("ROCO_"));
        for f in s["files"].as_array().unwrap() {
            let bytes = std::fs::read(look.join(f.as_str().unwrap())).unwrap();
            let dec = png::Decoder::new(std::io::Cursor::new(bytes));
            let info = dec.read_info().unwrap();
            assert_eq!((info.info().width, info.info().height), (224, 224));
        }
    }
    let files = std::fs::read_dir(&look).unwrap().count();
    assert_eq!(files, 4 * 3 + 1);
}

#[test]
fn bad_loader_arguments_are_one_line() {
    let d = tempfile::tempdir().unwrap();
    let (_, out, _) = synth_and_ingest("roco", d.path(), 20, 3);
    let data = out.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["bench", "loader", "--data", data, "--pipeline", "fancy"],
            "--pipeline fancy",
        ),
        (
            vec!["bench", "loader", "--data", data, "--threads", "0"],
            "--threads",
        ),
        (
            vec!["bench", "loader", "--data", "/nonexistent/ds"],
            "/nonexistent/ds",
        ),
        (
            vec!["bench", "loader", "--data", data, "--split-file", "nope"],
            "NAME:PART",
        ),
        (
            vec![
                "bench",
                "loader",
                "--data",
                data,
                "--split-file",
                "nope:train",
            ],
            "splits/nope.parquet",
        ),
        (
            vec!["bench", "loader", "--data", data, "--batch-size", "100000"],
            "no full batch",
        ),
    ] {
        let r = run(&args);
        assert!(!r.ok, "{args:?} succeeded");
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", r.stderr);
        assert!(lines[0].contains(needle), "{args:?}: {}", lines[0]);
    }
}

fn image_count(dir: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += image_count(&p);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("jpg" | "jpeg" | "png")
        ) {
            n += 1;
        }
    }
    n
}

#[test]
fn bench_decode_counts_every_image_and_each_rejection() {
    let d = tempfile::tempdir().unwrap();
    synth("pmc-oa", d.path(), 30, 3);
    let nested = d.path().join("extra/deeper");
    std::fs::create_dir_all(&nested).unwrap();
    let some_jpeg = std::fs::read_dir(
        d.path()
            .join("caption_T060_filtered_top4_sep_v0_subfigures"),
    )
    .unwrap()
    .map(|e| e.unwrap().path())
    .find(|p| {
        p.extension().is_some_and(|e| e == "jpg") && std::fs::metadata(p).unwrap().len() > 2000
    })
    .expect("a synthesised JPEG");
    let cut = std::fs::read(some_jpeg).unwrap()[..1500].to_vec();
    std::fs::write(nested.join("cut.jpg"), cut).unwrap();
    std::fs::write(nested.join("note.png"), b"not a picture").unwrap();
    let total = image_count(d.path());
    let dir = d.path().to_str().unwrap();
    let r = json(&ok(&["bench", "decode", dir, "--json", "--workers", "2"]));
    assert_eq!(r["images"].as_u64().unwrap(), total);
    let rejected = r["rejected"].as_object().unwrap();
    let bad: u64 = rejected.values().map(|v| v.as_u64().unwrap()).sum();
    let good = r["kept_original"].as_u64().unwrap() + r["reencoded"].as_u64().unwrap();
    assert_eq!(good + bad, total, "{r}");
    assert!(rejected["unsupported-format"].as_u64().unwrap() >= 1, "{r}");
    assert!(rejected["corrupt-image"].as_u64().unwrap() >= 1, "{r}");
    // Validation alone rejects the same files; the policy is the only difference.
    let v = json(&ok(&["bench", "decode", dir, "--json", "--resize", "none"]));
    assert_eq!(v["rejected"], r["rejected"]);
    assert_eq!(v["resize"], "none");
    // A bad policy is one line and a non-zero exit.
    let e = run(&["bench", "decode", dir, "--resize", "wide=3"]);
    assert!(
        !e.ok && e.stderr.trim().lines().count() == 1,
        "{}",
        e.stderr
    );
    assert!(e.stderr.contains("--resize"), "{}", e.stderr);
}
