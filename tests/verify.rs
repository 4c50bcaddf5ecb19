use crate::util::*;

#[test]
fn one_altered_byte_fails_verify() {
    let d = tempfile::tempdir().unwrap();
    let (src, out) = (d.path().join("pmc"), d.path().join("store"));
    synth("pmc-oa", &src, 40, 1);
    ok(&ingest_args(
        "pmc-oa",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    let v = json(&ok(&[
        "inspect",
        out.to_str().unwrap(),
        "--verify",
        "--json",
    ]));
    assert_eq!(v["verified"], true);

    let store = read_store(out.to_str().unwrap());
    let shard = &store.manifest.shards[store.manifest.shards.len() / 2];
    let path = out.join(&shard.path);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] = bytes[at].wrapping_add(1);
    std::fs::write(&path, bytes).unwrap();

    let r = run(&["inspect", out.to_str().unwrap(), "--verify"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains(&shard.path) && r.stderr.contains("sha256"),
        "{}",
        r.stderr
    );
    // Without --verify the manifest alone is read and the command succeeds.
    assert!(run(&["inspect", out.to_str().unwrap()]).ok);
}
