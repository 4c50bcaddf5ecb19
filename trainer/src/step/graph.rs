//! One step's losses over the global batch of all ranks (DDP semantics), such that averaging
//! the gradients over ranks gives exactly the gradient of one process holding the whole batch:
//!
//! - the contrastive terms (three ITC, SimCLR) are computed in full on every rank from features
//!   gathered without gradient, this rank's slice put back with its gradient (OpenCLIP); their
//!   backward is scaled by the world size, since each rank contributes only its slice;
//! - the SimCLR head runs on the gathered head inputs, so its BatchNorm sees the global batch
//!   (synchronised BatchNorm; `losses.sync_head_bn = false` runs it per rank instead); its
//!   parameters and the logit scale, which every rank then uses in full, have their gradients
//!   divided back by the world size ([`unscale_replicated`](super::unscale_replicated));
//! - MLM is this rank's summed NLL over the global count of predicted tokens;
//! - DropBlock seeds and text-dropout masks are drawn for the global batch from the step's seed
//!   (the same on every rank), each rank keeping its slice.
//!
//! With one process every gather is the identity and the world size is 1.

use tch::nn::ModuleT;
use tch::{Kind, Reduction, Tensor};

use super::global::{global_draw, global_keep_scale};
use super::input::{ContrastiveGrad, I2iForm, Losses, Semantics, StepInput, Switches};
use crate::Result;
use crate::dist::{ProcessGroup, gather_features};
use crate::losses::{self, Weights};
use crate::model::{TextOutput, UniMlip, l2_normalize};

/// The losses to log (global values) and the tensor to call `backward` on.
#[derive(Debug)]
pub struct StepLosses {
    /// Global loss values.
    pub log: Losses,
    /// What this rank back-propagates.
    pub backward: Tensor,
}

/// What every loss of a step shares: the model, the batch, the group and the mode.
struct Ctx<'a> {
    m: &'a UniMlip,
    x: &'a StepInput<'a>,
    pg: &'a dyn ProcessGroup,
    train: bool,
    /// Whether the visual BatchNorm layers update their statistics on this step.
    bn_train: bool,
}

/// The forward pass the losses share: layer4 of the weak view, its (local and gathered)
/// normalised image embeddings, the text tower's output and the gathered text embeddings.
struct Shared {
    layer4: Tensor,
    image_local: Tensor,
    image: Tensor,
    text: TextOutput,
    text_emb: Tensor,
}

/// Runs the model on this rank's batch and computes the global losses.
pub fn losses_on(
    m: &UniMlip,
    x: &StepInput<'_>,
    on: Switches,
    w: Weights,
    train: bool,
    sem: Semantics,
    pg: &dyn ProcessGroup,
) -> Result<StepLosses> {
    let bn_train = train && !(on.i2i && on.freeze_bn);
    let c = Ctx {
        m,
        x,
        pg,
        train,
        bn_train,
    };
    let s = shared(&c)?;
    let itc = on
        .itc
        .then(|| losses::itc(&s.image, &s.text_emb, &m.logit_scale));
    let itc_img = on.itc_img.then(|| itc_img(&c, &s)).transpose()?;
    let itc_txt = on.itc_txt.then(|| itc_txt(&c, &s)).transpose()?;
    let i2i = match (on.i2i, x.strong) {
        (true, Some(views)) => Some(match on.i2i_form {
            I2iForm::Slip => i2i(&c, views, sem.sync_head_bn)?,
            I2iForm::Eq2 => i2i_eq2(&c, views)?,
        }),
        _ => None,
    };
    let mlm = on.mlm.then(|| mlm(&c, &s)).transpose()?;
    let terms = Terms {
        itc,
        itc_img,
        itc_txt,
        i2i,
        mlm,
    };
    // Exact: each rank's slice times the world size, as one process's gradient; PMC-CLIP's
    // code: the slice alone (1/W of it after DDP's averaging).
    let contrastive_scale = match sem.contrastive_grad {
        ContrastiveGrad::Exact => pg.world() as f64,
        ContrastiveGrad::Openclip => 1.0,
    };
    Ok(terms.weigh(w, contrastive_scale, x.weak.device()))
}

/// The forward pass every loss reads.
fn shared(c: &Ctx<'_>) -> Result<Shared> {
    let layer4 = c.m.visual.trunk(c.x.weak, c.bn_train);
    let image_local = l2_normalize(&c.m.visual.attnpool.forward(&layer4));
    let text = c.m.encode_text(c.x.input_ids, c.train);
    let image = gather_features(c.pg, &image_local)?;
    let text_emb = gather_features(c.pg, &l2_normalize(&text.projected))?;
    Ok(Shared {
        layer4,
        image_local,
        image,
        text,
        text_emb,
    })
}

/// ITC with DropBlock (block 3, p 0.5) on layer4 before the attention pool.
fn itc_img(c: &Ctx<'_>, s: &Shared) -> Result<Tensor> {
    let layer4 = &s.layer4;
    let (n, ch, h, wd) = layer4.size4().expect("[N, C, H, W]");
    let (b, gamma) = losses::drop_block_gamma(losses::DROP_BLOCK_P, losses::DROP_BLOCK_SIZE, h, wd);
    let seeds = match (c.x.dropblock_noise, c.train) {
        (Some(seeds), _) => Some(seeds.to_kind(layer4.kind())),
        (None, true) => Some(global_draw(
            &[n, ch, h - b + 1, wd - b + 1],
            gamma,
            c.pg,
            layer4,
        )),
        (None, false) => None,
    };
    let dropped = match seeds {
        None => layer4.shallow_clone(),
        Some(seeds) => {
            let mask = losses::drop_block_mask(&seeds, b, h, wd);
            let scale = global_keep_scale(&mask, c.pg)?;
            layer4 * mask * scale
        }
    };
    let i = gather_features(c.pg, &l2_normalize(&c.m.visual.attnpool.forward(&dropped)))?;
    Ok(losses::itc(&i, &s.text_emb, &c.m.logit_scale))
}

/// ITC with dropout (p 0.75: a quarter of the coordinates kept) on the projected text embeddings.
fn itc_txt(c: &Ctx<'_>, s: &Shared) -> Result<Tensor> {
    let projected = &s.text.projected;
    let keep = match (c.x.text_keep, c.train) {
        (Some(k), _) => Some(k.shallow_clone()),
        (None, true) => Some(global_draw(
            &projected.size(),
            1.0 - losses::TEXT_DROP_P,
            c.pg,
            projected,
        )),
        (None, false) => None,
    };
    let td = match keep {
        Some(k) => losses::text_dropout(projected, losses::TEXT_DROP_P, Some(&k)),
        None => l2_normalize(projected),
    };
    Ok(losses::itc(
        &s.image,
        &gather_features(c.pg, &td)?,
        &c.m.logit_scale,
    ))
}

/// SimCLR's NT-Xent (τ 0.1) through the MLP head on the two strong views.
fn i2i(c: &Ctx<'_>, (a, b): (&Tensor, &Tensor), sync_head_bn: bool) -> Result<Tensor> {
    let (m, pg, train) = (c.m, c.pg, c.train);
    let (pa, pb) = (
        m.encode_image(a, c.bn_train).pooled,
        m.encode_image(b, c.bn_train).pooled,
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
    Ok(losses::nt_xent(&za, &zb, 0.1))
}

/// The paper's Eq. 2: symmetric cross-view InfoNCE (τ 0.1) on the normalised image embeddings
/// of the two strong views, no head; the keys gathered over ranks like the ITC features.
fn i2i_eq2(c: &Ctx<'_>, (a, b): (&Tensor, &Tensor)) -> Result<Tensor> {
    let view = |v: &Tensor| -> Result<Tensor> {
        gather_features(c.pg, &l2_normalize(&c.m.encode_image(v, c.bn_train).pooled))
    };
    Ok(losses::info_nce(&view(a)?, &view(b)?, 0.1))
}

/// MLM through the fusion: the global mean NLL (to log) and this rank's summed NLL over the
/// global count of predicted tokens, times the world size (to back-propagate).
fn mlm(c: &Ctx<'_>, s: &Shared) -> Result<(Tensor, Tensor)> {
    let (_, logprobs) = c.m.fuse(&s.text.states, &s.image_local);
    let v = logprobs.size()[2];
    let labels = c.x.mlm_labels.reshape([-1]);
    let nll = logprobs
        .reshape([-1, v])
        .g_nll_loss::<Tensor>(&labels, None, Reduction::Sum, 0);
    let mut totals = Tensor::stack(
        &[
            labels.ne(0).sum(Kind::Float),
            nll.detach().to_kind(Kind::Float),
        ],
        0,
    );
    c.pg.allreduce_sum(&mut totals)?;
    let count = totals.get(0).clamp_min(1.0);
    let world = c.pg.world() as f64;
    Ok((totals.get(1) / &count, &nll / &count * world))
}

/// The terms of one step, each absent when switched off; MLM as (value to log, tensor to
/// back-propagate).
struct Terms {
    itc: Option<Tensor>,
    itc_img: Option<Tensor>,
    itc_txt: Option<Tensor>,
    i2i: Option<Tensor>,
    mlm: Option<(Tensor, Tensor)>,
}

impl Terms {
    /// The weighted total to log and the tensor this rank back-propagates (contrastive terms
    /// times `contrastive_scale`: the world size for the exact gradient, since each rank holds
    /// only its slice of it).
    fn weigh(self, w: Weights, contrastive_scale: f64, device: tch::Device) -> StepLosses {
        let mut total = Tensor::zeros([], (Kind::Float, device));
        let mut backward = Tensor::zeros([], (Kind::Float, device));
        for (l, k) in [
            (&self.itc, w.cm),
            (&self.itc_img, w.cm),
            (&self.itc_txt, w.cm),
            (&self.i2i, w.um),
        ] {
            if let Some(l) = l {
                total += l.detach() * k;
                backward += l * (k * contrastive_scale);
            }
        }
        let (mlm_log, mlm_back) = self.mlm.unzip();
        if let (Some(log), Some(back)) = (&mlm_log, &mlm_back) {
            total += log * w.fm;
            backward += back * w.fm;
        }
        let detach = |t: Option<Tensor>| t.map(|t| t.detach());
        StepLosses {
            log: Losses {
                itc: detach(self.itc),
                itc_img: detach(self.itc_img),
                itc_txt: detach(self.itc_txt),
                i2i: detach(self.i2i),
                mlm: mlm_log,
                total,
            },
            backward,
        }
    }
}
