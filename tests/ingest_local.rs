use std::collections::{BTreeMap, BTreeSet};

use crate::util::*;

/// Every id listed in a synthetic ROCO's captions files, with its split.
fn roco_ids(root: &std::path::Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (dir, split) in [
        ("train", "train"),
        ("validation", "validation"),
        ("test", "test"),
    ] {
        for subset in ["radiology", "non-radiology"] {
            let p = root.join(format!("data/{dir}/{subset}/captions.txt"));
            let Ok(text) = std::fs::read_to_string(p) else {
                continue;
            };
            for line in text.lines() {
                let id = line.split('\t').next().unwrap().to_string();
                out.insert(id, split.to_string());
            }
        }
    }
    out
}

#[test]
fn roco_nothing_lost_and_counts_add_up() {
    let d = tempfile::tempdir().unwrap();
    let (src, out) = (d.path().join("roco"), d.path().join("store"));
    let report = synth("roco", &src, 120, 3);
    let run = json(&ok(&ingest_args(
        "roco",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    )));
    assert_eq!(run["processed"], report["records"]);

    let s = read_store(out.to_str().unwrap());
    let m = &s.manifest;
    assert_eq!(m.inputs, report["records"].as_u64().unwrap());
    let rows: BTreeMap<String, u64> = m.splits.iter().map(|(k, v)| (k.clone(), v.rows)).collect();
    assert_eq!(rows, expected_rows(&report));
    assert_eq!(m.quarantine.by_reason, expected_quarantine(&report));
    assert!(m.shards.len() >= 3, "small shard size gives several shards");

    // Every listed id ends in exactly one place: a row of its own split, or the quarantine.
    let all = roco_ids(&src);
    let stored: BTreeSet<&str> = s.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(stored.len(), s.records.len(), "ids are unique");
    let quarantined: BTreeSet<&str> = s
        .quarantine
        .iter()
        .filter_map(|q| q.id.as_deref())
        .collect();
    assert_eq!(quarantined.len(), s.quarantine.len());
    assert!(stored.is_disjoint(&quarantined));
    let union: BTreeSet<&str> = stored.union(&quarantined).copied().collect();
    assert_eq!(union, all.keys().map(String::as_str).collect());
    for r in &s.records {
        assert_eq!(all[&r.id], r.split, "{}", r.id);
        assert_eq!(
            r.caption.as_deref().map(str::trim),
            r.caption.as_deref(),
            "captions are trimmed"
        );
        assert!(r.license.is_some() && r.subset.is_some());
        assert!(
            r.image_info.width.max(r.image_info.height) <= 512,
            "resized to 512"
        );
    }

    // inspect agrees with the manifest.
    let v = json(&ok(&["inspect", out.to_str().unwrap(), "--json"]));
    assert_eq!(v["dataset"], "roco");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["rows"].as_u64().unwrap(), s.records.len() as u64);
    assert_eq!(
        v["quarantined"].as_u64().unwrap(),
        s.quarantine.len() as u64
    );
    assert_eq!(
        v["splits"]["train"]["rows"].as_u64().unwrap(),
        rows["train"]
    );
    assert!(v["label_names"].as_array().unwrap().is_empty());
    let text = ok(&["inspect", out.to_str().unwrap()]);
    assert!(
        text.contains("quarantined") && text.contains("train"),
        "{text}"
    );
}

#[test]
fn pmc_oa_quirks_land_where_they_should() {
    let d = tempfile::tempdir().unwrap();
    let (src, out) = (d.path().join("pmc"), d.path().join("store"));
    let report = synth("pmc-oa", &src, 80, 5);
    ok(&ingest_args(
        "pmc-oa",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    let s = read_store(out.to_str().unwrap());
    let rows: BTreeMap<String, u64> = s
        .manifest
        .splits
        .iter()
        .map(|(k, v)| (k.clone(), v.rows))
        .collect();
    assert_eq!(rows, expected_rows(&report));
    assert_eq!(
        s.manifest.quarantine.by_reason,
        expected_quarantine(&report)
    );
    assert_eq!(s.manifest.inputs, report["records"].as_u64().unwrap());
    assert!(
        s.records
            .iter()
            .any(|r| r.caption.as_deref().unwrap().contains('\n')),
        "embedded newline kept"
    );
    assert!(
        s.records
            .iter()
            .any(|r| r.caption.as_deref().unwrap().contains('µ')),
        "non-ASCII kept"
    );
    let spaced = s
        .records
        .iter()
        .find(|r| r.extra.as_deref().unwrap().contains("caption_raw"))
        .unwrap();
    assert!(!spaced.caption.as_deref().unwrap().starts_with(' '));
    let escape = s
        .quarantine
        .iter()
        .find(|q| q.reason == "path-escape")
        .unwrap();
    assert!(escape.source.contains(".."), "{escape:?}");
    let bad = s
        .quarantine
        .iter()
        .find(|q| q.reason == "bad-metadata")
        .unwrap();
    assert!(
        bad.source
            .ends_with(&format!(":{}", bad.source.rsplit(':').next().unwrap()))
    );

    // Release B is one `train` split with the alignment fields in `extra`.
    let out_b = d.path().join("store-b");
    ok(&[
        "ingest",
        "--dataset",
        "pmc-oa",
        "--variant",
        "pmc_oa",
        "--src",
        src.to_str().unwrap(),
        "--out",
        out_b.to_str().unwrap(),
    ]);
    let b = read_store(out_b.to_str().unwrap());
    assert_eq!(b.manifest.splits.keys().collect::<Vec<_>>(), ["train"]);
    assert!(
        b.records
            .iter()
            .all(|r| r.subset.as_deref() == Some("pmc_oa")
                && r.extra.as_deref().unwrap().contains("alignment_score"))
    );
}

#[test]
fn worker_count_does_not_change_bytes_and_reruns_are_noops() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("roco");
    synth("roco", &src, 60, 11);
    let (one, three) = (d.path().join("w1"), d.path().join("w3"));
    let mut a = ingest_args("roco", src.to_str().unwrap(), one.to_str().unwrap());
    a.extend(["--workers", "1"]);
    ok(&a);
    let mut b = ingest_args("roco", src.to_str().unwrap(), three.to_str().unwrap());
    b.extend(["--workers", "3"]);
    ok(&b);
    let (x, y) = (
        read_store(one.to_str().unwrap()),
        read_store(three.to_str().unwrap()),
    );
    assert_eq!(shard_hashes(&x.manifest), shard_hashes(&y.manifest));

    // Same inputs and options again: nothing to do.
    let again = json(&ok(&a));
    assert_eq!(again["already_complete"], true);
    // Other options without --overwrite: refused; with it: replaced, stale shards removed.
    let other = crate::util::run(&[
        "ingest",
        "--dataset",
        "roco",
        "--src",
        src.to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
        "--resize",
        "none",
    ]);
    assert!(
        !other.ok && other.stderr.contains("--overwrite"),
        "{}",
        other.stderr
    );
    ok(&[
        "ingest",
        "--dataset",
        "roco",
        "--src",
        src.to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
        "--resize",
        "none",
        "--overwrite",
    ]);
    let z = read_store(one.to_str().unwrap());
    let files = std::fs::read_dir(one.join("shards")).unwrap().count();
    assert_eq!(files, z.manifest.shards.len(), "only the new shards remain");
    assert!(
        z.records
            .iter()
            .any(|r| r.image_info.width.max(r.image_info.height) > 512)
    );
}

#[test]
fn synth_is_deterministic() {
    let d = tempfile::tempdir().unwrap();
    for ds in ["roco", "pmc-oa"] {
        let (a, b, c) = (
            d.path().join(format!("{ds}-a")),
            d.path().join(format!("{ds}-b")),
            d.path().join(format!("{ds}-c")),
        );
        synth(ds, &a, 30, 42);
        synth(ds, &b, 30, 42);
        synth(ds, &c, 30, 43);
        assert!(tree(&a) == tree(&b), "{ds}: same seed, same bytes");
        assert!(tree(&a) != tree(&c), "{ds}: another seed, other bytes");
    }
}
