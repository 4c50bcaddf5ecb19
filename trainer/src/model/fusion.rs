//! The fusion transformer (OpenCLIP-style pre-LN residual attention blocks, model.md §4.2),
//! with `fusion_module.resblocks.{i}.*` names.

use tch::nn;
use tch::{Kind, Tensor};

use super::init::{torch_bound, torch_linear};

#[derive(Debug)]
struct Block {
    in_proj_weight: Tensor,
    in_proj_bias: Tensor,
    out_proj: nn::Linear,
    ln_1: nn::LayerNorm,
    ln_2: nn::LayerNorm,
    c_fc: nn::Linear,
    c_proj: nn::Linear,
    heads: i64,
}

impl Block {
    fn new(vs: nn::Path, width: i64, heads: i64) -> Block {
        let attn = &vs / "attn";
        let bound = (6.0 / (width + 3 * width) as f64).sqrt();
        let ln = |p: nn::Path| nn::layer_norm(p, vec![width], Default::default());
        let mlp = &vs / "mlp";
        Block {
            // nn.MultiheadAttention's init: xavier_uniform in_proj, zero biases.
            in_proj_weight: attn.var(
                "in_proj_weight",
                &[3 * width, width],
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            ),
            in_proj_bias: attn.zeros("in_proj_bias", &[3 * width]),
            out_proj: nn::linear(
                &attn / "out_proj",
                width,
                width,
                // NonDynamicallyQuantizableLinear's weight init, bias zeroed by MHA.
                nn::LinearConfig {
                    ws_init: nn::Init::Uniform {
                        lo: -torch_bound(width),
                        up: torch_bound(width),
                    },
                    bs_init: Some(nn::Init::Const(0.0)),
                    bias: true,
                },
            ),
            ln_1: ln(&vs / "ln_1"),
            ln_2: ln(&vs / "ln_2"),
            c_fc: torch_linear(&mlp / "c_fc", width, 4 * width),
            c_proj: torch_linear(&mlp / "c_proj", 4 * width, width),
            heads,
        }
    }

    fn forward(&self, x: &Tensor, key_bias: Option<&Tensor>) -> Tensor {
        let (b, n, d) = x.size3().expect("[B, L, D]");
        let hd = d / self.heads;
        let h = x.apply(&self.ln_1);
        let qkv = h.linear(&self.in_proj_weight, Some(&self.in_proj_bias));
        let parts = qkv.chunk(3, -1);
        let split = |t: &Tensor| t.reshape([b, n, self.heads, hd]).transpose(1, 2);
        let (q, k, v) = (split(&parts[0]), split(&parts[1]), split(&parts[2]));
        let scores = q.matmul(&k.transpose(-2, -1)) / (hd as f64).sqrt();
        let scores = match key_bias {
            Some(bias) => scores + bias,
            None => scores,
        };
        let att = scores.softmax(-1, Kind::Float);
        let ctx = att.matmul(&v).transpose(1, 2).reshape([b, n, d]);
        let x = x + ctx.apply(&self.out_proj);
        let m = x
            .apply(&self.ln_2)
            .apply(&self.c_fc)
            .gelu("none")
            .apply(&self.c_proj);
        x + m
    }
}

/// The fusion stack: full bidirectional attention, no final LayerNorm, no dropout.
#[derive(Debug)]
pub struct Fusion {
    blocks: Vec<Block>,
}

impl Fusion {
    /// Creates the stack under `vs` (use `root / "fusion_module"`).
    pub fn new(vs: nn::Path, width: i64, layers: i64, heads: i64) -> Fusion {
        let rb = &vs / "resblocks";
        Fusion {
            blocks: (0..layers)
                .map(|i| Block::new(&rb / i.to_string(), width, heads))
                .collect(),
        }
    }

    /// `[B, L, D]` → `[B, L, D]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.blocks
            .iter()
            .fold(x.shallow_clone(), |x, b| b.forward(&x, None))
    }

    /// [`forward`](Self::forward) with the keys where `keep` (`[B, L]` bool) is false left out
    /// of every attention (a key padding mask, as M3AE's text mask).
    pub fn forward_masked(&self, x: &Tensor, keep: &Tensor) -> Tensor {
        let (b, n) = keep.size2().expect("[B, L]");
        let bias = keep
            .logical_not()
            .to_kind(Kind::Float)
            .g_mul_scalar(-1e9)
            .view([b, 1, 1, n]);
        self.blocks
            .iter()
            .fold(x.shallow_clone(), |x, blk| blk.forward(&x, Some(&bias)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn a_masked_key_changes_nothing_it_cannot_reach() {
        let _rng = crate::rng_lock();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let f = Fusion::new(vs.root() / "fusion_module", 16, 1, 2);
        let x = Tensor::randn([1, 4, 16], (Kind::Float, Device::Cpu));
        let keep = Tensor::from_slice(&[true, true, false, true]).view([1, 4]);
        let a = f.forward_masked(&x, &keep);
        // Changing the masked token moves only its own output.
        let y = x.copy();
        y.get(0)
            .get(2)
            .copy_(&Tensor::randn([16], (Kind::Float, Device::Cpu)));
        let b = f.forward_masked(&y, &keep);
        for i in [0, 1, 3] {
            let d = (a.get(0).get(i) - b.get(0).get(i))
                .abs()
                .max()
                .double_value(&[]);
            assert!(d < 1e-6, "token {i} moved by {d}");
        }
        // Unmasked, it reaches every token.
        let c = f.forward(&y);
        let d = (f.forward(&x).get(0).get(0) - c.get(0).get(0))
            .abs()
            .max()
            .double_value(&[]);
        assert!(d > 1e-4);
    }
}
