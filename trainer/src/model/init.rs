//! Layers initialised as the original PyTorch modules are, not as tch's defaults (which differ:
//! BatchNorm weights U(0, 1) instead of 1, embeddings N(0, 1), Linear and Conv weights with a
//! kaiming bound √6 ≈ 2.45 times PyTorch's).
//!
//! - PyTorch defaults (`nn.Linear`, `nn.Conv2d`: weight and bias U(±1/√fan_in), from
//!   `kaiming_uniform_(a=√5)`; `nn.BatchNorm*d`, `nn.LayerNorm`: weight 1, bias 0): the
//!   ModifiedResNet (before PMC-CLIP's `initialize_parameters`), the fusion's MLP, SLIP's SimCLR
//!   head and the downstream heads.
//! - Hugging Face's `BertPreTrainedModel._init_weights`: Linear and Embedding N(0, 0.02), biases
//!   0, the padding row of the word embeddings 0, LayerNorm 1 and 0.

use tch::nn;

/// PyTorch's bound for `nn.Linear` / `nn.Conv2d` weights and biases: 1/√fan_in.
pub fn torch_bound(fan_in: i64) -> f64 {
    1.0 / (fan_in as f64).sqrt()
}

fn uniform(bound: f64) -> nn::Init {
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// `nn.Linear(i, o)` as PyTorch initialises it.
pub fn torch_linear<'a>(vs: impl std::borrow::Borrow<nn::Path<'a>>, i: i64, o: i64) -> nn::Linear {
    let b = torch_bound(i);
    nn::linear(
        vs,
        i,
        o,
        nn::LinearConfig {
            ws_init: uniform(b),
            bs_init: Some(uniform(b)),
            bias: true,
        },
    )
}

/// `nn.Conv2d(cin, cout, k)` as PyTorch initialises it (weight and bias U(±1/√(cin·k²))).
pub fn torch_conv2d<'a>(
    vs: impl std::borrow::Borrow<nn::Path<'a>>,
    cin: i64,
    cout: i64,
    k: i64,
    config: nn::ConvConfig,
) -> nn::Conv2D {
    let b = torch_bound(cin / config.groups * k * k);
    nn::conv2d(
        vs,
        cin,
        cout,
        k,
        nn::ConvConfig {
            ws_init: uniform(b),
            bs_init: uniform(b),
            ..config
        },
    )
}

/// `nn.BatchNorm{1,2}d` affine init with weight `weight` (1 by default; PMC-CLIP zeroes each
/// bottleneck's `bn3`) and bias 0.
pub fn bn_config(weight: f64) -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        ws_init: nn::Init::Const(weight),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    }
}

/// BERT's normal init (`initializer_range` 0.02).
pub const BERT_STD: f64 = 0.02;

/// A BERT `nn.Linear`: weight N(0, 0.02), bias 0.
pub fn bert_linear<'a>(vs: impl std::borrow::Borrow<nn::Path<'a>>, i: i64, o: i64) -> nn::Linear {
    nn::linear(
        vs,
        i,
        o,
        nn::LinearConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: BERT_STD,
            },
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        },
    )
}

/// A BERT `nn.Embedding(n, d, padding_idx)`: N(0, 0.02), with row `padding` (when given)
/// zero and, as Hugging Face's word embeddings, never given a gradient (it stays zero).
pub fn bert_embedding<'a>(
    vs: impl std::borrow::Borrow<nn::Path<'a>>,
    n: i64,
    d: i64,
    padding: Option<i64>,
) -> nn::Embedding {
    let e = nn::embedding(
        vs,
        n,
        d,
        nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: BERT_STD,
            },
            padding_idx: padding.unwrap_or(-1),
            ..Default::default()
        },
    );
    if let Some(p) = padding {
        tch::no_grad(|| {
            let _ = e.ws.get(p).zero_();
        });
    }
    e
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tch::{Device, Kind};

    use super::*;
    use crate::model::{ModelConfig, UniMlip};

    /// Element count, mean and standard deviation of a tensor.
    type Moments = (i64, f64, f64);

    fn moments(vs: &nn::VarStore) -> BTreeMap<String, Moments> {
        vs.variables()
            .into_iter()
            .map(|(name, t)| {
                let t = t.to_kind(Kind::Double);
                let n = t.numel() as i64;
                let std = if n > 1 {
                    t.std(true).double_value(&[])
                } else {
                    0.0
                };
                (name, (n, t.mean(Kind::Double).double_value(&[]), std))
            })
            .collect()
    }

    /// Whether two fresh inits of one tensor agree within sampling error (6 standard errors of
    /// the mean and of the standard deviation, both sides random), or exactly when constant.
    fn agree((n, m, s): Moments, (rn, rm, rs): Moments) -> bool {
        if n != rn {
            return false;
        }
        if rs == 0.0 {
            return s < 1e-7 && (m - rm).abs() < 1e-6;
        }
        let n = n as f64;
        (m - rm).abs() <= 6.0 * rs * (2.0 / n).sqrt() + 1e-7
            && (s / rs - 1.0).abs() <= 6.0 * (1.0 / n).sqrt()
    }

    fn mismatches(
        ours: &BTreeMap<String, Moments>,
        theirs: &BTreeMap<String, Moments>,
    ) -> Vec<String> {
        let mut bad = Vec::new();
        for (name, &want) in theirs {
            match ours.get(name) {
                None => bad.push(format!("{name}: missing")),
                Some(&got) if !agree(got, want) => {
                    bad.push(format!("{name}: (n, mean, std) {got:?}, PyTorch {want:?}"))
                }
                Some(_) => {}
            }
        }
        bad.extend(
            ours.keys()
                .filter(|k| !theirs.contains_key(*k))
                .map(|k| format!("{k}: not in the reference")),
        );
        bad
    }

    #[allow(clippy::print_stderr)]
    fn reference(config: &str) -> Option<BTreeMap<String, Moments>> {
        let py = match std::env::var("UNIMLIP_TORCH_PYTHON") {
            Ok(p) => p,
            Err(_) if std::env::var_os("CI").is_some() => {
                panic!("UNIMLIP_TORCH_PYTHON is required in CI: run scripts/setup.sh")
            }
            Err(_) => {
                eprintln!("skipped: UNIMLIP_TORCH_PYTHON not set (run scripts/setup.sh)");
                return None;
            }
        };
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../python/uni_mlip_ref.py");
        let out = tempfile::NamedTempFile::new().unwrap();
        let run = std::process::Command::new(py)
            .args([script, "init-stats", config])
            .arg(out.path())
            .output()
            .expect("run the PyTorch reference");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = std::fs::read_to_string(out.path()).unwrap();
        let raw: BTreeMap<String, (i64, f64, f64)> = serde_json::from_str(&text).unwrap();
        Some(raw)
    }

    #[test]
    fn every_tensor_starts_as_the_original_modules_initialise_it() {
        for (name, config) in [
            ("tiny", ModelConfig::tiny()),
            ("rn50-pubmedbert", ModelConfig::rn50_pubmedbert()),
        ] {
            let Some(theirs) = reference(name) else {
                return;
            };
            let ours = {
                let _rng = crate::rng_lock();
                tch::manual_seed(11);
                let vs = nn::VarStore::new(Device::Cpu);
                let _m = UniMlip::new(&vs, &config);
                moments(&vs)
            };
            let bad = mismatches(&ours, &theirs);
            assert!(
                bad.is_empty(),
                "{name}: {} tensors differ:\n{}",
                bad.len(),
                bad.join("\n")
            );
        }
    }

    #[test]
    fn tch_defaults_are_told_apart_from_pytorchs() {
        let _rng = crate::rng_lock();
        let layers = |torch_like: bool| {
            let vs = nn::VarStore::new(Device::Cpu);
            let r = vs.root();
            if torch_like {
                torch_linear(&r / "lin", 512, 256);
                nn::batch_norm2d(&r / "bn", 256, bn_config(1.0));
                bert_embedding(&r / "emb", 1000, 64, None);
                torch_conv2d(&r / "conv", 64, 64, 3, Default::default());
            } else {
                nn::linear(&r / "lin", 512, 256, Default::default());
                nn::batch_norm2d(&r / "bn", 256, Default::default());
                nn::embedding(&r / "emb", 1000, 64, Default::default());
                nn::conv2d(&r / "conv", 64, 64, 3, Default::default());
            }
            moments(&vs)
        };
        let (a, b) = (layers(true), layers(true));
        assert!(mismatches(&a, &b).is_empty(), "{:?}", mismatches(&a, &b));
        let bad = mismatches(&layers(false), &a);
        for name in [
            "lin.weight",
            "bn.weight",
            "emb.weight",
            "conv.weight",
            "conv.bias",
        ] {
            assert!(
                bad.iter().any(|m| m.starts_with(&format!("{name}:"))),
                "{name}: {bad:?}"
            );
        }
    }
}
