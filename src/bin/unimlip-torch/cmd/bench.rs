//! `unimlip bench step`: one training step timed on a fixed batch.

use std::io::Write;
use std::process::ExitCode;

use tch::Device;
use unimlip::cli::BenchStepArgs;
use unimlip_trainer::{AdamWKernel, DeviceConfig, StepBench, bench_step};

pub fn step(a: BenchStepArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let kernel = match a.adamw.as_str() {
        "fused" => AdamWKernel::Fused,
        "ops" => AdamWKernel::Ops,
        other => anyhow::bail!("--adamw {other}: expected fused or ops"),
    };
    let device = parse_device(a.device.as_deref())?;
    let b = StepBench {
        model: a.model.clone(),
        batch: a.batch,
        steps: a.steps,
        warmup: a.warmup,
        kernel,
        device_config: DeviceConfig {
            channels_last: !a.no_channels_last,
            cudnn_benchmark: !a.no_cudnn_benchmark,
        },
        device,
        dump: a.dump.clone(),
        seed: a.seed,
    };
    let t = bench_step(&b)?;
    if a.json {
        let mut v = serde_json::to_value(&t)?;
        v["model"] = a.model.into();
        v["batch"] = a.batch.into();
        v["adamw"] = a.adamw.into();
        v["device"] = format!("{device:?}").into();
        v["threads"] = tch::get_num_threads().into();
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "{} batch {} on {device:?} ({} threads), AdamW {}: median step {:.1} ms ({:.1} samples/s) over {} steps; loss {:.4}",
            a.model,
            a.batch,
            tch::get_num_threads(),
            a.adamw,
            t.median * 1e3,
            t.samples_per_s,
            t.times.len(),
            t.loss
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `cpu`, `cuda`, `cuda:N`, or the first GPU when there is one.
fn parse_device(s: Option<&str>) -> anyhow::Result<Device> {
    match s {
        None => Ok(unimlip_trainer::device()),
        Some("cpu") => Ok(Device::Cpu),
        Some("cuda") => Ok(Device::Cuda(0)),
        Some(s) => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Ok(Device::Cuda(i)),
            _ => anyhow::bail!("--device {s}: expected cpu, cuda or cuda:N"),
        },
    }
}
