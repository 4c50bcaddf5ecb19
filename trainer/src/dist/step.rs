//! One step's losses over the global batch of all ranks (DDP semantics), such that averaging
//! the gradients over ranks gives exactly the gradient of one process holding the whole batch:
//!
//! - the contrastive terms (three ITC, SimCLR) are computed in full on every rank from features
//!   gathered without gradient, this rank's slice put back with its gradient (OpenCLIP); their
//!   backward is scaled by the world size, since each rank contributes only its slice;
//! - the SimCLR head runs on the gathered head inputs, so its BatchNorm sees the global batch
//!   (synchronised BatchNorm; `losses.sync_head_bn = false` runs it per rank instead); its
//!   parameters and the logit scale, which every rank then uses in full, have their gradients
//!   divided back by the world size ([`unscale_replicated`]);
//! - MLM is this rank's summed NLL over the global count of predicted tokens;
//! - DropBlock seeds and text-dropout masks are drawn for the global batch from the step's seed
//!   (the same on every rank), each rank keeping its slice.
//!
//! With one process every gather is the identity and the world size is 1.

use tch::nn::ModuleT;
use tch::{Kind, Reduction, Tensor, nn};

use super::{ProcessGroup, gather_features};
use crate::Result;
use crate::losses::{self, Weights};
use crate::model::{UniMlip, l2_normalize};
use crate::step::{Losses, StepInput, Switches};

/// The losses to log (global values) and the tensor to call `backward` on.
#[derive(Debug)]
pub struct StepLosses {
    /// Global loss values.
    pub log: Losses,
    /// What this rank back-propagates.
    pub backward: Tensor,
}

/// This rank's rows of a Bernoulli(`p`) draw over the global batch (`shape[0]` rows per rank).
/// Row `j` of rank `r` holds global position `j·W + r` of the step (the reader's interleaving),
/// so every sample gets the draw it would get in one process.
fn global_draw(shape: &[i64], p: f64, pg: &dyn ProcessGroup, like: &Tensor) -> Tensor {
    let w = pg.world() as i64;
    let mut full = shape.to_vec();
    full.insert(1, w);
    Tensor::empty(full.as_slice(), (like.kind(), like.device()))
        .bernoulli_p(p)
        .select(1, pg.rank() as i64)
}

/// Runs the model on this rank's batch and computes the global losses.
pub fn losses_on(
    m: &UniMlip,
    x: &StepInput<'_>,
    on: Switches,
    w: Weights,
    train: bool,
    sync_head_bn: bool,
    pg: &dyn ProcessGroup,
) -> Result<StepLosses> {
    let world = pg.world() as f64;
    let bn_train = train && !on.i2i;
    let layer4 = m.visual.trunk(x.weak, bn_train);
    let image_local = l2_normalize(&m.visual.attnpool.forward(&layer4));
    let text = m.encode_text(x.input_ids, train);
    let image = gather_features(pg, &image_local)?;
    let t = gather_features(pg, &l2_normalize(&text.projected))?;
    let itc = on.itc.then(|| losses::itc(&image, &t, &m.logit_scale));
    let itc_img = match on.itc_img {
        false => None,
        true => {
            let (n, c, h, wd) = layer4.size4().expect("[N, C, H, W]");
            let (b, gamma) = losses::drop_block_gamma(0.5, 3, h, wd);
            let seeds = match (x.dropblock_noise, train) {
                (Some(s), _) => Some(s.to_kind(layer4.kind())),
                (None, true) => Some(global_draw(
                    &[n, c, h - b + 1, wd - b + 1],
                    gamma,
                    pg,
                    &layer4,
                )),
                (None, false) => None,
            };
            let dropped = match seeds {
                None => layer4.shallow_clone(),
                Some(seeds) => {
                    // torchvision rescales by the kept share of the whole batch: the global one.
                    let mask = losses::drop_block_mask(&seeds, b, h, wd);
                    let numel = Tensor::from(mask.numel() as f32).to_device(mask.device());
                    let mut kept = Tensor::stack(&[mask.sum(Kind::Float), numel], 0);
                    pg.allreduce_sum(&mut kept)?;
                    let scale = kept.get(1) / (kept.get(0) + 1e-6);
                    &layer4 * mask * scale
                }
            };
            let i = gather_features(pg, &l2_normalize(&m.visual.attnpool.forward(&dropped)))?;
            Some(losses::itc(&i, &t, &m.logit_scale))
        }
    };
    let itc_txt = match on.itc_txt {
        false => None,
        true => {
            let keep = match (x.text_keep, train) {
                (Some(k), _) => Some(k.shallow_clone()),
                (None, true) => Some(global_draw(
                    &text.projected.size(),
                    0.25,
                    pg,
                    &text.projected,
                )),
                (None, false) => None,
            };
            let td = match keep {
                Some(k) => losses::text_dropout(&text.projected, 0.75, Some(&k)),
                None => l2_normalize(&text.projected),
            };
            Some(losses::itc(
                &image,
                &gather_features(pg, &td)?,
                &m.logit_scale,
            ))
        }
    };
    let i2i = match (on.i2i, x.strong) {
        (true, Some((a, b))) => {
            let (pa, pb) = (
                m.encode_image(a, false).pooled,
                m.encode_image(b, false).pooled,
            );
            let (za, zb) = if sync_head_bn {
                // The head on the global batch: its BatchNorm sees every rank's samples.
                let head = |p: &Tensor| -> Result<Tensor> {
                    Ok(m.image_mlp.forward_t(&gather_features(pg, p)?, train))
                };
                (head(&pa)?, head(&pb)?)
            } else {
                // The head on this rank's samples (per-rank BatchNorm), outputs gathered.
                let head = |p: &Tensor| gather_features(pg, &m.image_mlp.forward_t(p, train));
                (head(&pa)?, head(&pb)?)
            };
            Some(losses::nt_xent(&za, &zb, 0.1))
        }
        _ => None,
    };
    let (mlm_log, mlm_back) = match on.mlm {
        false => (None, None),
        true => {
            let (_, logprobs) = m.fuse(&text.states, &image_local);
            let v = logprobs.size()[2];
            let labels = x.mlm_labels.reshape([-1]);
            let nll =
                logprobs
                    .reshape([-1, v])
                    .g_nll_loss::<Tensor>(&labels, None, Reduction::Sum, 0);
            let mut totals = Tensor::stack(
                &[
                    labels.ne(0).sum(Kind::Float),
                    nll.detach().to_kind(Kind::Float),
                ],
                0,
            );
            pg.allreduce_sum(&mut totals)?;
            let count = totals.get(0).clamp_min(1.0);
            (Some(totals.get(1) / &count), Some(&nll / &count * world))
        }
    };
    let mut total = Tensor::zeros([], (Kind::Float, x.weak.device()));
    let mut backward = Tensor::zeros([], (Kind::Float, x.weak.device()));
    for (l, k) in [
        (&itc, w.cm),
        (&itc_img, w.cm),
        (&itc_txt, w.cm),
        (&i2i, w.um),
    ] {
        if let Some(l) = l {
            total += l.detach() * k;
            backward += l * (k * world);
        }
    }
    if let (Some(log), Some(back)) = (&mlm_log, &mlm_back) {
        total += log * w.fm;
        backward += back * w.fm;
    }
    Ok(StepLosses {
        log: Losses {
            itc: itc.map(|t| t.detach()),
            itc_img: itc_img.map(|t| t.detach()),
            itc_txt: itc_txt.map(|t| t.detach()),
            i2i: i2i.map(|t| t.detach()),
            mlm: mlm_log,
            total,
        },
        backward,
    })
}

/// Divides by the world size the gradients of what every rank uses in full (the logit scale, and
/// the SimCLR head when its BatchNorm is synchronised), before they are averaged over ranks.
pub fn unscale_replicated(vs: &nn::VarStore, world: u32, sync_head_bn: bool) {
    if world == 1 {
        return;
    }
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
