//! The BERT text encoder (HF `BertModel`, post-LN), model.md §2, with `text_encoder.*` names.
//! No attention mask: PMC-CLIP lets padding attend and be attended to (§2.3).

use tch::nn;
use tch::{Kind, Tensor};

use super::init::{bert_embedding, bert_linear};

/// BERT's `pad_token_id`: the word-embedding row Hugging Face's init zeroes.
const PAD_ID: i64 = 0;

/// Shape of the text tower.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Hidden width.
    pub hidden: i64,
    /// Encoder layers.
    pub layers: i64,
    /// Attention heads.
    pub heads: i64,
    /// Feed-forward width.
    pub intermediate: i64,
    /// Position embeddings.
    pub max_positions: i64,
    /// Token types.
    pub type_vocab: i64,
    /// Dropout of hidden states and attention probabilities (active in training).
    pub dropout: f64,
}

impl TextConfig {
    /// PubMedBERT-base (abstract-fulltext).
    pub fn pubmedbert() -> TextConfig {
        TextConfig {
            vocab_size: 30522,
            hidden: 768,
            layers: 12,
            heads: 12,
            intermediate: 3072,
            max_positions: 512,
            type_vocab: 2,
            dropout: 0.1,
        }
    }
}

const LN_EPS: f64 = 1e-12;

fn layer_norm(vs: nn::Path, dim: i64) -> nn::LayerNorm {
    nn::layer_norm(
        vs,
        vec![dim],
        nn::LayerNormConfig {
            eps: LN_EPS,
            ..Default::default()
        },
    )
}

#[derive(Debug)]
struct Layer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attn_out: nn::Linear,
    attn_ln: nn::LayerNorm,
    inter: nn::Linear,
    out: nn::Linear,
    out_ln: nn::LayerNorm,
    heads: i64,
    dropout: f64,
}

impl Layer {
    fn new(vs: nn::Path, c: &TextConfig) -> Layer {
        let att = &vs / "attention";
        let sa = &att / "self";
        let lin = |p: nn::Path, i: i64, o: i64| bert_linear(p, i, o);
        Layer {
            query: lin(&sa / "query", c.hidden, c.hidden),
            key: lin(&sa / "key", c.hidden, c.hidden),
            value: lin(&sa / "value", c.hidden, c.hidden),
            attn_out: lin(&att / "output" / "dense", c.hidden, c.hidden),
            attn_ln: layer_norm(&att / "output" / "LayerNorm", c.hidden),
            inter: lin(&vs / "intermediate" / "dense", c.hidden, c.intermediate),
            out: lin(&vs / "output" / "dense", c.intermediate, c.hidden),
            out_ln: layer_norm(&vs / "output" / "LayerNorm", c.hidden),
            heads: c.heads,
            dropout: c.dropout,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let (b, n, d) = x.size3().expect("[B, L, D]");
        let hd = d / self.heads;
        let split = |t: Tensor| t.reshape([b, n, self.heads, hd]).transpose(1, 2);
        let (q, k, v) = (
            split(x.apply(&self.query)),
            split(x.apply(&self.key)),
            split(x.apply(&self.value)),
        );
        let att = (q.matmul(&k.transpose(-2, -1)) / (hd as f64).sqrt())
            .softmax(-1, Kind::Float)
            .dropout(self.dropout, train);
        let ctx = att.matmul(&v).transpose(1, 2).reshape([b, n, d]);
        let x = (ctx.apply(&self.attn_out).dropout(self.dropout, train) + x).apply(&self.attn_ln);
        let h = x.apply(&self.inter).gelu("none");
        (h.apply(&self.out).dropout(self.dropout, train) + x).apply(&self.out_ln)
    }
}

/// BERT: embeddings, encoder, and the (unused, but checkpointed) pooler.
#[derive(Debug)]
pub struct Bert {
    word: nn::Embedding,
    position: nn::Embedding,
    token_type: nn::Embedding,
    ln: nn::LayerNorm,
    layers: Vec<Layer>,
    _pooler: nn::Linear,
    dropout: f64,
}

impl Bert {
    /// Creates BERT under `vs` (use `root / "text_encoder"`).
    pub fn new(vs: nn::Path, c: &TextConfig) -> Bert {
        let emb = &vs / "embeddings";
        let e = |name: &str, n: i64, pad| bert_embedding(&emb / name, n, c.hidden, pad);
        let enc = &vs / "encoder" / "layer";
        Bert {
            word: e("word_embeddings", c.vocab_size, Some(PAD_ID)),
            position: e("position_embeddings", c.max_positions, None),
            token_type: e("token_type_embeddings", c.type_vocab, None),
            ln: layer_norm(&emb / "LayerNorm", c.hidden),
            layers: (0..c.layers)
                .map(|i| Layer::new(&enc / i.to_string(), c))
                .collect(),
            _pooler: bert_linear(&vs / "pooler" / "dense", c.hidden, c.hidden),
            dropout: c.dropout,
        }
    }

    /// Token states `[B, L, hidden]` of `ids` `[B, L]` (int64).
    pub fn forward_t(&self, ids: &Tensor, train: bool) -> Tensor {
        let (_, n) = ids.size2().expect("[B, L] ids");
        let pos = Tensor::arange(n, (Kind::Int64, ids.device())).unsqueeze(0);
        let types = ids.zeros_like();
        let x = (ids.apply(&self.word) + pos.apply(&self.position) + types.apply(&self.token_type))
            .apply(&self.ln)
            .dropout(self.dropout, train);
        self.layers.iter().fold(x, |x, l| l.forward_t(&x, train))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn pubmedbert_has_the_checkpoint_names_and_parameter_count() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let _b = Bert::new(vs.root() / "text_encoder", &TextConfig::pubmedbert());
        let vars = vs.variables();
        let total: i64 = vars.values().map(|t| t.numel() as i64).sum();
        assert_eq!(total, 109_482_240);
        for (name, shape) in [
            (
                "text_encoder.embeddings.word_embeddings.weight",
                vec![30522, 768],
            ),
            ("text_encoder.embeddings.LayerNorm.bias", vec![768]),
            (
                "text_encoder.encoder.layer.11.attention.self.query.weight",
                vec![768, 768],
            ),
            (
                "text_encoder.encoder.layer.0.attention.output.LayerNorm.weight",
                vec![768],
            ),
            (
                "text_encoder.encoder.layer.3.intermediate.dense.weight",
                vec![3072, 768],
            ),
            (
                "text_encoder.encoder.layer.3.output.dense.weight",
                vec![768, 3072],
            ),
            ("text_encoder.pooler.dense.bias", vec![768]),
        ] {
            assert_eq!(vars[name].size(), shape, "{name}");
        }
    }

    #[test]
    fn the_padding_row_gets_no_gradient_as_in_hugging_face() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let c = crate::model::ModelConfig::tiny().text;
        let b = Bert::new(vs.root() / "text_encoder", &c);
        let ids = Tensor::from_slice(&[2i64, 7, 3, 0, 0]).view([1, 5]);
        let out = b.forward_t(&ids, false);
        // A random readout: a plain sum of LayerNorm outputs has no gradient.
        (&out * out.randn_like()).sum(tch::Kind::Float).backward();
        let g = vs.variables()["text_encoder.embeddings.word_embeddings.weight"].grad();
        assert_eq!(g.get(0).abs().sum(tch::Kind::Float).double_value(&[]), 0.0);
        assert!(g.get(7).abs().sum(tch::Kind::Float).double_value(&[]) > 0.0);
    }
}
