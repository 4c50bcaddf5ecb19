use std::collections::BTreeMap;

use crate::util::*;

fn ingest_synth(ds: &str, n: usize, dir: &std::path::Path) -> String {
    let (_, out, _) = synth_and_ingest(ds, dir, n, 2);
    out.to_str().unwrap().to_string()
}

fn split_json(data: &str, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["splits", "--data", data, "--json"];
    a.extend_from_slice(args);
    json(&ok(&a))
}

#[test]
fn official_split_for_every_dataset() {
    let d = tempfile::tempdir().unwrap();
    for ds in [
        "pmc-oa",
        "roco",
        "mimic-cxr",
        "chexpert",
        "nih-cxr14",
        "vqa-rad",
        "slake",
    ] {
        let data = ingest_synth(ds, 30, d.path());
        let v = split_json(&data, &["--recipe", "official"]);
        let s = read_store(&data);
        let want: BTreeMap<String, u64> = s
            .manifest
            .splits
            .iter()
            .map(|(k, v)| (k.clone(), v.rows))
            .collect();
        let got: BTreeMap<String, u64> = serde_json::from_value(v["counts"].clone()).unwrap();
        assert_eq!(got, want, "{ds}");
        assert_eq!(v["dataset"], ds);
        assert_eq!(v["input_manifest_sha256"].as_str().unwrap().len(), 64);
    }
}

#[test]
fn splits_are_byte_identical_across_runs() {
    let d = tempfile::tempdir().unwrap();
    let cxp = ingest_synth("chexpert", 80, d.path());
    let roco = ingest_synth("roco", 120, d.path());
    let list = d.path().join("train_1.txt");
    std::fs::write(&list, "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,1,0\r\nCheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg,0,0\r\n").unwrap();
    let file_arg = format!("train={}", list.display());
    let runs: [(&str, Vec<&str>); 4] = [
        (
            &cxp,
            vec!["--recipe", "lowdata", "--fraction", "0.1", "--seed", "2022"],
        ),
        (
            &cxp,
            vec![
                "--recipe",
                "from-file",
                "--name",
                "mrm-1",
                "--file",
                &file_arg,
            ],
        ),
        (&roco, vec!["--recipe", "roco-2000"]),
        (&roco, vec!["--recipe", "pmc-clip-compat", "--n", "40"]),
    ];
    for (data, args) in runs {
        let first = split_json(data, &args);
        let name = first["name"].as_str().unwrap().to_string();
        let read = |ext: &str| {
            std::fs::read(std::path::Path::new(data).join(format!("splits/{name}.{ext}"))).unwrap()
        };
        let (p1, j1) = (read("parquet"), read("json"));
        let second = split_json(data, &args);
        assert_eq!(first, second);
        assert!(
            read("parquet") == p1 && read("json") == j1,
            "{name}: same inputs and seed, same bytes"
        );
    }
    // Another seed draws another subset of the same size.
    let a = split_json(
        &cxp,
        &[
            "--recipe",
            "lowdata",
            "--fraction",
            "0.5",
            "--seed",
            "1",
            "--name",
            "a",
        ],
    );
    let b = split_json(
        &cxp,
        &[
            "--recipe",
            "lowdata",
            "--fraction",
            "0.5",
            "--seed",
            "2",
            "--name",
            "b",
        ],
    );
    assert_eq!(a["counts"], b["counts"]);
    assert_ne!(a["ids_sha256"], b["ids_sha256"]);
}

#[test]
fn lowdata_size_follows_the_rounding_rule_over_frontal_rows() {
    let d = tempfile::tempdir().unwrap();
    let data = ingest_synth("chexpert", 120, d.path());
    let s = read_store(&data);
    let pool = s
        .records
        .iter()
        .filter(|r| r.split == "train" && r.view.as_deref() == Some("Frontal"))
        .count();
    let floor = split_json(
        &data,
        &["--recipe", "lowdata", "--fraction", "0.1", "--name", "f"],
    );
    assert_eq!(
        floor["counts"]["train"].as_u64().unwrap() as usize,
        pool / 10
    );
    let all = split_json(
        &data,
        &[
            "--recipe",
            "lowdata",
            "--fraction",
            "1.0",
            "--views",
            "all",
            "--policy",
            "chexpert-mixed5",
            "--name",
            "all",
        ],
    );
    assert_eq!(
        all["counts"]["train"].as_u64().unwrap() as usize,
        s.records.iter().filter(|r| r.split == "train").count()
    );
    assert_eq!(all["label_names"].as_array().unwrap().len(), 5);
}

#[test]
fn a_patient_in_train_and_test_fails_loudly_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let data = ingest_synth("nih-cxr14", 40, d.path());
    let s = read_store(&data);
    let mut by_patient: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &s.records {
        by_patient
            .entry(r.patient_id.clone().unwrap())
            .or_default()
            .push(r.id.clone());
    }
    let (_, ids) = by_patient
        .iter()
        .find(|(_, v)| v.len() >= 2)
        .expect("a patient with two images");
    let (train, test) = (d.path().join("train.txt"), d.path().join("test.txt"));
    std::fs::write(&train, format!("{}.png\n", ids[0])).unwrap();
    std::fs::write(&test, format!("images_001/{}.png 0 1\n", ids[1])).unwrap();
    let (tr, te) = (
        format!("train={}", train.display()),
        format!("test={}", test.display()),
    );
    let args = [
        "splits",
        "--data",
        &data,
        "--recipe",
        "from-file",
        "--name",
        "leaky",
        "--file",
        &tr,
        "--file",
        &te,
    ];
    let r = run(&args);
    assert!(
        !r.ok && r.stderr.contains("patients are in both train"),
        "{}",
        r.stderr
    );
    assert!(
        !std::path::Path::new(&data)
            .join("splits/leaky.json")
            .exists()
    );
    let mut allowed = args.to_vec();
    allowed.push("--allow-patient-overlap");
    ok(&allowed);
}

#[test]
fn the_library_runs_a_recipe_in_process_as_the_binary_does() {
    let d = tempfile::tempdir().unwrap();
    let roco = ingest_synth("roco", 60, d.path());
    let args = [
        "splits",
        "--data",
        &roco,
        "--recipe",
        "roco-2000",
        "--n",
        "10",
        "--json",
    ];
    let by_binary = json(&ok(&args));
    let in_process = json(&run_in_process(&args).expect("the split builds in-process"));
    assert_eq!(in_process, by_binary);
    // Recipe errors come back as one line, from the library's typed error.
    let e = run_in_process(&["splits", "--data", &roco, "--recipe", "lowdata"]).unwrap_err();
    assert!(
        e.contains("recipe `lowdata` is for mimic-cxr") && !e.contains('\n'),
        "{e}"
    );
}
