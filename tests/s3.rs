use crate::util::*;

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for (rel, bytes) in tree(from) {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

#[test]
fn ingest_inspect_verify_on_loopback_s3_match_local_disk() {
    let Some(s3) = S3Server::start() else { return };
    let bucket = s3.bucket("unimlip-test");
    let d = tempfile::tempdir().unwrap();
    for ds in ["roco", "pmc-oa"] {
        let src = d.path().join(ds);
        let report = synth(ds, &src, 60, 21);
        let local = d.path().join(format!("{ds}-local"));
        ok(&ingest_args(
            ds,
            src.to_str().unwrap(),
            local.to_str().unwrap(),
        ));
        let url = format!("s3://unimlip-test/datasets/{ds}");
        // Every shard goes up as a multipart upload, as large shards do.
        s3.ok_env(
            &ingest_args(ds, src.to_str().unwrap(), &url),
            &[("UNIMLIP_MULTIPART_THRESHOLD_BYTES", "0")],
        );

        let v = json(&s3.ok(&["inspect", &url, "--json", "--verify"]));
        assert_eq!(v["verified"], true);
        assert_eq!(
            v["rows"].as_u64().unwrap() + v["quarantined"].as_u64().unwrap(),
            report["records"].as_u64().unwrap()
        );
        let on_disk = read_store(local.to_str().unwrap());
        let remote: unimlip_shards::Manifest = serde_json::from_slice(
            &std::fs::read(bucket.join(format!("datasets/{ds}/manifest.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            shard_hashes(&remote),
            shard_hashes(&on_disk.manifest),
            "{ds}: same shards on S3 and on disk"
        );
    }

    // The source itself may live in the bucket too.
    copy_tree(&d.path().join("roco"), &bucket.join("raw/roco"));
    let out = d.path().join("from-s3");
    s3.ok(&[
        "ingest",
        "--dataset",
        "roco",
        "--src",
        "s3://unimlip-test/raw/roco",
        "--out",
        out.to_str().unwrap(),
        "--shard-size",
        "96KiB",
        "--row-group-size",
        "32KiB",
    ]);
    let a = read_store(out.to_str().unwrap());
    let b = read_store(d.path().join("roco-local").to_str().unwrap());
    assert_eq!(shard_hashes(&a.manifest), shard_hashes(&b.manifest));

    // A wrong secret is one clear error that does not echo it.
    let r = run_env(
        &["inspect", "s3://unimlip-test/datasets/roco"],
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", "wrong-secret-xyz"),
            ("AWS_ENDPOINT_URL", &s3.endpoint),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    assert!(
        !r.ok && !r.stderr.contains("wrong-secret-xyz"),
        "{}",
        r.stderr
    );
}

#[test]
fn streaming_from_loopback_s3_gives_the_sequence_local_disk_gives() {
    let Some(s3) = S3Server::start() else { return };
    s3.bucket("unimlip-stream");
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("roco");
    synth("roco", &src, 80, 4);
    let local = d.path().join("local");
    let args = |out: &str| {
        // Small shards and row groups (the test defaults): many blocks, several shards.
        ingest_args("roco", src.to_str().unwrap(), out)
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let local_args = args(local.to_str().unwrap());
    ok(&local_args.iter().map(String::as_str).collect::<Vec<_>>());
    let url = "s3://unimlip-stream/roco";
    let s3_args = args(url);
    s3.ok(&s3_args.iter().map(String::as_str).collect::<Vec<_>>());
    let bench = |data: &str, cache: Option<&std::path::Path>| {
        let mut a = vec![
            "bench",
            "loader",
            "--data",
            data,
            "--pipeline",
            "unimlip",
            "--batch-size",
            "8",
            "--threads",
            "2",
            "--seed",
            "9",
            "--digest",
            "--json",
        ];
        let c;
        if let Some(p) = cache {
            c = p.display().to_string();
            a.extend(["--cache", &c]);
            return json(&s3.ok(&a));
        }
        json(&s3.ok(&a))
    };
    let a = bench(local.to_str().unwrap(), None);
    let b = bench(url, None);
    let c = bench(url, Some(&d.path().join("cache")));
    assert!(a["samples"].as_u64().unwrap() >= 64, "{a}");
    assert_eq!(a["samples"], b["samples"]);
    assert_eq!(
        a["sequence_sha256"], b["sequence_sha256"],
        "S3 and local disk differ"
    );
    assert_eq!(
        a["sequence_sha256"], c["sequence_sha256"],
        "the cache changes nothing"
    );
    assert!(b["stages"]["shards_verified"].as_u64().unwrap() > 1);
    assert!(c["stages"]["cache_misses"].as_u64().unwrap() > 1);
}

#[test]
fn training_streams_from_and_checkpoints_to_loopback_s3_and_resumes_exactly() {
    let Some(s3) = S3Server::start() else { return };
    let bucket = s3.bucket("unimlip-train");
    let d = tempfile::tempdir().unwrap();
    let (ds, vocab) = crate::train::roco_with_vocab(d.path(), 120);
    copy_tree(&ds, &bucket.join("roco"));
    let optim =
        "[optim]\nlr = 1e-3\nwarmup = 2\nmax_steps = 4\n\n[checkpoint]\nevery = 2\nkeep = 2\n";
    let local = d.path().join("local");
    let cfg = crate::train::config(
        d.path(),
        ds.to_str().unwrap(),
        &vocab,
        local.to_str().unwrap(),
        optim,
    );
    ok(&["train", "--config", cfg.to_str().unwrap(), "--json"]);

    let remote = crate::train::config(
        d.path(),
        "s3://unimlip-train/roco",
        &vocab,
        "s3://unimlip-train/runs/a",
        optim,
    );
    let r = remote.to_str().unwrap();
    s3.ok(&["train", "--config", r, "--json", "--stop-after", "1"]);
    let v = json(&s3.ok(&["train", "--config", r, "--json", "--resume"]));
    assert_eq!(v["step"], 4);
    assert_eq!(v["out"], "s3://unimlip-train/runs/a");
    let run = bucket.join("runs/a");
    assert_eq!(
        crate::train::latest_weights(&local),
        crate::train::latest_weights(&run),
        "the run through S3 (stopped and resumed) differs from the local one"
    );
    assert_eq!(crate::train::metrics(&run).len(), 4);
    // Two checkpoints kept (s3s-fs leaves a deleted prefix's folder behind, empty).
    let steps: Vec<_> = tree(&run.join("checkpoints"))
        .into_keys()
        .filter_map(|k| k.split('/').next().map(str::to_string))
        .filter(|n| n.starts_with("step-"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(steps, ["step-00000002", "step-00000004"]);
}
