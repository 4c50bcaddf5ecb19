//! The whole model: towers, projections, logit scale, fusion, MLM head and the SimCLR head.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::{Bert, Fusion, ModifiedResNet, TextConfig, VisionConfig, VisualOutput};

/// Every size of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Vision tower.
    pub vision: VisionConfig,
    /// Text tower.
    pub text: TextConfig,
    /// Shared embedding width (must equal the text width: the image token enters the fusion).
    pub embed_dim: i64,
    /// Caption length in tokens.
    pub context_length: i64,
    /// Fusion blocks.
    pub fusion_layers: i64,
    /// Fusion heads.
    pub fusion_heads: i64,
    /// SimCLR head hidden width.
    pub ssl_mlp_dim: i64,
    /// SimCLR head output width.
    pub ssl_emb_dim: i64,
}

impl ModelConfig {
    /// The paper's model: RN50 + PubMedBERT, 4 fusion blocks of 8 heads.
    pub fn rn50_pubmedbert() -> ModelConfig {
        ModelConfig {
            vision: VisionConfig::rn50(),
            text: TextConfig::pubmedbert(),
            embed_dim: 768,
            context_length: 77,
            fusion_layers: 4,
            fusion_heads: 8,
            ssl_mlp_dim: 4096,
            ssl_emb_dim: 256,
        }
    }
}

/// Uni-Mlip.
#[derive(Debug)]
pub struct UniMlip {
    /// The vision tower (`visual.*`).
    pub visual: ModifiedResNet,
    /// The text tower (`text_encoder.*`).
    pub text_encoder: Bert,
    /// `[text width, embed]`, used un-transposed, no bias.
    pub text_projection: Tensor,
    /// Scalar; the logit multiplier is its exponential.
    pub logit_scale: Tensor,
    /// `[1, 1, embed]`, the separator token before the image token in the fusion.
    pub img_special_token: Tensor,
    /// `[text width, vocab]`, the MLM projection (not tied to the word embeddings).
    pub mlm_projection: Tensor,
    /// The fusion transformer (`fusion_module.*`).
    pub fusion: Fusion,
    /// The SimCLR projection head (`image_mlp.*`, SLIP's).
    pub image_mlp: SslHead,
    _positional_embedding: Tensor,
    _ln_final: nn::LayerNorm,
}

/// SLIP's image MLP: Linear → BN → ReLU → Linear → BN → ReLU → Linear.
#[derive(Debug)]
pub struct SslHead {
    layer1: nn::Linear,
    bn1: nn::BatchNorm,
    layer2: nn::Linear,
    bn2: nn::BatchNorm,
    layer3: nn::Linear,
}

impl SslHead {
    fn new(vs: nn::Path, d: i64, hidden: i64, out: i64) -> SslHead {
        let lin = |n: &str, i: i64, o: i64| nn::linear(&vs / n, i, o, Default::default());
        SslHead {
            layer1: lin("layer1", d, hidden),
            bn1: nn::batch_norm1d(&vs / "bn1", hidden, Default::default()),
            layer2: lin("layer2", hidden, hidden),
            bn2: nn::batch_norm1d(&vs / "bn2", hidden, Default::default()),
            layer3: lin("layer3", hidden, out),
        }
    }
}

impl ModuleT for SslHead {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.layer1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.layer2)
            .apply_t(&self.bn2, train)
            .relu()
            .apply(&self.layer3)
    }
}

/// Text tower output.
#[derive(Debug)]
pub struct TextOutput {
    /// Token states `[B, L, width]`.
    pub states: Tensor,
    /// The projected `[CLS]` feature `[B, embed]`, not normalised.
    pub projected: Tensor,
}

impl UniMlip {
    /// Creates the model under `vs.root()`, with the checkpoint's names.
    pub fn new(vs: &nn::VarStore, c: &ModelConfig) -> UniMlip {
        let root = vs.root();
        let width = c.text.hidden;
        let std = (width as f64).powf(-0.5);
        let randn = nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        };
        UniMlip {
            visual: ModifiedResNet::new(&root / "visual", &c.vision),
            text_encoder: Bert::new(&root / "text_encoder", &c.text),
            text_projection: root.var("text_projection", &[width, c.embed_dim], randn),
            logit_scale: root.var("logit_scale", &[], nn::Init::Const((1.0f64 / 0.07).ln())),
            img_special_token: root.zeros("img_special_token", &[1, 1, c.embed_dim]),
            mlm_projection: root.var("mlm_projection", &[width, c.text.vocab_size], randn),
            fusion: Fusion::new(
                &root / "fusion_module",
                width,
                c.fusion_layers,
                c.fusion_heads,
            ),
            image_mlp: SslHead::new(
                &root / "image_mlp",
                c.embed_dim,
                c.ssl_mlp_dim,
                c.ssl_emb_dim,
            ),
            _positional_embedding: root.var(
                "positional_embedding",
                &[c.context_length, width],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.01,
                },
            ),
            _ln_final: nn::layer_norm(&root / "ln_final", vec![width], Default::default()),
        }
    }

    /// The vision tower on normalised pixels `[B, 3, H, W]`.
    pub fn encode_image(&self, pixels: &Tensor, train: bool) -> VisualOutput {
        self.visual.forward(pixels, train)
    }

    /// The text tower on ids `[B, L]`: token states and the projected `[CLS]` feature.
    pub fn encode_text(&self, ids: &Tensor, train: bool) -> TextOutput {
        let states = self.text_encoder.forward_t(ids, train);
        let projected = states.select(1, 0).matmul(&self.text_projection);
        TextOutput { states, projected }
    }

    /// Fusion of the caption's token states with the (normalised) image feature, and the MLM
    /// log-probabilities over the vocabulary: `([B, L, width], [B, L, vocab])`.
    pub fn fuse(&self, states: &Tensor, image_features: &Tensor) -> (Tensor, Tensor) {
        let (b, n, _) = states.size3().expect("[B, L, D]");
        let special = self.img_special_token.expand([b, 1, -1], false);
        let x = Tensor::cat(
            &[states.shallow_clone(), special, image_features.unsqueeze(1)],
            1,
        );
        let fused = self.fusion.forward(&x).narrow(1, 0, n);
        let logprobs = fused
            .matmul(&self.mlm_projection)
            .log_softmax(-1, Kind::Float);
        (fused, logprobs)
    }
}

/// L2 normalisation along the last dimension (F.normalize, eps 1e-12).
pub fn l2_normalize(x: &Tensor) -> Tensor {
    let norm = x
        .norm_scalaropt_dim(2.0, [-1i64].as_slice(), true)
        .clamp_min(1e-12);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn the_paper_model_has_the_spec_parameter_counts() {
        let vs = nn::VarStore::new(Device::Cpu);
        let c = ModelConfig::rn50_pubmedbert();
        let _m = UniMlip::new(&vs, &c);
        let vars = vs.variables();
        let sum = |prefix: &str| -> i64 {
            vars.iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(_, t)| t.numel() as i64)
                .sum()
        };
        assert_eq!(sum("fusion_module."), 28_351_488);
        assert_eq!(sum("fusion_module.resblocks.0."), 7_087_872);
        let top: i64 = [
            "text_projection",
            "logit_scale",
            "img_special_token",
            "mlm_projection",
            "positional_embedding",
            "ln_final.",
        ]
        .iter()
        .map(|p| sum(p))
        .sum();
        assert_eq!(top, 24_092_161);
        // Every trainable parameter outside the new SimCLR head: the spec's ≈199.7M.
        let trainable: i64 = vars
            .iter()
            .filter(|(k, t)| t.requires_grad() && !k.starts_with("image_mlp."))
            .map(|(_, t)| t.numel() as i64)
            .sum();
        assert_eq!(
            trainable,
            37_792_352 + 109_482_240 + 28_351_488 + 24_092_161
        );
        assert_eq!(
            vars["fusion_module.resblocks.3.attn.in_proj_weight"].size(),
            [2304, 768]
        );
        assert_eq!(vars["mlm_projection"].size(), [768, 30522]);
        assert!((vars["logit_scale"].double_value(&[]) - 2.659260).abs() < 1e-6);
    }
}
