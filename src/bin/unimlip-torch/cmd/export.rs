//! `unimlip export`: trained weights for other tools. `safetensors`: the plain tensors with the
//! model's names. `pmc-clip`: a `torch.save` file in the layout PMC-CLIP's code loads, through
//! the environment's torch (the pickle format needs it).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;
use tch::{Device, Kind, Tensor, nn};
use unimlip_shards::Store;
use unimlip_trainer::{ModelConfig, Trained, UniMlip, load_weights, torch_message};

use super::convert::{move_into, run_script, torch_python};
use unimlip::cli::ExportArgs;

const EXPORT: &str = include_str!("../../../../python/export_pmc_clip.py");

/// The model's variables, where they came from, and the epoch the run had reached (0 for a
/// weights file).
struct Source {
    vs: nn::VarStore,
    model: String,
    epoch: i64,
}

fn open(a: &ExportArgs) -> anyhow::Result<Source> {
    if a.input.ends_with(".safetensors") {
        let name = a.config.as_deref().unwrap_or("rn50-pubmedbert");
        let config = ModelConfig::load(name).map_err(anyhow::Error::msg)?;
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _model = UniMlip::new(&vs, &config);
        load_weights(&mut vs, &a.input)
            .with_context(|| format!("{} is not a `{name}` weights file", a.input))?;
        return Ok(Source {
            vs,
            model: name.to_string(),
            epoch: 0,
        });
    }
    if a.config.is_some() {
        bail!("--config is for a weights file; a run folder records its own model");
    }
    let t = Trained::from_run(&a.input, Device::Cpu).with_context(|| {
        format!(
            "{}: not a run folder with a checkpoint (or give a weights.safetensors)",
            unimlip_shards::redact_url(&a.input)
        )
    })?;
    Ok(Source {
        epoch: run_epoch(&t.weights).unwrap_or(0),
        vs: t.vs,
        model: unimlip_shards::redact_url(&a.input),
    })
}

/// The epoch a checkpoint folder's `state.json` records, if any.
fn run_epoch(checkpoint: &str) -> Option<i64> {
    let store = Store::open_existing(checkpoint).ok()?;
    let state: serde_json::Value = serde_json::from_slice(&store.get("state.json").ok()?).ok()?;
    state["extra"]["epoch"].as_i64()
}

/// Every variable of `vs` by name, sorted, in float32 where floating.
fn tensors(vs: &nn::VarStore, keep: impl Fn(&str) -> bool) -> Vec<(String, Tensor)> {
    let mut all: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| keep(n))
        .map(|(n, t)| {
            let t = if t.is_floating_point() {
                t.to_kind(Kind::Float)
            } else {
                t
            };
            (n, t.detach())
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn write_tensors(all: &[(String, Tensor)], path: &Path) -> anyhow::Result<()> {
    Tensor::write_safetensors(all, path)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), torch_message(&e)))
}

pub fn safetensors(a: ExportArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let src = open(&a)?;
    let all = tensors(&src.vs, |_| true);
    let tmp = unimlip_shards::scratch::scratch_dir("export")
        .context("cannot create a temporary folder")?;
    let part = tmp.path().join("weights.safetensors");
    write_tensors(&all, &part)?;
    move_into(&part, &a.output)?;
    writeln!(
        out,
        "{}: {} tensors of `{}`",
        a.output.display(),
        all.len(),
        src.model
    )?;
    Ok(ExitCode::SUCCESS)
}

/// PMC-CLIP's optimiser groups (its `main.py`): no decay for gains, biases, BN and LayerNorm
/// parameters and the logit scale, decay for the rest; returns how many fall in each.
fn pmc_groups(vs: &nn::VarStore, keep: &impl Fn(&str) -> bool) -> (usize, usize) {
    let mut names: Vec<(String, usize)> = vs
        .variables()
        .into_iter()
        .filter(|(n, t)| keep(n) && t.requires_grad())
        .map(|(n, t)| (n, t.dim()))
        .collect();
    names.sort();
    let exclude = |n: &str, dim: usize| {
        dim < 2
            || ["bn", "ln", "bias", "logit_scale"]
                .iter()
                .any(|w| n.contains(w))
    };
    let no_decay = names.iter().filter(|(n, d)| exclude(n, *d)).count();
    (no_decay, names.len() - no_decay)
}

pub fn pmc_clip(a: ExportArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let src = open(&a)?;
    let ssl = a.ssl_head;
    let keep = move |n: &str| ssl || !n.starts_with("image_mlp.");
    let all = tensors(&src.vs, keep);
    let (no_decay, decay) = pmc_groups(&src.vs, &keep);
    let tmp = unimlip_shards::scratch::scratch_dir("export")
        .context("cannot create a temporary folder")?;
    let weights = tmp.path().join("weights.safetensors");
    write_tensors(&all, &weights)?;
    let meta = tmp.path().join("meta.json");
    let name = Path::new(&src.model)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| src.model.clone());
    let m = json!({
        "epoch": src.epoch,
        "name": name,
        "groups": [no_decay, decay],
    });
    std::fs::write(&meta, m.to_string())?;
    let part = tmp.path().join("checkpoint.pt");
    run_script(
        &torch_python(&a.python),
        "export_pmc_clip.py",
        EXPORT,
        &[weights.as_os_str(), meta.as_os_str(), part.as_os_str()],
        &format!("{}: export failed", a.output.display()),
    )?;
    move_into(&part, &a.output)?;
    writeln!(
        out,
        "{}: {} tensors of `{}` as PMC-CLIP's state_dict (`module.` names{}), epoch {}, an AdamW of {} + {} parameters with fresh moments",
        a.output.display(),
        all.len(),
        src.model,
        if ssl { ", the SimCLR head kept" } else { "" },
        src.epoch,
        no_decay,
        decay
    )?;
    Ok(ExitCode::SUCCESS)
}
