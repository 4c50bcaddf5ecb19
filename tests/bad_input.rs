use crate::util::*;

fn one_line_error(args: &[&str], needle: &str) {
    let r = run(args);
    assert!(!r.ok, "{args:?} should fail");
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, not:\n{}", r.stderr);
    assert!(
        lines[0].matches("(os error").count() <= 1,
        "cause repeated: {}",
        lines[0]
    );
    assert!(
        lines.iter().any(|l| l.contains(needle)),
        "{args:?}: expected `{needle}` in:\n{}",
        r.stderr
    );
}

#[test]
fn bad_arguments_and_inputs_give_one_clear_line() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o");
    let o = out.to_str().unwrap();
    one_line_error(
        &["ingest", "--dataset", "imagenet", "--src", ".", "--out", o],
        "unknown dataset `imagenet`",
    );
    one_line_error(
        &[
            "ingest",
            "--dataset",
            "roco",
            "--src",
            "/no/such/dir",
            "--out",
            o,
        ],
        "/no/such/dir",
    );
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    one_line_error(
        &[
            "ingest",
            "--dataset",
            "roco",
            "--src",
            empty.to_str().unwrap(),
            "--out",
            o,
        ],
        "not a roco layout",
    );
    one_line_error(
        &[
            "ingest",
            "--dataset",
            "roco",
            "--src",
            ".",
            "--out",
            o,
            "--resize",
            "wide=3",
        ],
        "--resize",
    );
    one_line_error(
        &[
            "ingest",
            "--dataset",
            "roco",
            "--src",
            ".",
            "--out",
            o,
            "--shard-size",
            "lots",
        ],
        "invalid size `lots`",
    );
    one_line_error(
        &[
            "ingest",
            "--dataset",
            "roco",
            "--src",
            ".",
            "--out",
            "ftp://x/y",
        ],
        "unsupported scheme `ftp`",
    );
    one_line_error(&["inspect", empty.to_str().unwrap()], "manifest.json");
    let nowhere = d.path().join("nowhere");
    one_line_error(&["inspect", nowhere.to_str().unwrap()], "nowhere");
    assert!(!nowhere.exists(), "reading does not create folders");
    one_line_error(
        &["synth", "--dataset", "roco", "--out", o, "--n", "3"],
        "--n",
    );
    std::fs::write(empty.join("manifest.json"), "{not json").unwrap();
    one_line_error(&["inspect", empty.to_str().unwrap()], "bad manifest");
    // An unreadable committed manifest is not silently replaced.
    let src = d.path().join("roco");
    synth("roco", &src, 16, 1);
    one_line_error(
        &[
            "ingest",
            "--dataset",
            "roco",
            "--src",
            src.to_str().unwrap(),
            "--out",
            empty.to_str().unwrap(),
        ],
        "--overwrite",
    );
}
