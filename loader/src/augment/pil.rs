//! Colour jitter, greyscale and Gaussian blur as PMC-CLIP's and SLIP's torchvision transforms
//! compute them on PIL images, bit for bit (Pillow 13's C code):
//!
//! - brightness, contrast and saturation are `ImageEnhance.Brightness`, `.Contrast` and `.Color`:
//!   `Image.blend(degenerate, image, factor)` (`libImaging/Blend.c`: float32, truncated; clipped
//!   when extrapolating) with black, the rounded mean of the `L` image, or the `L` image;
//! - hue is torchvision's `_functional_pil.adjust_hue`: `convert("HSV")`, the hue byte plus
//!   `int32(factor · 255)` modulo 256, `convert("RGB")` (`libImaging/Convert.c`'s `rgb2hsv_row`
//!   and `hsv2rgb`);
//! - greyscale is `convert("L")` (ITU-R 601-2 in 16-bit fixed point) repeated in three channels;
//! - blur is `ImageFilter.GaussianBlur(radius=σ)` (SLIP's `GaussianBlur`): three box blurs per
//!   axis with a fractional radius (`libImaging/BoxBlur.c`), each rounded to 8 bits.
//!
//! A one-channel image is processed as the RGB image with three equal channels would be, which
//! leaves it one channel: saturation, hue and greyscale do not change it.

use super::color::{JitterDraw, map_levels};

/// `convert("L")` of one RGB pixel: `(19595 r + 38470 g + 7471 b + 2¹⁵) >> 16`.
#[inline]
pub fn luma_l(p: &[u8]) -> u8 {
    ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16) as u8
}

/// `Image.blend(a, b, alpha)` of one value (`ImagingBlend`).
#[inline]
fn blend(a: u8, b: u8, alpha: f32) -> u8 {
    if alpha == 0.0 {
        return a;
    }
    if alpha == 1.0 {
        return b;
    }
    let t = a as i32 as f32 + alpha * ((b as i32 - a as i32) as f32);
    if (0.0..=1.0).contains(&alpha) {
        t as u8
    } else if t <= 0.0 {
        0
    } else if t >= 255.0 {
        255
    } else {
        t as u8
    }
}

/// `ImageEnhance.Brightness(img).enhance(f)`: a blend with black.
pub fn brightness(img: &mut [u8], f: f32) {
    map_levels(img, |v| blend(0, v, f));
}

/// `ImageEnhance.Contrast(img).enhance(f)`: a blend with the mean of the `L` image, rounded
/// (`int(mean + 0.5)`).
pub fn contrast(img: &mut [u8], channels: usize, f: f32) {
    let (sum, n) = if channels == 1 {
        (img.iter().map(|&v| v as u64).sum::<u64>(), img.len())
    } else {
        let n = img.len() / 3;
        (img.chunks_exact(3).map(|p| luma_l(p) as u64).sum(), n)
    };
    let mean = (sum as f64 / n.max(1) as f64 + 0.5) as u8;
    map_levels(img, |v| blend(mean, v, f));
}

/// `ImageEnhance.Color(img).enhance(f)`: a blend of each pixel with its `L` value.
pub fn saturation(img: &mut [u8], f: f32) {
    for p in img.chunks_exact_mut(3) {
        let l = luma_l(p);
        for v in p.iter_mut() {
            *v = blend(l, *v, f);
        }
    }
}

/// `convert("L")` repeated in three channels (torchvision's `to_grayscale(img, 3)`).
pub fn greyscale(img: &mut [u8], channels: usize) {
    if channels != 3 {
        return;
    }
    for p in img.chunks_exact_mut(3) {
        p.fill(luma_l(p));
    }
}

/// torchvision's `adjust_hue` on a PIL image: the hue byte of `convert("HSV")` shifted by
/// `int32(shift · 255)` modulo 256, then `convert("RGB")`.
pub fn hue(img: &mut [u8], shift: f32) {
    let step = (shift as f64 * 255.0) as i32 as u8;
    for p in img.chunks_exact_mut(3) {
        let (h, s, v) = rgb_to_hsv(p[0], p[1], p[2]);
        let (r, g, b) = hsv_to_rgb(h.wrapping_add(step), s, v);
        p.copy_from_slice(&[r, g, b]);
    }
}

/// `rgb2hsv_row`, with the C code's mix of float and double arithmetic.
fn rgb_to_hsv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    if maxc == minc {
        return (0, 0, maxc);
    }
    let cr = (maxc - minc) as f32;
    let s = cr / maxc as f32;
    let rc = (maxc - r) as f32 / cr;
    let gc = (maxc - g) as f32 / cr;
    let bc = (maxc - b) as f32 / cr;
    let h: f32 = if r == maxc {
        bc - gc
    } else if g == maxc {
        (2.0 + rc as f64 - bc as f64) as f32
    } else {
        (4.0 + gc as f64 - rc as f64) as f32
    };
    let h = ((h as f64 / 6.0 + 1.0) % 1.0) as f32;
    let clip8 = |x: f64| (x as i32).clamp(0, 255) as u8;
    (clip8(h as f64 * 255.0), clip8(s as f64 * 255.0), maxc)
}

/// `hsv2rgb`, with the C code's mix of float and double arithmetic and `round` (half away from
/// zero).
fn hsv_to_rgb(h: u8, s: u8, v: u8) -> (u8, u8, u8) {
    if s == 0 {
        return (v, v, v);
    }
    let h6 = h as f64 * 6.0 / 255.0;
    let i = h6.floor() as i32;
    let f = (h6 - i as f32 as f64) as f32;
    let fs = (s as f64 / 255.0) as f32;
    let v64 = v as f64;
    let clip8 = |x: f64| (x.round() as i32).clamp(0, 255) as u8;
    let p = clip8(v64 * (1.0 - fs as f64));
    let q = clip8(v64 * (1.0 - (fs * f) as f64));
    let t = clip8(v64 * (1.0 - fs as f64 * (1.0 - f as f64)));
    match i % 6 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Applies a jitter draw (torchvision's `ColorJitter` order and factors) with PIL's arithmetic.
pub fn jitter(img: &mut [u8], channels: usize, d: &JitterDraw) {
    for op in d.order {
        let f = d.factors[op as usize];
        match op {
            0 => brightness(img, f),
            1 => contrast(img, channels, f),
            2 if channels == 3 => saturation(img, f),
            3 if channels == 3 => hue(img, f),
            _ => {}
        }
    }
}

/// The box passes `ImageFilter.GaussianBlur` makes per axis.
const PASSES: i32 = 3;

/// `_gaussian_blur_radius`: the fractional box radius whose `passes` boxes have variance σ²
/// (Gwosdek et al. 2011), in the C code's float and double steps.
pub fn box_radius(sigma: f32, passes: i32) -> f32 {
    let sigma2: f32 = sigma * sigma / passes as f32;
    let big_l = (12.0 * sigma2 as f64 + 1.0).sqrt() as f32;
    let l = ((big_l as f64 - 1.0) / 2.0).floor() as f32;
    let mut a: f32 = (2.0 * l + 1.0) * (l * (l + 1.0) - 3.0 * sigma2);
    a /= 6.0 * (sigma2 - (l + 1.0) * (l + 1.0));
    l + a
}

/// The weights of one box pass: whole taps `ww`, the two fractional end taps `fw` (of 2²⁴).
#[derive(Debug, Clone, Copy)]
struct BoxPass {
    radius: usize,
    ww: u32,
    fw: u32,
}

impl BoxPass {
    fn new(radius: f32) -> BoxPass {
        let whole = radius as i32;
        let ww = (16_777_216.0f32 / (radius * 2.0 + 1.0)) as u32;
        let fw = 16_777_216u32.wrapping_sub(((whole * 2 + 1) as u32).wrapping_mul(ww)) / 2;
        BoxPass {
            radius: whole.max(0) as usize,
            ww,
            fw,
        }
    }

    /// `ImagingLineBoxBlur8` along the rows of `src` (`rows` rows of `lanes` values), for
    /// every lane at once: each lane is one line of the C code, and the rows are its pixels.
    #[inline(always)]
    fn rows(&self, src: &[u8], dst: &mut [u8], (rows, lanes): (usize, usize), acc: &mut Vec<u32>) {
        let (r, ww, fw) = (self.radius, self.ww, self.fw);
        let last = rows - 1;
        let edge_a = (r + 1).min(rows);
        let edge_b = rows.saturating_sub(r + 1);
        let row = |i: usize| &src[i * lanes..(i + 1) * lanes];
        acc.clear();
        acc.extend(
            row(0)
                .iter()
                .map(|&v| (v as u32).wrapping_mul(r as u32 + 1)),
        );
        for x in 0..edge_a.saturating_sub(1) {
            for (a, &v) in acc.iter_mut().zip(row(x)) {
                *a = a.wrapping_add(v as u32);
            }
        }
        let tail = (r + 1 - edge_a) as u32;
        for (a, &v) in acc.iter_mut().zip(row(last)) {
            *a = a.wrapping_add((v as u32).wrapping_mul(tail));
        }
        let mut step = |x: usize, (sub, add): (usize, usize), (left, right): (usize, usize)| {
            let n = lanes;
            let out = &mut dst[x * n..(x + 1) * n];
            let acc = &mut acc[..n];
            let (ad, sb, lf, rt) = (
                &row(add)[..n],
                &row(sub)[..n],
                &row(left)[..n],
                &row(right)[..n],
            );
            for l in 0..n {
                let a = acc[l].wrapping_add(ad[l] as u32).wrapping_sub(sb[l] as u32);
                acc[l] = a;
                let bulk = a
                    .wrapping_mul(ww)
                    .wrapping_add((lf[l] as u32 + rt[l] as u32).wrapping_mul(fw));
                out[l] = (bulk.wrapping_add(1 << 23) >> 24) as u8;
            }
        };
        if edge_a <= edge_b {
            for x in 0..edge_a {
                step(x, (0, x + r), (0, x + r + 1));
            }
            for x in edge_a..edge_b {
                step(x, (x - r - 1, x + r), (x - r - 1, x + r + 1));
            }
            for x in edge_b..=last {
                step(x, (x - r - 1, last), (x - r - 1, last));
            }
        } else {
            for x in 0..edge_b {
                step(x, (0, x + r), (0, x + r + 1));
            }
            for x in edge_b..edge_a {
                step(x, (0, last), (0, last));
            }
            for x in edge_a..=last {
                step(x, (x - r - 1, last), (x - r - 1, last));
            }
        }
    }
}

/// Reused buffers of [`blur`].
#[derive(Debug, Default)]
pub struct PilBlurScratch {
    transposed: Vec<u8>,
    other: Vec<u8>,
    acc: Vec<u32>,
}

/// `img.filter(ImageFilter.GaussianBlur(radius=sigma))` on an interleaved
/// `width × height × channels` image, in place: three horizontal passes (done on the
/// transposed image, every row at once), then three vertical ones, each rounded to 8 bits as
/// PIL's.
pub fn blur(img: &mut [u8], dims: (usize, usize, usize), sigma: f32, s: &mut PilBlurScratch) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above); the arithmetic is integer, so the result is
        // the portable path's.
        #[allow(unsafe_code)]
        unsafe {
            return blur_avx2(img, dims, sigma, s);
        }
    }
    blur_body(img, dims, sigma, s)
}

/// [`blur`] compiled for AVX2 (eight 32-bit lanes with a multiply; SSE2 has none).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blur_avx2(img: &mut [u8], dims: (usize, usize, usize), sigma: f32, s: &mut PilBlurScratch) {
    blur_body(img, dims, sigma, s)
}

#[inline(always)]
fn blur_body(img: &mut [u8], dims: (usize, usize, usize), sigma: f32, s: &mut PilBlurScratch) {
    let (w, h, c) = dims;
    if sigma == 0.0 || w == 0 || h == 0 {
        return;
    }
    let pass = BoxPass::new(box_radius(sigma, PASSES));
    let len = w * h * c;
    s.transposed.resize(len, 0);
    s.other.resize(len, 0);
    transpose(&img[..len], (w, h, c), &mut s.transposed);
    passes(
        &mut s.transposed,
        &mut s.other,
        (w, h * c),
        pass,
        &mut s.acc,
    );
    transpose(&s.transposed, (h, w, c), &mut img[..len]);
    passes(&mut img[..len], &mut s.other, (h, w * c), pass, &mut s.acc);
}

/// Three ([`PASSES`]) box passes down the rows of `data`, through `other`; the result ends in `data`.
#[inline(always)]
fn passes(
    data: &mut [u8],
    other: &mut [u8],
    shape: (usize, usize),
    pass: BoxPass,
    acc: &mut Vec<u32>,
) {
    pass.rows(data, other, shape, acc);
    pass.rows(other, data, shape, acc);
    pass.rows(data, other, shape, acc);
    data.copy_from_slice(other);
}

/// `src` (`width × height` pixels of `c` values) transposed into `dst` (`height × width`).
#[inline(always)]
fn transpose(src: &[u8], (width, height, c): (usize, usize, usize), dst: &mut [u8]) {
    // Blocks of 16 × 16 pixels keep both sides in cache.
    const B: usize = 16;
    for y0 in (0..height).step_by(B) {
        for x0 in (0..width).step_by(B) {
            for y in y0..(y0 + B).min(height) {
                let row = &src[y * width * c..(y + 1) * width * c];
                for x in x0..(x0 + B).min(width) {
                    let (from, to) = ((x * c), (x * height + y) * c);
                    if c == 3 {
                        dst[to] = row[from];
                        dst[to + 1] = row[from + 1];
                        dst[to + 2] = row[from + 2];
                    } else {
                        dst[to..to + c].copy_from_slice(&row[from..from + c]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greyscale_is_pils_fixed_point_l() {
        let mut img = [255u8, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 255, 255, 255];
        greyscale(&mut img, 3);
        // (255 · 19595 + 2¹⁵) >> 16 = 76, 149, 29; (10, 20, 30) -> 18; white stays 255
        // (torchvision's float weights give 254).
        assert_eq!(
            img,
            [
                76, 76, 76, 150, 150, 150, 29, 29, 29, 18, 18, 18, 255, 255, 255
            ]
        );
    }

    #[test]
    fn blend_truncates_inside_and_clips_outside() {
        assert_eq!(blend(0, 201, 0.5), 100);
        assert_eq!(blend(0, 200, 1.5), 255);
        assert_eq!(blend(100, 10, 1.5), 0);
        let mut img = [0u8, 0, 0, 255, 255, 255];
        contrast(&mut img, 3, 0.0);
        // The mean 127.5 is rounded up, where torchvision's floored luma gives 127.
        assert_eq!(img, [128; 6]);
    }

    #[test]
    fn hue_turns_primaries_and_keeps_greys() {
        let mut img = [255u8, 0, 0, 128, 128, 128];
        hue(&mut img, 1.0 / 3.0);
        // The shift is int32(85.0) = 85 of 255 steps: red goes to green.
        assert_eq!(img, [0, 255, 0, 128, 128, 128]);
        for (r, g, b) in [(10u8, 200u8, 30u8), (250, 250, 1), (3, 2, 1)] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let back = hsv_to_rgb(h, s, v);
            // The hue is kept in 255 steps, so a channel can move by up to 6 levels.
            let close = |a: u8, b: u8| a.abs_diff(b) <= 6;
            assert!(
                close(back.0, r) && close(back.1, g) && close(back.2, b),
                "{back:?}"
            );
        }
    }

    #[test]
    fn box_radius_and_blur_of_a_flat_image() {
        // σ = 2: σ²/3 = 4/3, box length √17 = 4.12, whole radius 1, fraction 0.375.
        assert!((box_radius(2.0, 3) - 1.375).abs() < 1e-6);
        let mut flat = vec![77u8; 9 * 7 * 3];
        blur(&mut flat, (9, 7, 3), 1.3, &mut PilBlurScratch::default());
        assert!(flat.iter().all(|&v| v == 77));
        // A single bright pixel spreads symmetrically (each axis; the passes round in turn, so
        // not across the diagonal).
        let mut dot = vec![0u8; 15 * 15];
        dot[7 * 15 + 7] = 255;
        blur(&mut dot, (15, 15, 1), 1.0, &mut PilBlurScratch::default());
        for y in 0..15 {
            for x in 0..15 {
                assert_eq!(dot[y * 15 + x], dot[y * 15 + 14 - x]);
            }
        }
        assert!(dot[7 * 15 + 7] < 255 && dot[7 * 15 + 8] > 0);
    }
}
