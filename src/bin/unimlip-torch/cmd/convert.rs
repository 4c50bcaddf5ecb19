//! `unimlip convert pmc-clip`: a PMC-CLIP `checkpoint.pt` to safetensors through the
//! environment's torch (the pickle format needs it), then checked by loading it into the model.

use std::io::Write;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use tch::{Device, nn};
use unimlip_trainer::torch_message;
use unimlip_trainer::{ModelConfig, UniMlip};

use unimlip::cli::ConvertArgs;

const CONVERT: &str = include_str!("../../../../python/convert_pmc_clip.py");
const ST_IO: &str = include_str!("../../../../python/st_io.py");

pub fn pmc_clip(a: ConvertArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if !a.input.is_file() {
        bail!("{}: no such file", a.input.display());
    }
    let config = ModelConfig::load(&a.config).map_err(anyhow::Error::msg)?;
    let python = a
        .python
        .clone()
        .or_else(|| std::env::var_os("UNIMLIP_TORCH_PYTHON").map(Into::into))
        .unwrap_or_else(|| "python3".into());
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    std::fs::write(dir.path().join("convert_pmc_clip.py"), CONVERT)?;
    std::fs::write(dir.path().join("st_io.py"), ST_IO)?;
    let run = Command::new(&python)
        .arg(dir.path().join("convert_pmc_clip.py"))
        .arg(&a.input)
        .arg(&a.output)
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
        bail!("{}: conversion failed: {line}", a.input.display());
    }
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
