//! A loader batch as the step's device tensors: the views normalised on the device, captions
//! tokenised and MLM-masked with a per-sample RNG (so masking, like augmentation, does not depend
//! on threads, batch boundaries or resumption).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};
use unimlip_loader::{Batch, sample_seed};

use crate::text::TextTokenizer;
use crate::{Result, images_to_device};

/// Mixed into the sample seed for the MLM draws (the augmentations use the plain one).
const MASK_SALT: u64 = 0x6d6c_6d5f_6d61_736b;

/// One micro-batch on the device.
#[derive(Debug)]
pub struct DeviceBatch {
    /// Samples.
    pub len: usize,
    /// The weak view `[B, 3, S, S]`, normalised.
    pub weak: Tensor,
    /// The strong views, when the pipeline has them.
    pub strong: Option<(Tensor, Tensor)>,
    /// Masked caption ids `[B, L]`.
    pub input_ids: Tensor,
    /// MLM labels `[B, L]`.
    pub mlm_labels: Tensor,
}

/// Moves `batch` to `device`, masking each caption at `ratio` with the RNG of
/// (`seed`, epoch, id, position).
pub fn to_device(
    batch: &Batch,
    tok: &TextTokenizer,
    ratio: f64,
    seed: u64,
    device: Device,
) -> Result<DeviceBatch> {
    let n = batch.len();
    let view = |v: usize| images_to_device(batch.view(v), n, batch.side(v) as usize, device);
    let weak = view(0)?;
    let strong = if batch.views() >= 3 {
        Some((view(1)?, view(2)?))
    } else {
        None
    };
    let epoch = batch.cursor.epoch;
    let (mut ids, mut labels) = (Vec::with_capacity(n * tok.context), Vec::new());
    for s in batch.samples() {
        let mut rng =
            ChaCha8Rng::seed_from_u64(sample_seed(seed ^ MASK_SALT, epoch, s.id(), s.position));
        let (i, l) = tok.mask(s.caption().unwrap_or(""), ratio, &mut rng);
        ids.extend(i);
        labels.extend(l);
    }
    let shape = [n as i64, tok.context as i64];
    Ok(DeviceBatch {
        len: n,
        weak,
        strong,
        input_ids: Tensor::f_from_slice(&ids)?
            .f_view(shape)?
            .f_to_device(device)?,
        mlm_labels: Tensor::f_from_slice(&labels)?
            .f_view(shape)?
            .f_to_device(device)?,
    })
}
