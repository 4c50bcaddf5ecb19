//! JPEG decoding at a reduced DCT scale (1/2, 1/4, 1/8), the trick libjpeg-turbo's `scale_num`
//! and PIL's `draft()` use: every entropy-coded block is still read (so the stream is
//! validated), but the inverse DCT produces only as many pixels as needed. An image that is
//! kept as is needs no pixels at all and is validated at 1/8 scale; one that is resized is
//! decoded at the smallest scale that is still at least the target size.
//!
//! libjpeg-turbo (SIMD Huffman and IDCT) does the work; a stream it reports any problem with,
//! even one libjpeg calls a warning, is decoded again by the pure-Rust `jpeg-decoder`, which
//! rejects bad Huffman codes but tolerates the harmless oddities (stray bytes before a marker)
//! that many real files carry.

use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::{Decoder, PixelFormat};

/// Decodes at the smallest DCT scale whose output is at least `min_w`×`min_h`. Returns `None`
/// for JPEGs this decoder does not handle (CMYK, 12-bit), which the caller decodes in full;
/// `Some(Err)` for a corrupt stream.
pub fn decode_scaled(bytes: &[u8], min_w: u32, min_h: u32) -> Option<Result<DynamicImage, String>> {
    match turbo(bytes, min_w, min_h) {
        Some(Ok(img)) => Some(Ok(img)),
        _ => rust_decoder(bytes, min_w, min_h),
    }
}

thread_local! {
    static TURBO: std::cell::RefCell<Option<turbojpeg::Decompressor>> = const { std::cell::RefCell::new(None) };
    static TURBO_OUT: std::cell::RefCell<Option<turbojpeg::Compressor>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's libjpeg-turbo decompressor (`None` if it cannot be created).
fn with_decompressor<R>(f: impl FnOnce(&mut turbojpeg::Decompressor) -> Option<R>) -> Option<R> {
    TURBO.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = turbojpeg::Decompressor::new().ok();
        }
        f(slot.as_mut()?)
    })
}

/// The width and height in a JPEG's frame header, read by libjpeg-turbo without decoding.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    with_decompressor(|d| {
        let h = d.read_header(bytes).ok()?;
        Some((u32::try_from(h.width).ok()?, u32::try_from(h.height).ok()?))
    })
}

/// Encodes 8-bit grey or RGB pixels with libjpeg-turbo at `quality` (colour with 4:2:0 chroma
/// subsampling, PIL's default). `None` for other pixel layouts.
pub fn encode(img: &DynamicImage, quality: u8) -> Option<Result<Vec<u8>, String>> {
    use turbojpeg::{Image, PixelFormat as P, Subsamp};
    let (format, channels, subsamp, pixels) = match img {
        DynamicImage::ImageLuma8(i) => (P::GRAY, 1, Subsamp::Gray, i.as_raw()),
        DynamicImage::ImageRgb8(i) => (P::RGB, 3, Subsamp::Sub2x2, i.as_raw()),
        _ => return None,
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let image = Image {
        pixels: pixels.as_slice(),
        width: w,
        pitch: channels * w,
        height: h,
        format,
    };
    TURBO_OUT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = turbojpeg::Compressor::new().ok();
        }
        let c = slot.as_mut()?;
        let run = |c: &mut turbojpeg::Compressor| {
            c.set_quality(quality as i32)?;
            c.set_subsamp(subsamp)?;
            c.compress_to_vec(image)
        };
        Some(run(c).map_err(|e| e.to_string()))
    })
}

/// The largest libjpeg-turbo scale (of 1/8, 1/4, 1/2, 1) that is still at least `min_w`×`min_h`.
fn turbo_scale(w: usize, h: usize, min_w: u32, min_h: u32) -> turbojpeg::ScalingFactor {
    use turbojpeg::ScalingFactor as S;
    [S::ONE_EIGHTH, S::ONE_QUARTER, S::ONE_HALF]
        .into_iter()
        .find(|s| s.scale(w) >= min_w as usize && s.scale(h) >= min_h as usize)
        .unwrap_or(S::ONE)
}

fn turbo(bytes: &[u8], min_w: u32, min_h: u32) -> Option<Result<DynamicImage, String>> {
    use turbojpeg::{Colorspace, Image, PixelFormat as P};
    with_decompressor(|d| {
        let header = d.read_header(bytes).ok()?;
        let (format, channels) = match header.colorspace {
            Colorspace::Gray => (P::GRAY, 1),
            Colorspace::YCbCr | Colorspace::RGB => (P::RGB, 3),
            _ => return None,
        };
        if header.is_lossless {
            return None;
        }
        let scale = turbo_scale(header.width, header.height, min_w, min_h);
        d.set_scaling_factor(scale).ok()?;
        let s = header.scaled(scale);
        let mut img = Image {
            pixels: vec![0u8; channels * s.width * s.height],
            width: s.width,
            pitch: channels * s.width,
            height: s.height,
            format,
        };
        if let Err(e) = d.decompress(bytes, img.as_deref_mut()) {
            return Some(Err(e.to_string()));
        }
        let (w, h) = (s.width as u32, s.height as u32);
        let out = if channels == 1 {
            GrayImage::from_raw(w, h, img.pixels).map(DynamicImage::ImageLuma8)
        } else {
            RgbImage::from_raw(w, h, img.pixels).map(DynamicImage::ImageRgb8)
        };
        Some(out.ok_or_else(|| "decoded buffer has the wrong size".to_string()))
    })
}

fn rust_decoder(bytes: &[u8], min_w: u32, min_h: u32) -> Option<Result<DynamicImage, String>> {
    let mut d = Decoder::new(bytes);
    let clamp = |v: u32| v.clamp(1, u16::MAX as u32) as u16;
    if let Err(e) = d.scale(clamp(min_w), clamp(min_h)) {
        return Some(Err(e.to_string()));
    }
    let info = d.info()?;
    if !matches!(info.pixel_format, PixelFormat::L8 | PixelFormat::RGB24) {
        return None;
    }
    let pixels = match d.decode() {
        Ok(p) => p,
        Err(e) => return Some(Err(e.to_string())),
    };
    let (w, h) = (info.width as u32, info.height as u32);
    let img = match info.pixel_format {
        PixelFormat::L8 => GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        _ => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
    };
    Some(img.ok_or_else(|| "decoded buffer has the wrong size".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(
                &mut std::io::Cursor::new(&mut out),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        out
    }

    #[test]
    fn picks_the_smallest_scale_at_least_the_target() {
        let b = jpeg(2000, 1600);
        let img = decode_scaled(&b, 512, 410).unwrap().unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (1000, 800),
            "1/4 would be 500 wide, under the target"
        );
        let tiny = decode_scaled(&b, 1, 1).unwrap().unwrap();
        assert_eq!((tiny.width(), tiny.height()), (250, 200));
    }

    #[test]
    fn both_decoders_agree_on_size() {
        let b = jpeg(1000, 700);
        let t = turbo(&b, 300, 200).unwrap().unwrap();
        let r = rust_decoder(&b, 300, 200).unwrap().unwrap();
        assert_eq!((t.width(), t.height()), (r.width(), r.height()));
        assert_eq!((t.width(), t.height()), (500, 350));
    }

    #[test]
    fn corrupt_scan_data_is_an_error_even_at_one_eighth() {
        let mut b = jpeg(256, 256);
        let n = b.len();
        let mut x = 12345u32;
        for byte in &mut b[n / 2..n - 2] {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *byte = (x >> 16) as u8;
        }
        // (The image crate's full decoder accepts this stream; the scaled decode does not.)
        assert!(matches!(decode_scaled(&b, 1, 1), Some(Err(_))));
    }
}
