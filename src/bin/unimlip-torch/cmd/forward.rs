//! `unimlip model forward`: the forward harness on safetensors in and out.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tch::{Device, Tensor, nn};
use unimlip_trainer::torch_message;
use unimlip_trainer::{ModelConfig, UniMlip};
use unimlip_trainer::{forward, load_weights};

use unimlip::cli::ForwardArgs;

pub fn run(a: ForwardArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = ModelConfig::load(&a.config).map_err(anyhow::Error::msg)?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = UniMlip::new(&vs, &config);
    let loaded = load_weights(&mut vs, &a.weights.display().to_string())
        .with_context(|| format!("model `{}`", a.config))?;
    let inputs: HashMap<String, Tensor> = Tensor::read_safetensors(&a.inputs)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot read inputs: {}",
                a.inputs.display(),
                torch_message(&e)
            )
        })?
        .into_iter()
        .collect();
    let outputs = forward(&model, &inputs, loaded.ssl_head)
        .with_context(|| a.inputs.display().to_string())?;
    let outputs: Vec<(String, Tensor)> = outputs
        .into_iter()
        .map(|(n, t)| (n, t.contiguous()))
        .collect();
    Tensor::write_safetensors(&outputs, &a.out)
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {}", a.out.display(), torch_message(&e)))?;
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    writeln!(out, "{}: {}", a.out.display(), names.join(", "))?;
    if !loaded.ssl_head {
        writeln!(
            out,
            "  note: the weights have no SimCLR head (image_mlp.*): loss_i2i skipped"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
