//! Synthetic PMC-OA in its Hugging Face layout (specs/datasets.md §1): release A's
//! `train.jsonl` / `valid.jsonl` / `test.jsonl`, release B's `pmc_oa.jsonl` and
//! `pmc_oa_beta.jsonl`, and `caption_T060_filtered_top4_sep_v0_subfigures/` with the images.
//! The expected counts in the report are those of the default variant (release A's splits).

use std::fmt::Write as _;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::picture::{Scene, jpeg, random_size, render};
use super::{SynthReport, huge_png_header, quirk_slots, write_file};
use crate::Result;

const IMAGE_DIR: &str = "caption_T060_filtered_top4_sep_v0_subfigures";
const SPLIT_FILES: [(&str, &str); 3] = [
    ("train.jsonl", "train"),
    ("valid.jsonl", "validation"),
    ("test.jsonl", "test"),
];
const KINDS: [&str; 4] = [
    "Fluorescence micrograph",
    "Axial CT",
    "Bar chart",
    "Histology section",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    Newline,
    Spaces,
    NonAscii,
    MissingImage,
    CorruptImage,
    PathEscape,
    InvalidJson,
    NoCaption,
    TooLarge,
    Duplicate,
}

const QUIRKS: [Quirk; 10] = [
    Quirk::Newline,
    Quirk::Spaces,
    Quirk::NonAscii,
    Quirk::MissingImage,
    Quirk::CorruptImage,
    Quirk::PathEscape,
    Quirk::InvalidJson,
    Quirk::NoCaption,
    Quirk::TooLarge,
    Quirk::Duplicate,
];

pub(super) fn write(out: &Path, n: usize, seed: u64) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x504D_434F);
    let slots = quirk_slots::<10>(&mut rng, n);
    let mut files: [String; 3] = Default::default();
    let (mut b, mut beta) = (String::new(), String::new());
    let mut report = SynthReport {
        dataset: "pmc-oa".into(),
        ..Default::default()
    };
    let mut last: Option<(String, usize)> = None;
    for i in 0..n {
        let mut quirk = slots
            .iter()
            .position(|s| *s == i)
            .map_or(Quirk::None, |k| QUIRKS[k]);
        let mut split = pick_split(&mut rng);
        let last_image = match (&last, quirk) {
            (Some((img, s)), Quirk::Duplicate) => {
                split = *s;
                img.clone()
            }
            (None, Quirk::Duplicate) => {
                quirk = Quirk::None;
                String::new()
            }
            _ => String::new(),
        };
        let pmc = 100_000 + i as u32 * 7 + rng.random_range(0..7);
        let image = format!(
            "PMC{pmc}_Fig{}_{}.jpg",
            rng.random_range(1..9),
            rng.random_range(1..5)
        );
        let scene = Scene::random(&mut rng);
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        let caption = format!("{kind} showing {}.", scene.phrase());
        let (line, expect) = release_a_line(quirk, &image, &caption, pmc, &last_image);
        writeln!(files[split], "{line}").unwrap();
        match expect {
            Some(reason) => report.quarantined(reason),
            None => report.row(SPLIT_FILES[split].1),
        }
        if quirk != Quirk::Duplicate {
            write_image(out, quirk, &image, &scene, &mut rng, &mut report)?;
            let score: f64 = rng.random_range(0.5..1.0);
            let sub = json!({"image": image, "caption": caption, "alignment_type": "subcaption", "alignment_score": (score * 1000.0).round() / 1000.0});
            writeln!(b, "{sub}").unwrap();
            writeln!(
                beta,
                "{}",
                json!({"image": image, "caption": format!("A. {caption} B. Control.")})
            )
            .unwrap();
        }
        if quirk == Quirk::None {
            last = Some((image, split));
        }
    }
    for (k, (file, _)) in SPLIT_FILES.iter().enumerate() {
        write_file(out, file, files[k].as_bytes())?;
    }
    write_file(out, "pmc_oa.jsonl", b.as_bytes())?;
    write_file(out, "pmc_oa_beta.jsonl", beta.as_bytes())?;
    Ok(report)
}

fn pick_split(rng: &mut ChaCha8Rng) -> usize {
    let x: f64 = rng.random();
    if x < 0.8 {
        0
    } else if x < 0.9 {
        1
    } else {
        2
    }
}

/// The release A line of a record and the quarantine reason it must get, if any.
fn release_a_line(
    quirk: Quirk,
    image: &str,
    caption: &str,
    pmc: u32,
    last: &str,
) -> (String, Option<&'static str>) {
    let obj = |img: &str, cap: &str| {
        json!({"image": img, "caption": cap, "pmcid": format!("PMC{pmc}"), "url_name": format!("{pmc}-g1.jpg")}).to_string()
    };
    match quirk {
        Quirk::Newline => (
            obj(image, &caption.replacen(" showing", "\nshowing", 1)),
            None,
        ),
        Quirk::Spaces => (obj(image, &format!("  {caption} ")), None),
        Quirk::NonAscii => (
            obj(image, &format!("{caption} Échelle : 50 µm – “flèche”.")),
            None,
        ),
        Quirk::MissingImage => (obj(image, caption), Some("missing-image")),
        Quirk::CorruptImage => (obj(image, caption), Some("corrupt-image")),
        Quirk::TooLarge => (obj(image, caption), Some("too-large")),
        Quirk::PathEscape => (obj(&format!("../{image}"), caption), Some("path-escape")),
        Quirk::InvalidJson => (
            format!("{{\"image\": \"{image}\", \"caption\": "),
            Some("bad-metadata"),
        ),
        Quirk::NoCaption => (obj(image, "  "), Some("no-caption")),
        Quirk::Duplicate => (obj(last, caption), Some("duplicate-id")),
        _ => (obj(image, caption), None),
    }
}

fn write_image(
    out: &Path,
    quirk: Quirk,
    image: &str,
    scene: &Scene,
    rng: &mut ChaCha8Rng,
    report: &mut SynthReport,
) -> Result<()> {
    let (w, h) = random_size(rng);
    let grey = rng.random_bool(0.3);
    let bytes = match quirk {
        Quirk::MissingImage => return Ok(()),
        Quirk::TooLarge => huge_png_header(12_000, 9_000),
        Quirk::CorruptImage => {
            let mut b = jpeg(&render(scene, w, h, grey, rng));
            b.truncate(b.len() / 2);
            b
        }
        _ => jpeg(&render(scene, w, h, grey, rng)),
    };
    report.images += 1;
    write_file(out, &format!("{IMAGE_DIR}/{image}"), &bytes)
}
