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

/// `unimlip` links no libtorch; a training or evaluation command is run by `unimlip-torch`,
/// with the same one-line errors, and a missing `unimlip-torch` is one line too.
#[test]
fn torch_commands_run_in_unimlip_torch_and_the_data_commands_need_no_libtorch() {
    match std::process::Command::new("readelf")
        .arg("-d")
        .arg(bin())
        .output()
    {
        Ok(o) => {
            let dynamic = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success() && dynamic.contains("NEEDED"),
                "{dynamic}"
            );
            assert!(
                !dynamic.contains("libtorch"),
                "unimlip links libtorch:\n{dynamic}"
            );
            assert!(
                !dynamic.contains("libc10"),
                "unimlip links libc10:\n{dynamic}"
            );
        }
        Err(_) => {
            require_tool("readelf");
        }
    }
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("missing.toml");
    let m = missing.to_str().unwrap();
    // Handed over: the error comes from unimlip-torch reading the config.
    one_line_error(&["train", "--config", m], "missing.toml");
    let r = run_env(
        &["train", "--config", m],
        &[("UNIMLIP_TORCH_BIN", "/nonexistent/unimlip-torch")],
    );
    assert!(!r.ok);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("needs libtorch") && r.stderr.contains("/nonexistent/unimlip-torch"),
        "{}",
        r.stderr
    );
    // The data commands never look for it.
    let out = d.path().join("s");
    let s = out.to_str().unwrap();
    let r = run_env(
        &["synth", "--dataset", "roco", "--out", s, "--n", "16"],
        &[("UNIMLIP_TORCH_BIN", "/nonexistent/unimlip-torch")],
    );
    assert!(r.ok, "{}", r.stderr);
}
