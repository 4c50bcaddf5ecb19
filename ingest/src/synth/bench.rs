//! Benchmark inputs: a clean PMC-OA layout (`pmc_oa_beta.jsonl` and the image folder, no quirks)
//! with images of a chosen size range and a mix of encodings (JPEG, 8-bit PNG, 16-bit PNG), so
//! the ingest benchmark can time small kept-as-is figures and large radiographs on the same
//! reader.

use std::fmt::Write as _;
use std::path::Path;

use image::{DynamicImage, ImageBuffer, Luma};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::picture::{Scene, jpeg, png, render};
use super::{SynthReport, write_file};
use crate::{Error, Result};

/// An image encoding the benchmark mix can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchFormat {
    /// JPEG, quality 85.
    Jpeg,
    /// 8-bit greyscale PNG.
    Png8,
    /// 16-bit greyscale PNG.
    Png16,
}

impl BenchFormat {
    /// Parses `jpeg`, `png8` or `png16`.
    pub fn parse(s: &str) -> Result<BenchFormat> {
        match s.trim() {
            "jpeg" => Ok(BenchFormat::Jpeg),
            "png8" => Ok(BenchFormat::Png8),
            "png16" => Ok(BenchFormat::Png16),
            other => Err(Error::InvalidOption {
                option: "--formats",
                reason: format!("`{other}`: expected jpeg, png8 or png16"),
            }),
        }
    }
}

/// Writes `n` benchmark images whose longer side lies in `sizes`, formats drawn evenly from
/// `formats`.
pub fn write_bench(
    out: &Path,
    n: usize,
    seed: u64,
    sizes: (u32, u32),
    formats: &[BenchFormat],
) -> Result<SynthReport> {
    if formats.is_empty() || sizes.0 == 0 || sizes.0 > sizes.1 {
        return Err(Error::InvalidOption {
            option: "--image-size",
            reason: "expected LO-HI with 0 < LO <= HI and at least one format".into(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xBE4C);
    let mut lines = String::new();
    let mut report = SynthReport {
        dataset: "pmc-oa".into(),
        ..Default::default()
    };
    for i in 0..n {
        let scene = Scene::random(&mut rng);
        let long = rng.random_range(sizes.0..=sizes.1);
        let short = (long as f32 * rng.random_range(0.75..1.0f32)) as u32;
        let fmt = formats[i % formats.len()];
        let grey = fmt != BenchFormat::Jpeg || rng.random_bool(0.5);
        let img = render(&scene, short, long, grey, &mut rng);
        let (ext, bytes) = match fmt {
            BenchFormat::Jpeg => ("jpg", jpeg(&img)),
            BenchFormat::Png8 => ("png", png(&img)),
            BenchFormat::Png16 => {
                let g = img.to_luma8();
                let wide = ImageBuffer::from_fn(g.width(), g.height(), |x, y| {
                    Luma([g.get_pixel(x, y).0[0] as u16 * 257 + (x % 7) as u16])
                });
                ("png", png(&DynamicImage::ImageLuma16(wide)))
            }
        };
        let name = format!("PMC{}_F1_1.{ext}", 500_000 + i);
        write_file(
            out,
            &format!("caption_T060_filtered_top4_sep_v0_subfigures/{name}"),
            &bytes,
        )?;
        writeln!(
            lines,
            "{}",
            json!({"image": name, "caption": format!("Figure showing {}.", scene.phrase())})
        )
        .unwrap();
        report.images += 1;
        report.row("train");
    }
    write_file(out, "pmc_oa_beta.jsonl", lines.as_bytes())?;
    Ok(report)
}
