use std::collections::BTreeMap;

use serde_json::Value;
use unimlip_shards::Record;

use crate::util::*;

fn ingest_synth(ds: &str, n: usize) -> (tempfile::TempDir, Stored, Value) {
    let d = tempfile::tempdir().unwrap();
    let (_, out, report) = synth_and_ingest(ds, d.path(), n, 12);
    let s = read_store(out.to_str().unwrap());
    let rows: BTreeMap<String, u64> = s
        .manifest
        .splits
        .iter()
        .map(|(k, v)| (k.clone(), v.rows))
        .collect();
    assert_eq!(rows, expected_rows(&report), "{ds}");
    assert_eq!(
        s.manifest.quarantine.by_reason,
        expected_quarantine(&report),
        "{ds}"
    );
    assert_eq!(
        s.manifest.inputs,
        report["records"].as_u64().unwrap(),
        "{ds}"
    );
    let v = json(&ok(&[
        "inspect",
        out.to_str().unwrap(),
        "--json",
        "--verify",
    ]));
    assert_eq!(v["verified"], true);
    (d, s, report)
}

fn same_labels(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

fn by_id<'a>(s: &'a Stored, id: &str) -> &'a Record {
    s.records
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no row {id}"))
}

#[test]
fn chexpert_labels_match_the_csv() {
    let (d, s, _) = ingest_synth("chexpert", 40);
    assert_eq!(s.manifest.label_names.len(), 14);
    assert_eq!(s.manifest.label_names[0], "No Finding");
    let csv = std::fs::read_to_string(d.path().join("chexpert-src/CheXpert-v1.0-small/train.csv"))
        .unwrap();
    let mut checked = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let id = f[0]
            .trim_start_matches("CheXpert-v1.0-small/")
            .trim_end_matches(".jpg");
        let Some(r) = s.records.iter().find(|r| r.id == id) else {
            continue;
        };
        let want: Vec<f32> = f[5..]
            .iter()
            .map(|c| {
                if c.is_empty() {
                    f32::NAN
                } else {
                    c.parse().unwrap()
                }
            })
            .collect();
        assert!(same_labels(r.labels.as_ref().unwrap(), &want), "{id}");
        assert_eq!(r.view.as_deref(), Some(f[3]));
        assert_eq!(r.patient_id.as_deref(), Some(id.split('/').nth(1).unwrap()));
        checked += 1;
    }
    assert!(checked > 20);
    let valid: Vec<_> = s
        .records
        .iter()
        .filter(|r| r.split == "validation")
        .collect();
    assert!(valid.iter().all(|r| {
        r.labels
            .as_ref()
            .unwrap()
            .iter()
            .all(|v| *v == 0.0 || *v == 1.0)
    }));
}

#[test]
fn nih_labels_follow_chexnet_order_and_no_finding_is_zero() {
    let (d, s, _) = ingest_synth("nih-cxr14", 40);
    let order = &s.manifest.label_names;
    assert_eq!(
        (order[2].as_str(), order[12].as_str()),
        ("Effusion", "Pleural_Thickening")
    );
    let csv =
        std::fs::read_to_string(d.path().join("nih-cxr14-src/Data_Entry_2017_v2020.csv")).unwrap();
    let mut checked = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let Some(r) = s
            .records
            .iter()
            .find(|r| r.id == f[0].trim_end_matches(".png"))
        else {
            continue;
        };
        let want: Vec<f32> = order
            .iter()
            .map(|l| {
                if f[1].split('|').any(|x| x == l) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        assert_eq!(r.labels.as_ref().unwrap(), &want, "{}", f[0]);
        assert_eq!(r.patient_id.as_deref(), Some(f[3]));
        checked += 1;
    }
    assert!(checked > 30);
    assert!(s.records.iter().any(|r| r.image_info.channels == 1));
}

#[test]
fn mimic_study_labels_and_report_sections() {
    let (_d, s, _) = ingest_synth("mimic-cxr", 40);
    let names = &s.manifest.label_names;
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, &sorted, "MIMIC label columns are alphabetical");
    let mut studies: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in &s.records {
        studies
            .entry(r.study_id.as_deref().unwrap())
            .or_default()
            .push(r);
    }
    let mut with_caption = 0;
    for rows in studies.values() {
        let first = rows[0];
        assert!(
            rows.iter()
                .all(|r| r.labels.as_ref().map(|l| l.len())
                    == first.labels.as_ref().map(|l| l.len()))
        );
        if let (Some(labels), Some(caption)) = (&first.labels, &first.caption) {
            for (name, v) in names.iter().zip(labels) {
                if *v == 1.0 {
                    assert!(
                        caption
                            .to_lowercase()
                            .contains(&format!("there is {}", name.to_lowercase())),
                        "{caption}"
                    );
                }
            }
            with_caption += 1;
        }
    }
    assert!(with_caption > 5);
    assert!(
        s.records.iter().any(|r| r.labels.is_none()),
        "a study without a label row keeps null labels"
    );
    assert!(
        s.records.iter().any(|r| r.view.is_none()),
        "a blank ViewPosition stays null"
    );
}

#[test]
fn vqa_rad_groups_questions_per_image_and_split() {
    let (d, s, _) = ingest_synth("vqa-rad", 24);
    let train: Vec<Value> = serde_json::from_slice(
        &std::fs::read(d.path().join("vqa-rad-src/data_RAD/trainset.json")).unwrap(),
    )
    .unwrap();
    let stored: usize = s
        .records
        .iter()
        .filter(|r| r.split == "train")
        .map(|r| r.qa.as_ref().unwrap().len())
        .sum();
    assert_eq!(stored, train.len());
    let all: Vec<_> = s
        .records
        .iter()
        .flat_map(|r| r.qa.clone().unwrap())
        .collect();
    assert!(
        all.iter()
            .all(|q| matches!(q.answer_type.as_deref(), Some("CLOSED" | "OPEN")))
    );
    assert!(
        all.iter().any(|q| q.answer.as_deref() == Some("1")),
        "integer answers become text"
    );
    assert!(
        s.records
            .iter()
            .any(|r| r.extra.as_deref().unwrap().contains("qa_fixes"))
    );
    let test_row = s.records.iter().find(|r| r.split == "test").unwrap();
    let stem = test_row.id.trim_start_matches("test/");
    assert!(
        s.records.iter().any(|r| r.id == format!("train/{stem}")),
        "a test image is stored again for train"
    );
}

#[test]
fn slake_keeps_both_languages_masks_and_the_empty_answer() {
    let (_d, s, _) = ingest_synth("slake", 21);
    let langs: std::collections::BTreeSet<_> = s
        .records
        .iter()
        .flat_map(|r| r.qa.clone().unwrap())
        .filter_map(|q| q.lang)
        .collect();
    assert_eq!(langs.into_iter().collect::<Vec<_>>(), ["en", "zh"]);
    assert!(s.records.iter().all(|r| r.mask.is_some()));
    assert!(
        s.records
            .iter()
            .all(|r| r.extra.as_deref().unwrap().contains("detection"))
    );
    let empty = s
        .records
        .iter()
        .flat_map(|r| r.qa.clone().unwrap())
        .filter(|q| q.answer.is_none())
        .count();
    assert_eq!(empty, 1);
    let x3 = [by_id(&s, "train/xmlab3"), by_id(&s, "test/xmlab3")];
    assert!(
        x3[0]
            .qa
            .as_ref()
            .unwrap()
            .iter()
            .all(|q| q.lang.as_deref() == Some("en"))
    );
    assert!(
        x3[1]
            .qa
            .as_ref()
            .unwrap()
            .iter()
            .all(|q| q.lang.as_deref() == Some("zh"))
    );
}
