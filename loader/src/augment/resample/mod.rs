//! Crop-and-resize of 8-bit images by separable convolution, allocation-free once warm.
//!
//! The arithmetic is PIL's antialiased resize as `fast_image_resize` computes it for 8-bit
//! pixels, so the output is the same bytes: per axis, each output pixel weighs the inputs within
//! the filter's support scaled by the reduction factor (at least 1), the weights are normalised
//! to sum to one and quantised to `i16` with the largest precision that keeps the biggest weight
//! below 2^15; the vertical pass runs first into an 8-bit intermediate of the output's height,
//! then the horizontal pass, each rounding half up and clamping to 0..=255. Unlike that crate,
//! the coefficient tables and the intermediate live in the [`Resampler`] and are reused from call
//! to call, so a warm resampler allocates nothing. The inner loops use SSE2 (vertical, and the
//! horizontal pass of grey images), SSSE3 (the horizontal pass of RGB) and AVX2 (both passes,
//! two rows at a time) where the CPU has them, with a scalar path that computes the same
//! integers elsewhere.

mod axis;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

use axis::Axis;

/// The interpolation kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// The triangle filter (support 1).
    Bilinear,
    /// Keys' cubic with a = −0.5 (support 2), PIL's and torchvision's BICUBIC.
    CatmullRom,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::CatmullRom => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        const A: f64 = -0.5;
        let x = x.abs();
        match self {
            Filter::Bilinear if x < 1.0 => 1.0 - x,
            Filter::CatmullRom if x < 1.0 => ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0,
            Filter::CatmullRom if x < 2.0 => (((x - 5.0) * x + 8.0) * x - 4.0) * A,
            _ => 0.0,
        }
    }
}

/// A source image: `width × height` pixels of `channels` (1 or 3) bytes, rows packed.
#[derive(Debug, Clone, Copy)]
pub struct Src<'a> {
    /// The pixels.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per pixel: 1 or 3.
    pub channels: usize,
}

/// The region of the source to resize, in source pixels (fractional edges allowed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width (> 0; `left + width` at most the source width).
    pub width: f64,
    /// Height (> 0; `top + height` at most the source height).
    pub height: f64,
}

/// Which inner loops to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// The fastest the CPU supports.
    Best,
    /// Plain Rust loops (the reference the SIMD loops are tested against).
    Scalar,
}

/// Bytes of slack after the intermediate, so the SIMD loops may read a little past its last
/// row (those bytes are multiplied by zero weights).
const SLACK: usize = 16;

/// Reusable state of the crop-resize: both axes' coefficient tables and the intermediate.
#[derive(Debug)]
pub struct Resampler {
    vertical: Axis,
    horizontal: Axis,
    tmp: Vec<u8>,
    kernels: Kernels,
}

impl Default for Resampler {
    fn default() -> Self {
        Resampler::new(Kernels::Best)
    }
}

impl Resampler {
    /// A resampler that runs `kernels`.
    pub fn new(kernels: Kernels) -> Self {
        Resampler {
            vertical: Axis::default(),
            horizontal: Axis::default(),
            tmp: Vec::new(),
            kernels,
        }
    }

    /// Resizes `region` of `src` into `dst` (`out_w × out_h` pixels of the source's channels).
    pub fn resize(
        &mut self,
        src: Src<'_>,
        region: Region,
        filter: Filter,
        dst: &mut [u8],
        (out_w, out_h): (u32, u32),
    ) -> Result<(), String> {
        check(&src, &region, dst.len(), (out_w, out_h))?;
        let c = src.channels;
        let (sw, sh) = (src.width, src.height);
        let (left, top) = (region.left, region.top);
        self.vertical
            .compute(sh, top, top + region.height, out_h, filter);
        self.horizontal
            .compute(sw, left, left + region.width, out_w, filter);
        // The vertical pass reads only the columns the horizontal pass will use.
        let (x0, x1) = self.horizontal.span();
        let tmp_w = (x1 - x0) as usize;
        let tmp_len = tmp_w * c * out_h as usize;
        if self.tmp.len() < tmp_len + SLACK {
            self.tmp.resize(tmp_len + SLACK, 0);
        }
        self.horizontal.shift(x0);
        let kernels = self.kernels;
        let (tmp, _) = self.tmp.split_at_mut(tmp_len);
        let row = sw as usize * c;
        for (y, out) in tmp.chunks_exact_mut(tmp_w * c).enumerate() {
            let (start, coefs) = self.vertical.taps(y);
            let rows = &src.data[start * row..];
            vertical_row(
                kernels,
                rows,
                row,
                x0 as usize * c,
                coefs,
                out,
                self.vertical.precision,
            );
        }
        let tmp = &self.tmp[..tmp_len + SLACK];
        horizontal(kernels, tmp, tmp_w * c, c, &self.horizontal, dst);
        Ok(())
    }
}

fn check(src: &Src<'_>, r: &Region, dst_len: usize, (w, h): (u32, u32)) -> Result<(), String> {
    if src.channels != 1 && src.channels != 3 {
        return Err(format!("{} channels (1 or 3 resize)", src.channels));
    }
    let need = src.width as usize * src.height as usize * src.channels;
    if src.data.len() < need || src.width == 0 || src.height == 0 {
        return Err(format!(
            "a {}×{}×{} image given {} bytes",
            src.width,
            src.height,
            src.channels,
            src.data.len()
        ));
    }
    let inside = |lo: f64, len: f64, size: u32| lo >= 0.0 && len > 0.0 && lo + len <= size as f64;
    if !inside(r.left, r.width, src.width) || !inside(r.top, r.height, src.height) {
        return Err(format!(
            "crop {r:?} outside the {}×{} image",
            src.width, src.height
        ));
    }
    if w == 0 || h == 0 || dst_len != w as usize * h as usize * src.channels {
        return Err(format!("a {w}×{h} output given {dst_len} bytes"));
    }
    Ok(())
}

fn vertical_row(
    kernels: Kernels,
    rows: &[u8],
    stride: usize,
    x0: usize,
    coefs: &[i16],
    out: &mut [u8],
    precision: u8,
) {
    #[cfg(target_arch = "x86_64")]
    if kernels == Kernels::Best {
        return x86::vertical_row(rows, stride, x0, coefs, out, precision);
    }
    let _ = kernels;
    scalar::vertical_row(rows, stride, x0, coefs, out, precision)
}

/// The horizontal pass: row `y` of `dst` from the intermediate's row `y` (`line` bytes each).
fn horizontal(kernels: Kernels, tmp: &[u8], line: usize, c: usize, axis: &Axis, dst: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if kernels == Kernels::Best && x86::horizontal(tmp, line, c, axis, dst) {
        return;
    }
    let _ = kernels;
    let row = axis.outputs() * c;
    for (y, out) in dst.chunks_exact_mut(row).enumerate() {
        scalar::horizontal_row(&tmp[y * line..], c, axis, out);
    }
}

#[cfg(test)]
mod tests;
