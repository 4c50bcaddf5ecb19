//! Synthetic MIMIC-CXR-JPG (specs/datasets.md Part 2 §3): the four gzip CSVs
//! (`metadata` per image, `chexpert` and `negbio` per study with alphabetical label columns,
//! `split` per image with `train` / `validate` / `test`), `files/pNN/pNNNNNNNN/sNNNNNNNN/*.jpg`,
//! and `mimic-cxr-reports/files/.../sNNNNNNNN.txt` with FINDINGS and IMPRESSION sections that
//! state the labels. Quirks planted: a blank `ViewPosition`, a study with no label row, a report
//! with no sections, a study with no report, a missing and a truncated image.

use std::fmt::Write as _;
use std::path::Path;

use image::DynamicImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::picture::{jpeg, radiograph};
use super::{Plant, SynthReport, gz, label_cell, plant, random_labels, write_file};
use crate::Result;
use crate::datasets::{CHEXPERT_LABELS, mimic_image_path};

const META_HEADER: &str = "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,PatientOrientationCodeSequence_CodeMeaning\n";

/// Label names in MIMIC's (alphabetical) column order.
fn names() -> Vec<&'static str> {
    let mut v = CHEXPERT_LABELS.to_vec();
    v.sort();
    v
}

#[derive(Default)]
struct Files {
    meta: String,
    chexpert: String,
    negbio: String,
    split: String,
}

pub(super) fn write(out: &Path, n: usize, seed: u64) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4D49_4D43);
    let labels_header = format!("subject_id,study_id,{}\n", names().join(","));
    let mut f = Files {
        meta: META_HEADER.into(),
        chexpert: labels_header.clone(),
        negbio: labels_header,
        split: "dicom_id,study_id,subject_id,split\n".into(),
    };
    let mut report = SynthReport {
        dataset: "mimic-cxr".into(),
        ..Default::default()
    };
    let (mut made, mut studies) = (0usize, 0usize);
    let mut subject = 10_000_000u32;
    while made < n {
        subject += rng.random_range(1..500);
        let split = match rng.random_range(0..10) {
            0 => "validate",
            1 => "test",
            _ => "train",
        };
        for _ in 0..rng.random_range(1..=2) {
            let study = 50_000_000 + studies as u32 * 17 + rng.random_range(0..17);
            let labels = random_labels(&mut rng, 14, 0.15, 0.05, 0.15);
            if studies != 2 {
                let row: Vec<String> = labels.iter().map(|v| label_cell(*v)).collect();
                writeln!(f.chexpert, "{subject},{study},{}", row.join(",")).unwrap();
                let nb: Vec<String> = labels
                    .iter()
                    .map(|v| label_cell(if *v == -1.0 { 0.0 } else { *v }))
                    .collect();
                writeln!(f.negbio, "{subject},{study},{}", nb.join(",")).unwrap();
            }
            if studies != 4 {
                let rel = format!(
                    "mimic-cxr-reports/files/p{}/p{subject}/s{study}.txt",
                    &subject.to_string()[..2]
                );
                write_file(out, &rel, report_text(&labels, studies == 3).as_bytes())?;
            }
            for v in 0..rng.random_range(1..=3) {
                if made == n {
                    break;
                }
                image(
                    &mut f,
                    out,
                    (subject, study, split, v, made),
                    &labels,
                    &mut rng,
                    &mut report,
                )?;
                made += 1;
            }
            studies += 1;
        }
    }
    for (name, text) in [
        ("metadata", &f.meta),
        ("chexpert", &f.chexpert),
        ("negbio", &f.negbio),
        ("split", &f.split),
    ] {
        write_file(out, &format!("mimic-cxr-2.0.0-{name}.csv.gz"), &gz(text))?;
    }
    Ok(report)
}

fn image(
    f: &mut Files,
    out: &Path,
    (subject, study, split, v, k): (u32, u32, &str, u32, usize),
    labels: &[f32],
    rng: &mut ChaCha8Rng,
    report: &mut SynthReport,
) -> Result<()> {
    let dicom: Vec<String> = (0..5)
        .map(|_| format!("{:08x}", rng.random::<u32>()))
        .collect();
    let dicom = dicom.join("-");
    let view = match (v, k) {
        (_, 5) => "",
        (0, _) => {
            if rng.random_bool(0.6) {
                "PA"
            } else {
                "AP"
            }
        }
        _ => "LATERAL",
    };
    let (w, h) = (rng.random_range(320..=512), rng.random_range(320..=512));
    writeln!(f.meta, "{dicom},{subject},{study},CHEST (PA AND LAT),{view},{h},{w},2180{:04},{:06}.{:03},CHEST (PA AND LAT),postero-anterior,Erect",
        rng.random_range(101..1228), rng.random_range(0..235959), rng.random_range(0..999)).unwrap();
    writeln!(f.split, "{dicom},{study},{subject},{split}").unwrap();
    let path = mimic_image_path(&subject.to_string(), &study.to_string(), &dicom);
    let bytes = jpeg(&DynamicImage::ImageLuma8(radiograph(labels, w, h, rng)));
    let split = if split == "validate" {
        "validation"
    } else {
        split
    };
    let how = match k {
        7 => Plant::Missing,
        8 => Plant::Cut(3),
        _ => Plant::Whole,
    };
    plant(out, &path, &bytes, how, split, report)?;
    Ok(())
}

fn report_text(labels: &[f32], no_sections: bool) -> String {
    let names = names();
    let mut findings = Vec::new();
    for (name, v) in names.iter().zip(labels) {
        let n = name.to_lowercase();
        match *v {
            1.0 => findings.push(format!("There is {n}.")),
            -1.0 => findings.push(format!("Possible {n}.")),
            0.0 => findings.push(format!("No {n}.")),
            _ => {}
        }
    }
    let impression = if labels.contains(&1.0) {
        "Abnormal study as described."
    } else {
        "No acute cardiopulmonary process."
    };
    if no_sections {
        return format!(
            "                                 FINAL REPORT\n PA and lateral chest.\n \n {}\n",
            findings.join(" ")
        );
    }
    format!(
        "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n INDICATION:  ___ with cough\n \n FINDINGS: \n \n {}\n \n IMPRESSION: \n \n {impression}\n",
        findings.join("  ")
    )
}
