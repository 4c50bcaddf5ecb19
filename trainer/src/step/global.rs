//! What makes one rank's step equal to one process holding the global batch: the random draws
//! over the global batch, the global DropBlock rescale, and the unscaling of replicated
//! parameters' gradients.

use tch::{Kind, Tensor, nn};

use super::input::{ContrastiveGrad, Semantics};
use crate::Result;
use crate::dist::ProcessGroup;

/// This rank's rows of a Bernoulli(`p`) draw over the global batch (`shape[0]` rows per rank).
/// Row `j` of rank `r` holds global position `j·W + r` of the step (the reader's interleaving),
/// so every sample gets the draw it would get in one process.
pub(super) fn global_draw(shape: &[i64], p: f64, pg: &dyn ProcessGroup, like: &Tensor) -> Tensor {
    let w = pg.world() as i64;
    let mut full = shape.to_vec();
    full.insert(1, w);
    Tensor::empty(full.as_slice(), (like.kind(), like.device()))
        .bernoulli_p(p)
        .select(1, pg.rank() as i64)
}

/// The factor torchvision's DropBlock rescales by (elements over kept elements), taken over the
/// global batch: `mask`'s kept share summed over every rank.
pub(super) fn global_keep_scale(mask: &Tensor, pg: &dyn ProcessGroup) -> Result<Tensor> {
    let numel = Tensor::from(mask.numel() as f32).to_device(mask.device());
    let mut kept = Tensor::stack(&[mask.sum(Kind::Float), numel], 0);
    pg.allreduce_sum(&mut kept)?;
    Ok(kept.get(1) / (kept.get(0) + 1e-6))
}

/// Divides by the world size the gradients of what every rank uses in full (the logit scale, and
/// the SimCLR head when its BatchNorm is synchronised), before they are averaged over ranks: the
/// exact gradient scaled their contrastive terms by the world size. PMC-CLIP's gradient did not.
pub fn unscale_replicated(vs: &nn::VarStore, world: u32, sem: Semantics) {
    if world == 1 || sem.contrastive_grad == ContrastiveGrad::Openclip {
        return;
    }
    let sync_head_bn = sem.sync_head_bn;
    tch::no_grad(|| {
        for (name, v) in vs.variables() {
            if name == "logit_scale" || (sync_head_bn && name.starts_with("image_mlp.")) {
                let mut g = v.grad();
                if g.defined() {
                    let _ = g.g_div_scalar_(world as f64);
                }
            }
        }
    });
}
