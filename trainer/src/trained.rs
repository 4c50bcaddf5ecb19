//! A trained model for evaluation: from a run folder (its `run.json` names the model and the
//! tokenizer it copied; the weights are the newest checkpoint's) or from a weights file with an
//! explicit model and tokenizer (e.g. converted PMC-CLIP weights).

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Device, nn};
use unimlip_shards::Store;

use crate::model::{ModelConfig, UniMlip};
use crate::text::TextTokenizer;
use crate::{Error, Result};

/// Whether a weights file had the SimCLR head (`image_mlp.*`), the one part that may be missing:
/// PMC-CLIP's checkpoints (and `convert pmc-clip`) have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedWeights {
    /// The SimCLR head was in the file.
    pub ssl_head: bool,
}

/// Loads safetensors weights into `vs`; every tensor of the model must be there except the
/// SimCLR head, which then keeps its fresh initialisation.
pub fn load_weights(vs: &mut nn::VarStore, path: &str) -> Result<LoadedWeights> {
    let missing = vs.load_partial(path).map_err(|e| Error::Tensors {
        path: path.to_string(),
        cause: crate::torch_message(&e),
    })?;
    let bad: Vec<&String> = missing
        .iter()
        .filter(|n| !n.starts_with("image_mlp."))
        .collect();
    if let Some(first) = bad.first() {
        return Err(Error::Mismatch(format!(
            "{path}: {} parameters of the model are missing, e.g. {first}",
            bad.len()
        )));
    }
    Ok(LoadedWeights {
        ssl_head: missing.is_empty(),
    })
}

/// What a run folder records about itself (`run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// The model's sizes.
    pub model: ModelConfig,
    /// The tokenizer file, relative to the run folder.
    pub tokenizer: String,
    /// The training config as given.
    pub train: serde_json::Value,
}

const RUN_INFO: &str = "run.json";

/// Writes `run.json` and a copy of the tokenizer file into the run folder.
pub fn write_run_info(
    run: &Store,
    model: &ModelConfig,
    tokenizer: &str,
    train: serde_json::Value,
) -> Result<()> {
    let name = Path::new(tokenizer)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "vocab.txt".into());
    let rel = format!("tokenizer/{name}");
    let bytes = std::fs::read(tokenizer).map_err(|e| Error::io(tokenizer, e))?;
    run.put(&rel, bytes)?;
    let info = RunInfo {
        model: model.clone(),
        tokenizer: rel,
        train,
    };
    run.put(
        RUN_INFO,
        serde_json::to_vec_pretty(&info).expect("run info serialises"),
    )?;
    Ok(())
}

/// A model ready for evaluation.
#[derive(Debug)]
pub struct Trained {
    /// The model's sizes.
    pub config: ModelConfig,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
    /// The variables (for fine-tuning).
    pub vs: nn::VarStore,
    /// The model.
    pub model: UniMlip,
    /// Where the weights came from.
    pub weights: String,
    /// Keeps downloaded files alive.
    _tmp: tempfile::TempDir,
}

impl Trained {
    /// Loads the newest checkpoint of the run folder at `url` onto `device`.
    pub fn from_run(url: &str, device: Device) -> Result<Trained> {
        let run = Store::open_existing(url)?;
        let info: RunInfo = serde_json::from_slice(&run.get(RUN_INFO)?).map_err(|e| {
            Error::Mismatch(format!(
                "{}/{RUN_INFO}: {e}",
                unimlip_shards::redact_url(url)
            ))
        })?;
        let checkpoints = Store::open_existing(&crate::checkpoint::checkpoints_url(url))?;
        let dir = crate::checkpoint::latest_dir(&checkpoints)?
            .ok_or_else(|| Error::Mismatch(format!("{}: no checkpoint yet", checkpoints.url())))?;
        let tmp =
            unimlip_shards::scratch::scratch_dir("eval").map_err(|e| Error::io("<tempdir>", e))?;
        let fetch = |rel: &str| -> Result<String> {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            let p = tmp.path().join(name);
            std::fs::write(&p, run.get(rel)?).map_err(|e| Error::io(&p, e))?;
            Ok(p.display().to_string())
        };
        let tok = fetch(&info.tokenizer)?;
        let weights = fetch(&format!("checkpoints/{dir}/weights.safetensors"))?;
        let mut t = Trained::build(info.model, &tok, &weights, device, tmp)?;
        t.weights = format!("{}/checkpoints/{dir}", run.url());
        Ok(t)
    }

    /// Loads `weights` (safetensors) into the model `model` (preset or TOML) with `tokenizer`;
    /// only the SimCLR head may be missing.
    pub fn from_files(
        model: &str,
        tokenizer: &str,
        weights: &str,
        device: Device,
    ) -> Result<Trained> {
        let config = ModelConfig::load(model).map_err(Error::Config)?;
        let tmp =
            unimlip_shards::scratch::scratch_dir("eval").map_err(|e| Error::io("<tempdir>", e))?;
        Trained::build(config, tokenizer, weights, device, tmp)
    }

    fn build(
        config: ModelConfig,
        tokenizer: &str,
        weights: &str,
        device: Device,
        tmp: tempfile::TempDir,
    ) -> Result<Trained> {
        let tokenizer = TextTokenizer::from_file(tokenizer, config.context_length as usize)
            .map_err(Error::Config)?;
        let mut vs = nn::VarStore::new(device);
        let model = UniMlip::new(&vs, &config);
        load_weights(&mut vs, weights)?;
        Ok(Trained {
            config,
            tokenizer,
            vs,
            model,
            weights: weights.to_string(),
            _tmp: tmp,
        })
    }
}
