//! The whole model: towers, projections, logit scale, fusion, MLM head and the SimCLR head.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::init::{bn_config, torch_linear};
use super::{Bert, Fusion, ModifiedResNet, TextConfig, VisionConfig, VisualOutput};

/// Every size of the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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

    /// A named preset: `rn50-pubmedbert` or `tiny`.
    pub fn preset(name: &str) -> Option<ModelConfig> {
        match name {
            "rn50-pubmedbert" => Some(Self::rn50_pubmedbert()),
            "tiny" => Some(Self::tiny()),
            _ => None,
        }
    }

    /// A preset name, or the path of a TOML file with every field (unknown fields are errors).
    pub fn load(name_or_path: &str) -> Result<ModelConfig, String> {
        if let Some(c) = Self::preset(name_or_path) {
            return Ok(c);
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| {
            format!("{name_or_path}: not a preset (rn50-pubmedbert, tiny) and not readable: {e}")
        })?;
        Self::from_toml(&text).map_err(|e| format!("{name_or_path}: {e}"))
    }

    /// The config as a model TOML that [`ModelConfig::load`] reads back.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a model config serialises")
    }

    /// Parses a TOML model config.
    pub fn from_toml(text: &str) -> Result<ModelConfig, String> {
        let c: ModelConfig = toml::from_str(text).map_err(|e| e.message().to_string())?;
        if c.embed_dim != c.text.hidden {
            return Err(format!(
                "embed_dim {} must equal the text width {} (the image token enters the fusion)",
                c.embed_dim, c.text.hidden
            ));
        }
        Ok(c)
    }

    /// A small model with the same structure, for CPU tests and the demo: 96-px images (a 3 × 3
    /// layer4 map, so DropBlock's 3 × 3 blocks act as in the full model), one
    /// bottleneck per stage, a 2-layer 64-wide BERT over a 1,000-token vocabulary.
    pub fn tiny() -> ModelConfig {
        ModelConfig {
            vision: VisionConfig {
                image_size: 96,
                layers: [1, 1, 1, 1],
                width: 8,
                heads: 4,
                output_dim: 64,
            },
            text: TextConfig {
                vocab_size: 1000,
                hidden: 64,
                layers: 2,
                heads: 4,
                intermediate: 128,
                max_positions: 77,
                type_vocab: 2,
                dropout: 0.1,
            },
            embed_dim: 64,
            context_length: 77,
            fusion_layers: 2,
            fusion_heads: 4,
            ssl_mlp_dim: 128,
            ssl_emb_dim: 32,
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
        let lin = |n: &str, i: i64, o: i64| torch_linear(&vs / n, i, o);
        SslHead {
            layer1: lin("layer1", d, hidden),
            bn1: nn::batch_norm1d(&vs / "bn1", hidden, bn_config(1.0)),
            layer2: lin("layer2", hidden, hidden),
            bn2: nn::batch_norm1d(&vs / "bn2", hidden, bn_config(1.0)),
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
        let _rng = crate::rng_lock();
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

    #[test]
    fn tiny_runs_end_to_end_with_the_shapes_of_the_spec() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let c = ModelConfig::tiny();
        let m = UniMlip::new(&vs, &c);
        let pixels = Tensor::randn([3, 3, 96, 96], (Kind::Float, Device::Cpu));
        let ids = Tensor::randint(1000, [3, 77], (Kind::Int64, Device::Cpu));
        let v = m.encode_image(&pixels, false);
        assert_eq!(v.layer4.size(), [3, 256, 3, 3]);
        assert_eq!(v.pooled.size(), [3, 64]);
        let t = m.encode_text(&ids, false);
        assert_eq!(t.states.size(), [3, 77, 64]);
        assert_eq!(t.projected.size(), [3, 64]);
        let image = l2_normalize(&v.pooled);
        let (fused, lp) = m.fuse(&t.states, &image);
        assert_eq!(fused.size(), [3, 77, 64]);
        assert_eq!(lp.size(), [3, 77, 1000]);
        // log-probabilities: each position sums to one.
        let total = lp
            .exp()
            .sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
        assert!((total - 1.0).abs().max().double_value(&[]) < 1e-4);
        let z = m.image_mlp.forward_t(&v.pooled, true);
        assert_eq!(z.size(), [3, 32]);
        let norms = image.norm_scalaropt_dim(2.0, [-1i64].as_slice(), false);
        assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn frozen_batch_norm_statistics_stay_while_the_affine_parameters_learn() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let m = UniMlip::new(&vs, &ModelConfig::tiny());
        let vars = vs.variables();
        // The stem's BN (a block's inner BNs get no gradient at init: its bn3 starts at zero).
        let (rm, rv, w) = (
            vars["visual.bn1.running_mean"].copy(),
            vars["visual.layer2.0.bn3.running_var"].copy(),
            vars["visual.bn1.weight"].copy(),
        );
        let mut opt = nn::OptimizerConfig::build(nn::Sgd::default(), &vs, 0.1).unwrap();
        let pixels = Tensor::randn([4, 3, 96, 96], (Kind::Float, Device::Cpu));
        // The SimCLR branch: BN in eval mode (stored statistics), gradients still flowing.
        let z = m
            .image_mlp
            .forward_t(&m.encode_image(&pixels, false).pooled, true);
        let loss = crate::losses::nt_xent(&z.narrow(0, 0, 2), &z.narrow(0, 2, 2), 0.1);
        opt.backward_step(&loss);
        let vars = vs.variables();
        assert!(
            vars["visual.bn1.running_mean"].equal(&rm),
            "statistics moved"
        );
        assert!(
            vars["visual.layer2.0.bn3.running_var"].equal(&rv),
            "statistics moved"
        );
        assert!(!vars["visual.bn1.weight"].equal(&w), "affine did not learn");
    }

    #[test]
    fn configs_round_trip_through_toml_and_reject_unknown_fields() {
        let _rng = crate::rng_lock();
        for name in ["tiny", "rn50-pubmedbert"] {
            let c = ModelConfig::preset(name).unwrap();
            let text = toml::to_string(&c).unwrap();
            assert_eq!(ModelConfig::from_toml(&text).unwrap(), c);
        }
        let text = toml::to_string(&ModelConfig::tiny()).unwrap();
        let err = ModelConfig::from_toml(&format!("colour = 3\n{text}")).unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let bad = text.replace("embed_dim = 64", "embed_dim = 32");
        assert!(
            ModelConfig::from_toml(&bad)
                .unwrap_err()
                .contains("embed_dim")
        );
        assert!(
            ModelConfig::load("no-such-preset")
                .unwrap_err()
                .contains("not a preset")
        );
    }
}
