//! ModifiedResNet (CLIP's RN50 variant: three-conv stem, anti-aliased strides, attention
//! pooling), model.md §1. Variable paths reproduce the checkpoint's `visual.*` names.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::init::{bn_config, torch_bound, torch_conv2d};

/// Shape of the vision tower.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionConfig {
    /// Input side in pixels.
    pub image_size: i64,
    /// Bottlenecks per stage.
    pub layers: [i64; 4],
    /// Stem width (64 for RN50); stage `i` has `width · 2^i` planes, 4× that out.
    pub width: i64,
    /// Attention-pool heads.
    pub heads: i64,
    /// Output (embedding) dimension.
    pub output_dim: i64,
}

impl VisionConfig {
    /// RN50 as PMC-CLIP configures it: 768-d output, 32 heads.
    pub fn rn50() -> VisionConfig {
        VisionConfig {
            image_size: 224,
            layers: [3, 4, 6, 3],
            width: 64,
            heads: 32,
            output_dim: 768,
        }
    }

    /// Channels of the layer4 map.
    pub fn features(&self) -> i64 {
        self.width * 32
    }
}

fn conv(vs: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> nn::Conv2D {
    torch_conv2d(
        vs,
        cin,
        cout,
        k,
        nn::ConvConfig {
            stride,
            padding: k / 2,
            bias: false,
            ..Default::default()
        },
    )
}

fn bn(vs: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(vs, c, bn_config(1.0))
}

fn avg_pool(x: &Tensor, k: i64) -> Tensor {
    if k == 1 {
        return x.shallow_clone();
    }
    x.avg_pool2d([k, k], [k, k], [0, 0], false, true, None::<i64>)
}

/// A bottleneck block (expansion 4) with the pooling after conv2 (model.md §1.3).
#[derive(Debug)]
pub struct Bottleneck {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    conv3: nn::Conv2D,
    bn3: nn::BatchNorm,
    stride: i64,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Bottleneck {
    fn new(vs: nn::Path, inplanes: i64, planes: i64, stride: i64) -> Bottleneck {
        let downsample = (stride > 1 || inplanes != planes * 4).then(|| {
            let d = &vs / "downsample";
            (
                conv(&d / "0", inplanes, planes * 4, 1, 1),
                bn(&d / "1", planes * 4),
            )
        });
        Bottleneck {
            conv1: conv(&vs / "conv1", inplanes, planes, 1, 1),
            bn1: bn(&vs / "bn1", planes),
            conv2: conv(&vs / "conv2", planes, planes, 3, 1),
            bn2: bn(&vs / "bn2", planes),
            conv3: conv(&vs / "conv3", planes, planes * 4, 1, 1),
            bn3: bn(&vs / "bn3", planes * 4),
            stride,
            downsample,
        }
    }
}

impl ModuleT for Bottleneck {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let out = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let out = out.apply(&self.conv2).apply_t(&self.bn2, train).relu();
        let out = avg_pool(&out, self.stride)
            .apply(&self.conv3)
            .apply_t(&self.bn3, train);
        let identity = match &self.downsample {
            Some((c, b)) => avg_pool(x, self.stride).apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        (out + identity).relu()
    }
}

/// CLIP's QKV attention pooling over the layer4 map plus its mean token (model.md §1.4).
#[derive(Debug)]
pub struct AttentionPool {
    positional_embedding: Tensor,
    q_proj: nn::Linear,
    k_proj: nn::Linear,
    v_proj: nn::Linear,
    c_proj: nn::Linear,
    heads: i64,
}

impl AttentionPool {
    fn new(vs: nn::Path, spatial: i64, dim: i64, heads: i64, out: i64) -> AttentionPool {
        let std = (dim as f64).powf(-0.5);
        let lin = |name: &str, o: i64| {
            nn::linear(
                &vs / name,
                dim,
                o,
                nn::LinearConfig {
                    ws_init: nn::Init::Randn {
                        mean: 0.0,
                        stdev: std,
                    },
                    bs_init: Some(nn::Init::Uniform {
                        lo: -torch_bound(dim),
                        up: torch_bound(dim),
                    }),
                    bias: true,
                },
            )
        };
        AttentionPool {
            positional_embedding: vs.var(
                "positional_embedding",
                &[spatial * spatial + 1, dim],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: std,
                },
            ),
            q_proj: lin("q_proj", dim),
            k_proj: lin("k_proj", dim),
            v_proj: lin("v_proj", dim),
            c_proj: lin("c_proj", out),
            heads,
        }
    }

    /// `[B, C, H, W]` → `[B, out]` (the pooled query token).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (b, c, h, w) = x.size4().expect("a [B, C, H, W] map");
        let tokens = x.reshape([b, c, h * w]).permute([0, 2, 1]); // [B, HW, C]
        let mean = tokens.mean_dim(1, true, Kind::Float);
        let x = Tensor::cat(&[mean, tokens], 1) + self.positional_embedding.unsqueeze(0);
        let (n, hd) = (h * w + 1, c / self.heads);
        let split = |t: Tensor, len: i64| t.reshape([b, len, self.heads, hd]).transpose(1, 2);
        let q = split(x.narrow(1, 0, 1).apply(&self.q_proj), 1);
        let k = split(x.apply(&self.k_proj), n);
        let v = split(x.apply(&self.v_proj), n);
        let att =
            (q.matmul(&k.transpose(-2, -1)) * (hd as f64).powf(-0.5)).softmax(-1, Kind::Float);
        att.matmul(&v)
            .transpose(1, 2)
            .reshape([b, c])
            .apply(&self.c_proj)
    }
}

/// What the vision tower returns.
#[derive(Debug)]
pub struct VisualOutput {
    /// The layer4 map `[B, 32·width, H/32, W/32]` (before pooling; DropBlock acts here).
    pub layer4: Tensor,
    /// Pooled features `[B, output_dim]` (not normalised).
    pub pooled: Tensor,
}

/// The vision tower.
#[derive(Debug)]
pub struct ModifiedResNet {
    stem: Vec<(nn::Conv2D, nn::BatchNorm)>,
    layers: Vec<Vec<Bottleneck>>,
    /// The attention pool (applied separately when the layer4 map is perturbed first).
    pub attnpool: AttentionPool,
}

impl ModifiedResNet {
    /// Creates the tower under `vs` (use `root / "visual"` for the checkpoint's names).
    pub fn new(vs: nn::Path, cfg: &VisionConfig) -> ModifiedResNet {
        let w = cfg.width;
        let stem = vec![
            (conv(&vs / "conv1", 3, w / 2, 3, 2), bn(&vs / "bn1", w / 2)),
            (
                conv(&vs / "conv2", w / 2, w / 2, 3, 1),
                bn(&vs / "bn2", w / 2),
            ),
            (conv(&vs / "conv3", w / 2, w, 3, 1), bn(&vs / "bn3", w)),
        ];
        let mut inplanes = w;
        let mut layers = Vec::new();
        for (i, blocks) in cfg.layers.iter().enumerate() {
            let planes = w << i;
            let stage = &vs / format!("layer{}", i + 1);
            let mut v = Vec::new();
            for j in 0..*blocks {
                let stride = if j == 0 && i > 0 { 2 } else { 1 };
                v.push(Bottleneck::new(
                    &stage / j.to_string(),
                    inplanes,
                    planes,
                    stride,
                ));
                inplanes = planes * 4;
            }
            layers.push(v);
        }
        // Only with a fresh init: each block's last BN starts at zero (model.md §1.5).
        for stage in &layers {
            for b in stage {
                let mut ws = b.bn3.ws.as_ref().expect("affine BN").shallow_clone();
                tch::no_grad(|| {
                    let _ = ws.zero_();
                });
            }
        }
        let attnpool = AttentionPool::new(
            &vs / "attnpool",
            cfg.image_size / 32,
            cfg.features(),
            cfg.heads,
            cfg.output_dim,
        );
        ModifiedResNet {
            stem,
            layers,
            attnpool,
        }
    }

    /// The layer4 map.
    pub fn trunk(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for (c, b) in &self.stem {
            x = x.apply(c).apply_t(b, train).relu();
        }
        x = avg_pool(&x, 2);
        for stage in &self.layers {
            for b in stage {
                x = b.forward_t(&x, train);
            }
        }
        x
    }

    /// The layer4 map and the pooled features.
    pub fn forward(&self, x: &Tensor, train: bool) -> VisualOutput {
        let layer4 = self.trunk(x, train);
        let pooled = self.attnpool.forward(&layer4);
        VisualOutput { layer4, pooled }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn names(vs: &nn::VarStore) -> Vec<(String, Vec<i64>)> {
        let mut v: Vec<_> = vs
            .variables()
            .into_iter()
            .map(|(k, t)| (k, t.size()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rn50_has_the_checkpoint_names_shapes_and_parameter_count() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = ModifiedResNet::new(vs.root() / "visual", &VisionConfig::rn50());
        let all = names(&vs);
        // 339 tensors in the checkpoint, less the 55 BatchNorms' num_batches_tracked.
        assert_eq!(all.len(), 339 - 55);
        let get = |n: &str| {
            all.iter()
                .find(|(k, _)| k == n)
                .unwrap_or_else(|| panic!("no {n}"))
                .1
                .clone()
        };
        assert_eq!(get("visual.conv1.weight"), [32, 3, 3, 3]);
        assert_eq!(get("visual.bn3.running_var"), [64]);
        assert_eq!(get("visual.layer1.0.downsample.0.weight"), [256, 64, 1, 1]);
        assert_eq!(get("visual.layer2.0.conv1.weight"), [128, 256, 1, 1]);
        assert_eq!(get("visual.layer3.5.conv3.weight"), [1024, 256, 1, 1]);
        assert_eq!(get("visual.layer4.0.downsample.1.weight"), [2048]);
        assert_eq!(get("visual.attnpool.positional_embedding"), [50, 2048]);
        assert_eq!(get("visual.attnpool.c_proj.weight"), [768, 2048]);
        assert_eq!(get("visual.attnpool.q_proj.bias"), [2048]);
        let trainable: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        assert_eq!(trainable, 37_792_352);
    }

    #[test]
    fn a_small_tower_gives_the_shapes_of_the_spec_table() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = VisionConfig {
            image_size: 64,
            layers: [1, 1, 1, 1],
            width: 8,
            heads: 4,
            output_dim: 16,
        };
        let m = ModifiedResNet::new(vs.root() / "visual", &cfg);
        let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        let out = m.forward(&x, false);
        assert_eq!(out.layer4.size(), [2, 256, 2, 2]);
        assert_eq!(out.pooled.size(), [2, 16]);
        // Train mode updates the running statistics; eval mode does not.
        let rm = |vs: &nn::VarStore| vs.variables()["visual.bn1.running_mean"].copy();
        let before = rm(&vs);
        let _ = m.forward(&x, false);
        assert!(rm(&vs).equal(&before));
        let _ = m.forward(&x, true);
        assert!(!rm(&vs).equal(&before));
    }
}
