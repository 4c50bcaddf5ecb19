//! Crop boxes: torchvision's RandomResizedCrop and the evaluation centre crop.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A crop box in source pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropBox {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// How a view is cut out of the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Crop {
    /// torchvision `RandomResizedCrop(size, scale, ratio)`.
    RandomResized {
        /// Output side.
        size: u32,
        /// Range of the crop's area as a fraction of the image's.
        scale: (f64, f64),
        /// Range of the crop's aspect ratio (width / height).
        ratio: (f64, f64),
    },
    /// Resize the shorter side to `size`, then take the centre `size × size` (evaluation).
    Centre {
        /// Output side.
        size: u32,
    },
}

impl Crop {
    /// The output side.
    pub fn size(&self) -> u32 {
        match self {
            Crop::RandomResized { size, .. } | Crop::Centre { size } => *size,
        }
    }

    /// The same crop with output side `side`.
    pub fn resized(self, side: u32) -> Crop {
        match self {
            Crop::RandomResized { scale, ratio, .. } => Crop::RandomResized {
                size: side,
                scale,
                ratio,
            },
            Crop::Centre { .. } => Crop::Centre { size: side },
        }
    }

    /// The box for an image of `width × height`, drawing from `rng` for random crops.
    pub fn sample(&self, width: u32, height: u32, rng: &mut impl Rng) -> CropBox {
        match *self {
            Crop::RandomResized { scale, ratio, .. } => {
                random_resized(width, height, scale, ratio, rng)
            }
            Crop::Centre { .. } => centre(width, height),
        }
    }
}

/// torchvision's `RandomResizedCrop.get_params`: ten tries of a random area and log-uniform
/// aspect ratio, then a centre crop clamped to the ratio range.
pub fn random_resized(
    width: u32,
    height: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut impl Rng,
) -> CropBox {
    let (wf, hf) = (width as f64, height as f64);
    let area = wf * hf;
    let (lr0, lr1) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale.0..=scale.1);
        let aspect = rng.random_range(lr0..=lr1).exp();
        let w = (target * aspect).sqrt().round();
        let h = (target / aspect).sqrt().round();
        if w > 0.0 && w <= wf && h > 0.0 && h <= hf {
            let y = rng.random_range(0..=(height - h as u32)) as f64;
            let x = rng.random_range(0..=(width - w as u32)) as f64;
            return CropBox { x, y, w, h };
        }
    }
    let in_ratio = wf / hf;
    let (w, h) = if in_ratio < ratio.0 {
        (wf, (wf / ratio.0).round())
    } else if in_ratio > ratio.1 {
        ((hf * ratio.1).round(), hf)
    } else {
        (wf, hf)
    };
    CropBox {
        x: ((wf - w) / 2.0).floor(),
        y: ((hf - h) / 2.0).floor(),
        w,
        h,
    }
}

/// The centre square of side `min(width, height)`: what `Resize(shorter side)` followed by
/// `CenterCrop` keeps.
pub fn centre(width: u32, height: u32) -> CropBox {
    let side = width.min(height) as f64;
    CropBox {
        x: ((width as f64 - side) / 2.0).floor(),
        y: ((height as f64 - side) / 2.0).floor(),
        w: side,
        h: side,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn random_boxes_stay_inside_and_respect_the_ranges() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (w, h) in [(512u32, 512u32), (640, 300), (224, 900)] {
            let mut areas = Vec::new();
            for _ in 0..2000 {
                let b = random_resized(w, h, (0.5, 1.0), (3.0 / 4.0, 4.0 / 3.0), &mut rng);
                assert!(b.x >= 0.0 && b.y >= 0.0, "{b:?}");
                assert!(b.x + b.w <= w as f64 && b.y + b.h <= h as f64, "{b:?}");
                assert_eq!(
                    (b.x.fract(), b.y.fract(), b.w.fract(), b.h.fract()),
                    (0.0, 0.0, 0.0, 0.0)
                );
                areas.push(b.w * b.h / (w * h) as f64);
            }
            // The tries that fit satisfy the scale range up to rounding; the fallback is
            // bounded by the whole image.
            assert!(areas.iter().all(|a| *a <= 1.0 + 1e-9));
            let in_range = areas.iter().filter(|a| **a >= 0.49).count();
            if w <= 224 {
                // Half of 224 x 900 at ratio <= 4/3 is wider than 224: always the fallback.
                assert!(
                    areas
                        .iter()
                        .all(|a| (*a - 224.0 * 299.0 / (224.0 * 900.0)).abs() < 1e-9)
                );
            } else {
                assert!(in_range > 1900, "{w}x{h}: {in_range}");
            }
        }
    }

    #[test]
    fn the_fallback_is_torchvisions_centre_crop() {
        // No box of area >= 0.99 with ratio in [1, 1] fits a 100x10 image: fallback.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let b = random_resized(100, 10, (0.99, 1.0), (1.0, 1.0), &mut rng);
        assert_eq!(
            b,
            CropBox {
                x: 45.0,
                y: 0.0,
                w: 10.0,
                h: 10.0
            }
        );
        let b = random_resized(10, 100, (0.99, 1.0), (2.0, 2.0), &mut rng);
        assert_eq!(
            b,
            CropBox {
                x: 0.0,
                y: 47.0,
                w: 10.0,
                h: 5.0
            }
        );
        assert_eq!(
            centre(300, 200),
            CropBox {
                x: 50.0,
                y: 0.0,
                w: 200.0,
                h: 200.0
            }
        );
    }
}
