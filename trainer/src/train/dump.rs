//! Step dumps: each micro-batch's inputs and random draws written as they enter the loss graph,
//! so that another implementation (the PyTorch reference's `replay`) can run the same steps
//! from the same initial weights and compare the losses step by step.

use std::path::Path;

use tch::{Kind, Tensor};

use super::batch::DeviceBatch;
use crate::losses::{DROP_BLOCK_P, DROP_BLOCK_SIZE, TEXT_DROP_P, drop_block_gamma};
use crate::model::ModelConfig;
use crate::{Error, Result};

/// The random draws of one micro-batch, made explicit.
#[derive(Debug)]
pub(super) struct Draws {
    /// DropBlock seeds `[B, C, h−b+1, w−b+1]`.
    pub noise: Tensor,
    /// Text dropout keep-mask `[B, E]`.
    pub keep: Tensor,
}

impl Draws {
    /// Draws from libtorch's generator what the loss graph would draw for `x`.
    pub(super) fn new(c: &ModelConfig, x: &DeviceBatch) -> Draws {
        let n = x.len as i64;
        let side = x.weak.size()[2] / 32;
        let channels = c.vision.width * 32;
        let (b, gamma) = drop_block_gamma(DROP_BLOCK_P, DROP_BLOCK_SIZE, side, side);
        let opts = (Kind::Float, x.weak.device());
        let edge = side - b + 1;
        Draws {
            noise: Tensor::empty([n, channels, edge, edge], opts).bernoulli_p(gamma),
            keep: Tensor::empty([n, c.embed_dim], opts).bernoulli_p(1.0 - TEXT_DROP_P),
        }
    }
}

/// Writes micro-batch `micro` of `step` (0-based) to `dir/step-SSSSS-M.safetensors`.
pub(super) fn write(dir: &str, step: i64, micro: u32, x: &DeviceBatch, d: &Draws) -> Result<()> {
    let failed = |path: &Path, e: &dyn std::fmt::Display| Error::Tensors {
        path: path.display().to_string(),
        cause: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(Path::new(dir), &e))?;
    let path = Path::new(dir).join(format!("step-{step:05}-{micro}.safetensors"));
    let mut named: Vec<(&str, Tensor)> = vec![
        ("weak", x.weak.shallow_clone()),
        ("input_ids", x.input_ids.shallow_clone()),
        ("mlm_labels", x.mlm_labels.shallow_clone()),
        ("dropblock_noise", d.noise.shallow_clone()),
        ("text_keep", d.keep.shallow_clone()),
    ];
    if let Some((a, b)) = &x.strong {
        named.push(("view_a", a.shallow_clone()));
        named.push(("view_b", b.shallow_clone()));
    }
    let named: Vec<(&str, Tensor)> = named
        .into_iter()
        .map(|(k, t)| (k, t.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    Tensor::write_safetensors(&named, &path).map_err(|e| failed(&path, &e))
}
