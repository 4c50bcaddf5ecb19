//! The forward harness behind `unimlip model forward`: the model in eval mode on given tensors,
//! every intermediate a reference implementation can be compared on, and the five losses with
//! their random draws injected (model.md Appendix A).
//!
//! Inputs: `pixel_values` f32 `[B, 3, H, W]` and `input_ids` i64 `[B, L]`; optional
//! `mlm_input_ids` (the masked caption for the fusion, default `input_ids`), `mlm_labels`,
//! `dropblock_noise` (DropBlock seeds `[B, C, h−2, w−2]`), `text_dropout_mask` (keep-mask
//! `[B, E]`), `view_a`, `view_b` (SimCLR views). Outputs: `image_features`, `text_features`
//! (L2-normalised), `text_cls` (the text tower's `[CLS]` state, before the projection: what
//! Hugging Face's `BertModel` returns as `last_hidden_state[:, 0]`), `layer4`, `fusion_out`, `mlm_logprobs`, and `loss_itc`, `loss_itc_img`,
//! `loss_itc_txt`, `loss_i2i`, `loss_mlm` (each only when its inputs are there).

use std::collections::HashMap;

use tch::nn::ModuleT;
use tch::{Kind, Tensor};

use crate::losses;
use crate::model::{UniMlip, l2_normalize};
use crate::{Error, Result};

/// Runs the harness; `inputs` by name, outputs by name in a fixed order. Without the SimCLR
/// head (`ssl_head` false: weights that lack it), `loss_i2i` is left out.
pub fn forward(
    m: &UniMlip,
    inputs: &HashMap<String, Tensor>,
    ssl_head: bool,
) -> Result<Vec<(String, Tensor)>> {
    let get = |n: &str| inputs.get(n);
    let need = |n: &str| get(n).ok_or_else(|| Error::Config(format!("inputs have no `{n}`")));
    let pixels = need("pixel_values")?.to_kind(Kind::Float);
    let ids = need("input_ids")?.to_kind(Kind::Int64);
    tch::no_grad(|| {
        let layer4 = m.visual.trunk(&pixels, false);
        let image = l2_normalize(&m.visual.attnpool.forward(&layer4));
        let text = m.encode_text(&ids, false);
        let t = l2_normalize(&text.projected);
        let mlm_ids = get("mlm_input_ids").map(|t| t.to_kind(Kind::Int64));
        let states = match &mlm_ids {
            Some(x) => m.encode_text(x, false).states,
            None => text.states.shallow_clone(),
        };
        let (fused, logprobs) = m.fuse(&states, &image);
        let mut out = vec![
            (
                "loss_itc".to_string(),
                losses::itc(&image, &t, &m.logit_scale),
            ),
            ("image_features".into(), image.shallow_clone()),
            ("text_features".into(), t.shallow_clone()),
            ("text_cls".into(), text.states.select(1, 0)),
            ("layer4".into(), layer4.shallow_clone()),
            ("fusion_out".into(), fused),
        ];
        if let Some(noise) = get("dropblock_noise") {
            let dropped = losses::drop_block2d(&layer4, 0.5, 3, Some(noise), true);
            let i = l2_normalize(&m.visual.attnpool.forward(&dropped));
            out.push(("loss_itc_img".into(), losses::itc(&i, &t, &m.logit_scale)));
        }
        if let Some(keep) = get("text_dropout_mask") {
            let td = losses::text_dropout(&text.projected, 0.75, Some(keep));
            out.push((
                "loss_itc_txt".into(),
                losses::itc(&image, &td, &m.logit_scale),
            ));
        }
        if let (true, Some(a), Some(b)) = (ssl_head, get("view_a"), get("view_b")) {
            let z = |v: &Tensor| {
                let pooled = m.encode_image(&v.to_kind(Kind::Float), false).pooled;
                m.image_mlp.forward_t(&pooled, false)
            };
            out.push(("loss_i2i".into(), losses::nt_xent(&z(a), &z(b), 0.1)));
        }
        if let Some(labels) = get("mlm_labels") {
            let l = losses::mlm(&logprobs, &labels.to_kind(Kind::Int64));
            out.push(("loss_mlm".into(), l));
        }
        out.push(("mlm_logprobs".into(), logprobs));
        Ok(out)
    })
}
