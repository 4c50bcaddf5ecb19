//! The resampler's inner loops in plain Rust: the reference for the SIMD ones.

use super::axis::Axis;

/// Rounds and clamps a fixed-point sum to a byte.
#[inline]
pub(super) fn clip(sum: i32, precision: u8) -> u8 {
    (sum >> precision).clamp(0, 255) as u8
}

/// `out[j] = Σ_k coefs[k] · rows[k·stride + x0 + j]`, rounded.
pub(super) fn vertical_row(
    rows: &[u8],
    stride: usize,
    x0: usize,
    coefs: &[i16],
    out: &mut [u8],
    precision: u8,
) {
    let half = 1i32 << (precision - 1);
    for (j, o) in out.iter_mut().enumerate() {
        let mut sum = half;
        for (k, &c) in coefs.iter().enumerate() {
            sum += i32::from(rows[k * stride + x0 + j]) * i32::from(c);
        }
        *o = clip(sum, precision);
    }
}

/// One output row of the horizontal pass from one intermediate row.
pub(super) fn horizontal_row(line: &[u8], channels: usize, axis: &Axis, out: &mut [u8]) {
    let precision = axis.precision;
    let half = 1i32 << (precision - 1);
    for (i, px) in out.chunks_exact_mut(channels).enumerate() {
        let (start, coefs) = axis.taps(i);
        for (ch, o) in px.iter_mut().enumerate() {
            let mut sum = half;
            for (k, &c) in coefs.iter().enumerate() {
                sum += i32::from(line[(start + k) * channels + ch]) * i32::from(c);
            }
            *o = clip(sum, precision);
        }
    }
}
