//! The VQA head on top of the pre-trained towers: one fusion block over the question's token
//! states, 20 learnable tokens, the image token and the image feature, then M3AE's answer
//! classifier (`vqa_head`: Linear 2w → 2w, LayerNorm, GELU, Linear 2w → answers, weights
//! N(0, 0.02), zero biases, `init_weights`).

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};
use unimlip_trainer::{Fusion, Trained, l2_normalize};

use super::{FusionInit, QUERY_TOKENS};

/// What the answer classifier reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadInput {
    /// M3AE's `multi_modal_cls_feats`: the fused `[CLS]` token and the fused image token, each
    /// through its pooler (Linear w → w, tanh), concatenated (2w). The default.
    #[default]
    M3ae,
    /// The mean of the 20 fused learnable tokens (w), model.md's design.
    Queries,
}

impl HeadInput {
    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            HeadInput::M3ae => "m3ae",
            HeadInput::Queries => "queries",
        }
    }
}

/// M3AE's `init_weights` for a linear layer: N(0, 0.02) weights, zero bias.
fn m3ae_linear<'a>(vs: impl std::borrow::Borrow<nn::Path<'a>>, i: i64, o: i64) -> nn::Linear {
    nn::linear(
        vs,
        i,
        o,
        nn::LinearConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        },
    )
}

/// The VQA head (variables under `vqa.`: `fusion`, `queries`, `pooler_text`, `pooler_image`,
/// `head`).
pub(super) struct Head {
    fusion: Fusion,
    mask_padding: bool,
    queries: Tensor,
    /// M3AE's text and image poolers ([`HeadInput::M3ae`]); none for [`HeadInput::Queries`].
    poolers: Option<(nn::Linear, nn::Linear)>,
    fc1: nn::Linear,
    ln: nn::LayerNorm,
    fc2: nn::Linear,
}

impl Head {
    pub fn new(
        t: &Trained,
        answers: i64,
        init: FusionInit,
        mask_padding: bool,
        input: HeadInput,
    ) -> Head {
        let root = t.vs.root() / "vqa";
        let w = t.config.text.hidden;
        let fusion = Fusion::new(&root / "fusion", w, 1, t.config.fusion_heads);
        let queries = root.var(
            "queries",
            &[1, QUERY_TOKENS, w],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        );
        let (poolers, width) = match input {
            HeadInput::M3ae => (
                Some((
                    m3ae_linear(&root / "pooler_text", w, w),
                    m3ae_linear(&root / "pooler_image", w, w),
                )),
                2 * w,
            ),
            HeadInput::Queries => (None, w),
        };
        let head = &root / "head";
        let h = Head {
            fusion,
            mask_padding,
            queries,
            poolers,
            fc1: m3ae_linear(&head / "0", width, 2 * w),
            ln: nn::layer_norm(&head / "1", vec![2 * w], Default::default()),
            fc2: m3ae_linear(&head / "3", 2 * w, answers),
        };
        if init == FusionInit::Pretrained {
            h.copy_pretrained_fusion(t);
        }
        h
    }

    /// Starts the block from the pre-training fusion's first block.
    fn copy_pretrained_fusion(&self, t: &Trained) {
        let vars = t.vs.variables();
        tch::no_grad(|| {
            for (name, dst) in &vars {
                if let Some(rest) = name.strip_prefix("vqa.fusion.resblocks.0.")
                    && let Some(src) = vars.get(&format!("fusion_module.resblocks.0.{rest}"))
                {
                    dst.shallow_clone().copy_(src);
                }
            }
        });
    }

    /// Answer logits `[B, answers]` for images `[B, 3, S, S]` and question ids `[B, L]`.
    pub fn forward(&self, t: &Trained, pixels: &Tensor, ids: &Tensor, train: bool) -> Tensor {
        let m = &t.model;
        let image = l2_normalize(&m.encode_image(pixels, train).pooled);
        let states = m.encode_text(ids, train).states;
        let (b, l) = (states.size()[0], states.size()[1]);
        let seq = Tensor::cat(
            &[
                states,
                self.queries.expand([b, -1, -1], false),
                m.img_special_token.expand([b, 1, -1], false),
                image.unsqueeze(1),
            ],
            1,
        );
        let fused = match self.mask_padding {
            true => {
                let rest = Tensor::ones([b, QUERY_TOKENS + 2], (Kind::Bool, ids.device()));
                let keep = Tensor::cat(&[ids.ne(t.tokenizer.specials.pad), rest], 1);
                self.fusion.forward_masked(&seq, &keep)
            }
            false => self.fusion.forward(&seq),
        };
        let features = match &self.poolers {
            Some((text, img)) => {
                let cls = fused.select(1, 0).apply(text).tanh();
                let picture = fused.select(1, l + QUERY_TOKENS + 1).apply(img).tanh();
                Tensor::cat(&[cls, picture], 1)
            }
            None => fused
                .narrow(1, l, QUERY_TOKENS)
                .mean_dim(1, false, Kind::Float),
        };
        let x = self.fc1.forward(&features);
        self.ln.forward(&x).gelu("none").apply(&self.fc2)
    }
}
