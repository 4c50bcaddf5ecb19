//! SSE2 / SSSE3 / AVX2 inner loops of the resampler (x86-64). They compute exactly the integers
//! of [`super::scalar`]: `u8 × i16` products summed in `i32` pairs by `pmaddwd`, then the same
//! rounding shift and clamp (`packssdw` + `packuswb` saturate as the clamp does).
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::axis::{Axis, TAP_GROUP};
use super::scalar;

fn avx2() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Two weights as one `i32` lane pair for `pmaddwd`.
#[inline(always)]
fn pair(lo: i16, hi: i16) -> i32 {
    (i32::from(hi as u16) << 16) | i32::from(lo as u16)
}

/// The vertical pass over one output row: 32 columns at a time with AVX2, then 16 with SSE2
/// (part of every x86-64 CPU), the rest in scalar code.
pub(super) fn vertical_row(
    rows: &[u8],
    stride: usize,
    x0: usize,
    coefs: &[i16],
    out: &mut [u8],
    precision: u8,
) {
    let n = coefs.len();
    assert!(n > 0 && rows.len() >= (n - 1) * stride + x0 + out.len());
    let mut done = 0;
    if avx2() {
        done = out.len() / 32 * 32;
        // SAFETY: AVX2 was detected; each load reads row k < n at columns x0 + x .. + 32 with
        // x + 32 <= done <= out.len(), inside `rows` by the assertion.
        unsafe {
            vertical_avx2(
                rows.as_ptr(),
                stride,
                x0,
                coefs,
                &mut out[..done],
                precision,
            )
        };
    }
    let body = done + (out.len() - done) / 16 * 16;
    // SAFETY: as above with 16-byte loads inside `done..body`.
    unsafe {
        vertical_sse2(
            rows.as_ptr(),
            stride,
            x0 + done,
            coefs,
            &mut out[done..body],
            precision,
        )
    };
    if body < out.len() {
        scalar::vertical_row(
            &rows[body..],
            stride,
            x0,
            coefs,
            &mut out[body..],
            precision,
        );
    }
}

/// # Safety
/// `rows` readable for taps `0..coefs.len()` at `k * stride + x0 .. + out.len()`;
/// `out.len()` a multiple of 16.
unsafe fn vertical_sse2(
    rows: *const u8,
    stride: usize,
    x0: usize,
    coefs: &[i16],
    out: &mut [u8],
    precision: u8,
) {
    let n = coefs.len();
    // SAFETY: SSE2 is part of x86-64; loads stay where the caller guarantees (the odd last tap
    // pairs its row with itself and a zero weight).
    unsafe {
        let half = _mm_set1_epi32(1 << (precision - 1));
        let shift = _mm_cvtsi32_si128(i32::from(precision));
        let zero = _mm_setzero_si128();
        for (x, dst) in out.chunks_exact_mut(16).enumerate() {
            let col = x0 + x * 16;
            let mut acc = [half; 4];
            let mut k = 0;
            while k < n {
                let (k1, c1) = if k + 1 < n {
                    (k + 1, coefs[k + 1])
                } else {
                    (k, 0)
                };
                let w = _mm_set1_epi32(pair(coefs[k], c1));
                let a = _mm_loadu_si128(rows.add(k * stride + col).cast());
                let b = _mm_loadu_si128(rows.add(k1 * stride + col).cast());
                let (lo, hi) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
                let parts = [
                    _mm_unpacklo_epi8(lo, zero),
                    _mm_unpackhi_epi8(lo, zero),
                    _mm_unpacklo_epi8(hi, zero),
                    _mm_unpackhi_epi8(hi, zero),
                ];
                for (s, p) in acc.iter_mut().zip(parts) {
                    *s = _mm_add_epi32(*s, _mm_madd_epi16(p, w));
                }
                k += 2;
            }
            let r = acc.map(|s| _mm_sra_epi32(s, shift));
            let v = _mm_packus_epi16(_mm_packs_epi32(r[0], r[1]), _mm_packs_epi32(r[2], r[3]));
            _mm_storeu_si128(dst.as_mut_ptr().cast(), v);
        }
    }
}

/// # Safety
/// AVX2; `rows` readable for taps `0..coefs.len()` at `k * stride + x0 .. + out.len()`;
/// `out.len()` a multiple of 32.
#[target_feature(enable = "avx2")]
unsafe fn vertical_avx2(
    rows: *const u8,
    stride: usize,
    x0: usize,
    coefs: &[i16],
    out: &mut [u8],
    precision: u8,
) {
    let n = coefs.len();
    let half = _mm256_set1_epi32(1 << (precision - 1));
    let shift = _mm_cvtsi32_si128(i32::from(precision));
    let zero = _mm256_setzero_si256();
    for (x, dst) in out.chunks_exact_mut(32).enumerate() {
        let col = x0 + x * 32;
        let mut acc = [half; 4];
        let mut k = 0;
        while k < n {
            let (k1, c1) = if k + 1 < n {
                (k + 1, coefs[k + 1])
            } else {
                (k, 0)
            };
            let w = _mm256_set1_epi32(pair(coefs[k], c1));
            // SAFETY: rows k and k1 < n at columns col .. col + 32, inside by the caller.
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(rows.add(k * stride + col).cast()),
                    _mm256_loadu_si256(rows.add(k1 * stride + col).cast()),
                )
            };
            // In-lane unpacks: the packs below undo the lane split.
            let (lo, hi) = (_mm256_unpacklo_epi8(a, b), _mm256_unpackhi_epi8(a, b));
            let parts = [
                _mm256_unpacklo_epi8(lo, zero),
                _mm256_unpackhi_epi8(lo, zero),
                _mm256_unpacklo_epi8(hi, zero),
                _mm256_unpackhi_epi8(hi, zero),
            ];
            for (s, p) in acc.iter_mut().zip(parts) {
                *s = _mm256_add_epi32(*s, _mm256_madd_epi16(p, w));
            }
            k += 2;
        }
        let r = acc.map(|s| _mm256_sra_epi32(s, shift));
        let lo = _mm256_packs_epi32(r[0], r[1]);
        let hi = _mm256_packs_epi32(r[2], r[3]);
        // SAFETY: `dst` is 32 bytes.
        unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), _mm256_packus_epi16(lo, hi)) };
    }
}

/// The horizontal pass over every row (row `y` of `dst` from `tmp[y * line..]`); false where
/// the CPU lacks what the loops need (SSSE3 for RGB).
pub(super) fn horizontal(tmp: &[u8], line: usize, c: usize, axis: &Axis, dst: &mut [u8]) -> bool {
    let row = axis.outputs() * c;
    let rows = dst.len() / row;
    assert!(rows > 0 && dst.len() == rows * row);
    // Loads run past each output's last tap to the end of its group (8 grey pixels, or 4 RGB
    // pixels plus the 4 bytes of a 16-byte load): the caller's slack covers the last row.
    let reach = if c == 1 {
        axis.reach(TAP_GROUP)
    } else {
        axis.reach(4) * 3 + 4
    };
    assert!((rows - 1) * line + reach <= tmp.len());
    let (rgb_ok, wide) = (c == 1 || is_x86_feature_detected!("ssse3"), avx2());
    if !rgb_ok {
        return false;
    }
    let mut y = 0;
    if wide {
        for pair in dst.chunks_exact_mut(2 * row) {
            let (a, b) = pair.split_at_mut(row);
            let (la, lb) = (&tmp[y * line..], &tmp[(y + 1) * line..]);
            // SAFETY: AVX2 was detected; loads are inside `tmp` by the assertion.
            unsafe {
                if c == 1 {
                    grey_avx2(la, lb, axis, a, b)
                } else {
                    rgb_avx2(la, lb, axis, a, b)
                }
            }
            y += 2;
        }
    }
    for out in dst[y * row..].chunks_exact_mut(row) {
        let l = &tmp[y * line..];
        // SAFETY: SSE2 is part of x86-64 and SSSE3 was detected for RGB; loads are inside.
        unsafe {
            if c == 1 {
                grey_sse2(l, axis, out)
            } else {
                rgb_ssse3(l, axis, out)
            }
        }
        y += 1;
    }
    true
}

/// Spreads RGB pixels 0, 1 (and, with the second mask, 2, 3) of 16 bytes into the `i16` lanes
/// r0 r1 g0 g1 b0 b1 0 0, for `pmaddwd` with a pair of weights.
const SPREAD_01: [i8; 16] = [0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1];
const SPREAD_23: [i8; 16] = [6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1];

fn mask(m: [i8; 16]) -> __m128i {
    // SAFETY: an unaligned load of 16 bytes from a local array.
    unsafe { _mm_loadu_si128(m.as_ptr().cast()) }
}

/// # Safety
/// SSSE3; `line` readable to every output's `3 · (start + len rounded up to 4) + 4`.
#[target_feature(enable = "ssse3")]
unsafe fn rgb_ssse3(line: &[u8], axis: &Axis, out: &mut [u8]) {
    let precision = axis.precision;
    let half = _mm_set1_epi32(1 << (precision - 1));
    let shift = _mm_cvtsi32_si128(i32::from(precision));
    let (m01, m23) = (mask(SPREAD_01), mask(SPREAD_23));
    for (i, px) in out.chunks_exact_mut(3).enumerate() {
        let (start, len, w) = axis.padded(i);
        let mut acc = half;
        let mut k = 0;
        while k < len {
            // SAFETY: pixels start + k .. + 4 plus 4 bytes are inside by the caller's check.
            let p = unsafe { _mm_loadu_si128(line.as_ptr().add((start + k) * 3).cast()) };
            let (w01, w23) = (pair(w[k], w[k + 1]), pair(w[k + 2], w[k + 3]));
            let s = _mm_add_epi32(
                _mm_madd_epi16(_mm_shuffle_epi8(p, m01), _mm_set1_epi32(w01)),
                _mm_madd_epi16(_mm_shuffle_epi8(p, m23), _mm_set1_epi32(w23)),
            );
            acc = _mm_add_epi32(acc, s);
            k += 4;
        }
        let r = _mm_sra_epi32(acc, shift);
        let b = _mm_packus_epi16(_mm_packs_epi32(r, r), r);
        px.copy_from_slice(&(_mm_cvtsi128_si32(b) as u32).to_le_bytes()[..3]);
    }
}

/// # Safety
/// AVX2; both lines readable as for [`rgb_ssse3`].
#[target_feature(enable = "avx2")]
unsafe fn rgb_avx2(la: &[u8], lb: &[u8], axis: &Axis, oa: &mut [u8], ob: &mut [u8]) {
    let precision = axis.precision;
    let half = _mm256_set1_epi32(1 << (precision - 1));
    let shift = _mm_cvtsi32_si128(i32::from(precision));
    let m01 = _mm256_broadcastsi128_si256(mask(SPREAD_01));
    let m23 = _mm256_broadcastsi128_si256(mask(SPREAD_23));
    for (i, (pa, pb)) in oa
        .chunks_exact_mut(3)
        .zip(ob.chunks_exact_mut(3))
        .enumerate()
    {
        let (start, len, w) = axis.padded(i);
        let mut acc = half;
        let mut k = 0;
        while k < len {
            let at = (start + k) * 3;
            // SAFETY: as in `rgb_ssse3`, for both lines.
            let p = unsafe {
                _mm256_loadu2_m128i(lb.as_ptr().add(at).cast(), la.as_ptr().add(at).cast())
            };
            let (w01, w23) = (pair(w[k], w[k + 1]), pair(w[k + 2], w[k + 3]));
            let s = _mm256_add_epi32(
                _mm256_madd_epi16(_mm256_shuffle_epi8(p, m01), _mm256_set1_epi32(w01)),
                _mm256_madd_epi16(_mm256_shuffle_epi8(p, m23), _mm256_set1_epi32(w23)),
            );
            acc = _mm256_add_epi32(acc, s);
            k += 4;
        }
        let r = _mm256_sra_epi32(acc, shift);
        let b = _mm256_packus_epi16(_mm256_packs_epi32(r, r), r);
        let lo = _mm_cvtsi128_si32(_mm256_castsi256_si128(b)) as u32;
        let hi = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(b)) as u32;
        pa.copy_from_slice(&lo.to_le_bytes()[..3]);
        pb.copy_from_slice(&hi.to_le_bytes()[..3]);
    }
}

/// # Safety
/// SSE2; `line` readable to every output's `start + len rounded up to 8`.
#[target_feature(enable = "sse2")]
unsafe fn grey_sse2(line: &[u8], axis: &Axis, out: &mut [u8]) {
    let precision = axis.precision;
    let zero = _mm_setzero_si128();
    for (i, o) in out.iter_mut().enumerate() {
        let (start, len, w) = axis.padded(i);
        let mut acc = zero;
        let mut k = 0;
        while k < len {
            // SAFETY: bytes start + k .. + 8 and weights k .. + 8 are inside (weight rows are
            // padded to multiples of 8).
            let (p, c) = unsafe {
                (
                    _mm_loadl_epi64(line.as_ptr().add(start + k).cast()),
                    _mm_loadu_si128(w.as_ptr().add(k).cast()),
                )
            };
            acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_unpacklo_epi8(p, zero), c));
            k += TAP_GROUP;
        }
        let s = _mm_add_epi32(acc, _mm_shuffle_epi32::<0b01_00_11_10>(acc));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        *o = scalar::clip(_mm_cvtsi128_si32(s) + (1 << (precision - 1)), precision);
    }
}

/// # Safety
/// AVX2; both lines readable as for [`grey_sse2`].
#[target_feature(enable = "avx2")]
unsafe fn grey_avx2(la: &[u8], lb: &[u8], axis: &Axis, oa: &mut [u8], ob: &mut [u8]) {
    let precision = axis.precision;
    let half = 1 << (precision - 1);
    for (i, (a, b)) in oa.iter_mut().zip(ob.iter_mut()).enumerate() {
        let (start, len, w) = axis.padded(i);
        let mut acc = _mm256_setzero_si256();
        let mut k = 0;
        while k < len {
            // SAFETY: as in `grey_sse2`, for both lines.
            let (pa, pb, c) = unsafe {
                (
                    _mm_loadl_epi64(la.as_ptr().add(start + k).cast()),
                    _mm_loadl_epi64(lb.as_ptr().add(start + k).cast()),
                    _mm_loadu_si128(w.as_ptr().add(k).cast()),
                )
            };
            let p = _mm256_cvtepu8_epi16(_mm_unpacklo_epi64(pa, pb));
            let c = _mm256_broadcastsi128_si256(c);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, c));
            k += TAP_GROUP;
        }
        // Lane 0 holds line a's four partial sums, lane 1 line b's.
        let s = _mm256_hadd_epi32(acc, acc);
        let s = _mm256_hadd_epi32(s, s);
        let sa = _mm_cvtsi128_si32(_mm256_castsi256_si128(s));
        let sb = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(s));
        *a = scalar::clip(sa + half, precision);
        *b = scalar::clip(sb + half, precision);
    }
}
