//! The image normaliser: decode and validate every image, then apply the resize policy.
//!
//! An image is kept byte for byte when it is a JPEG or PNG with one or three channels that the
//! policy does not resize. Otherwise it is resized with `fast_image_resize` (Catmull-Rom, the
//! bicubic kernel) and re-encoded in its own format: JPEG at quality 90 (colour with 4:2:0
//! chroma subsampling, as PIL saves it), PNG with fast compression and its bit depth kept.
//! Alpha is dropped (radiographs and figures carry none that matters); greyscale stays one
//! channel.

use std::io::Cursor;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use fast_image_resize::{FilterType, IntoImageView, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageReader};
use unimlip_shards::{ImageFormat, ImageInfo};

use crate::Error;

/// Images above this many pixels are rejected before decoding.
pub const MAX_PIXELS: u64 = 100_000_000;
/// JPEG quality of re-encoded images.
pub const JPEG_QUALITY: u8 = 90;
/// The default of [`set_image_memory`]: 512 MiB, a 16-bit RGB radiograph of 89 megapixels.
pub const DEFAULT_IMAGE_MEMORY: u64 = 512 << 20;
static IMAGE_MEMORY: AtomicU64 = AtomicU64::new(DEFAULT_IMAGE_MEMORY);

/// Sets the most memory one image may take while it is decoded and converted (the pool's peak
/// is about this times the workers); an image that needs more is rejected as `too-large`
/// before it is decoded. `--image-memory` sets it.
pub fn set_image_memory(bytes: u64) {
    IMAGE_MEMORY.store(bytes.max(1), Ordering::Relaxed);
}

/// The memory one image may take (see [`set_image_memory`]).
pub fn image_memory() -> u64 {
    IMAGE_MEMORY.load(Ordering::Relaxed)
}

/// The bytes a `w`×`h` image takes at its peak while it is decoded (and converted, when it has
/// alpha or a palette), from its header: PNGs in full, JPEGs at the DCT scale [`decode`] uses
/// for a `tw`×`th` result. With a description of the layout for the rejection.
fn peak_bytes(
    bytes: &[u8],
    format: ImageFormat,
    (w, h): (u32, u32),
    (tw, th): (u32, u32),
) -> (u64, String) {
    let px = w as u64 * h as u64;
    if format == ImageFormat::Png {
        let depth = bytes.get(24).copied().unwrap_or(8);
        let color = bytes.get(25).copied().unwrap_or(2);
        let (samples, kept, name) = match color {
            0 => (1, 1, "grey"),
            2 => (3, 3, "RGB"),
            3 => (4, 3, "palette"),
            4 => (2, 1, "grey + alpha"),
            _ => (4, 3, "RGBA"),
        };
        let per = if depth == 16 { 2 } else { 1 };
        let converted = if samples != kept { px * kept * per } else { 0 };
        return (
            px * samples * per + converted,
            format!("{name}, {depth}-bit"),
        );
    }
    let mut scale = if (tw, th) == (w, h) { 8 } else { 1 };
    while scale < 8 && w / (scale * 2) >= tw && h / (scale * 2) >= th {
        scale *= 2;
    }
    let side = |n: u32| n.div_ceil(scale) as u64;
    (
        side(w) * side(h) * 3,
        format!("JPEG decoded at 1/{scale} scale"),
    )
}

/// When to resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizePolicy {
    /// Never resize.
    None,
    /// Resize so that the longer side is at most N pixels.
    MaxSide(u32),
    /// Resize so that the shorter side is at most N pixels.
    ShortSide(u32),
}

impl Default for ResizePolicy {
    fn default() -> Self {
        ResizePolicy::MaxSide(512)
    }
}

impl std::fmt::Display for ResizePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResizePolicy::None => write!(f, "none"),
            ResizePolicy::MaxSide(n) => write!(f, "max-side={n}"),
            ResizePolicy::ShortSide(n) => write!(f, "short-side={n}"),
        }
    }
}

impl FromStr for ResizePolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidOption {
            option: "--resize",
            reason: format!("`{s}`: expected none, max-side=N or short-side=N with N > 0"),
        };
        if s == "none" {
            return Ok(ResizePolicy::None);
        }
        let (key, n) = s.split_once('=').ok_or_else(bad)?;
        let n: u32 = n.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        match key {
            "max-side" => Ok(ResizePolicy::MaxSide(n)),
            "short-side" => Ok(ResizePolicy::ShortSide(n)),
            _ => Err(bad()),
        }
    }
}

impl ResizePolicy {
    /// The size an image of `w`×`h` is stored at.
    pub fn target(self, w: u32, h: u32) -> (u32, u32) {
        let scale = |side: u32, n: u32| {
            let s = n as f64 / side as f64;
            let r = |x: u32| ((x as f64 * s).round() as u32).max(1);
            (r(w), r(h))
        };
        match self {
            ResizePolicy::MaxSide(n) if w.max(h) > n => scale(w.max(h), n),
            ResizePolicy::ShortSide(n) if w.min(h) > n => scale(w.min(h), n),
            _ => (w, h),
        }
    }
}

/// An image ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// What they hold.
    pub info: ImageInfo,
    /// Whether the bytes are the source's own.
    pub kept_original: bool,
}

/// Why an image was rejected: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Reason code stored in the quarantine table.
    pub reason: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

fn reject(reason: &'static str, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// Recognises JPEG and PNG by their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(ImageFormat::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(ImageFormat::Png),
        _ => None,
    }
}

fn codec(f: ImageFormat) -> image::ImageFormat {
    match f {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
    }
}

/// [`normalize`], with a decoder panic turned into a `corrupt-image` rejection: what ingest
/// and `bench decode` call on untrusted bytes.
pub fn normalize_guarded(bytes: Vec<u8>, policy: ResizePolicy) -> Result<Normalized, Rejection> {
    std::panic::catch_unwind(|| normalize(bytes, policy))
        .unwrap_or_else(|_| Err(reject("corrupt-image", "the decoder panicked on this file")))
}

/// Decodes, validates and (per the policy) resizes one image.
pub fn normalize(bytes: Vec<u8>, policy: ResizePolicy) -> Result<Normalized, Rejection> {
    if bytes.is_empty() {
        return Err(reject("empty-image", "the file is empty"));
    }
    let format =
        sniff(&bytes).ok_or_else(|| reject("unsupported-format", "neither JPEG nor PNG"))?;
    let (w, h) = dimensions(&bytes, format)?;
    if w as u64 * h as u64 > MAX_PIXELS {
        let mp = w as u64 * h as u64 / 1_000_000;
        return Err(reject(
            "too-large",
            format!("{w}x{h} is {mp} MP, over 100 MP"),
        ));
    }
    let (tw, th) = policy.target(w, h);
    let (peak, layout) = peak_bytes(&bytes, format, (w, h), (tw, th));
    if peak > image_memory() {
        return Err(reject(
            "too-large",
            format!(
                "{w}x{h} ({layout}) needs {} MB to decode, over the {} MB an image may take (--image-memory)",
                peak / 1_000_000,
                image_memory() / 1_000_000
            ),
        ));
    }
    if format == ImageFormat::Png {
        let max = (MAX_PIXELS * 8) as usize;
        if let Some(done) =
            crate::image::pngdec::with_decoded(&bytes, max, |d| resize_png(d, tw, th))
        {
            let done = done.map_err(|e| reject("corrupt-image", format!("cannot decode: {e}")))?;
            return match done? {
                PngOutcome::Resized(img) => encode(&img, format),
                PngOutcome::Keep { channels, depth } => {
                    Ok(kept(bytes, format, (w, h), channels, depth))
                }
            };
        }
    }
    let img = decode(&bytes, format, (w, h), (tw, th))?;
    let (channels, depth, needs_convert) = describe(&img);
    if (tw, th) == (w, h) && !needs_convert {
        return Ok(kept(bytes, format, (w, h), channels, depth));
    }
    let img = convert(img, channels, depth, format);
    let img = if (img.width(), img.height()) == (tw, th) {
        img
    } else {
        resize(&img, tw, th)?
    };
    encode(&img, format)
}

/// The source bytes, stored as they are.
fn kept(
    bytes: Vec<u8>,
    format: ImageFormat,
    size: (u32, u32),
    channels: u8,
    depth: u8,
) -> Normalized {
    let info = ImageInfo {
        format,
        width: size.0,
        height: size.1,
        channels,
        bit_depth: depth,
    };
    Normalized {
        bytes,
        info,
        kept_original: true,
    }
}

/// What becomes of a PNG decoded by [`crate::image::pngdec`].
enum PngOutcome {
    /// Stored resized.
    Resized(DynamicImage),
    /// Stored as it is.
    Keep { channels: u8, depth: u8 },
}

fn resize_png(
    d: crate::image::pngdec::Decoded<'_>,
    w: u32,
    h: u32,
) -> Result<PngOutcome, Rejection> {
    if (d.width, d.height) == (w, h) {
        return Ok(PngOutcome::Keep {
            channels: d.channels,
            depth: d.depth,
        });
    }
    let color = match (d.channels, d.depth) {
        (1, 8) => image::ColorType::L8,
        (1, _) => image::ColorType::L16,
        (_, 8) => image::ColorType::Rgb8,
        _ => image::ColorType::Rgb16,
    };
    let src = d
        .view()
        .map_err(|e| reject("corrupt-image", format!("cannot resize: {e}")))?;
    let mut dst = DynamicImage::new(w, h, color);
    resize_into(&src, &mut dst)?;
    Ok(PngOutcome::Resized(dst))
}

/// Resizes `src` to `dst`'s size with the bicubic (Catmull-Rom) kernel.
fn resize_into(src: &impl IntoImageView, dst: &mut DynamicImage) -> Result<(), Rejection> {
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    Resizer::new()
        .resize(src, dst, &opts)
        .map_err(|e| reject("corrupt-image", format!("cannot resize: {e}")))
}

fn dimensions(bytes: &[u8], format: ImageFormat) -> Result<(u32, u32), Rejection> {
    if format == ImageFormat::Jpeg
        && let Some(size) = crate::image::jpeg::dimensions(bytes)
    {
        return Ok(size);
    }
    let reader = ImageReader::with_format(Cursor::new(bytes), codec(format));
    let decoder = reader
        .into_decoder()
        .map_err(|e| reject("corrupt-image", format!("unreadable header: {e}")))?;
    Ok(decoder.dimensions())
}

/// Decodes enough of the image to validate it and to produce a `tw`×`th` version: JPEGs at a
/// reduced DCT scale (1/8 when the image is kept as is), everything else in full.
fn decode(
    bytes: &[u8],
    format: ImageFormat,
    size: (u32, u32),
    target: (u32, u32),
) -> Result<DynamicImage, Rejection> {
    if format == ImageFormat::Jpeg {
        if !has_jpeg_end(bytes) {
            return Err(reject(
                "corrupt-image",
                "truncated JPEG: no end-of-image marker",
            ));
        }
        let (mw, mh) = if target == size { (1, 1) } else { target };
        match crate::image::jpeg::decode_scaled(bytes, mw, mh) {
            Some(Ok(img)) => return Ok(img),
            Some(Err(e)) => return Err(reject("corrupt-image", format!("cannot decode: {e}"))),
            None => {}
        }
    }
    decode_full(bytes, format)
}

fn decode_full(bytes: &[u8], format: ImageFormat) -> Result<DynamicImage, Rejection> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), codec(format));
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| reject("corrupt-image", format!("cannot decode: {e}")))
}

/// A JPEG ends with EOI (FF D9), possibly followed by padding bytes some writers append.
fn has_jpeg_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Channels and depth to store, and whether the pixels must be converted first.
fn describe(img: &DynamicImage) -> (u8, u8, bool) {
    use DynamicImage::*;
    match img {
        ImageLuma8(_) => (1, 8, false),
        ImageLuma16(_) => (1, 16, false),
        ImageRgb8(_) => (3, 8, false),
        ImageRgb16(_) => (3, 16, false),
        ImageLumaA8(_) => (1, 8, true),
        ImageLumaA16(_) => (1, 16, true),
        ImageRgba8(_) => (3, 8, true),
        ImageRgba16(_) => (3, 16, true),
        _ => (3, 8, true),
    }
}

fn convert(img: DynamicImage, channels: u8, depth: u8, format: ImageFormat) -> DynamicImage {
    let depth = if format == ImageFormat::Jpeg {
        8
    } else {
        depth
    };
    match (channels, depth, img) {
        (1, 8, i @ DynamicImage::ImageLuma8(_)) => i,
        (1, 16, i @ DynamicImage::ImageLuma16(_)) => i,
        (3, 8, i @ DynamicImage::ImageRgb8(_)) => i,
        (3, 16, i @ DynamicImage::ImageRgb16(_)) => i,
        (1, 8, i) => DynamicImage::ImageLuma8(i.to_luma8()),
        (1, _, i) => DynamicImage::ImageLuma16(i.to_luma16()),
        (_, 8, i) => DynamicImage::ImageRgb8(i.to_rgb8()),
        (_, _, i) => DynamicImage::ImageRgb16(i.to_rgb16()),
    }
}

fn resize(img: &DynamicImage, w: u32, h: u32) -> Result<DynamicImage, Rejection> {
    let mut dst = DynamicImage::new(w, h, img.color());
    resize_into(img, &mut dst)?;
    Ok(dst)
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Result<Normalized, Rejection> {
    let mut out = Vec::new();
    let res = match format {
        ImageFormat::Jpeg => match crate::image::jpeg::encode(img, JPEG_QUALITY) {
            Some(Ok(bytes)) => {
                out = bytes;
                Ok(())
            }
            Some(Err(e)) => return Err(reject("corrupt-image", format!("cannot re-encode: {e}"))),
            None => {
                let enc =
                    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
                img.write_with_encoder(enc)
            }
        },
        ImageFormat::Png => {
            let enc = image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            );
            img.write_with_encoder(enc)
        }
    };
    res.map_err(|e| reject("corrupt-image", format!("cannot re-encode: {e}")))?;
    let (channels, bit_depth, _) = describe(img);
    let info = ImageInfo {
        format,
        width: img.width(),
        height: img.height(),
        channels,
        bit_depth,
    };
    Ok(Normalized {
        bytes: out,
        info,
        kept_original: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba};

    fn jpeg(img: DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    }

    fn png(img: DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 128]))
    }

    #[test]
    fn small_jpeg_is_kept_byte_for_byte() {
        let bytes = jpeg(DynamicImage::ImageRgb8(gradient(300, 200)));
        let n = normalize(bytes.clone(), ResizePolicy::default()).unwrap();
        assert!(n.kept_original);
        assert_eq!(n.bytes, bytes);
        assert_eq!(
            (n.info.width, n.info.height, n.info.channels),
            (300, 200, 3)
        );
    }

    #[test]
    fn large_grey_jpeg_is_resized_and_stays_grey() {
        let g = GrayImage::from_fn(1024, 600, |x, _| Luma([(x / 4) as u8]));
        let n = normalize(jpeg(DynamicImage::ImageLuma8(g)), ResizePolicy::default()).unwrap();
        assert!(!n.kept_original);
        assert_eq!(
            (n.info.width, n.info.height, n.info.channels),
            (512, 300, 1)
        );
        let back = image::load_from_memory(&n.bytes).unwrap();
        assert!(matches!(back, DynamicImage::ImageLuma8(_)));
    }

    #[test]
    fn sixteen_bit_png_keeps_depth_when_resized() {
        let g: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(800, 800, |x, y| Luma([(x * 50 + y) as u16]));
        let n = normalize(png(DynamicImage::ImageLuma16(g)), ResizePolicy::default()).unwrap();
        assert_eq!(
            (n.info.format, n.info.bit_depth, n.info.channels),
            (ImageFormat::Png, 16, 1)
        );
        assert_eq!((n.info.width, n.info.height), (512, 512));
        assert!(matches!(
            image::load_from_memory(&n.bytes).unwrap(),
            DynamicImage::ImageLuma16(_)
        ));
    }

    #[test]
    fn rgba_png_loses_alpha() {
        let i = ImageBuffer::from_fn(40, 30, |x, _| Rgba([x as u8, 0, 0, 100]));
        let n = normalize(png(DynamicImage::ImageRgba8(i)), ResizePolicy::None).unwrap();
        assert!(!n.kept_original);
        assert_eq!(n.info.channels, 3);
        assert!(matches!(
            image::load_from_memory(&n.bytes).unwrap(),
            DynamicImage::ImageRgb8(_)
        ));
    }

    #[test]
    fn palette_png_is_kept() {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 4, 2);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_palette(vec![0u8, 0, 0, 255, 255, 255]);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0, 1, 0, 1, 1, 0, 1, 0]).unwrap();
        }
        let n = normalize(out.clone(), ResizePolicy::default()).unwrap();
        assert!(n.kept_original);
        assert_eq!(n.info.channels, 3);
    }

    #[test]
    fn an_image_over_the_memory_budget_is_too_large_before_decoding() {
        // A 16-bit RGBA PNG's header claims 4000x3000: 96 MB decoded, 72 MB more as RGB.
        let mut fake = png(DynamicImage::ImageRgba16(ImageBuffer::new(4, 3)));
        fake[16..20].copy_from_slice(&4000u32.to_be_bytes());
        fake[20..24].copy_from_slice(&3000u32.to_be_bytes());
        let crc = crc32fast::hash(&fake[12..29]);
        fake[29..33].copy_from_slice(&crc.to_be_bytes());
        let (peak, layout) = peak_bytes(&fake, ImageFormat::Png, (4000, 3000), (512, 384));
        assert_eq!(peak, 4000 * 3000 * (8 + 6));
        assert_eq!(layout, "RGBA, 16-bit");
        set_image_memory(100 << 20);
        let e = normalize(fake, ResizePolicy::default()).unwrap_err();
        set_image_memory(DEFAULT_IMAGE_MEMORY);
        assert_eq!(e.reason, "too-large");
        assert!(
            e.detail.contains("168 MB") && e.detail.contains("--image-memory"),
            "{}",
            e.detail
        );
        // JPEGs are counted at the scale they are decoded at.
        let (jpeg, _) = peak_bytes(&[], ImageFormat::Jpeg, (4096, 4096), (512, 512));
        assert_eq!(jpeg, 512 * 512 * 3);
        let (jpeg, _) = peak_bytes(&[], ImageFormat::Jpeg, (4096, 4096), (600, 600));
        assert_eq!(jpeg, 1024 * 1024 * 3);
        let (kept, _) = peak_bytes(&[], ImageFormat::Jpeg, (400, 400), (400, 400));
        assert_eq!(kept, 50 * 50 * 3);
    }

    #[test]
    fn bad_inputs_are_rejected_with_reasons() {
        let good = jpeg(DynamicImage::ImageRgb8(gradient(64, 64)));
        let cut = good[..good.len() / 2].to_vec();
        assert_eq!(
            normalize(cut, ResizePolicy::None).unwrap_err().reason,
            "corrupt-image"
        );
        assert_eq!(
            normalize(vec![], ResizePolicy::None).unwrap_err().reason,
            "empty-image"
        );
        assert_eq!(
            normalize(b"GIF89a....".to_vec(), ResizePolicy::None)
                .unwrap_err()
                .reason,
            "unsupported-format"
        );
        let huge = crate::synth::huge_png_header(20_000, 20_000);
        let r = normalize(huge, ResizePolicy::None).unwrap_err();
        assert_eq!(r.reason, "too-large", "{}", r.detail);
    }

    #[test]
    fn policy_parsing_and_targets() {
        assert_eq!("none".parse::<ResizePolicy>().unwrap(), ResizePolicy::None);
        assert_eq!(
            "short-side=256".parse::<ResizePolicy>().unwrap(),
            ResizePolicy::ShortSide(256)
        );
        assert!("max-side=0".parse::<ResizePolicy>().is_err());
        assert!("wide=3".parse::<ResizePolicy>().is_err());
        assert_eq!(ResizePolicy::MaxSide(512).target(2000, 1000), (512, 256));
        assert_eq!(ResizePolicy::ShortSide(256).target(2000, 1000), (512, 256));
        assert_eq!(ResizePolicy::MaxSide(512).target(500, 100), (500, 100));
    }
}
