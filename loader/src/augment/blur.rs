//! Gaussian blur as torchvision's `GaussianBlur(kernel_size, sigma)` on uint8 images: a
//! `kernel_size`-tap Gaussian normalised over its taps, reflect padding, float32 arithmetic,
//! rounded back to uint8. Done as two separable passes; taps whose weight cannot change an
//! 8-bit result are skipped.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// `GaussianBlur(kernel, sigma range)` applied with probability `p`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blur {
    /// Kernel size (odd).
    pub kernel: u32,
    /// σ drawn uniformly from this range.
    pub sigma: (f32, f32),
    /// Probability of blurring.
    pub p: f64,
}

impl Blur {
    /// Draws whether to blur, and σ.
    pub fn draw(&self, rng: &mut impl Rng) -> Option<f32> {
        if !rng.random_bool(self.p.clamp(0.0, 1.0)) {
            return None;
        }
        Some(rng.random_range(self.sigma.0..=self.sigma.1))
    }
}

/// Reused buffers of the blur.
#[derive(Debug, Default)]
pub struct BlurScratch {
    kernel: Vec<f32>,
    row: Vec<f32>,
    tmp: Vec<f32>,
    acc: Vec<f32>,
}

/// The normalised 1-D kernel of `size` taps (torchvision's `_get_gaussian_kernel1d`).
pub fn kernel1d(size: u32, sigma: f32, out: &mut Vec<f32>) {
    out.clear();
    let half = (size as f32 - 1.0) / 2.0;
    for i in 0..size {
        let x = i as f32 - half;
        out.push((-(x * x) / (2.0 * sigma * sigma)).exp());
    }
    let sum: f32 = out.iter().sum();
    out.iter_mut().for_each(|k| *k /= sum);
}

/// torch's `reflect` padding index for `i` in `-pad..n+pad`.
#[inline]
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let mut i = i;
    if n == 1 {
        return 0;
    }
    loop {
        if i < 0 {
            i = -i;
        } else if i >= n {
            i = 2 * (n - 1) - i;
        } else {
            return i as usize;
        }
    }
}

/// Blurs an interleaved `width × height × channels` image in place.
pub fn blur(
    img: &mut [u8],
    dims: (usize, usize, usize),
    kernel: u32,
    sigma: f32,
    s: &mut BlurScratch,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above). No FMA is enabled, so the arithmetic and
        // its results are those of the portable path.
        #[allow(unsafe_code)]
        unsafe {
            return blur_avx2(img, dims, kernel, sigma, s);
        }
    }
    blur_body(img, dims, kernel, sigma, s)
}

/// The same loops compiled for AVX2 (eight lanes instead of SSE2's four).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blur_avx2(
    img: &mut [u8],
    dims: (usize, usize, usize),
    kernel: u32,
    sigma: f32,
    s: &mut BlurScratch,
) {
    blur_body(img, dims, kernel, sigma, s)
}

#[inline(always)]
fn blur_body(
    img: &mut [u8],
    (width, height, channels): (usize, usize, usize),
    kernel: u32,
    sigma: f32,
    s: &mut BlurScratch,
) {
    let BlurScratch {
        kernel: k1,
        row: padded,
        tmp,
        acc,
    } = s;
    kernel1d(kernel, sigma, k1);
    // Drop outer taps that stay below 1e-4 of a level even at 255 (symmetric).
    let full = k1.len();
    let mut r = full / 2;
    while r > 0 && k1[full / 2 - r] * 255.0 * (full as f32) < 1e-4 {
        r -= 1;
    }
    let taps = &k1[full / 2 - r..=full / 2 + r];
    let (w, h, c) = (width, height, channels);
    let stride = w * c;
    tmp.resize(stride * h, 0.0);
    padded.resize((w + 2 * r) * c, 0.0);
    for y in 0..h {
        let src = &img[y * stride..(y + 1) * stride];
        for (x, dst) in padded.chunks_exact_mut(c).enumerate() {
            let sx = reflect(x as isize - r as isize, w);
            for ch in 0..c {
                dst[ch] = src[sx * c + ch] as f32;
            }
        }
        let out = &mut tmp[y * stride..(y + 1) * stride];
        out.fill(0.0);
        for (t, k) in taps.iter().enumerate() {
            let shifted = &padded[t * c..t * c + stride];
            for (o, v) in out.iter_mut().zip(shifted) {
                *o += k * v;
            }
        }
    }
    acc.resize(stride, 0.0);
    for y in 0..h {
        acc.fill(0.0);
        for (t, k) in taps.iter().enumerate() {
            let sy = reflect(y as isize + t as isize - r as isize, h);
            let row = &tmp[sy * stride..(sy + 1) * stride];
            for (a, v) in acc.iter_mut().zip(row) {
                *a += k * v;
            }
        }
        for (d, a) in img[y * stride..(y + 1) * stride].iter_mut().zip(acc.iter()) {
            *d = a.round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_blurs_into_the_outer_product_of_the_kernel() {
        let (w, h) = (31usize, 31usize);
        let mut img = vec![0u8; w * h];
        img[15 * w + 15] = 255;
        let mut s = BlurScratch::default();
        blur(&mut img, (w, h, 1), 23, 1.5, &mut s);
        let mut k = Vec::new();
        kernel1d(23, 1.5, &mut k);
        for y in 0..h {
            for x in 0..w {
                let (dy, dx) = (y as isize - 15 + 11, x as isize - 15 + 11);
                let expect = if (0..23).contains(&dy) && (0..23).contains(&dx) {
                    (255.0 * k[dy as usize] * k[dx as usize]).round()
                } else {
                    0.0
                };
                let got = img[y * w + x] as f32;
                assert!((got - expect).abs() <= 1.0, "({x},{y}) {got} vs {expect}");
            }
        }
        // The kernel is the normalised Gaussian.
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((k[11] / k[12] - (1.0f32 / (2.0 * 1.5 * 1.5)).exp()).abs() < 1e-5);
    }

    #[test]
    fn reflect_padding_mirrors_without_repeating_the_edge() {
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(-3, 5), 3);
        assert_eq!(reflect(5, 5), 3);
        assert_eq!(reflect(6, 5), 2);
        // A flat image stays flat; a tiny σ is the identity.
        let mut flat = vec![77u8; 8 * 6 * 3];
        blur(&mut flat, (8, 6, 3), 23, 2.0, &mut BlurScratch::default());
        assert!(flat.iter().all(|v| *v == 77));
        let mut ramp: Vec<u8> = (0..64).map(|v| (v * 4) as u8).collect();
        let before = ramp.clone();
        blur(&mut ramp, (8, 8, 1), 23, 0.1, &mut BlurScratch::default());
        assert_eq!(ramp, before);
    }
}
