//! Synthetic CheXpert-v1.0-small (specs/datasets.md Part 2 §2): `train.csv`, `valid.csv` and
//! `{train,valid}/patientNNNNN/studyN/viewN_{frontal,lateral}.jpg`, every path prefixed with the
//! top folder. Quirks planted: blank / -1 / 0 / 1 labels in train and only 0 / 1 in valid,
//! `No Finding` only 1 or blank, a `Sex` of `Unknown`, a frontal row with `LL`, laterals with an
//! empty `AP/PA`, valid rows not sorted by view, a missing and a truncated image.

use std::fmt::Write as _;
use std::path::Path;

use image::DynamicImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::picture::{jpeg, radiograph};
use super::{Plant, SynthReport, label_cell, plant, random_labels, write_file};
use crate::Result;
use crate::datasets::CHEXPERT_LABELS;

const TOP: &str = "CheXpert-v1.0-small";

struct Image {
    rel: String,
    frontal: bool,
}

pub(super) fn write(out: &Path, n: usize, seed: u64) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC4E7);
    let mut report = SynthReport {
        dataset: "chexpert".into(),
        ..Default::default()
    };
    let header = format!(
        "Path,Sex,Age,Frontal/Lateral,AP/PA,{}\n",
        CHEXPERT_LABELS.join(",")
    );
    let (mut train, mut valid) = (header.clone(), header);
    let n_valid = (n / 10).max(3);
    let mut made = 0;
    let mut patient = 0;
    while made < n {
        patient += 1;
        let is_valid = made >= n - n_valid;
        let folder = if is_valid { "valid" } else { "train" };
        let pid = if is_valid { 64540 + patient } else { patient };
        for study in 1..=rng.random_range(1..=2) {
            let mut views: Vec<Image> = (1..=rng.random_range(1..=3u32))
                .map(|v| {
                    let frontal = v == 1 || rng.random_bool(0.5);
                    let kind = if frontal { "frontal" } else { "lateral" };
                    Image {
                        rel: format!("{folder}/patient{pid:05}/study{study}/view{v}_{kind}.jpg"),
                        frontal,
                    }
                })
                .collect();
            if is_valid && views.len() > 2 {
                views.swap(1, 2);
            }
            for img in views {
                if made >= n {
                    break;
                }
                let line = row(&img, is_valid, made, &mut rng, out, &mut report)?;
                if is_valid {
                    valid.push_str(&line)
                } else {
                    train.push_str(&line)
                }
                made += 1;
            }
        }
    }
    write_file(out, &format!("{TOP}/train.csv"), train.as_bytes())?;
    write_file(out, &format!("{TOP}/valid.csv"), valid.as_bytes())?;
    Ok(report)
}

fn row(
    img: &Image,
    is_valid: bool,
    k: usize,
    rng: &mut ChaCha8Rng,
    out: &Path,
    report: &mut SynthReport,
) -> Result<String> {
    let mut labels = if is_valid {
        random_labels(rng, 14, 0.25, 0.0, 0.75)
    } else {
        random_labels(rng, 14, 0.15, 0.08, 0.1)
    };
    let any = labels[1..].contains(&1.0);
    labels[0] = if any {
        if is_valid { 0.0 } else { f32::NAN }
    } else {
        1.0
    };
    let sex = if k == 5 {
        "Unknown"
    } else if rng.random_bool(0.5) {
        "Female"
    } else {
        "Male"
    };
    let ap = match (img.frontal, k) {
        (false, _) => "",
        (true, 7) => "LL",
        _ if rng.random_bool(0.8) => "AP",
        _ => "PA",
    };
    let mut line = format!(
        "{TOP}/{},{sex},{},{},{ap}",
        img.rel,
        rng.random_range(18..90),
        if img.frontal { "Frontal" } else { "Lateral" }
    );
    for v in &labels {
        write!(line, ",{}", label_cell(*v)).unwrap();
    }
    line.push('\n');
    let (w, h) = (320, rng.random_range(300..=390));
    let bytes = jpeg(&DynamicImage::ImageLuma8(radiograph(
        &labels[1..],
        w,
        h,
        rng,
    )));
    let split = if is_valid { "validation" } else { "train" };
    let path = format!("{TOP}/{}", img.rel);
    let how = match k {
        3 => Plant::Missing,
        9 => Plant::Cut(2),
        _ => Plant::Whole,
    };
    plant(out, &path, &bytes, how, split, report)?;
    Ok(line)
}
