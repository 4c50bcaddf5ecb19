//! Hugging Face BERT weights in: a `save_pretrained` folder (`config.json`, `model.safetensors`,
//! `vocab.txt`) becomes the model's `text_encoder.*` tensors, as PMC-CLIP starts its text tower
//! from PubMedBERT. `pytorch_model.bin` needs torch's unpickler: the CLI converts it to
//! safetensors first and hands that file here.
//!
//! Names: Hugging Face's `bert.` prefix (a `BertForMaskedLM` or `BertForPreTraining` folder)
//! goes, TensorFlow-era `LayerNorm.gamma` / `.beta` become `.weight` / `.bias` as
//! `transformers` renames them, and the pre-training heads (`cls.*`) and the `position_ids`
//! buffer are left out. Only what this tower computes is accepted: absolute positions, exact
//! (erf) GELU, LayerNorm ε = 1e-12.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tch::{Tensor, nn};

use crate::model::TextConfig;
use crate::{Error, Result};

/// The prefix of the text tower's parameters in the model.
pub const TEXT_PREFIX: &str = "text_encoder.";

/// A Hugging Face BERT folder read into the text tower's names.
#[derive(Debug)]
pub struct HfBert {
    /// The tower's shape, from `config.json` (dropout: `hidden_dropout_prob`).
    pub config: TextConfig,
    /// `text_encoder.*` tensors, float32, sorted by name.
    pub tensors: Vec<(String, Tensor)>,
    /// Tensors of the folder left out (heads, buffers), for the report.
    pub skipped: usize,
    /// The folder's `vocab.txt`, when it has one.
    pub vocab: Option<PathBuf>,
}

/// The weight file of a folder: `model.safetensors`, else `pytorch_model.bin` (which needs
/// converting first), else an error naming both.
pub fn weights_file(dir: &Path) -> Result<PathBuf> {
    for name in ["model.safetensors", "pytorch_model.bin"] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Config(format!(
        "{}: no model.safetensors or pytorch_model.bin (not a Hugging Face model folder)",
        dir.display()
    )))
}

/// Reads `dir/config.json` into a [`TextConfig`], refusing what this tower cannot compute.
pub fn read_config(dir: &Path) -> Result<TextConfig> {
    let path = dir.join("config.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    text_config(&v).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

fn text_config(v: &Value) -> std::result::Result<TextConfig, String> {
    let int = |k: &str| {
        v[k].as_i64()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{k}` is missing or not a positive integer"))
    };
    let text = |k: &str, default: &str| v[k].as_str().unwrap_or(default).to_string();
    let model_type = text("model_type", "bert");
    if model_type != "bert" {
        return Err(format!(
            "model_type is `{model_type}`; only `bert` converts"
        ));
    }
    let act = text("hidden_act", "gelu");
    if act != "gelu" {
        return Err(format!(
            "hidden_act is `{act}`; the text tower computes exact (erf) `gelu` only"
        ));
    }
    let pos = text("position_embedding_type", "absolute");
    if pos != "absolute" {
        return Err(format!(
            "position_embedding_type is `{pos}`; only `absolute` converts"
        ));
    }
    let eps = v["layer_norm_eps"].as_f64().unwrap_or(1e-12);
    if (eps - 1e-12).abs() > 1e-15 {
        return Err(format!(
            "layer_norm_eps is {eps}; the text tower's LayerNorm uses 1e-12"
        ));
    }
    let (hidden, heads) = (int("hidden_size")?, int("num_attention_heads")?);
    if hidden % heads != 0 {
        return Err(format!(
            "hidden_size {hidden} is not a multiple of num_attention_heads {heads}"
        ));
    }
    Ok(TextConfig {
        vocab_size: int("vocab_size")?,
        hidden,
        layers: int("num_hidden_layers")?,
        heads,
        intermediate: int("intermediate_size")?,
        max_positions: int("max_position_embeddings")?,
        type_vocab: int("type_vocab_size")?,
        dropout: v["hidden_dropout_prob"].as_f64().unwrap_or(0.1),
    })
}

/// The model's name for a Hugging Face tensor name, or None for one the tower has no use for.
pub fn model_name(hf: &str) -> Option<String> {
    let name = hf.strip_prefix("bert.").unwrap_or(hf);
    if name.starts_with("cls.") || name.ends_with("position_ids") {
        return None;
    }
    if !["embeddings.", "encoder.", "pooler."]
        .iter()
        .any(|p| name.starts_with(p))
    {
        return None;
    }
    let name = match name.strip_suffix(".gamma") {
        Some(stem) if stem.ends_with("LayerNorm") => format!("{stem}.weight"),
        _ => match name.strip_suffix(".beta") {
            Some(stem) if stem.ends_with("LayerNorm") => format!("{stem}.bias"),
            _ => name.to_string(),
        },
    };
    Some(format!("{TEXT_PREFIX}{name}"))
}

/// Reads the folder `dir`, its weights from `weights` (a safetensors file: the folder's own, or
/// its `pytorch_model.bin` converted), and checks every tensor against the shapes the config
/// implies, so that a mismatch is named here and not deep inside a load.
pub fn read(dir: &Path, weights: &Path) -> Result<HfBert> {
    let config = read_config(dir)?;
    let all = Tensor::read_safetensors(weights).map_err(|e| Error::Tensors {
        path: weights.display().to_string(),
        cause: crate::torch_message(&e),
    })?;
    let mut all = all;
    // Checked in name order, so that a mismatch names the same tensor on every run.
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = expected_shapes(&config);
    let mut tensors = Vec::new();
    let mut skipped = 0;
    for (hf, t) in all {
        let Some(name) = model_name(&hf) else {
            skipped += 1;
            continue;
        };
        let Some(shape) = expected.iter().find(|(n, _)| *n == name).map(|(_, s)| s) else {
            return Err(Error::Mismatch(format!(
                "{}: `{hf}` has no place in a BERT of this config.json",
                weights.display()
            )));
        };
        if t.size() != *shape {
            return Err(Error::Mismatch(format!(
                "{}: `{hf}` is {:?}, config.json implies {shape:?}",
                weights.display(),
                t.size()
            )));
        }
        tensors.push((name, t.to_kind(tch::Kind::Float)));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let missing: Vec<&String> = expected
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !n.contains(".pooler.") && tensors.iter().all(|(m, _)| m != *n))
        .collect();
    if let Some(first) = missing.first() {
        return Err(Error::Mismatch(format!(
            "{}: {} tensors of the BERT encoder are missing, e.g. {first}",
            weights.display(),
            missing.len()
        )));
    }
    let vocab = Some(dir.join("vocab.txt")).filter(|p| p.is_file());
    Ok(HfBert {
        config,
        tensors,
        skipped,
        vocab,
    })
}

/// Every `text_encoder.*` parameter of a tower of config `c`, with its shape.
fn expected_shapes(c: &TextConfig) -> Vec<(String, Vec<i64>)> {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let _tower = crate::model::Bert::new(vs.root() / "text_encoder", c);
    vs.variables()
        .into_iter()
        .map(|(n, t)| (n, t.size()))
        .collect()
}

/// Copies the `text_encoder.*` tensors of `path` (a converted safetensors file) into `vs`;
/// every encoder tensor of the model must be there with its shape (the pooler may be absent:
/// a `BertModel` saved without it). Returns how many tensors were copied.
pub fn load_text(vs: &mut nn::VarStore, path: &Path) -> Result<usize> {
    let mut tensors = Tensor::read_safetensors(path).map_err(|e| Error::Tensors {
        path: path.display().to_string(),
        cause: crate::torch_message(&e),
    })?;
    // The file's order is not kept by the reader: name order makes errors repeatable.
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    copy_text(vs, &tensors, &path.display().to_string())
}

/// Starts the text tower in `vs` from `path`: a Hugging Face BERT folder (its
/// `model.safetensors`) or a file `unimlip convert hf-bert` wrote. A folder holding only
/// `pytorch_model.bin` needs converting first (torch's pickle format). Returns how many tensors
/// were copied.
pub fn load_init_text(vs: &mut nn::VarStore, path: &str) -> Result<usize> {
    let p = Path::new(path);
    if !p.is_dir() {
        return load_text(vs, p);
    }
    let weights = weights_file(p)?;
    if weights.extension().is_some_and(|e| e == "bin") {
        return Err(Error::Config(format!(
            "{}: only pytorch_model.bin (torch's pickle format): convert it first with \
             `unimlip convert hf-bert {path} OUT.safetensors` and set init_text to OUT.safetensors",
            weights.display()
        )));
    }
    let bert = read(p, &weights)?;
    copy_text(vs, &bert.tensors, &weights.display().to_string())
}

/// As [`load_text`], from tensors in memory (`from` names them in errors).
pub fn copy_text(vs: &mut nn::VarStore, tensors: &[(String, Tensor)], from: &str) -> Result<usize> {
    let vars = vs.variables();
    let mut copied = 0;
    for (name, t) in tensors {
        if !name.starts_with(TEXT_PREFIX) {
            continue;
        }
        let Some(v) = vars.get(name) else {
            return Err(Error::Mismatch(format!(
                "{from}: `{name}` is not a parameter of the model's text tower"
            )));
        };
        if v.size() != t.size() {
            return Err(Error::Mismatch(format!(
                "{from}: `{name}` is {:?}, the model's text tower has {:?} (set the model's \
                 [text] to the converted folder's config)",
                t.size(),
                v.size()
            )));
        }
        let mut v = v.shallow_clone();
        tch::no_grad(|| v.copy_(t));
        copied += 1;
    }
    let missing = vars
        .keys()
        .filter(|n| n.starts_with(TEXT_PREFIX) && !n.contains(".pooler."))
        .filter(|n| tensors.iter().all(|(m, _)| m != *n))
        .count();
    if missing > 0 || copied == 0 {
        return Err(Error::Mismatch(format!(
            "{from}: {missing} tensors of the model's text tower are not in the file (not a \
             converted BERT of this shape)"
        )));
    }
    Ok(copied)
}

/// The `[text]` table of a model TOML for `c`: written beside a converted file so a model
/// config can take the tower's shape from it.
pub fn text_toml(c: &TextConfig) -> String {
    #[derive(serde::Serialize)]
    struct Table<'a> {
        text: &'a TextConfig,
    }
    toml::to_string(&Table { text: c }).expect("a text config serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_names_map_onto_the_tower() {
        for (hf, want) in [
            (
                "bert.embeddings.word_embeddings.weight",
                Some("text_encoder.embeddings.word_embeddings.weight"),
            ),
            (
                "encoder.layer.3.attention.self.query.bias",
                Some("text_encoder.encoder.layer.3.attention.self.query.bias"),
            ),
            (
                "bert.encoder.layer.0.output.LayerNorm.gamma",
                Some("text_encoder.encoder.layer.0.output.LayerNorm.weight"),
            ),
            (
                "embeddings.LayerNorm.beta",
                Some("text_encoder.embeddings.LayerNorm.bias"),
            ),
            (
                "pooler.dense.weight",
                Some("text_encoder.pooler.dense.weight"),
            ),
            ("cls.predictions.bias", None),
            ("bert.embeddings.position_ids", None),
            ("classifier.weight", None),
        ] {
            assert_eq!(model_name(hf).as_deref(), want, "{hf}");
        }
    }

    fn bert_json(extra: &str) -> Value {
        serde_json::from_str(&format!(
            r#"{{"model_type": "bert", "vocab_size": 100, "hidden_size": 32,
                "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
                "max_position_embeddings": 40, "type_vocab_size": 2,
                "hidden_dropout_prob": 0.1{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn config_json_becomes_the_tower_shape() {
        let c = text_config(&bert_json("")).unwrap();
        assert_eq!((c.vocab_size, c.hidden, c.layers, c.heads), (100, 32, 2, 4));
        assert_eq!((c.intermediate, c.max_positions, c.type_vocab), (64, 40, 2));
        let back: toml::Value = toml::from_str(&text_toml(&c)).unwrap();
        assert_eq!(back["text"]["hidden"].as_integer(), Some(32));
    }

    #[test]
    fn what_the_tower_cannot_compute_is_refused_by_name() {
        for (extra, word) in [
            (r#", "hidden_act": "relu""#, "hidden_act"),
            (r#", "position_embedding_type": "relative_key""#, "position"),
            (r#", "layer_norm_eps": 1e-5"#, "layer_norm_eps"),
            (r#", "model_type": "roberta""#, "model_type"),
            (r#", "num_attention_heads": 5"#, "multiple"),
        ] {
            let e = text_config(&bert_json(extra)).unwrap_err();
            assert!(e.contains(word), "{extra}: {e}");
        }
        let mut v = bert_json("");
        v.as_object_mut().unwrap().remove("hidden_size");
        assert!(text_config(&v).unwrap_err().contains("hidden_size"));
    }

    #[test]
    fn a_converted_tower_loads_and_a_wrong_shape_is_named() {
        let _rng = crate::rng_lock();
        let c = text_config(&bert_json("")).unwrap();
        let src = nn::VarStore::new(tch::Device::Cpu);
        let _a = crate::model::Bert::new(src.root() / "text_encoder", &c);
        let tensors: Vec<(String, Tensor)> = src.variables().into_iter().collect();
        let mut dst = nn::VarStore::new(tch::Device::Cpu);
        let _b = crate::model::Bert::new(dst.root() / "text_encoder", &c);
        assert_eq!(copy_text(&mut dst, &tensors, "t").unwrap(), tensors.len());
        for (n, t) in &tensors {
            assert!(dst.variables()[n].equal(t), "{n}");
        }
        let wide = TextConfig { hidden: 64, ..c };
        let mut other = nn::VarStore::new(tch::Device::Cpu);
        let _c = crate::model::Bert::new(other.root() / "text_encoder", &wide);
        let e = copy_text(&mut other, &tensors, "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("the model's text tower has"), "{e}");
    }

    #[test]
    fn a_wrong_shape_names_the_first_tensor_by_name_on_every_read() {
        let _rng = crate::rng_lock();
        let d = tempfile::tempdir().unwrap();
        let c = text_config(&bert_json("")).unwrap();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _t = crate::model::Bert::new(vs.root() / "bert", &c);
        let named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        let file = d.path().join("model.safetensors");
        Tensor::write_safetensors(&named, &file).unwrap();
        // A config whose intermediate size differs: both FFN matrices mismatch, and the error
        // names layer 0's `intermediate.dense.bias` (the first in name order) every time, however
        // the reader orders the file's tensors.
        let json = bert_json("")
            .to_string()
            .replace("\"intermediate_size\":64", "\"intermediate_size\":48");
        std::fs::write(d.path().join("config.json"), json).unwrap();
        for _ in 0..8 {
            let e = read(d.path(), &file).err().unwrap().to_string();
            assert!(
                e.contains("`bert.encoder.layer.0.intermediate.dense.bias`"),
                "{e}"
            );
        }
    }
}
