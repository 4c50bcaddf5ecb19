use std::process::{Command, Stdio};

use crate::util::*;

fn rows_by_id(url: &str) -> Vec<String> {
    let mut v: Vec<String> = read_store(url)
        .records
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    v.sort();
    v
}

#[test]
fn three_parts_in_parallel_then_commit_equal_one_run() {
    let d = tempfile::tempdir().unwrap();
    for ds in ["roco", "chexpert"] {
        let src = d.path().join(format!("{ds}-src"));
        synth(ds, &src, 90, 6);
        let (single, parted) = (
            d.path().join(format!("{ds}-single")),
            d.path().join(format!("{ds}-parted")),
        );
        ok(&ingest_args(
            ds,
            src.to_str().unwrap(),
            single.to_str().unwrap(),
        ));

        let children: Vec<_> = (0..3)
            .map(|i| {
                let mut args = ingest_args(ds, src.to_str().unwrap(), parted.to_str().unwrap());
                let part = format!("{i}/3");
                args.extend(["--partition", &part]);
                Command::new(bin())
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        assert!(
            !parted.join("manifest.json").exists(),
            "parts do not commit"
        );
        // Re-running a part is idempotent: it reuses its shards.
        let mut again = ingest_args(ds, src.to_str().unwrap(), parted.to_str().unwrap());
        again.extend(["--partition", "1/3"]);
        let r = json(&ok(&again));
        assert_eq!(r["processed"], 0, "{ds}: nothing left to do in part 1");
        ok(&["ingest", "--commit", "--out", parted.to_str().unwrap()]);

        let (a, b) = (
            read_store(single.to_str().unwrap()),
            read_store(parted.to_str().unwrap()),
        );
        assert_eq!(a.manifest.inputs, b.manifest.inputs);
        let rows = |s: &Stored| {
            s.manifest
                .splits
                .iter()
                .map(|(k, v)| (k.clone(), v.rows))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&a), rows(&b), "{ds}: same rows per split");
        assert_eq!(
            rows_by_id(single.to_str().unwrap()),
            rows_by_id(parted.to_str().unwrap()),
            "{ds}: same row contents"
        );
        let mut qa: Vec<_> = a.quarantine.iter().map(|q| format!("{q:?}")).collect();
        let mut qb: Vec<_> = b.quarantine.iter().map(|q| format!("{q:?}")).collect();
        qa.sort();
        qb.sort();
        assert_eq!(qa, qb);
    }
}

#[test]
fn commit_refuses_missing_parts() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    synth("roco", &src, 30, 1);
    let out = d.path().join("out");
    let mut args = ingest_args("roco", src.to_str().unwrap(), out.to_str().unwrap());
    args.extend(["--partition", "0/2"]);
    ok(&args);
    let r = run(&["ingest", "--commit", "--out", out.to_str().unwrap()]);
    assert!(
        !r.ok && r.stderr.contains("parts not finished: 1/2"),
        "{}",
        r.stderr
    );
}
