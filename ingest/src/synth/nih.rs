//! Synthetic NIH ChestX-ray14 (specs/datasets.md Part 2 §1) in the Kaggle nesting:
//! `Data_Entry_2017_v2020.csv` (exact header, bracket-split columns, rows not sorted, float
//! artefacts in the spacing), `BBox_List_2017.csv` (three trailing header commas, `Infiltrate`),
//! patient-disjoint `train_val_list.txt` / `test_list.txt`, and
//! `images_001/images/*.png`, `images_002/images/*.png` with one patient spanning both folders.
//! Quirks planted: `No Finding`, labels out of alphabetical order, an RGBA PNG, a missing image.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use image::{DynamicImage, Rgba, RgbaImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::picture::{png, radiograph};
use super::{SynthReport, write_file};
use crate::Result;
use crate::datasets::NIH_LABELS;

const HEADER: &str = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n";

struct Item {
    name: String,
    patient: u32,
    labels: Vec<f32>,
    test: bool,
}

pub(super) fn write(out: &Path, n: usize, seed: u64) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x004E_4948);
    let mut items = Vec::with_capacity(n);
    let mut patient = 0;
    while items.len() < n {
        patient += 1;
        let test = rng.random_bool(0.2);
        for f in 0..rng.random_range(1..=4) {
            if items.len() == n {
                break;
            }
            let labels: Vec<f32> = (0..14)
                .map(|_| if rng.random_bool(0.08) { 1.0 } else { 0.0 })
                .collect();
            items.push(Item {
                name: format!("{patient:08}_{f:03}.png"),
                patient,
                labels,
                test,
            });
        }
    }
    let mut report = SynthReport {
        dataset: "nih-cxr14".into(),
        ..Default::default()
    };
    let mut csv = HEADER.to_string();
    let mut bbox = "Image Index,Finding Label,Bbox [x,y,w,h],,,\n".to_string();
    let mut lists: BTreeMap<bool, String> = BTreeMap::new();
    let half = n / 2;
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).step_by(7) {
        order.swap(i - 1, i);
    }
    for (k, &i) in order.iter().enumerate() {
        let it = &items[i];
        writeln!(csv, "{}", entry_row(it, k, &mut rng)).unwrap();
        writeln!(lists.entry(it.test).or_default(), "{}", it.name).unwrap();
        if let Some(j) = it
            .labels
            .iter()
            .position(|v| *v == 1.0)
            .filter(|_| rng.random_bool(0.3))
        {
            let label = if NIH_LABELS[j] == "Infiltration" {
                "Infiltrate"
            } else {
                NIH_LABELS[j]
            };
            writeln!(
                bbox,
                "{},{label},{:.12},{:.12},{:.12},{:.12}",
                it.name,
                rng.random_range(0.0..800.0),
                rng.random_range(0.0..800.0),
                86.7796610169491,
                79.1864406779661
            )
            .unwrap();
        }
        let folder = if i < half { "images_001" } else { "images_002" };
        let rel = format!("{folder}/images/{}", it.name);
        if k == 4 {
            report.quarantined("missing-image");
            continue;
        }
        let size = rng.random_range(256..=384);
        let grey = radiograph(&it.labels, size, size, &mut rng);
        let img = if k == 6 {
            DynamicImage::ImageRgba8(RgbaImage::from_fn(size, size, |x, y| {
                let v = grey.get_pixel(x, y).0[0];
                Rgba([v, v, v, 255])
            }))
        } else {
            DynamicImage::ImageLuma8(grey)
        };
        write_file(out, &rel, &png(&img))?;
        report.images += 1;
        report.row(if it.test { "test" } else { "train" });
    }
    write_file(out, "Data_Entry_2017_v2020.csv", csv.as_bytes())?;
    write_file(out, "BBox_List_2017.csv", bbox.as_bytes())?;
    write_file(
        out,
        "train_val_list.txt",
        lists.remove(&false).unwrap_or_default().as_bytes(),
    )?;
    write_file(
        out,
        "test_list.txt",
        lists.remove(&true).unwrap_or_default().as_bytes(),
    )?;
    Ok(report)
}

fn entry_row(it: &Item, k: usize, rng: &mut ChaCha8Rng) -> String {
    let mut names: Vec<&str> = NIH_LABELS
        .iter()
        .zip(&it.labels)
        .filter(|(_, v)| **v == 1.0)
        .map(|(n, _)| *n)
        .collect();
    names.sort();
    if k % 11 == 3 {
        names.reverse();
    }
    let findings = if names.is_empty() {
        "No Finding".to_string()
    } else {
        names.join("|")
    };
    let spacing = if rng.random_bool(0.5) {
        "0.14300000000000002"
    } else {
        "0.168"
    };
    let view = if rng.random_bool(0.6) { "PA" } else { "AP" };
    let sex = if rng.random_bool(0.5) { "M" } else { "F" };
    format!(
        "{},{findings},{},{},{},{sex},{view},2500,2048,{spacing},{spacing}",
        it.name,
        k % 5,
        it.patient,
        rng.random_range(1..95)
    )
}
