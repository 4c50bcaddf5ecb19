//! Generated pictures whose content a caption describes: a bright or dark shape at one of five
//! positions over a textured background, so that a model can learn to match image and text.

use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Shapes drawn.
pub const SHAPES: [&str; 3] = ["circle", "square", "triangle"];
/// Positions, as captions name them.
pub const POSITIONS: [&str; 5] = [
    "upper left",
    "upper right",
    "lower left",
    "lower right",
    "centre",
];
/// Intensities.
pub const TONES: [&str; 2] = ["bright", "dark"];

/// What a picture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scene {
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// Index into [`POSITIONS`].
    pub position: usize,
    /// Index into [`TONES`].
    pub tone: usize,
}

impl Scene {
    /// A random scene.
    pub fn random(rng: &mut ChaCha8Rng) -> Scene {
        Scene {
            shape: rng.random_range(0..SHAPES.len()),
            position: rng.random_range(0..POSITIONS.len()),
            tone: rng.random_range(0..TONES.len()),
        }
    }

    /// "a bright circle in the upper left".
    pub fn phrase(&self) -> String {
        format!(
            "a {} {} in the {}",
            TONES[self.tone], SHAPES[self.shape], POSITIONS[self.position]
        )
    }

    fn centre(&self, w: u32, h: u32) -> (f32, f32) {
        let (w, h) = (w as f32, h as f32);
        match self.position {
            0 => (w * 0.27, h * 0.27),
            1 => (w * 0.73, h * 0.27),
            2 => (w * 0.27, h * 0.73),
            3 => (w * 0.73, h * 0.73),
            _ => (w * 0.5, h * 0.5),
        }
    }

    fn inside(&self, x: f32, y: f32, cx: f32, cy: f32, r: f32) -> bool {
        let (dx, dy) = (x - cx, y - cy);
        match self.shape {
            0 => dx * dx + dy * dy <= r * r,
            1 => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
            _ => dy <= r * 0.8 && dy >= -r && dx.abs() <= (dy + r) * 0.6,
        }
    }
}

/// Renders a scene at `w`×`h`, grey (one channel) or colour.
pub fn render(scene: &Scene, w: u32, h: u32, grey: bool, rng: &mut ChaCha8Rng) -> DynamicImage {
    let (cx, cy) = scene.centre(w, h);
    let r = w.min(h) as f32 * 0.18;
    let fg = if scene.tone == 0 { 225.0 } else { 25.0 };
    let base = rng.random_range(100.0..140.0f32);
    let slope = rng.random_range(-30.0..30.0f32);
    let seed: u32 = rng.random();
    let value = |x: u32, y: u32| -> f32 {
        let (xf, yf) = (x as f32, y as f32);
        if scene.inside(xf, yf, cx, cy, r) {
            return fg + noise(seed, x, y) * 10.0;
        }
        base + slope * (yf / h as f32 - 0.5) + noise(seed, x, y) * 14.0
    };
    paint(w, h, grey, (0.7, 0.6), rng, value)
}

/// A `w`×`h` image of the grey `value` at each pixel: one channel, or three tinted by a
/// random green and blue share of at least `tint_from`.
pub(super) fn paint(
    w: u32,
    h: u32,
    grey: bool,
    tint_from: (f32, f32),
    rng: &mut ChaCha8Rng,
    value: impl Fn(u32, u32) -> f32,
) -> DynamicImage {
    if grey {
        let img = GrayImage::from_fn(w, h, |x, y| Luma([value(x, y).clamp(0.0, 255.0) as u8]));
        return DynamicImage::ImageLuma8(img);
    }
    let tint = [
        1.0,
        rng.random_range(tint_from.0..1.0f32),
        rng.random_range(tint_from.1..1.0f32),
    ];
    let img = RgbImage::from_fn(w, h, |x, y| {
        let v = value(x, y);
        Rgb(tint.map(|t| (v * t).clamp(0.0, 255.0) as u8))
    });
    DynamicImage::ImageRgb8(img)
}

/// A chest-radiograph-like grey image where finding `k` of `labels` (1 = present, -1 =
/// uncertain) shows as a bright blob at a place of its own, so a classifier can learn them.
pub fn radiograph(labels: &[f32], w: u32, h: u32, rng: &mut ChaCha8Rng) -> GrayImage {
    let seed: u32 = rng.random();
    let spots: Vec<(f32, f32, f32)> = labels
        .iter()
        .enumerate()
        .filter(|(_, v)| **v == 1.0 || **v == -1.0)
        .map(|(k, v)| {
            let a = k as f32 * 2.399_963;
            let rad = 0.12 + 0.05 * (k % 5) as f32;
            let (cx, cy) = (0.5 + rad * a.cos(), 0.5 + rad * a.sin());
            (
                cx * w as f32,
                cy * h as f32,
                if *v == 1.0 { 90.0 } else { 45.0 },
            )
        })
        .collect();
    let r2 = (w.min(h) as f32 * 0.07).powi(2);
    GrayImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (x as f32 / w as f32 - 0.5, y as f32 / h as f32 - 0.5);
        let lungs = if (xf.abs() - 0.2).powi(2) / 0.03 + yf.powi(2) / 0.12 < 1.0 {
            -50.0
        } else {
            0.0
        };
        let mut v = 150.0 + lungs + noise(seed, x, y) * 12.0;
        for (cx, cy, gain) in &spots {
            let d = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2);
            if d < r2 {
                v += gain * (1.0 - d / r2);
            }
        }
        Luma([v.clamp(0.0, 255.0) as u8])
    })
}

/// Encodes as PNG (8- or 16-bit as the image is).
pub fn png(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("in-memory PNG encoding");
    out
}

/// Cheap deterministic per-pixel noise in [-1, 1].
pub(super) fn noise(seed: u32, x: u32, y: u32) -> f32 {
    let mut h = seed ^ x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    (h & 0xFFFF) as f32 / 32_767.5 - 1.0
}

/// Encodes as JPEG at quality 85.
pub fn jpeg(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    img.write_with_encoder(enc)
        .expect("in-memory JPEG encoding");
    out
}

/// A random picture size: mostly under 512 px on the longer side, some larger.
pub fn random_size(rng: &mut ChaCha8Rng) -> (u32, u32) {
    let long = if rng.random_bool(0.7) {
        rng.random_range(160..=512)
    } else {
        rng.random_range(513..=1100)
    };
    let short = (long as f32 * rng.random_range(0.6..1.0f32)) as u32;
    if rng.random_bool(0.5) {
        (long, short)
    } else {
        (short, long)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shape_is_where_the_caption_says() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s = Scene {
            shape: 1,
            position: 3,
            tone: 0,
        };
        let img = render(&s, 200, 100, true, &mut rng).to_luma8();
        assert!(img.get_pixel(146, 73).0[0] > 200, "lower right is bright");
        assert!(img.get_pixel(54, 27).0[0] < 180, "upper left is background");
        assert_eq!(s.phrase(), "a bright square in the lower right");
    }

    #[test]
    fn same_seed_same_pixels() {
        let s = Scene {
            shape: 0,
            position: 4,
            tone: 1,
        };
        let a = render(&s, 64, 64, false, &mut ChaCha8Rng::seed_from_u64(9));
        let b = render(&s, 64, 64, false, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(a, b);
    }
}
