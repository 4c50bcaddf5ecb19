//! Encoding an evaluation set once: every image of a source through the eval transform, with its
//! id, caption and labels, in the loader's canonical order.

use tch::{Device, Kind, Tensor};
use unimlip_loader::{Loader, Pipeline, SourceSpec};
use unimlip_trainer::UniMlip;
use unimlip_trainer::images_to_device;

use crate::Result;

/// The images of an evaluation source and what the rows say about them.
#[derive(Debug)]
pub struct ImageSet {
    /// Row ids.
    pub ids: Vec<String>,
    /// Captions.
    pub captions: Vec<Option<String>>,
    /// Labels.
    pub labels: Vec<Option<Vec<f32>>>,
    /// Raw attention-pool outputs `[N, embed]` (float32, on the CPU).
    pub features: Tensor,
}

/// Encodes every image of `source` (eval mode, no gradients).
pub fn encode_images(
    model: &UniMlip,
    source: SourceSpec,
    side: u32,
    threads: usize,
    device: Device,
) -> Result<ImageSet> {
    let loader = Loader::once(vec![source], Pipeline::eval(side), threads)?;
    let mut set = ImageSet {
        ids: Vec::new(),
        captions: Vec::new(),
        labels: Vec::new(),
        features: Tensor::zeros([0], (Kind::Float, Device::Cpu)),
    };
    let mut chunks = Vec::new();
    loader.each_once(None, |batch, keep| -> Result<()> {
        let side = batch.side(0) as usize;
        let mut pixels = Vec::with_capacity(keep.len() * side * side * 3);
        for &i in keep {
            let s = &batch.samples()[i];
            pixels.extend_from_slice(batch.image(i, 0));
            set.ids.push(s.id().to_string());
            set.captions.push(s.caption().map(str::to_string));
            set.labels.push(s.labels().map(<[f32]>::to_vec));
        }
        let x = images_to_device(&pixels, keep.len(), side, device)?;
        let f = tch::no_grad(|| model.encode_image(&x, false).pooled);
        chunks.push(f.to_kind(Kind::Float).to_device(Device::Cpu));
        Ok(())
    })?;
    if !chunks.is_empty() {
        set.features = Tensor::cat(&chunks, 0);
    }
    Ok(set)
}

/// Encodes captions (unmasked) to projected text features `[N, embed]` on the CPU, in batches.
pub fn encode_texts(
    model: &UniMlip,
    tok: &unimlip_trainer::TextTokenizer,
    texts: &[String],
    device: Device,
) -> Result<Tensor> {
    let mut chunks = Vec::new();
    for part in texts.chunks(64) {
        let ids: Vec<i64> = part.iter().flat_map(|t| tok.encode(t)).collect();
        let ids = Tensor::f_from_slice(&ids)?
            .f_view([part.len() as i64, tok.context as i64])?
            .f_to_device(device)?;
        let f = tch::no_grad(|| model.encode_text(&ids, false).projected);
        chunks.push(f.to_kind(Kind::Float).to_device(Device::Cpu));
    }
    Ok(if chunks.is_empty() {
        Tensor::zeros([0], (Kind::Float, Device::Cpu))
    } else {
        Tensor::cat(&chunks, 0)
    })
}
