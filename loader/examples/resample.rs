//! The loader's crop-resize against `fast_image_resize` on the same random crops, side by side:
//! `cargo run --release -p unimlip-loader --example resample`. Crops are RandomResizedCrop boxes
//! (scale 0.08–1, ratio 3/4–4/3) of a 512 × 512 image resized to 224 × 224, bilinear and
//! bicubic, RGB and grey; rounds are interleaved and the median round is printed.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use fast_image_resize as fir;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use unimlip_loader::augment::{Filter, Region, Resampler, Src};

const SIDE: u32 = 512;
const OUT: u32 = 224;
const CROPS: usize = 400;
const ROUNDS: usize = 7;

fn crops(seed: u64) -> Vec<Region> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..CROPS)
        .map(|_| {
            loop {
                let area = rng.random_range(0.08..1.0) * f64::from(SIDE * SIDE);
                let ratio = rng.random_range((0.75f64).ln()..(4.0f64 / 3.0).ln()).exp();
                let (w, h) = ((area * ratio).sqrt(), (area / ratio).sqrt());
                if w <= f64::from(SIDE) && h <= f64::from(SIDE) {
                    let left = rng.random_range(0.0..=f64::from(SIDE) - w);
                    let top = rng.random_range(0.0..=f64::from(SIDE) - h);
                    break Region {
                        left,
                        top,
                        width: w,
                        height: h,
                    };
                }
            }
        })
        .collect()
}

fn ours(rs: &mut Resampler, src: Src<'_>, crops: &[Region], f: Filter, out: &mut [u8]) {
    for r in crops {
        rs.resize(src, *r, f, out, (OUT, OUT)).expect("valid crop");
    }
}

fn theirs(rs: &mut fir::Resizer, src: Src<'_>, crops: &[Region], f: Filter, out: &mut [u8]) {
    let pixel = if src.channels == 1 {
        fir::PixelType::U8
    } else {
        fir::PixelType::U8x3
    };
    let view = fir::images::ImageRef::new(src.width, src.height, src.data, pixel).expect("image");
    let filter = match f {
        Filter::Bilinear => fir::FilterType::Bilinear,
        Filter::CatmullRom => fir::FilterType::CatmullRom,
    };
    for r in crops {
        let mut dst = fir::images::Image::from_slice_u8(OUT, OUT, out, pixel).expect("output");
        let options = fir::ResizeOptions::new()
            .crop(r.left, r.top, r.width, r.height)
            .resize_alg(fir::ResizeAlg::Convolution(filter));
        rs.resize(&view, &mut dst, &options).expect("valid crop");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let boxes = crops(1);
    println!(
        "{CROPS} random-resized crops of a {SIDE}² image to {OUT}², median of {ROUNDS} interleaved rounds (µs per crop)"
    );
    println!(
        "{:<22}{:>12}{:>18}{:>8}",
        "", "unimlip", "fast_image_resize", "ratio"
    );
    for channels in [3usize, 1] {
        let data: Vec<u8> = (0..(SIDE * SIDE) as usize * channels)
            .map(|i| ((i * 7919) % 251) as u8 ^ (i / 1024) as u8)
            .collect();
        let src = Src {
            data: &data,
            width: SIDE,
            height: SIDE,
            channels,
        };
        let mut out = vec![0u8; (OUT * OUT) as usize * channels];
        for f in [Filter::Bilinear, Filter::CatmullRom] {
            let (mut a, mut b) = (Resampler::default(), fir::Resizer::new());
            let (mut ta, mut tb) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                let t = Instant::now();
                ours(&mut a, src, &boxes, f, &mut out);
                ta.push(t.elapsed().as_secs_f64() * 1e6 / CROPS as f64);
                let t = Instant::now();
                theirs(&mut b, src, &boxes, f, &mut out);
                tb.push(t.elapsed().as_secs_f64() * 1e6 / CROPS as f64);
            }
            let (ma, mb) = (median(ta), median(tb));
            let label = format!("{} {f:?}", if channels == 3 { "RGB" } else { "grey" });
            println!("{label:<22}{ma:>12.1}{mb:>18.1}{:>7.2}x", ma / mb);
        }
    }
}
