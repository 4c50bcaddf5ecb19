use unimlip_shards::Manifest;

use crate::util::*;

#[test]
fn killed_ingest_resumes_to_the_same_shards() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("roco");
    synth("roco", &src, 150, 9);
    let (killed, clean) = (d.path().join("killed"), d.path().join("clean"));
    let args = ingest_args("roco", src.to_str().unwrap(), killed.to_str().unwrap());

    // The process dies (abort, as with SIGKILL: no cleanup) after its third shard upload.
    let r = run_env(&args, &[("UNIMLIP_FAULT_ABORT_AFTER_SHARDS", "3")]);
    assert!(!r.ok, "the run must die");
    assert!(
        !killed.join("manifest.json").exists(),
        "no commit before the end"
    );
    let left = std::fs::read_dir(killed.join("shards")).unwrap().count();
    assert!(left >= 3, "{left} shards left behind");

    // Re-run: reuses what was complete and finishes.
    let resumed = json(&ok(&args));
    assert_eq!(resumed["reused_shards"], 3);
    let total = resumed["manifest"]["inputs"].as_u64().unwrap();
    assert!(
        resumed["processed"].as_u64().unwrap() < total,
        "reused shards' inputs were skipped"
    );

    ok(&ingest_args(
        "roco",
        src.to_str().unwrap(),
        clean.to_str().unwrap(),
    ));
    let (a, b) = (
        read_store(killed.to_str().unwrap()),
        read_store(clean.to_str().unwrap()),
    );
    assert_eq!(
        shard_hashes(&a.manifest),
        shard_hashes(&b.manifest),
        "same shard contents"
    );
    assert_eq!(a.quarantine, b.quarantine);
    assert_eq!(a.manifest.inputs, b.manifest.inputs);
    let same_rows = |m: &Manifest| {
        m.splits
            .iter()
            .map(|(k, v)| (k.clone(), v.rows))
            .collect::<Vec<_>>()
    };
    assert_eq!(same_rows(&a.manifest), same_rows(&b.manifest));
}

#[test]
fn damaged_leftover_shard_is_redone() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("roco");
    synth("roco", &src, 100, 4);
    let out = d.path().join("out");
    let args = ingest_args("roco", src.to_str().unwrap(), out.to_str().unwrap());
    assert!(!run_env(&args, &[("UNIMLIP_FAULT_ABORT_AFTER_SHARDS", "2")]).ok);
    // Damage the second leftover shard: only the first may be reused.
    let mut names: Vec<_> = std::fs::read_dir(out.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let victim = &names[1];
    let mut bytes = std::fs::read(victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(victim, bytes).unwrap();
    let resumed = json(&ok(&args));
    assert_eq!(resumed["reused_shards"], 1);
    read_store(out.to_str().unwrap());
}
