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

    // A manifest from before row-group hashes: a cached copy is hashed whole before use.
    let m = ds.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    for s in v["shards"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        s.remove("row_group_sha256");
        s.remove("footer_sha256");
    }
    std::fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    tamper(&files[2], 0.5);
    let third = bench(data);
    assert_eq!(third["sequence_sha256"], first["sequence_sha256"]);
    assert_eq!(third["stages"]["cache_corrupt"], 1, "{}", third["stages"]);
    assert_eq!(std::fs::read(&files[2]).unwrap(), pristine[2]);
}
