//! The augmenter on generated images: fused crop-and-scale decode against a full decode,
//! flips, greyscale handling, determinism.

use image::{GrayImage, ImageEncoder, RgbImage};

use super::*;
use fast_image_resize as fir;

fn rgb_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x + y) % 64 * 4) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn grey_png16(w: u32, h: u32) -> Vec<u8> {
    let img = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(w, h, |x, _| {
        image::Luma([(x * 65535 / w) as u16])
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            &img.as_raw()
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect::<Vec<u8>>(),
            w,
            h,
            image::ExtendedColorType::L16,
        )
        .unwrap();
    out
}

fn render(p: &Pipeline, bytes: &[u8], seed: u64) -> Vec<Vec<u8>> {
    let mut aug = Augmenter::new(p.clone()).unwrap();
    let mut out: Vec<Vec<u8>> = (0..p.views.len())
        .map(|v| vec![0; p.view_bytes(v)])
        .collect();
    let mut slots: Vec<&mut [u8]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
    aug.process(bytes, seed, &mut slots).unwrap();
    out
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

fn single(crop: Crop, flip_p: f64) -> Pipeline {
    Pipeline {
        views: vec![ViewSpec {
            name: "v".into(),
            crop,
            interp: Interp::Bilinear,
            jitter: None,
            greyscale_p: 0.0,
            blur: None,
            flip_p,
            ops: ColourOps::Pil,
        }],
    }
}

#[test]
fn the_fused_crop_decode_matches_a_full_decode_then_crop() {
    let jpeg = rgb_jpeg(1000, 700);
    let full = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    let p = single(
        Crop::RandomResized {
            size: 112,
            scale: (0.08, 1.0),
            ratio: (0.75, 4.0 / 3.0),
        },
        0.0,
    );
    for seed in 0..20u64 {
        let got = render(&p, &jpeg, seed);
        // The reference: same box (same RNG), cropped from the full decode.
        let b = p.views[0].draw(1000, 700, &mut view_rng(seed, 0)).crop;
        let src =
            fir::images::ImageRef::new(1000, 700, full.as_raw(), fir::PixelType::U8x3).unwrap();
        let mut want = vec![0u8; 112 * 112 * 3];
        let mut dst =
            fir::images::Image::from_slice_u8(112, 112, &mut want, fir::PixelType::U8x3).unwrap();
        fir::Resizer::new()
            .resize(
                &src,
                &mut dst,
                &fir::ResizeOptions::new()
                    .crop(b.x, b.y, b.w, b.h)
                    .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear)),
            )
            .unwrap();
        let d = mean_abs_diff(&got[0], &want);
        assert!(
            d < 3.0,
            "seed {seed}: box {b:?} differs by {d:.2} on average"
        );
    }
}

#[test]
fn a_flip_mirrors_the_same_crop() {
    let jpeg = rgb_jpeg(640, 480);
    let crop = Crop::RandomResized {
        size: 64,
        scale: (0.3, 1.0),
        ratio: (0.75, 4.0 / 3.0),
    };
    let plain = render(&single(crop, 0.0), &jpeg, 7);
    let flipped = render(&single(crop, 1.0), &jpeg, 7);
    for y in 0..64 {
        for x in 0..64 {
            let a = &plain[0][(y * 64 + x) * 3..(y * 64 + x) * 3 + 3];
            let b = &flipped[0][(y * 64 + 63 - x) * 3..(y * 64 + 63 - x) * 3 + 3];
            assert_eq!(a, b, "({x},{y})");
        }
    }
}

#[test]
fn outputs_depend_only_on_the_seed() {
    let jpeg = rgb_jpeg(500, 400);
    let p = Pipeline::unimlip();
    let a = render(&p, &jpeg, 42);
    assert_eq!(a, render(&p, &jpeg, 42));
    assert_ne!(a, render(&p, &jpeg, 43));
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|v| v.len() == 224 * 224 * 3));
}

#[test]
fn greyscale_pngs_stay_grey_and_sixteen_bits_decode() {
    let png = grey_png16(300, 200);
    let out = render(&Pipeline::eval(100), &png, 1);
    let img = &out[0];
    assert!(img.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    // A horizontal ramp: the centre crop of 200 x 200 spans x = 50..250 of 300, i.e. levels
    // from about 42 to 212.
    let row: Vec<u8> = (0..100).map(|x| img[(50 * 100 + x) * 3]).collect();
    assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
    assert!(
        (row[0] as i32 - 43).abs() <= 3 && (row[99] as i32 - 211).abs() <= 3,
        "{row:?}"
    );
}

#[test]
fn grey_jpegs_decode_at_reduced_scale() {
    let img = GrayImage::from_fn(1600, 1200, |x, y| {
        image::Luma([((x / 8 + y / 8) % 2 * 200) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .write_image(img.as_raw(), 1600, 1200, image::ExtendedColorType::L8)
        .unwrap();
    let out = render(&Pipeline::eval(150), &jpeg, 3);
    assert!(out[0].chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    // 1200 px down to 150 is a 1/8 decode; the checkerboard of 8 px squares averages to grey.
    let mean = out[0].iter().map(|v| *v as f64).sum::<f64>() / out[0].len() as f64;
    assert!((mean - 100.0).abs() < 10.0, "{mean}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut aug = Augmenter::new(Pipeline::rrc_flip()).unwrap();
    let mut buf = vec![0u8; 224 * 224 * 3];
    let mut slots = [buf.as_mut_slice()];
    assert!(aug.process(b"not an image", 1, &mut slots).is_err());
    let mut trunc = rgb_jpeg(300, 300);
    trunc.truncate(40);
    assert!(aug.process(&trunc, 1, &mut slots).is_err());
}
