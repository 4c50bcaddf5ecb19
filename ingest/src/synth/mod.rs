//! `unimlip synth`: small datasets in each dataset's exact published layout, with generated
//! images whose captions describe them and the real quirks planted. The same seed gives the
//! same bytes.

mod bench;
mod chexpert;
mod composition;
mod mimic;
mod nih;
mod picture;
mod pmc_oa;
mod roco;
mod slake;
mod vqa_rad;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::{Dataset, Error, Result};

pub use bench::{BenchFormat, write_bench};
pub use composition::{Composition, Object};
pub use picture::{POSITIONS, SHAPES, Scene, TONES};

/// What a synth run wrote, and what an ingest of it must produce with default options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SynthReport {
    /// Dataset name.
    pub dataset: String,
    /// Input records written (lines that are records).
    pub records: u64,
    /// Records an ingest must store, per split.
    pub expected_rows: BTreeMap<String, u64>,
    /// Records an ingest must quarantine, per reason.
    pub expected_quarantine: BTreeMap<String, u64>,
    /// Image files written.
    pub images: u64,
}

impl SynthReport {
    fn row(&mut self, split: &str) {
        self.records += 1;
        *self.expected_rows.entry(split.to_string()).or_default() += 1;
    }

    fn quarantined(&mut self, reason: &str) {
        self.records += 1;
        *self
            .expected_quarantine
            .entry(reason.to_string())
            .or_default() += 1;
    }
}

/// The smallest `n` that leaves room for every planted quirk.
pub const MIN_RECORDS: usize = 16;

/// Writes a synthetic dataset of `n` records under `out`.
pub fn synth(dataset: Dataset, out: &Path, n: usize, seed: u64) -> Result<SynthReport> {
    if n < MIN_RECORDS {
        return Err(Error::InvalidOption {
            option: "--n",
            reason: format!(
                "{n} is too small: at least {MIN_RECORDS} records leave room for every quirk"
            ),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| Error::read(out.display().to_string(), e))?;
    match dataset {
        Dataset::Roco => roco::write(out, n, seed),
        Dataset::PmcOa => pmc_oa::write(out, n, seed),
        Dataset::Chexpert => chexpert::write(out, n, seed),
        Dataset::NihCxr14 => nih::write(out, n, seed),
        Dataset::MimicCxr => mimic::write(out, n, seed),
        Dataset::VqaRad => vqa_rad::write(out, n, seed),
        Dataset::Slake => slake::write(out, n, seed),
    }
}

pub(crate) fn write_file(root: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let p = root.join(rel);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::read(dir.display().to_string(), e))?;
    }
    std::fs::write(&p, bytes).map_err(|e| Error::read(p.display().to_string(), e))
}

/// How a synthetic image is written: whole, left out, or cut to `1/n` of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plant {
    Whole,
    Missing,
    Cut(usize),
}

/// Writes (or plants the fault of) one image and records what an ingest must make of it.
pub(crate) fn plant(
    out: &Path,
    path: &str,
    bytes: &[u8],
    how: Plant,
    split: &str,
    report: &mut SynthReport,
) -> Result<()> {
    match how {
        Plant::Missing => report.quarantined("missing-image"),
        Plant::Cut(n) => {
            write_file(out, path, &bytes[..bytes.len() / n])?;
            report.images += 1;
            report.quarantined("corrupt-image");
        }
        Plant::Whole => {
            write_file(out, path, bytes)?;
            report.images += 1;
            report.row(split);
        }
    }
    Ok(())
}

/// Gzip-compresses text (fixed settings, so the same text gives the same bytes).
pub(crate) fn gz(text: &str) -> Vec<u8> {
    let mut z = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, text.as_bytes()).expect("in-memory gzip");
    z.finish().expect("in-memory gzip")
}

/// A random label vector: each entry positive with probability `p`, uncertain (-1) with `pu`,
/// negative (0) with `pn`, else not mentioned (NaN).
pub(crate) fn random_labels(
    rng: &mut rand_chacha::ChaCha8Rng,
    k: usize,
    p: f64,
    pu: f64,
    pn: f64,
) -> Vec<f32> {
    use rand::Rng;
    (0..k)
        .map(|_| {
            let x: f64 = rng.random();
            if x < p {
                1.0
            } else if x < p + pu {
                -1.0
            } else if x < p + pu + pn {
                0.0
            } else {
                f32::NAN
            }
        })
        .collect()
}

/// A label as the CheXpert-style CSVs write it: `1.0`, `0.0`, `-1.0` or empty.
pub(crate) fn label_cell(v: f32) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v:.1}")
    }
}

/// A PNG whose header claims `w`×`h` grey pixels, with a tiny (wrong) image body: rejected on
/// its header alone, without allocating gigabytes.
pub fn huge_png_header(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, &[0u8; 64]).expect("in-memory zlib");
    chunk(&mut out, b"IDAT", &z.finish().expect("in-memory zlib"));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// Quirks planted once each, at distinct random record indices.
pub(crate) fn quirk_slots<const K: usize>(
    rng: &mut rand_chacha::ChaCha8Rng,
    n: usize,
) -> [usize; K] {
    let mut all: Vec<usize> = (0..n).collect();
    rand::seq::SliceRandom::shuffle(&mut all[..], rng);
    let mut out = [0; K];
    out.copy_from_slice(&all[..K]);
    out
}
