//! `unimlip convert`: published weights into the model's names. `pmc-clip`: a PMC-CLIP
//! `checkpoint.pt` through the environment's torch (the pickle format needs it), then checked by
//! loading it into the model. `hf-bert`: a Hugging Face BERT folder into the text tower's
//! `text_encoder.*` tensors, with its tokenizer and a model TOML beside them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use tch::{Device, Tensor, nn};
use unimlip_trainer::torch_message;
use unimlip_trainer::{ModelConfig, UniMlip, hf};

use unimlip::cli::{ConvertArgs, HfBertArgs};

const CONVERT: &str = include_str!("../../../../python/convert_pmc_clip.py");
const ST_IO: &str = include_str!("../../../../python/st_io.py");

/// The Python with torch: `--python`, else `$UNIMLIP_TORCH_PYTHON`, else `python3`.
pub(super) fn torch_python(flag: &Option<PathBuf>) -> PathBuf {
    flag.clone()
        .or_else(|| std::env::var_os("UNIMLIP_TORCH_PYTHON").map(Into::into))
        .unwrap_or_else(|| "python3".into())
}

/// Runs `script` (its source, with `st_io.py` beside it) with `args` in `python`; a failure
/// becomes one line: `what`, then the script's last line of standard error.
pub(super) fn run_script(
    python: &Path,
    name: &str,
    source: &str,
    args: &[&std::ffi::OsStr],
    what: &str,
) -> anyhow::Result<()> {
    let dir = unimlip_shards::scratch::scratch_dir("python")
        .context("cannot create a temporary folder")?;
    std::fs::write(dir.path().join(name), source)?;
    std::fs::write(dir.path().join("st_io.py"), ST_IO)?;
    let run = Command::new(python)
        .arg(dir.path().join(name))
        .args(args)
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (set --python or UNIMLIP_TORCH_PYTHON)",
                python.display()
            )
        })?;
    if !run.status.success() {
        let err = String::from_utf8_lossy(&run.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        bail!("{what}: {line}");
    }
    Ok(())
}

pub fn pmc_clip(a: ConvertArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if !a.input.is_file() {
        bail!("{}: no such file", a.input.display());
    }
    let config = ModelConfig::load(&a.config).map_err(anyhow::Error::msg)?;
    run_script(
        &torch_python(&a.python),
        "convert_pmc_clip.py",
        CONVERT,
        &[a.input.as_os_str(), a.output.as_os_str()],
        &format!("{}: conversion failed", a.input.display()),
    )?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _model = UniMlip::new(&vs, &config);
    let missing = vs.load_partial(&a.output).map_err(|e| {
        let _ = std::fs::remove_file(&a.output);
        anyhow::anyhow!(
            "{}: does not load into `{}`: {}",
            a.output.display(),
            a.config,
            torch_message(&e)
        )
    })?;
    let absent: Vec<&String> = missing
        .iter()
        .filter(|n| !n.starts_with("image_mlp."))
        .collect();
    if let Some(first) = absent.first() {
        let _ = std::fs::remove_file(&a.output);
        bail!(
            "{}: {} parameters of `{}` are missing (e.g. {first}); not a PMC-CLIP checkpoint of this model",
            a.input.display(),
            absent.len(),
            a.config
        );
    }
    writeln!(
        out,
        "{}: {} tensors; loads into `{}` ({} SimCLR-head tensors left to initialise)",
        a.output.display(),
        vs.variables().len() - missing.len(),
        a.config,
        missing.len()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `<stem>.<suffix>` beside `output`.
fn beside(output: &Path, suffix: &str) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "bert".into());
    output.with_file_name(format!("{stem}.{suffix}"))
}

pub fn hf_bert(a: HfBertArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if !a.dir.is_dir() {
        bail!("{}: no such folder", a.dir.display());
    }
    let base = ModelConfig::load(&a.model).map_err(anyhow::Error::msg)?;
    let given = hf::weights_file(&a.dir)?;
    let tmp = unimlip_shards::scratch::scratch_dir("convert")
        .context("cannot create a temporary folder")?;
    let mut weights = given.clone();
    if given.extension().is_some_and(|e| e == "bin") {
        weights = tmp.path().join("model.safetensors");
        run_script(
            &torch_python(&a.python),
            "convert_pmc_clip.py",
            CONVERT,
            &[given.as_os_str(), weights.as_os_str()],
            &format!("{}: cannot read", given.display()),
        )?;
    }
    // Errors name the folder's own file, not the temporary copy.
    let named = |e: unimlip_trainer::Error| {
        let text = e.to_string();
        anyhow::anyhow!(text.replace(&weights.display().to_string(), &given.display().to_string()))
    };
    let bert = hf::read(&a.dir, &weights).map_err(named)?;
    let mut model = base.clone();
    model.text = bert.config.clone();
    model.embed_dim = bert.config.hidden;
    model.context_length = model.context_length.min(bert.config.max_positions);
    // The tensors must load into the model the TOML describes.
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _m = UniMlip::new(&vs, &model);
    hf::copy_text(&mut vs, &bert.tensors, &given.display().to_string())?;

    let part = tmp.path().join("out.safetensors");
    Tensor::write_safetensors(&bert.tensors, &part)
        .map_err(|e| anyhow::anyhow!("{}: {}", a.output.display(), torch_message(&e)))?;
    move_into(&part, &a.output)?;
    let toml_path = beside(&a.output, "model.toml");
    std::fs::write(&toml_path, model.to_toml()).with_context(|| toml_path.display().to_string())?;
    let vocab = match &bert.vocab {
        Some(v) => {
            let dst = beside(&a.output, "vocab.txt");
            std::fs::copy(v, &dst).with_context(|| dst.display().to_string())?;
            dst.display().to_string()
        }
        None => "none (the folder has no vocab.txt)".into(),
    };
    let c = &bert.config;
    writeln!(
        out,
        "{}: {} tensors of a {}-layer, {}-wide BERT over {} tokens ({} of the folder left out: heads, buffers)\nmodel: {} (the image side of `{}`)\ntokenizer: {vocab}",
        a.output.display(),
        bert.tensors.len(),
        c.layers,
        c.hidden,
        c.vocab_size,
        bert.skipped,
        toml_path.display(),
        a.model
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Moves a finished temporary file to `dst` (a copy where a rename cannot cross file systems).
pub(super) fn move_into(src: &Path, dst: &Path) -> anyhow::Result<()> {
    if std::fs::rename(src, dst).is_ok() {
        return Ok(());
    }
    let part = dst.with_extension("part");
    std::fs::copy(src, &part).with_context(|| format!("cannot write {}", part.display()))?;
    std::fs::rename(&part, dst).with_context(|| format!("cannot write {}", dst.display()))
}
