//! Compositional scenes for image–caption sets: one to three objects, each with a shape, size,
//! brightness, texture and place the caption states, over a background that the modality word
//! names and a silhouette that the body-region word names. Nearly every pair is unique (about
//! 10⁶ distinct captions), so retrieval among hundreds of pairs is learnable and not capped by
//! duplicates.

use image::DynamicImage;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::picture::{noise, paint};

/// Object shapes.
pub const SHAPES: [&str; 4] = ["circle", "square", "triangle", "cross"];
/// Object sizes.
pub const SIZES: [&str; 2] = ["small", "large"];
/// Object brightness.
pub const TONES: [&str; 2] = ["bright", "dark"];
/// Object textures.
pub const TEXTURES: [&str; 2] = ["solid", "striped"];
/// Places on a 3 × 3 grid, row by row.
pub const CELLS: [&str; 9] = [
    "upper left",
    "top",
    "upper right",
    "left",
    "centre",
    "right",
    "lower left",
    "bottom",
    "lower right",
];
/// Modalities, each with a background of its own.
pub const MODALITIES: [&str; 3] = ["CT scan", "radiograph", "ultrasound image"];
/// Body regions, each with a silhouette of its own.
pub const REGIONS: [&str; 3] = ["chest", "abdomen", "head"];
const COUNTS: [&str; 3] = ["one finding", "two findings", "three findings"];

/// One object of a scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// Index into [`SIZES`].
    pub size: usize,
    /// Index into [`TONES`].
    pub tone: usize,
    /// Index into [`TEXTURES`].
    pub texture: usize,
    /// Index into [`CELLS`].
    pub cell: usize,
}

/// A scene: a modality, a body region and one to three objects in distinct cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composition {
    /// Index into [`MODALITIES`].
    pub modality: usize,
    /// Index into [`REGIONS`].
    pub region: usize,
    /// The objects, in reading order of their cells.
    pub objects: Vec<Object>,
}

impl Composition {
    /// A random scene.
    pub fn random(rng: &mut ChaCha8Rng) -> Composition {
        // One object a fifth of the time, two or three otherwise: one-object scenes are the
        // ones that repeat (about 2,600 of them).
        let n = match rng.random_range(0..5) {
            0 => 1,
            1 | 2 => 2,
            _ => 3,
        };
        let mut cells: Vec<usize> = (0..CELLS.len()).collect();
        cells.shuffle(rng);
        let mut cells = cells[..n].to_vec();
        cells.sort_unstable();
        let objects = cells
            .into_iter()
            .map(|cell| Object {
                shape: rng.random_range(0..SHAPES.len()),
                size: rng.random_range(0..SIZES.len()),
                tone: rng.random_range(0..TONES.len()),
                texture: rng.random_range(0..TEXTURES.len()),
                cell,
            })
            .collect();
        Composition {
            modality: rng.random_range(0..MODALITIES.len()),
            region: rng.random_range(0..REGIONS.len()),
            objects,
        }
    }

    /// "chest CT scan with two findings: a large bright striped circle in the upper left and a
    /// small dark solid cross at the bottom".
    pub fn caption(&self) -> String {
        let objects: Vec<String> = self
            .objects
            .iter()
            .map(|o| {
                let at = if matches!(o.cell, 1 | 3 | 5 | 7) {
                    "at the"
                } else {
                    "in the"
                };
                format!(
                    "a {} {} {} {} {at} {}",
                    SIZES[o.size],
                    TONES[o.tone],
                    TEXTURES[o.texture],
                    SHAPES[o.shape],
                    CELLS[o.cell]
                )
            })
            .collect();
        format!(
            "{} {} with {}: {}",
            REGIONS[self.region],
            MODALITIES[self.modality],
            COUNTS[self.objects.len() - 1],
            objects.join(" and ")
        )
    }

    /// Renders the scene at `w`×`h`, grey (one channel) or colour.
    pub fn render(&self, w: u32, h: u32, grey: bool, rng: &mut ChaCha8Rng) -> DynamicImage {
        let seed: u32 = rng.random();
        let (wf, hf) = (w as f32, h as f32);
        let side = wf.min(hf);
        let value = |x: u32, y: u32| -> f32 {
            let (u, v) = (x as f32 / wf, y as f32 / hf);
            let mut p = self.background(u, v) + self.silhouette(u, v);
            for o in &self.objects {
                let (cx, cy) = (
                    (0.2 + 0.3 * (o.cell % 3) as f32) * wf,
                    (0.2 + 0.3 * (o.cell / 3) as f32) * hf,
                );
                let r = side * if o.size == 1 { 0.12 } else { 0.065 };
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                if inside(o.shape, dx, dy, r) {
                    let stripe = o.texture == 1 && ((dx + dy) / (r * 0.45)).rem_euclid(2.0) < 1.0;
                    p = match (o.tone, stripe) {
                        (_, true) => 128.0,
                        (0, false) => 235.0,
                        _ => 15.0,
                    };
                }
            }
            p + noise(seed, x, y) * 8.0
        };
        paint(w, h, grey, (0.8, 0.7), rng, value)
    }

    /// The modality's background at relative (u, v): CT a dark disc field, a radiograph a
    /// vertical gradient, ultrasound a bright fan on black.
    fn background(&self, u: f32, v: f32) -> f32 {
        let (du, dv) = (u - 0.5, v - 0.5);
        match self.modality {
            0 if du * du + dv * dv < 0.22 => 70.0,
            0 => 10.0,
            1 => 150.0 - 60.0 * v,
            _ => {
                let angle = du.atan2(v + 0.2).abs();
                if angle < 0.6 && v > -0.1 { 95.0 } else { 5.0 }
            }
        }
    }

    /// The body region's faint silhouette: two lung fields (chest), one wide oval (abdomen),
    /// a round skull (head).
    fn silhouette(&self, u: f32, v: f32) -> f32 {
        let (du, dv) = (u - 0.5, v - 0.5);
        let hit = match self.region {
            0 => (du.abs() - 0.2).powi(2) / 0.02 + dv.powi(2) / 0.1 < 1.0,
            1 => du.powi(2) / 0.16 + dv.powi(2) / 0.06 < 1.0,
            _ => du.powi(2) + dv.powi(2) < 0.1 && du.powi(2) + dv.powi(2) > 0.07,
        };
        if hit { 30.0 } else { 0.0 }
    }
}

fn inside(shape: usize, dx: f32, dy: f32, r: f32) -> bool {
    match shape {
        0 => dx * dx + dy * dy <= r * r,
        1 => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
        2 => dy <= r * 0.8 && dy >= -r && dx.abs() <= (dy + r) * 0.6,
        _ => (dx.abs() <= r * 0.3 && dy.abs() <= r) || (dy.abs() <= r * 0.3 && dx.abs() <= r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn captions_state_every_object_and_nearly_all_are_unique() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let scenes: Vec<Composition> = (0..2000).map(|_| Composition::random(&mut rng)).collect();
        let unique: std::collections::BTreeSet<String> =
            scenes.iter().map(|s| s.caption()).collect();
        assert!(unique.len() >= 1960, "{} unique of 2000", unique.len());
        let s = &scenes[0];
        let c = s.caption();
        for o in &s.objects {
            assert!(
                c.contains(SHAPES[o.shape]) && c.contains(CELLS[o.cell]),
                "{c}"
            );
        }
    }

    #[test]
    fn an_object_is_drawn_where_and_as_the_caption_says() {
        let s = Composition {
            modality: 1,
            region: 1,
            objects: vec![Object {
                shape: 1,
                size: 1,
                tone: 0,
                texture: 0,
                cell: 8,
            }],
        };
        let img = s
            .render(300, 300, true, &mut ChaCha8Rng::seed_from_u64(1))
            .to_luma8();
        // Lower right cell centre (0.8, 0.8) is the bright square; the upper left is background.
        assert!(img.get_pixel(240, 240).0[0] > 220);
        assert!(img.get_pixel(60, 60).0[0] < 200);
        assert_eq!(
            s.caption(),
            "abdomen radiograph with one finding: a large bright solid square in the lower right"
        );
        let a = s.render(64, 64, false, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(
            a,
            s.render(64, 64, false, &mut ChaCha8Rng::seed_from_u64(9))
        );
    }
}
