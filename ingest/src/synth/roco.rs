//! Synthetic ROCO in razorx89/roco-dataset's layout (specs/datasets.md §2).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::composition::Composition;
use super::picture::{jpeg, random_size};
use super::{SynthReport, quirk_slots, write_file};
use crate::Result;

const SPLITS: [(&str, f64); 3] = [("train", 0.8), ("validation", 0.1), ("test", 0.1)];
const SUBSETS: [&str; 2] = ["radiology", "non-radiology"];
const LICENCES: [&str; 8] = [
    "CC BY",
    "CC BY-NC",
    "CC BY-NC-SA",
    "CC BY-NC-ND",
    "CC BY-ND",
    "CC BY-SA",
    "CC0",
    "NO-CC CODE",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    TwoSpaces,
    IdOnlyCaption,
    MissingImage,
    TruncatedImage,
    GarbageImage,
    EmptyImage,
    KeywordsIdOnly,
    French,
}

const QUIRKS: [Quirk; 8] = [
    Quirk::TwoSpaces,
    Quirk::IdOnlyCaption,
    Quirk::MissingImage,
    Quirk::TruncatedImage,
    Quirk::GarbageImage,
    Quirk::EmptyImage,
    Quirk::KeywordsIdOnly,
    Quirk::French,
];

struct Item {
    id: u32,
    split: usize,
    subset: usize,
    quirk: Quirk,
}

pub(super) fn write(out: &Path, n: usize, seed: u64) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x524F_434F);
    let slots = quirk_slots::<8>(&mut rng, n);
    let non_rad = (n * 7 / 100).max(2);
    let mut items = Vec::with_capacity(n);
    let mut id = 0u32;
    for i in 0..n {
        id += rng.random_range(1..=3);
        let subset = usize::from(i >= n - non_rad);
        let split = pick_split(&mut rng);
        let quirk = slots
            .iter()
            .position(|s| *s == i)
            .map_or(Quirk::None, |k| QUIRKS[k]);
        items.push(Item {
            id,
            split,
            subset,
            quirk,
        });
    }
    let mut folders: BTreeMap<(usize, usize), Vec<&Item>> = BTreeMap::new();
    for it in &items {
        folders.entry((it.split, it.subset)).or_default().push(it);
    }
    let mut report = SynthReport {
        dataset: "roco".into(),
        ..Default::default()
    };
    for ((split, subset), list) in folders {
        let dir = format!("data/{}/{}", SPLITS[split].0, SUBSETS[subset]);
        write_folder(out, &dir, &list, &mut rng, &mut report)?;
    }
    Ok(report)
}

fn pick_split(rng: &mut ChaCha8Rng) -> usize {
    let x: f64 = rng.random();
    if x < SPLITS[0].1 {
        0
    } else if x < SPLITS[0].1 + SPLITS[1].1 {
        1
    } else {
        2
    }
}

#[derive(Default)]
struct Files {
    captions: String,
    keywords: String,
    cuis: String,
    semtypes: String,
    dlinks: String,
    licences: String,
}

fn write_folder(
    out: &Path,
    dir: &str,
    items: &[&Item],
    rng: &mut ChaCha8Rng,
    report: &mut SynthReport,
) -> Result<()> {
    let mut f = Files {
        licences: "ROCO_ID,PMC_ID,CC\n".into(),
        ..Default::default()
    };
    for it in items {
        let name = format!("ROCO_{:05}", it.id);
        let scene = Composition::random(rng);
        let caption = caption(&scene, it, rng);
        text_lines(&mut f, &name, &caption, it, rng);
        let image = image_bytes(&scene, it, rng);
        if let Some(bytes) = &image {
            write_file(out, &format!("{dir}/images/{name}.jpg"), bytes)?;
            report.images += 1;
        }
        match it.quirk {
            Quirk::IdOnlyCaption => report.quarantined("no-caption"),
            Quirk::MissingImage => report.quarantined("missing-image"),
            Quirk::TruncatedImage => report.quarantined("corrupt-image"),
            Quirk::GarbageImage => report.quarantined("unsupported-format"),
            Quirk::EmptyImage => report.quarantined("empty-image"),
            _ => report.row(SPLITS[it.split].0),
        }
    }
    for (file, text) in [
        ("captions.txt", &f.captions),
        ("keywords.txt", &f.keywords),
        ("cuis.txt", &f.cuis),
        ("semtypes.txt", &f.semtypes),
        ("dlinks.txt", &f.dlinks),
        ("licences.txt", &f.licences),
    ] {
        write_file(out, &format!("{dir}/{file}"), text.as_bytes())?;
    }
    Ok(())
}

fn caption(scene: &Composition, it: &Item, rng: &mut ChaCha8Rng) -> String {
    if it.quirk == Quirk::French {
        return "Coupe axiale TDM montrant une masse hyperdense arrondie – aspect typique à 45°."
            .into();
    }
    let mut c = scene.caption();
    match rng.random_range(0..6) {
        0 => c.push_str(" (arrow)"),
        1 => c.push_str(" with “marked” enhancement at 37°C"),
        _ => {}
    }
    c.push('.');
    c
}

fn text_lines(f: &mut Files, name: &str, caption: &str, it: &Item, rng: &mut ChaCha8Rng) {
    match it.quirk {
        Quirk::IdOnlyCaption => writeln!(f.captions, "{name}").unwrap(),
        Quirk::TwoSpaces => writeln!(f.captions, "{name}\t  {caption} ").unwrap(),
        _ => writeln!(f.captions, "{name}\t {caption}").unwrap(),
    }
    let words: Vec<String> = caption
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .map(|w| w.to_lowercase().trim_end_matches('s').to_string())
        .collect();
    if it.quirk == Quirk::KeywordsIdOnly || words.is_empty() {
        writeln!(f.keywords, "{name}\t").unwrap();
    } else {
        writeln!(f.keywords, "{name}\t\t{}", words.join("\t")).unwrap();
    }
    let k = rng.random_range(0..4);
    if k == 0 {
        writeln!(f.cuis, "{name}\t").unwrap();
        writeln!(f.semtypes, "{name}\t").unwrap();
    } else {
        let cuis: Vec<String> = (0..k)
            .map(|_| format!("C{:07}", rng.random_range(0..9_999_999)))
            .collect();
        writeln!(f.cuis, "{name}\t\t{}", cuis.join("\t")).unwrap();
        writeln!(
            f.semtypes,
            "{name}\t\tT047\tDisease or Syndrome\tT060\tDiagnostic Procedure"
        )
        .unwrap();
    }
    let pmc = rng.random_range(1_000_000..9_000_000);
    let file = format!(
        "fig-{}-g{:02}.jpg",
        rng.random_range(1..999),
        rng.random_range(1..20)
    );
    let (a, b) = (rng.random_range(0..256), rng.random_range(0..256));
    writeln!(f.dlinks, "{name}\twget -r ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_package/{a:02x}/{b:02x}/PMC{pmc}.tar.gz -P /path/to/Dir\t{file}").unwrap();
    let licence = LICENCES[rng.random_range(0..LICENCES.len())];
    writeln!(f.licences, "{name},PMC{pmc}_{file},{licence}").unwrap();
}

fn image_bytes(scene: &Composition, it: &Item, rng: &mut ChaCha8Rng) -> Option<Vec<u8>> {
    let (w, h) = random_size(rng);
    let grey = it.subset == 0 && rng.random_bool(0.85);
    match it.quirk {
        Quirk::MissingImage => None,
        Quirk::EmptyImage => Some(Vec::new()),
        Quirk::GarbageImage => Some((0..2048).map(|_| rng.random_range(0..=254u8)).collect()),
        Quirk::TruncatedImage => {
            let full = jpeg(&scene.render(w, h, grey, rng));
            Some(full[..full.len() / 3].to_vec())
        }
        _ => Some(jpeg(&scene.render(w, h, grey, rng))),
    }
}
