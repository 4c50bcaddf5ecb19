//! Views: what each sample becomes (crop, colour, blur, flip), and the per-thread augmenter
//! that decodes an image once and renders all its views into batch slots.
//!
//! Every random choice of a view comes from its own RNG seeded from the sample seed and the view
//! index, and all choices are drawn before decoding, so the output never depends on which thread
//! ran it or when. JPEGs are decoded once per sample, only inside the union of the views' crop
//! boxes and at the smallest DCT scale (1/8, 1/4, 1/2 or 1) that still gives every view at least
//! its output resolution. Greyscale images stay one channel until they are written out.

mod blur;
mod color;
pub mod pil;
mod resample;
mod rrc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use blur::{Blur, BlurScratch, blur, kernel1d};
pub use color::{
    Jitter, JitterDraw, LUMA, brightness, contrast, greyscale, hue, jitter, saturation,
};
pub use resample::{Filter, Kernels, Region, Resampler, Src};
pub use rrc::{Crop, CropBox, centre, random_resized};

use crate::tj::{Tj, scaled};

/// Resampling filter of the crop-resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interp {
    /// Bilinear (torchvision's default for RandomResizedCrop).
    Bilinear,
    /// Bicubic (PIL/torchvision BICUBIC, a = −0.5).
    Bicubic,
}

/// Whose arithmetic the colour jitter, greyscale and blur follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColourOps {
    /// PIL's, as PMC-CLIP's and SLIP's torchvision transforms apply them to PIL images
    /// (`ImageEnhance`, `convert("L")`, `ImageFilter.GaussianBlur`): see [`pil`]. The default.
    #[default]
    Pil,
    /// torchvision's tensor kernels on uint8 (`transforms.v2.functional`), with a
    /// [`Blur::kernel`]-tap Gaussian.
    TorchvisionTensor,
}

impl ColourOps {
    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ColourOps::Pil => "pil",
            ColourOps::TorchvisionTensor => "torchvision-tensor",
        }
    }
}

/// One view of a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewSpec {
    /// Name (used for file names by `inspect --sample`).
    pub name: String,
    /// The crop.
    pub crop: Crop,
    /// Resampling filter.
    pub interp: Interp,
    /// Colour jitter, if any.
    #[serde(default)]
    pub jitter: Option<Jitter>,
    /// Probability of converting to greyscale.
    #[serde(default)]
    pub greyscale_p: f64,
    /// Gaussian blur, if any.
    #[serde(default)]
    pub blur: Option<Blur>,
    /// Probability of a horizontal flip.
    #[serde(default)]
    pub flip_p: f64,
    /// Whose arithmetic the jitter, greyscale and blur follow.
    #[serde(default)]
    pub ops: ColourOps,
}

/// The views every sample becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// The views, in output order.
    pub views: Vec<ViewSpec>,
}

impl Pipeline {
    /// Decode, RandomResizedCrop 224 (scale 0.08–1, bilinear), horizontal flip.
    pub fn rrc_flip() -> Pipeline {
        Pipeline {
            views: vec![ViewSpec {
                name: "rrc".into(),
                crop: Crop::RandomResized {
                    size: 224,
                    scale: (0.08, 1.0),
                    ratio: (3.0 / 4.0, 4.0 / 3.0),
                },
                interp: Interp::Bilinear,
                jitter: None,
                greyscale_p: 0.0,
                blur: None,
                flip_p: 0.5,
                ops: ColourOps::Pil,
            }],
        }
    }

    /// Uni-Mlip: one weak view (RandomResizedCrop 224, scale 0.5–1, bicubic, as PMC-CLIP) for
    /// ITC/MLM and two strong SimCLR views as SLIP makes them (the same crop but bilinear,
    /// colour jitter .4/.4/.4/.1 p .8, greyscale p .2, Gaussian blur σ 0.1–2 p .5, flip), with
    /// PIL's arithmetic.
    pub fn unimlip() -> Pipeline {
        Pipeline::unimlip_ops(ColourOps::Pil)
    }

    /// The Uni-Mlip views with `ops`' arithmetic. [`ColourOps::TorchvisionTensor`] gives the
    /// views as they were before PIL's arithmetic became the default: tensor kernels, a 23-tap
    /// blur and a bicubic strong crop.
    pub fn unimlip_ops(ops: ColourOps) -> Pipeline {
        let strong_interp = match ops {
            ColourOps::Pil => Interp::Bilinear,
            ColourOps::TorchvisionTensor => Interp::Bicubic,
        };
        let crop = Crop::RandomResized {
            size: 224,
            scale: (0.5, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        };
        let strong = |name: &str| ViewSpec {
            name: name.into(),
            crop,
            interp: strong_interp,
            jitter: Some(Jitter {
                brightness: 0.4,
                contrast: 0.4,
                saturation: 0.4,
                hue: 0.1,
                p: 0.8,
            }),
            greyscale_p: 0.2,
            blur: Some(Blur {
                kernel: 23,
                sigma: (0.1, 2.0),
                p: 0.5,
            }),
            flip_p: 0.5,
            ops,
        };
        Pipeline {
            views: vec![
                ViewSpec {
                    name: "weak".into(),
                    crop,
                    interp: Interp::Bicubic,
                    jitter: None,
                    greyscale_p: 0.0,
                    blur: None,
                    flip_p: 0.0,
                    ops,
                },
                strong("strong1"),
                strong("strong2"),
            ],
        }
    }

    /// The Uni-Mlip views at a model's input size `side`: the weak view, plus the two strong
    /// ones when `strong` (SimCLR on at any point of a run).
    pub fn unimlip_at(side: u32, strong: bool) -> Pipeline {
        Pipeline::unimlip_ops_at(side, strong, ColourOps::Pil)
    }

    /// [`Pipeline::unimlip_at`] with `ops`' arithmetic.
    pub fn unimlip_ops_at(side: u32, strong: bool, ops: ColourOps) -> Pipeline {
        let mut p = Pipeline::unimlip_ops(ops);
        if !strong {
            p.views.truncate(1);
        }
        for v in &mut p.views {
            v.crop = v.crop.resized(side);
        }
        p
    }

    /// The same views with the weak view's RandomResizedCrop drawing areas from `lo` to 1 of
    /// the image: PMC-CLIP's `--crop-scale` (its README's commands use 0.5, its code's
    /// default is 0.9). The strong views keep their crop.
    pub fn weak_crop_scale(mut self, lo: f64) -> Pipeline {
        if let Some(ViewSpec {
            crop: Crop::RandomResized { scale, .. },
            ..
        }) = self.views.first_mut()
        {
            scale.0 = lo;
        }
        self
    }

    /// Evaluation: shorter side to `size`, centre crop, bicubic.
    pub fn eval(size: u32) -> Pipeline {
        Pipeline {
            views: vec![ViewSpec {
                name: "eval".into(),
                crop: Crop::Centre { size },
                interp: Interp::Bicubic,
                jitter: None,
                greyscale_p: 0.0,
                blur: None,
                flip_p: 0.0,
                ops: ColourOps::Pil,
            }],
        }
    }

    /// A preset by name: `rrc-flip`, `unimlip`, `unimlip-tensor` (torchvision's tensor
    /// arithmetic) or `eval`.
    pub fn preset(name: &str) -> Option<Pipeline> {
        match name {
            "rrc-flip" => Some(Self::rrc_flip()),
            "unimlip" => Some(Self::unimlip()),
            "unimlip-tensor" => Some(Self::unimlip_ops(ColourOps::TorchvisionTensor)),
            "eval" => Some(Self::eval(224)),
            _ => None,
        }
    }

    /// Bytes of one view of one sample (side × side × 3).
    pub fn view_bytes(&self, v: usize) -> usize {
        let s = self.views[v].crop.size() as usize;
        s * s * 3
    }
}

/// Everything drawn for one view before decoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewDraw {
    /// Crop box in source pixels.
    pub crop: CropBox,
    /// Colour jitter.
    pub jitter: Option<JitterDraw>,
    /// Greyscale conversion.
    pub greyscale: bool,
    /// Blur σ.
    pub blur: Option<f32>,
    /// Horizontal flip.
    pub flip: bool,
}

/// The RNG of one view of one sample.
pub fn view_rng(sample_seed: u64, view: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(unimlip_shards::plan::splitmix(
        sample_seed ^ unimlip_shards::plan::splitmix(view as u64 + 1),
    ))
}

impl ViewSpec {
    /// Draws this view's parameters for an image of `width × height`.
    pub fn draw(&self, width: u32, height: u32, rng: &mut impl Rng) -> ViewDraw {
        let crop = self.crop.sample(width, height, rng);
        let jitter = self.jitter.and_then(|j| j.draw(rng));
        let greyscale = self.greyscale_p > 0.0 && rng.random_bool(self.greyscale_p.min(1.0));
        let blur = self.blur.and_then(|b| b.draw(rng));
        let flip = self.flip_p > 0.0 && rng.random_bool(self.flip_p.min(1.0));
        ViewDraw {
            crop,
            jitter,
            greyscale,
            blur,
            flip,
        }
    }
}

/// A decoded image (or the decoded part of one) and where it sits in source pixels.
#[derive(Debug, Clone, Copy)]
struct Decoded {
    width: u32,
    height: u32,
    channels: usize,
    /// Decoded pixels per source pixel.
    scale: f64,
    /// Source-pixel position × scale of the decoded origin.
    origin: (f64, f64),
}

/// Per-thread decode and augmentation state; buffers are reused from sample to sample.
#[derive(Debug)]
pub struct Augmenter {
    pipeline: Pipeline,
    tj: Tj,
    resizer: Resampler,
    decoded: Vec<u8>,
    png_raw: Vec<u8>,
    view: Vec<u8>,
    blur: BlurScratch,
    pil_blur: pil::PilBlurScratch,
    draws: Vec<ViewDraw>,
}

/// Time spent in the two stages of one sample (ns).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// Decoding.
    pub decode_ns: u64,
    /// Crops, colour, blur and write-out of all views.
    pub augment_ns: u64,
}

impl Augmenter {
    /// A new augmenter for `pipeline`.
    pub fn new(pipeline: Pipeline) -> Result<Augmenter, String> {
        Ok(Augmenter {
            draws: Vec::with_capacity(pipeline.views.len()),
            pipeline,
            tj: Tj::new()?,
            resizer: Resampler::default(),
            decoded: Vec::new(),
            png_raw: Vec::new(),
            view: Vec::new(),
            blur: BlurScratch::default(),
            pil_blur: pil::PilBlurScratch::default(),
        })
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Decodes `bytes` and writes view `v` into `out[v]` (side × side × 3, RGB).
    pub fn process(
        &mut self,
        bytes: &[u8],
        sample_seed: u64,
        out: &mut [&mut [u8]],
    ) -> Result<Timing, String> {
        let t0 = std::time::Instant::now();
        let decoded = if bytes.starts_with(&[0xFF, 0xD8]) {
            self.decode_jpeg(bytes, sample_seed)?
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            let d = self.decode_png(bytes)?;
            self.draw_all(d.width, d.height, sample_seed);
            d
        } else {
            return Err("neither JPEG nor PNG".into());
        };
        let t1 = std::time::Instant::now();
        for (v, slot) in out.iter_mut().enumerate().take(self.pipeline.views.len()) {
            self.render(v, &decoded, slot)?;
        }
        Ok(Timing {
            decode_ns: (t1 - t0).as_nanos() as u64,
            augment_ns: t1.elapsed().as_nanos() as u64,
        })
    }

    fn draw_all(&mut self, width: u32, height: u32, sample_seed: u64) {
        self.draws.clear();
        for (v, spec) in self.pipeline.views.iter().enumerate() {
            let mut rng = view_rng(sample_seed, v);
            self.draws.push(spec.draw(width, height, &mut rng));
        }
    }

    fn decode_jpeg(&mut self, bytes: &[u8], sample_seed: u64) -> Result<Decoded, String> {
        let header = self.tj.header(bytes)?;
        let (w, h) = (header.width, header.height);
        if w == 0 || h == 0 {
            return Err("empty JPEG".into());
        }
        self.draw_all(w, h, sample_seed);
        // The smallest scale n/8 (n in 1, 2, 4, 8) at which every view keeps its resolution.
        let need = self
            .pipeline
            .views
            .iter()
            .zip(&self.draws)
            .map(|(s, d)| {
                let size = s.crop.size() as f64;
                (size / d.crop.w).max(size / d.crop.h)
            })
            .fold(0.0f64, f64::max);
        let num = if header.lossless {
            8
        } else {
            [1u32, 2, 4, 8]
                .into_iter()
                .find(|n| *n as f64 / 8.0 >= need)
                .unwrap_or(8)
        };
        let (sw, sh) = (scaled(w, num, 8), scaled(h, num, 8));
        let s = num as f64 / 8.0;
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, 0.0f64, 0.0f64);
        for d in &self.draws {
            x0 = x0.min(d.crop.x);
            y0 = y0.min(d.crop.y);
            x1 = x1.max(d.crop.x + d.crop.w);
            y1 = y1.max(d.crop.y + d.crop.h);
        }
        let region = match Tj::crop_align(&header, num) {
            Some(align) if !header.lossless => {
                let rx0 = ((x0 * s).floor() as u32).min(sw - 1) / align * align;
                let ry0 = ((y0 * s).floor() as u32).min(sh - 1);
                let rx1 = ((x1 * s).ceil() as u32).clamp(rx0 + 1, sw);
                let ry1 = ((y1 * s).ceil() as u32).clamp(ry0 + 1, sh);
                (rx0, ry0, rx1 - rx0, ry1 - ry0)
            }
            _ => (0, 0, sw, sh),
        };
        self.tj
            .decode(bytes, num, region, header.grey, (sw, sh), &mut self.decoded)?;
        Ok(Decoded {
            width: region.2,
            height: region.3,
            channels: if header.grey { 1 } else { 3 },
            scale: s,
            origin: (region.0 as f64, region.1 as f64),
        })
    }

    fn decode_png(&mut self, bytes: &[u8]) -> Result<Decoded, String> {
        let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
        dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = dec.read_info().map_err(|e| e.to_string())?;
        let size = reader
            .output_buffer_size()
            .ok_or("PNG too large for memory")?;
        self.png_raw.resize(size, 0);
        let info = reader
            .next_frame(&mut self.png_raw)
            .map_err(|e| e.to_string())?;
        let (w, h) = (info.width, info.height);
        let n = (w * h) as usize;
        let (src_c, out_c) = match info.color_type {
            png::ColorType::Grayscale => (1, 1),
            png::ColorType::GrayscaleAlpha => (2, 1),
            png::ColorType::Rgb => (3, 3),
            png::ColorType::Rgba => (4, 3),
            png::ColorType::Indexed => return Err("palette PNG was not expanded".into()),
        };
        self.decoded.resize(n * out_c, 0);
        if src_c == out_c {
            self.decoded[..n * out_c].copy_from_slice(&self.png_raw[..n * out_c]);
        } else {
            for (d, s) in self
                .decoded
                .chunks_exact_mut(out_c)
                .zip(self.png_raw.chunks_exact(src_c))
            {
                d.copy_from_slice(&s[..out_c]);
            }
        }
        Ok(Decoded {
            width: w,
            height: h,
            channels: out_c,
            scale: 1.0,
            origin: (0.0, 0.0),
        })
    }

    fn render(&mut self, v: usize, d: &Decoded, out: &mut [u8]) -> Result<(), String> {
        let spec = &self.pipeline.views[v];
        let draw = self.draws[v];
        let size = spec.crop.size();
        let c = d.channels;
        let (dw, dh) = (d.width as f64, d.height as f64);
        // The crop box in decoded pixels, clamped to what was decoded.
        let left = (draw.crop.x * d.scale - d.origin.0).clamp(0.0, dw - 1.0);
        let top = (draw.crop.y * d.scale - d.origin.1).clamp(0.0, dh - 1.0);
        let width = (draw.crop.w * d.scale).min(dw - left).max(1.0);
        let height = (draw.crop.h * d.scale).min(dh - top).max(1.0);
        let len = (size * size) as usize * c;
        self.view.resize(len, 0);
        let src = Src {
            data: &self.decoded,
            width: d.width,
            height: d.height,
            channels: c,
        };
        let region = Region {
            left,
            top,
            width,
            height,
        };
        let filter = match spec.interp {
            Interp::Bilinear => Filter::Bilinear,
            Interp::Bicubic => Filter::CatmullRom,
        };
        self.resizer
            .resize(src, region, filter, &mut self.view[..len], (size, size))?;
        let img = &mut self.view[..len];
        let dims = (size as usize, size as usize, c);
        match spec.ops {
            ColourOps::Pil => {
                if let Some(j) = &draw.jitter {
                    pil::jitter(img, c, j);
                }
                if draw.greyscale {
                    pil::greyscale(img, c);
                }
                if let Some(sigma) = draw.blur {
                    pil::blur(img, dims, sigma, &mut self.pil_blur);
                }
            }
            ColourOps::TorchvisionTensor => {
                if let Some(j) = &draw.jitter {
                    jitter(img, c, j);
                }
                if draw.greyscale {
                    greyscale(img, c);
                }
                if let (Some(sigma), Some(b)) = (draw.blur, spec.blur) {
                    blur(img, dims, b.kernel, sigma, &mut self.blur);
                }
            }
        }
        write_rgb(img, size as usize, c, draw.flip, out);
        Ok(())
    }
}

/// Writes a `side × side × c` image into an RGB slot, expanding grey and flipping when asked.
fn write_rgb(img: &[u8], side: usize, c: usize, flip: bool, out: &mut [u8]) {
    for (src, dst) in img
        .chunks_exact(side * c)
        .zip(out.chunks_exact_mut(side * 3))
    {
        for x in 0..side {
            let sx = if flip { side - 1 - x } else { x };
            let d = &mut dst[x * 3..x * 3 + 3];
            if c == 1 {
                d.fill(src[sx]);
            } else {
                d.copy_from_slice(&src[sx * 3..sx * 3 + 3]);
            }
        }
    }
}

#[cfg(test)]
mod tests;
