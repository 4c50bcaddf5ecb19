//! Colour operations on interleaved 8-bit images, following torchvision's `transforms.v2`
//! functional kernels on uint8 tensors (float32 arithmetic, truncation back to uint8). On a
//! one-channel image saturation, hue and greyscale leave it unchanged, as torchvision does.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// torchvision's luma weights (`rgb_to_grayscale`).
pub const LUMA: [f32; 3] = [0.2989, 0.587, 0.114];

/// `ColorJitter(brightness, contrast, saturation, hue)` applied with probability `p`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jitter {
    /// Brightness factor drawn from `[max(0, 1 - b), 1 + b]`.
    pub brightness: f32,
    /// Contrast factor drawn from `[max(0, 1 - c), 1 + c]`.
    pub contrast: f32,
    /// Saturation factor drawn from `[max(0, 1 - s), 1 + s]`.
    pub saturation: f32,
    /// Hue shift drawn from `[-h, h]` (h ≤ 0.5).
    pub hue: f32,
    /// Probability of applying the jitter at all.
    pub p: f64,
}

/// One draw of a [`Jitter`]: the order of the four operations and their factors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterDraw {
    /// Operation order: 0 brightness, 1 contrast, 2 saturation, 3 hue.
    pub order: [u8; 4],
    /// Factors in the same numbering.
    pub factors: [f32; 4],
}

fn factor(spread: f32, rng: &mut impl Rng) -> f32 {
    if spread <= 0.0 {
        return 1.0;
    }
    rng.random_range((1.0 - spread).max(0.0)..=1.0 + spread)
}

impl Jitter {
    /// Draws whether to apply it, and if so the order and factors.
    pub fn draw(&self, rng: &mut impl Rng) -> Option<JitterDraw> {
        if !rng.random_bool(self.p.clamp(0.0, 1.0)) {
            return None;
        }
        let mut order = [0u8, 1, 2, 3];
        order.shuffle(rng);
        let hue = if self.hue > 0.0 {
            rng.random_range(-self.hue..=self.hue)
        } else {
            0.0
        };
        Some(JitterDraw {
            order,
            factors: [
                factor(self.brightness, rng),
                factor(self.contrast, rng),
                factor(self.saturation, rng),
                hue,
            ],
        })
    }
}

/// Applies a jitter draw to an image with `channels` (1 or 3) interleaved channels.
pub fn jitter(img: &mut [u8], channels: usize, d: &JitterDraw) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above); without FMA the results are the portable
        // path's.
        #[allow(unsafe_code)]
        unsafe {
            return jitter_avx2(img, channels, d);
        }
    }
    jitter_body(img, channels, d)
}

/// [`jitter`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn jitter_avx2(img: &mut [u8], channels: usize, d: &JitterDraw) {
    jitter_body(img, channels, d)
}

#[inline(always)]
fn jitter_body(img: &mut [u8], channels: usize, d: &JitterDraw) {
    for op in d.order {
        let f = d.factors[op as usize];
        match op {
            0 if f != 1.0 => brightness(img, f),
            1 if f != 1.0 => contrast(img, channels, f),
            2 if f != 1.0 && channels == 3 => saturation(img, f),
            3 if f != 0.0 && channels == 3 => hue(img, f),
            _ => {}
        }
    }
}

/// torchvision's `_blend`: `a·ratio + b·(1 − ratio)` in float32, where `1 − ratio` is computed in
/// double precision (Python) and then rounded to float32, clamped and truncated to uint8.
#[inline]
fn blend(a: f32, b: f32, ratio: f32) -> u8 {
    let rest = (1.0 - ratio as f64) as f32;
    (a * ratio + b * rest).clamp(0.0, 255.0) as u8
}

#[inline]
fn luma(p: &[u8]) -> f32 {
    p[0] as f32 * LUMA[0] + p[1] as f32 * LUMA[1] + p[2] as f32 * LUMA[2]
}

/// `floor(luma)`: luma is never negative, so truncation is floor (and needs no libm call).
#[inline]
fn luma_floor(p: &[u8]) -> f32 {
    luma(p) as i32 as f32
}

/// Applies a per-value function through a 256-entry table (the same arithmetic, once per level).
pub(super) fn map_levels(img: &mut [u8], f: impl Fn(u8) -> u8) {
    let mut lut = [0u8; 256];
    for (i, l) in lut.iter_mut().enumerate() {
        *l = f(i as u8);
    }
    for v in img.iter_mut() {
        *v = lut[*v as usize];
    }
}

/// `adjust_brightness`: blend with black.
#[inline(always)]
pub fn brightness(img: &mut [u8], f: f32) {
    map_levels(img, |v| blend(v as f32, 0.0, f));
}

/// `adjust_contrast`: blend with the mean of the (floored) greyscale image.
#[inline(always)]
pub fn contrast(img: &mut [u8], channels: usize, f: f32) {
    let mean = if channels == 1 {
        img.iter().map(|v| *v as f64).sum::<f64>() / img.len().max(1) as f64
    } else {
        let n = img.len() / 3;
        img.chunks_exact(3)
            .map(|p| luma_floor(p) as f64)
            .sum::<f64>()
            / n.max(1) as f64
    } as f32;
    map_levels(img, |v| blend(v as f32, mean, f));
}

/// `adjust_saturation`: blend each pixel with its own (floored) grey value.
#[inline(always)]
pub fn saturation(img: &mut [u8], f: f32) {
    for p in img.chunks_exact_mut(3) {
        let g = luma_floor(p);
        for v in p.iter_mut() {
            *v = blend(*v as f32, g, f);
        }
    }
}

/// `rgb_to_grayscale` with three output channels.
pub fn greyscale(img: &mut [u8], channels: usize) {
    if channels != 3 {
        return;
    }
    for p in img.chunks_exact_mut(3) {
        let g = luma(p) as u8;
        p.fill(g);
    }
}

/// `adjust_hue`: RGB → HSV, shift the hue, HSV → RGB, back to uint8 (× 255.999, truncated).
#[inline(always)]
pub fn hue(img: &mut [u8], shift: f32) {
    for p in img.chunks_exact_mut(3) {
        let (r, g, b) = (
            p[0] as f32 / 255.0,
            p[1] as f32 / 255.0,
            p[2] as f32 / 255.0,
        );
        let (h, s, v) = rgb_to_hsv(r, g, b);
        // torch's remainder(1.0) for h + shift in [-0.5, 1.5).
        let mut h = h + shift;
        if h < 0.0 {
            h += 1.0;
        } else if h >= 1.0 {
            h -= 1.0;
        }
        let (r, g, b) = hsv_to_rgb(h, s, v);
        let scale = 255.0 + 1.0 - 1e-3;
        p[0] = (r * scale) as u8;
        p[1] = (g * scale) as u8;
        p[2] = (b * scale) as u8;
    }
}

fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let range = maxc - minc;
    let s = range / if eqc { 1.0 } else { maxc };
    let div = if eqc { 1.0 } else { range };
    let (rc, gc, bc) = ((maxc - r) / div, (maxc - g) / div, (maxc - b) / div);
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    // torch: h.mul_(1/6).add_(1).fmod_(1); the sum lies in [5/6, 11/6].
    let x = h * (1.0 / 6.0) + 1.0;
    (if x >= 1.0 { x - 1.0 } else { x }, s, maxc)
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h * 6.0;
    // h >= 0, so truncation is floor.
    let i = h6 as i32;
    let f = h6 - i as f32;
    let i = i.rem_euclid(6);
    let sxf = s * f;
    let q = ((1.0 - sxf) * v).clamp(0.0, 1.0);
    let t = ((sxf + (1.0 - s)) * v).clamp(0.0, 1.0);
    let p = ((1.0 - s) * v).clamp(0.0, 1.0);
    match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greyscale_uses_torchvisions_weights_and_truncates() {
        let mut img = [255u8, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
        greyscale(&mut img, 3);
        // 255 * 0.2989 = 76.2, 255 * 0.587 = 149.7, 255 * 0.114 = 29.07, and 10/20/30 -> 18.15.
        assert_eq!(img, [76, 76, 76, 149, 149, 149, 29, 29, 29, 18, 18, 18]);
        let mut grey = [5u8, 200];
        greyscale(&mut grey, 1);
        assert_eq!(grey, [5, 200]);
    }

    #[test]
    fn brightness_contrast_saturation_follow_the_blend_formula() {
        let mut img = [100u8, 200, 50];
        brightness(&mut img, 1.5);
        assert_eq!(img, [150, 255, 75]);
        // Contrast 0 gives the mean of the floored luma everywhere.
        let mut img = [0u8, 0, 0, 255, 255, 255];
        contrast(&mut img, 3, 0.0);
        // luma(255,255,255) = 254.97 -> floor 254; mean (0 + 254) / 2 = 127.
        assert_eq!(img, [127; 6]);
        // Saturation 0 is the floored grey; 2 pushes away from it.
        let mut img = [200u8, 100, 0];
        saturation(&mut img, 0.0);
        assert_eq!(img, [118; 3]);
        let mut img = [200u8, 100, 0];
        saturation(&mut img, 2.0);
        assert_eq!(img, [255, 82, 0]);
    }

    #[test]
    fn hue_rotates_primaries_and_keeps_greys() {
        let mut img = [255u8, 0, 0, 128, 128, 128];
        hue(&mut img, 1.0 / 3.0);
        assert_eq!(img, [0, 255, 0, 128, 128, 128]);
        let mut img = [255u8, 0, 0];
        hue(&mut img, -1.0 / 3.0);
        assert_eq!(img, [0, 0, 255]);
    }
}
