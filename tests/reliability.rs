use std::path::Path;

use crate::util::*;

/// A copy of `src` with a UTF-8 byte-order mark put before every metadata file the manifest
/// lists (text, CSV and JSON; gzip files are left alone).
fn with_boms(src: &Path, files: &[String], out: &Path) {
    for (rel, bytes) in tree(src) {
        let p = out.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut b = bytes;
        if files.contains(&rel) && !rel.ends_with(".gz") {
            b.splice(0..0, [0xEF, 0xBB, 0xBF]);
        }
        std::fs::write(p, b).unwrap();
    }
}

#[test]
fn a_byte_order_mark_changes_nothing_in_any_dataset() {
    for ds in [
        "roco",
        "pmc-oa",
        "mimic-cxr",
        "chexpert",
        "nih-cxr14",
        "vqa-rad",
        "slake",
    ] {
        let d = tempfile::tempdir().unwrap();
        let (src, out, _) = synth_and_ingest(ds, d.path(), 40, 7);
        let plain = read_store(out.to_str().unwrap());
        let files = plain.manifest.source.files.clone();
        assert!(!files.is_empty(), "{ds}");
        let bom_src = d.path().join("bom-src");
        with_boms(&src, &files, &bom_src);
        let bom_out = d.path().join("bom-out");
        ok(&ingest_args(
            ds,
            bom_src.to_str().unwrap(),
            bom_out.to_str().unwrap(),
        ));
        let bom = read_store(bom_out.to_str().unwrap());
        assert_eq!(bom.manifest.splits, plain.manifest.splits, "{ds}");
        assert_eq!(bom.quarantine, plain.quarantine, "{ds}");
        assert_eq!(bom.records.len(), plain.records.len(), "{ds}");
        for (a, b) in bom.records.iter().zip(&plain.records) {
            // Debug text compares NaN labels as equal; fields first for a readable failure.
            assert_eq!(
                (&a.id, &a.caption, &a.extra, &a.license),
                (&b.id, &b.caption, &b.extra, &b.license),
                "{ds}"
            );
            assert!(
                format!("{a:?}") == format!("{b:?}"),
                "{ds}: {} differs",
                b.id
            );
        }
    }
}

/// The cached shard files of a cache folder, sorted.
fn cached(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    v
}

/// Changes 20 bytes of a file at `at` (a fraction of its length) without changing its size.
fn tamper(path: &Path, at: f64) {
    let mut b = std::fs::read(path).unwrap();
    let i = ((b.len() as f64 * at) as usize).min(b.len() - 20);
    for x in &mut b[i..i + 20] {
        *x = x.wrapping_add(7);
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_tampered_cache_is_never_served() {
    let d = tempfile::tempdir().unwrap();
    let (_, ds, _) = synth_and_ingest("roco", d.path(), 120, 3);
    let cache = d.path().join("cache");
    let bench = |data: &str| {
        json(&ok(&[
            "bench",
            "loader",
            "--data",
            data,
            "--batch-size",
            "8",
            "--digest",
            "--json",
            "--cache",
            cache.to_str().unwrap(),
        ]))
    };
    let data = ds.to_str().unwrap();
    let first = bench(data);
    let files = cached(&cache);
    assert!(files.len() >= 3, "{files:?}");
    let pristine: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    // One file damaged inside a row group (image bytes), one in its footer (the id statistics).
    tamper(&files[0], 0.5);
    tamper(&files[1], 0.97);
    let second = bench(data);
    assert_eq!(second["sequence_sha256"], first["sequence_sha256"]);
    let stages = &second["stages"];
    assert_eq!(stages["cache_corrupt"], 2, "{stages}");
    assert_eq!(
        stages["cache_hits"].as_u64(),
        Some(files.len() as u64),
        "{stages}"
    );
    for (f, want) in files.iter().zip(&pristine) {
        assert_eq!(
            &std::fs::read(f).unwrap(),
            want,
            "{} not repaired",
            f.display()
        );
    }

    // A manifest from before row-group hashes (its sha256 is the whole file's, which also
    // names the cached copy): a cached copy is hashed whole before use.
    let m = ds.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    let mut files = files;
    for s in v["shards"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        s.remove("row_group_sha256");
        s.remove("footer_sha256");
        assert_eq!(s.remove("sha256_of").unwrap(), "segments");
        let shard = std::fs::read(ds.join(s["path"].as_str().unwrap())).unwrap();
        let whole = unimlip_shards::sha256_hex(&shard);
        let cached = cache.join(format!("{}.parquet", s["sha256"].as_str().unwrap()));
        let renamed = cache.join(format!("{whole}.parquet"));
        std::fs::rename(&cached, &renamed).unwrap();
        let i = files.iter().position(|f| *f == cached).unwrap();
        files[i] = renamed;
        s.insert("sha256".into(), whole.into());
    }
    std::fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let pristine: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    tamper(&files[2], 0.5);
    let third = bench(data);
    assert_eq!(third["sequence_sha256"], first["sequence_sha256"]);
    assert_eq!(third["stages"]["cache_corrupt"], 1, "{}", third["stages"]);
    assert_eq!(std::fs::read(&files[2]).unwrap(), pristine[2]);
}

/// Waits for a child up to `limit`; kills it and fails the test when it runs longer.
fn wait_for(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> (std::process::ExitStatus, String) {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status, err);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_stalled_store_fails_the_loader_and_ingest_within_the_io_budget() {
    let Some(s3) = S3Server::start() else { return };
    s3.bucket("stall");
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    synth("roco", &src, 150, 4);
    s3.ok(&ingest_args(
        "roco",
        src.to_str().unwrap(),
        "s3://stall/roco",
    ));
    let spawn = |args: &[&str]| {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in s3.env() {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    };
    let stream = spawn(&[
        "bench",
        "loader",
        "--data",
        "s3://stall/roco",
        "--samples",
        "100000000",
        "--batch-size",
        "8",
        "--io-timeout",
        "3",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    s3.signal("-STOP");
    let t0 = std::time::Instant::now();
    let (status, err) = wait_for(stream, std::time::Duration::from_secs(60));
    let took = t0.elapsed().as_secs_f64();
    assert!(!status.success(), "{err}");
    assert!(took < 20.0, "the loader took {took:.1} s to give up: {err}");
    assert!(err.contains("I/O budget of 3 s"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // An ingest into the stalled store gives up within its budget too.
    let t0 = std::time::Instant::now();
    let ingest = spawn(&[
        "ingest",
        "--dataset",
        "roco",
        "--src",
        src.to_str().unwrap(),
        "--out",
        "s3://stall/other",
        "--io-timeout",
        "2",
    ]);
    let (status, err) = wait_for(ingest, std::time::Duration::from_secs(60));
    assert!(
        !status.success() && err.contains("I/O budget of 2 s"),
        "{err}"
    );
    assert!(t0.elapsed().as_secs_f64() < 15.0, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Continued, the store serves again.
    s3.signal("-CONT");
    let out = s3.ok(&[
        "bench",
        "loader",
        "--data",
        "s3://stall/roco",
        "--batch-size",
        "8",
        "--json",
    ]);
    assert!(json(&out)["samples"].as_u64().unwrap() > 0);
}

#[test]
fn a_malformed_endpoint_is_one_line_not_a_panic() {
    for ep in ["not-a-url", "http://", "ftp://host:1"] {
        for args in [
            vec!["inspect", "s3://bkt/x"],
            vec![
                "ingest",
                "--dataset",
                "roco",
                "--src",
                "/nonexistent-src",
                "--out",
                "s3://bkt/x",
            ],
            vec!["bench", "loader", "--data", "s3://bkt/x"],
        ] {
            let r = run_env(&args, &[("AWS_ENDPOINT_URL", ep)]);
            assert_eq!(r.code, Some(1), "{args:?} with {ep}: {}", r.stderr);
            assert!(r.stderr.contains("AWS_ENDPOINT_URL"), "{}", r.stderr);
            assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
        }
    }
}

#[test]
fn a_damaged_dataset_is_listed_whole_and_repaired_by_re_running_the_ingest() {
    let d = tempfile::tempdir().unwrap();
    let (src, out, _) = synth_and_ingest("roco", d.path(), 120, 6);
    let pristine = tree(&out);
    let m = read_store(out.to_str().unwrap()).manifest;
    let train: Vec<_> = m
        .shards
        .iter()
        .filter(|s| s.split == "train")
        .cloned()
        .collect();
    assert!(train.len() >= 5, "{}", train.len());
    let test_shard = m.shards.iter().find(|s| s.split == "test").unwrap();
    let (cut, gone, flipped) = (&train[1].path, &train[3].path, &test_shard.path);
    let file = |p: &str| out.join(p);
    let bytes = std::fs::read(file(cut)).unwrap();
    std::fs::write(file(cut), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(file(gone)).unwrap();
    tamper(&file(flipped), 0.4);

    // inspect --verify names all three, not the first.
    let r = run(&["inspect", out.to_str().unwrap(), "--verify"]);
    assert!(!r.ok);
    for p in [cut, gone, flipped] {
        assert!(r.stdout.contains(&format!("DAMAGED {p}")), "{}", r.stdout);
        assert!(r.stderr.contains(p.as_str()), "{}", r.stderr);
    }
    assert!(r.stderr.contains("3 damaged"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    let v = json(&run(&["inspect", out.to_str().unwrap(), "--verify", "--json"]).stdout);
    assert_eq!(v["verified"], false);
    assert_eq!(v["damaged"].as_array().unwrap().len(), 3, "{v}");

    // The same ingest again repairs it, byte for byte as the first commit (bar its time).
    let again = json(&ok(&ingest_args(
        "roco",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    )));
    assert_eq!(again["already_complete"], false);
    let mut fixed: Vec<String> = serde_json::from_value(again["repaired"].clone()).unwrap();
    fixed.sort();
    let mut want = vec![cut.clone(), gone.clone(), flipped.clone()];
    want.sort();
    assert_eq!(fixed, want);
    let now = tree(&out);
    for (p, b) in &pristine {
        if p != "manifest.json" {
            assert_eq!(now.get(p), Some(b), "{p}");
        }
    }
    assert_eq!(now.len(), pristine.len());
    let a = read_store(out.to_str().unwrap()).manifest;
    assert_eq!(
        (&a.shards, &a.splits, a.inputs),
        (&m.shards, &m.splits, m.inputs)
    );
    let v = json(&ok(&[
        "inspect",
        out.to_str().unwrap(),
        "--verify",
        "--json",
    ]));
    assert_eq!(v["verified"], true);
    // An intact commit is verified and kept.
    let again = json(&ok(&ingest_args(
        "roco",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    )));
    assert_eq!(again["already_complete"], true);
    // --overwrite does not keep a damaged shard either.
    tamper(&file(&train[0].path), 0.5);
    let r = json(&ok(&[
        ingest_args("roco", src.to_str().unwrap(), out.to_str().unwrap()),
        vec!["--overwrite"],
    ]
    .concat()));
    assert_eq!(r["repaired"][0], train[0].path.as_str());
    assert_eq!(
        std::fs::read(file(&train[0].path)).unwrap(),
        pristine[&train[0].path]
    );
}

#[test]
fn nonsense_options_are_refused_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    synth("roco", &src, 20, 1);
    let out = d.path().join("out");
    let base = |extra: &[&str]| {
        let mut a = vec![
            "ingest",
            "--dataset",
            "roco",
            "--src",
            src.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    for (extra, word) in [
        (&["--workers", "100000"][..], "at most"),
        (
            &["--shard-size", "64KiB", "--row-group-size", "1MiB"][..],
            "at least one row group",
        ),
    ] {
        let r = base(extra);
        assert!(!r.ok && r.stderr.contains(word), "{extra:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    }
    assert!(!out.join("manifest.json").exists());
}

/// A PNG whose header claims `w`×`h` RGBA at 16 bits (its CRC fixed), with one pixel of data.
fn claimed_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 1, 1);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Sixteen);
        enc.write_header()
            .unwrap()
            .write_image_data(&[0; 8])
            .unwrap();
    }
    out[16..20].copy_from_slice(&w.to_be_bytes());
    out[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for b in bytes {
        c ^= *b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn an_image_over_the_memory_budget_is_quarantined_not_decoded() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let report = synth("roco", &src, 30, 2);
    let files = tree(&src);
    let victim = files
        .keys()
        .find(|p| p.ends_with(".jpg") && p.contains("/train/radiology/"))
        .unwrap()
        .clone();
    let png = claimed_png(9999, 9999);
    std::fs::write(src.join(&victim), &png).unwrap();
    let out = d.path().join("out");
    let v = json(&ok(&[
        "ingest",
        "--dataset",
        "roco",
        "--src",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    let stored = read_store(out.to_str().unwrap());
    let q = stored
        .quarantine
        .iter()
        .find(|q| q.source == victim)
        .unwrap_or_else(|| panic!("{victim} not quarantined"));
    assert_eq!(q.reason, "too-large");
    assert!(q.detail.contains("--image-memory"), "{}", q.detail);
    // Counts still add up: every input is a row or a quarantine entry.
    let inputs = v["manifest"]["inputs"].as_u64().unwrap();
    assert_eq!(
        inputs,
        stored.records.len() as u64 + stored.quarantine.len() as u64
    );
    let expected: u64 = expected_rows(&report).values().sum::<u64>()
        + expected_quarantine(&report).values().sum::<u64>();
    assert_eq!(inputs, expected);
    // A larger budget lets it through to the decoder, which finds the pixels missing.
    let r = run(&[
        "bench",
        "decode",
        src.to_str().unwrap(),
        "--image-memory",
        "4GiB",
        "--json",
    ]);
    assert!(r.ok, "{}", r.stderr);
    assert!(!r.stdout.contains("too-large"), "{}", r.stdout);
}

#[test]
fn manifests_and_run_configs_no_run_can_use_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let (_, out, _) = synth_and_ingest("roco", d.path(), 40, 1);
    let m = out.join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replace("\"schema_version\": 1", "\"schema_version\": 99"),
    )
    .unwrap();
    let r = run(&["inspect", out.to_str().unwrap()]);
    assert!(
        !r.ok && r.stderr.contains("schema version 99"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    std::fs::write(&m, text).unwrap();

    let t = tempfile::tempdir().unwrap();
    let (ds, vocab) = crate::train::roco_with_vocab(t.path(), 40);
    let data = ds.to_str().unwrap();
    let run_dir = d.path().join("run");
    for (extra, word) in [
        ("[optim]\nwarmup = -2\n", "warmup"),
        ("[optim]\nepochs = 0\n", "epochs"),
        ("[optim]\nmax_steps = 0\n", "max_steps"),
    ] {
        let cfg = crate::train::config(d.path(), data, &vocab, run_dir.to_str().unwrap(), extra);
        let r = run(&["train", "--config", cfg.to_str().unwrap()]);
        assert!(!r.ok && r.stderr.contains(word), "{extra}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    }
    let cfg = crate::train::config(
        d.path(),
        data,
        &vocab,
        run_dir.to_str().unwrap(),
        "[optim]\nmax_steps = 1\n",
    );
    let r = run(&["train", "--config", cfg.to_str().unwrap(), "--resume"]);
    assert!(
        !r.ok && r.stderr.contains("no checkpoint yet"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains('\u{1b}'),
        "colour codes in a log file: {}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("error").count(), 1, "{}", r.stderr);
}

#[test]
fn missing_credentials_name_the_variables_to_set() {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["inspect", "s3://some-bucket/x", "--io-timeout", "3"]);
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ] {
        cmd.env_remove(k);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("AWS_ACCESS_KEY_ID") && err.contains("AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    assert!(!err.contains("169.254"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// What `strace -f -y` saw: fsyncs (by path) and renames (from, to), in order.
#[derive(Debug, PartialEq)]
enum Sys {
    Fsync(String),
    Rename(String, String),
}

fn parse_strace(log: &str) -> Vec<Sys> {
    let quoted = |l: &str| -> Vec<String> {
        l.split('"')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s.to_string())
            .collect()
    };
    let mut out = Vec::new();
    for l in log.lines() {
        if let Some(at) = l.find("fsync(").or_else(|| l.find("fdatasync(")) {
            let rest = &l[at..];
            if let (Some(a), Some(b)) = (rest.find('<'), rest.find('>')) {
                out.push(Sys::Fsync(rest[a + 1..b].to_string()));
            }
        } else if l.contains("rename") && !l.contains("resumed>") {
            let q = quoted(l);
            if q.len() >= 2 {
                out.push(Sys::Rename(q[0].clone(), q[1].clone()));
            }
        }
    }
    out
}

/// Every rename into a file whose name ends with one of `names` was preceded by an fsync of
/// the file renamed and followed by an fsync of the folder it landed in; returns how many.
fn check_durable(events: &[Sys], names: &[&str]) -> usize {
    let mut seen = 0;
    for (i, e) in events.iter().enumerate() {
        let Sys::Rename(from, to) = e else { continue };
        if !names.iter().any(|n| to.ends_with(n)) {
            continue;
        }
        seen += 1;
        let synced = |p: &str, r: &[Sys]| r.iter().any(|e| matches!(e, Sys::Fsync(f) if f == p));
        assert!(
            synced(from, &events[..i]),
            "{to}: renamed from {from} without an fsync of it first"
        );
        let dir = Path::new(to)
            .parent()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            synced(&dir, &events[i + 1..]),
            "{to}: its folder {dir} not synced after the rename"
        );
    }
    seen
}

fn strace(args: &[&str], log: &Path) -> Option<bool> {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        require_tool("strace");
        return None;
    }
    let status = std::process::Command::new("strace")
        .args([
            "-f",
            "-y",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
            "-o",
        ])
        .arg(log)
        .arg(bin())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    Some(status.success())
}

#[test]
fn local_commits_sync_the_file_then_rename_then_sync_the_folder() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    synth("roco", &src, 40, 2);
    let out = d.path().join("out");
    let log = d.path().join("ingest.strace");
    let args = ingest_args("roco", src.to_str().unwrap(), out.to_str().unwrap());
    let Some(ok_) = strace(&args, &log) else {
        return;
    };
    assert!(ok_);
    let events = parse_strace(&std::fs::read_to_string(&log).unwrap());
    let shards = read_store(out.to_str().unwrap()).manifest.shards.len();
    assert_eq!(check_durable(&events, &["manifest.json"]), 1, "{events:?}");
    assert_eq!(check_durable(&events, &["quarantine.parquet"]), 1);
    assert_eq!(check_durable(&events, &[".parquet"]), shards + 1);
    assert!(
        check_durable(&events, &[".json"]) > shards,
        "journal entries"
    );

    // A checkpoint: weights, optimiser state, state.json, then latest.json.
    let t = tempfile::tempdir().unwrap();
    let (ds, vocab) = crate::train::roco_with_vocab(t.path(), 40);
    let run = d.path().join("run");
    let cfg = crate::train::config(
        d.path(),
        ds.to_str().unwrap(),
        &vocab,
        run.to_str().unwrap(),
        "[optim]\nmax_steps = 1\n",
    );
    let log = d.path().join("train.strace");
    assert!(strace(&["train", "--config", cfg.to_str().unwrap()], &log).unwrap());
    let events = parse_strace(&std::fs::read_to_string(&log).unwrap());
    for name in [
        "weights.safetensors",
        "optimizer.safetensors",
        "state.json",
        "latest.json",
    ] {
        assert_eq!(check_durable(&events, &[name]), 1, "{name}");
    }
    // latest.json, the commit point, is renamed after every file it names.
    let pos = |n: &str| {
        events
            .iter()
            .position(|e| matches!(e, Sys::Rename(_, t) if t.ends_with(n)))
            .unwrap()
    };
    assert!(
        pos("latest.json") > pos("state.json") && pos("state.json") > pos("weights.safetensors")
    );
}

#[test]
fn shared_datasets_follow_the_umask_and_killed_runs_leftovers_are_cleaned() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    synth("roco", &src, 30, 2);
    let out = d.path().join("out");
    let cmd = format!(
        "umask 022 && exec {} {}",
        bin().display(),
        ingest_args("roco", src.to_str().unwrap(), out.to_str().unwrap()).join(" ")
    );
    let st = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    for (rel, _) in tree(&out) {
        let mode = std::fs::metadata(out.join(&rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{rel}");
    }

    // A killed run's leftovers: scratch in TMPDIR and an uncommitted checkpoint folder.
    let t = tempfile::tempdir().unwrap();
    let (ds, vocab) = crate::train::roco_with_vocab(t.path(), 40);
    let run_dir = d.path().join("run");
    let cfg = crate::train::config(
        d.path(),
        ds.to_str().unwrap(),
        &vocab,
        run_dir.to_str().unwrap(),
        "[optim]\nmax_steps = 2\n\n[checkpoint]\nevery = 1\nkeep = 5\n",
    );
    let tmp = d.path().join("tmp");
    std::fs::create_dir_all(tmp.join("unimlip-999999999-ckpt-abc")).unwrap();
    std::fs::write(
        tmp.join("unimlip-999999999-ckpt-abc/weights.safetensors"),
        [0u8; 64],
    )
    .unwrap();
    let env = [("TMPDIR", tmp.to_str().unwrap())];
    let r = run_env(
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--stop-after",
            "1",
        ],
        &env,
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(!tmp.join("unimlip-999999999-ckpt-abc").exists());
    let ckpt = run_dir.join("checkpoints");
    let stray = ckpt.join("step-00000099");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("weights.safetensors"), [0u8; 64]).unwrap();
    std::fs::write(ckpt.join(".unimlip-tmp-999999999-0-state.json"), b"{").unwrap();
    let r = run_env(
        &["train", "--config", cfg.to_str().unwrap(), "--resume"],
        &env,
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(!stray.exists() && !ckpt.join(".unimlip-tmp-999999999-0-state.json").exists());
    let mut dirs: Vec<String> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["latest.json", "step-00000001", "step-00000002"]);
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "scratch left behind"
    );
}

#[test]
fn a_second_writer_into_the_same_output_is_refused_with_the_holder_named() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    synth("roco", &a, 400, 1);
    synth("roco", &b, 60, 2);
    let out = d.path().join("out");
    let first = std::process::Command::new(bin())
        .args(ingest_args(
            "roco",
            a.to_str().unwrap(),
            out.to_str().unwrap(),
        ))
        .args(["--workers", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lease = out.join("_ingest/lease.json");
    let t0 = std::time::Instant::now();
    while !lease.exists() {
        assert!(t0.elapsed().as_secs() < 30, "no lease appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let held: serde_json::Value = serde_json::from_slice(&std::fs::read(&lease).unwrap()).unwrap();
    assert_eq!(held["pid"].as_u64(), Some(first.id() as u64), "{held}");
    let r = run(&ingest_args(
        "roco",
        b.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    assert!(!r.ok, "the second writer ran");
    assert!(
        r.stderr.contains("is being written by")
            && r.stderr.contains(&format!("pid {}", first.id())),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    let (status, err) = wait_for(first, std::time::Duration::from_secs(120));
    assert!(status.success(), "{err}");
    assert!(!lease.exists(), "the lease outlived its holder");
    let v = json(&ok(&[
        "inspect",
        out.to_str().unwrap(),
        "--verify",
        "--json",
    ]));
    assert_eq!(v["verified"], true);
    assert_eq!(v["inputs"].as_u64(), Some(400));

    // A lease left by a killed process of this host is taken over by the next run.
    let mut dead: serde_json::Value = held.clone();
    dead["pid"] = serde_json::json!(999_999_999u64);
    std::fs::write(&lease, serde_json::to_vec(&dead).unwrap()).unwrap();
    ok(&ingest_args(
        "roco",
        a.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    // Another host's expired lease needs --break-lease.
    dead["host"] = serde_json::json!("elsewhere");
    dead["expires_unix"] = serde_json::json!(1);
    std::fs::write(&lease, serde_json::to_vec(&dead).unwrap()).unwrap();
    let r = run(&ingest_args(
        "roco",
        a.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    assert!(
        !r.ok && r.stderr.contains("--break-lease") && r.stderr.contains("expired"),
        "{}",
        r.stderr
    );
    let args = [
        ingest_args("roco", a.to_str().unwrap(), out.to_str().unwrap()),
        vec!["--break-lease"],
    ]
    .concat();
    ok(&args);
    assert!(!lease.exists());
}
