//! PNG decoding straight into a buffer each worker thread keeps, for the layouts radiographs and
//! figures use (grey or RGB, 8 or 16 bits). Decoding through `image` would allocate (and have the
//! kernel zero) a fresh buffer of tens of megabytes per radiograph and copy it row by row; here
//! the `png` crate inflates and unfilters every row into memory that is already mapped, and the
//! resizer reads it in place. Every chunk CRC and the zlib checksum are still verified, so the
//! validation is the same as a full decode through `image`.

use std::cell::RefCell;
use std::io::Cursor;

use fast_image_resize::PixelType;
use fast_image_resize::images::ImageRef;
use png::{BitDepth, ColorType, Transformations};

/// A worker keeps at most this much decode buffer between images.
const KEEP_BYTES: usize = 64 << 20;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The pixels of a decoded PNG, samples in native byte order.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 1 (grey) or 3 (RGB).
    pub channels: u8,
    /// 8 or 16.
    pub depth: u8,
    /// Row-major samples, `width * channels * depth / 8` bytes per row.
    pub pixels: &'a [u8],
}

impl Decoded<'_> {
    /// The resizer's name for this layout.
    pub fn pixel_type(&self) -> PixelType {
        match (self.channels, self.depth) {
            (1, 8) => PixelType::U8,
            (1, _) => PixelType::U16,
            (_, 8) => PixelType::U8x3,
            _ => PixelType::U16x3,
        }
    }

    /// A view the resizer reads from.
    pub fn view(&self) -> Result<ImageRef<'_>, String> {
        ImageRef::new(self.width, self.height, self.pixels, self.pixel_type())
            .map_err(|e| e.to_string())
    }
}

/// Decodes `bytes` and hands the pixels to `f`. `None` when the PNG is of a layout this path
/// does not take (palette, alpha, under 8 bits), which the caller decodes through `image`;
/// `Some(Err)` when the file is corrupt. `max_bytes` bounds the decoder's allocations.
pub fn with_decoded<R>(
    bytes: &[u8],
    max_bytes: usize,
    f: impl FnOnce(Decoded<'_>) -> R,
) -> Option<Result<R, String>> {
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: max_bytes });
    decoder.set_transformations(Transformations::IDENTITY);
    let mut reader = match decoder.read_info() {
        Ok(r) => r,
        Err(e) => return Some(Err(e.to_string())),
    };
    let info = reader.info();
    let channels = match info.color_type {
        ColorType::Grayscale => 1,
        ColorType::Rgb => 3,
        _ => return None,
    };
    let depth = match info.bit_depth {
        BitDepth::Eight => 8,
        BitDepth::Sixteen => 16,
        _ => return None,
    };
    let (width, height) = (info.width, info.height);
    let size = reader.output_buffer_size()?;
    BUFFER.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let out = match reader.next_frame(&mut buf[..size]) {
            Ok(out) => out,
            Err(e) => return Some(Err(e.to_string())),
        };
        let n = out.buffer_size().min(size);
        if depth == 16 {
            to_native_u16(&mut buf[..n]);
        }
        let decoded = Decoded {
            width,
            height,
            channels,
            depth,
            pixels: &buf[..n],
        };
        let result = f(decoded);
        if buf.len() > KEEP_BYTES {
            *buf = Vec::new();
        }
        Some(Ok(result))
    })
}

/// PNG stores 16-bit samples big-endian; the resizer reads them in the machine's order.
fn to_native_u16(bytes: &mut [u8]) {
    if cfg!(target_endian = "little") {
        for pair in bytes.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(w: u32, h: u32, color: ColorType, depth: BitDepth, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        enc.write_header().unwrap().write_image_data(data).unwrap();
        out
    }

    #[test]
    fn sixteen_bit_samples_come_out_in_native_order() {
        let samples: Vec<u16> = (0..12).map(|i| i * 1000 + 7).collect();
        let be: Vec<u8> = samples.iter().flat_map(|s| s.to_be_bytes()).collect();
        let png = encode(4, 3, ColorType::Grayscale, BitDepth::Sixteen, &be);
        let got = with_decoded(&png, 1 << 20, |d| {
            assert_eq!((d.width, d.height, d.channels, d.depth), (4, 3, 1, 16));
            assert_eq!(d.pixel_type(), PixelType::U16);
            d.pixels
                .chunks_exact(2)
                .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                .collect::<Vec<_>>()
        });
        assert_eq!(got.unwrap().unwrap(), samples);
    }

    #[test]
    fn a_reused_buffer_holds_only_the_new_image() {
        let big = encode(8, 8, ColorType::Rgb, BitDepth::Eight, &[200; 192]);
        let small = encode(2, 2, ColorType::Grayscale, BitDepth::Eight, &[1, 2, 3, 4]);
        with_decoded(&big, 1 << 20, |d| assert_eq!(d.pixels.len(), 192))
            .unwrap()
            .unwrap();
        let px = with_decoded(&small, 1 << 20, |d| d.pixels.to_vec())
            .unwrap()
            .unwrap();
        assert_eq!(px, vec![1, 2, 3, 4]);
    }

    #[test]
    fn palette_and_alpha_are_left_to_the_caller() {
        let rgba = encode(2, 1, ColorType::Rgba, BitDepth::Eight, &[0; 8]);
        assert!(with_decoded(&rgba, 1 << 20, |_| ()).is_none());
    }

    #[test]
    fn a_bad_checksum_is_an_error() {
        let mut png = encode(16, 16, ColorType::Grayscale, BitDepth::Eight, &[9; 256]);
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        png[idat + 6] ^= 0x40;
        assert!(matches!(with_decoded(&png, 1 << 20, |_| ()), Some(Err(_))));
    }
}
