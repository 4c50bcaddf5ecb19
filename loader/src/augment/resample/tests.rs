use fast_image_resize as fir;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn image(w: u32, h: u32, c: usize, seed: u64) -> Vec<u8> {
    // Smooth gradients with noise and hard edges: ringing of the cubic clamps at both ends.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = Vec::with_capacity(w as usize * h as usize * c);
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let base = (x * 7 + y * 3 + ch as u32 * 50) % 256;
                let edge = if (x / 13 + y / 17) % 2 == 0 { 0 } else { 255 };
                let noise: u32 = rng.random_range(0..40);
                v.push(((base + edge + noise) / 2).min(255) as u8);
            }
        }
    }
    v
}

fn with_fir(src: Src<'_>, r: Region, filter: Filter, (w, h): (u32, u32)) -> Vec<u8> {
    let pixel = if src.channels == 1 {
        fir::PixelType::U8
    } else {
        fir::PixelType::U8x3
    };
    let view = fir::images::ImageRef::new(src.width, src.height, src.data, pixel).unwrap();
    let mut out = vec![0u8; w as usize * h as usize * src.channels];
    let mut dst = fir::images::Image::from_slice_u8(w, h, &mut out, pixel).unwrap();
    let f = match filter {
        Filter::Bilinear => fir::FilterType::Bilinear,
        Filter::CatmullRom => fir::FilterType::CatmullRom,
    };
    let options = fir::ResizeOptions::new()
        .crop(r.left, r.top, r.width, r.height)
        .resize_alg(fir::ResizeAlg::Convolution(f));
    fir::Resizer::new()
        .resize(&view, &mut dst, &options)
        .unwrap();
    out
}

fn random_case(rng: &mut ChaCha8Rng) -> (u32, u32, Region, (u32, u32)) {
    let (w, h) = (rng.random_range(8..400), rng.random_range(8..400));
    let cw = rng.random_range(1.0..=w as f64);
    let ch = rng.random_range(1.0..=h as f64);
    let left = rng.random_range(0.0..=w as f64 - cw);
    let top = rng.random_range(0.0..=h as f64 - ch);
    let out = (rng.random_range(1..160), rng.random_range(1..160));
    let r = Region {
        left,
        top,
        width: cw,
        height: ch,
    };
    (w, h, r, out)
}

#[test]
fn same_bytes_as_fast_image_resize_on_random_crops() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut fast = Resampler::new(Kernels::Best);
    let mut plain = Resampler::new(Kernels::Scalar);
    for case in 0..300 {
        let (w, h, r, (ow, oh)) = random_case(&mut rng);
        let c = if case % 3 == 0 { 1 } else { 3 };
        let filter = if case % 2 == 0 {
            Filter::Bilinear
        } else {
            Filter::CatmullRom
        };
        let data = image(w, h, c, case);
        let src = Src {
            data: &data,
            width: w,
            height: h,
            channels: c,
        };
        let want = with_fir(src, r, filter, (ow, oh));
        for rs in [&mut fast, &mut plain] {
            let mut got = vec![0u8; want.len()];
            rs.resize(src, r, filter, &mut got, (ow, oh)).unwrap();
            let diff = got.iter().zip(&want).position(|(a, b)| a != b);
            assert!(
                diff.is_none(),
                "case {case} ({:?}): {w}×{h}×{c} {r:?} → {ow}×{oh} {filter:?} differs at byte {diff:?}",
                rs.kernels
            );
        }
    }
}

#[test]
fn whole_image_crops_at_integer_edges_and_upscales_agree_too() {
    let data = image(97, 61, 3, 5);
    let src = Src {
        data: &data,
        width: 97,
        height: 61,
        channels: 3,
    };
    let cases = [
        (0.0, 0.0, 97.0, 61.0, (97, 61)),
        (0.0, 0.0, 97.0, 61.0, (224, 224)),
        (10.0, 5.0, 20.0, 30.0, (20, 300)),
        (96.0, 60.0, 1.0, 1.0, (7, 3)),
        (0.5, 0.25, 96.5, 60.75, (1, 1)),
    ];
    let mut rs = Resampler::default();
    for (left, top, width, height, out) in cases {
        let r = Region {
            left,
            top,
            width,
            height,
        };
        for filter in [Filter::Bilinear, Filter::CatmullRom] {
            let want = with_fir(src, r, filter, out);
            let mut got = vec![0u8; want.len()];
            rs.resize(src, r, filter, &mut got, out).unwrap();
            assert_eq!(got, want, "{r:?} → {out:?} {filter:?}");
        }
    }
}

#[test]
fn a_warm_resampler_keeps_its_buffers() {
    let data = image(300, 200, 3, 1);
    let src = Src {
        data: &data,
        width: 300,
        height: 200,
        channels: 3,
    };
    let r = Region {
        left: 3.5,
        top: 2.0,
        width: 290.0,
        height: 190.0,
    };
    let mut rs = Resampler::default();
    let mut out = vec![0u8; 64 * 64 * 3];
    rs.resize(src, r, Filter::CatmullRom, &mut out, (64, 64))
        .unwrap();
    let ptrs = |rs: &Resampler| {
        (
            rs.tmp.as_ptr(),
            rs.tmp.capacity(),
            rs.horizontal.capacities(),
            rs.vertical.capacities(),
        )
    };
    let before = ptrs(&rs);
    // A smaller crop of the same output reuses every buffer as it is.
    let small = Region {
        left: 40.25,
        top: 10.0,
        width: 200.0,
        height: 150.5,
    };
    rs.resize(src, small, Filter::CatmullRom, &mut out, (64, 64))
        .unwrap();
    assert_eq!(ptrs(&rs), before);
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let data = image(10, 10, 3, 0);
    let src = Src {
        data: &data,
        width: 10,
        height: 10,
        channels: 3,
    };
    let mut rs = Resampler::default();
    let mut out = vec![0u8; 4 * 4 * 3];
    let region = |left, width| Region {
        left,
        top: 0.0,
        width,
        height: 10.0,
    };
    for (r, len) in [
        (region(5.0, 6.0), 48),
        (region(-1.0, 5.0), 48),
        (region(0.0, 0.0), 48),
        (region(0.0, 10.0), 47),
    ] {
        assert!(
            rs.resize(src, r, Filter::Bilinear, &mut out[..len], (4, 4))
                .is_err()
        );
    }
    let grey_as_rgba = Src { channels: 4, ..src };
    assert!(
        rs.resize(
            grey_as_rgba,
            region(0.0, 10.0),
            Filter::Bilinear,
            &mut out,
            (4, 4)
        )
        .is_err()
    );
}
