//! `unimlip train`: one run from a TOML config, resumable.

use std::io::Write;
use std::process::ExitCode;

use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use serde_json::json;
use unimlip_loader::SourceSpec;
use unimlip_trainer::{RunOptions, Silent, StepProgress, ThreadPlan, TrainConfig, train};

use crate::progress::StepBar;
use unimlip::cli::TrainArgs;

pub fn run(a: TrainArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if let Some(n) = a.nproc
        && std::env::var_os("WORLD_SIZE").is_none()
    {
        if n == 0 {
            bail!("--nproc 0: at least one rank is needed");
        }
        return launch(n);
    }
    let mut cfg = TrainConfig::load(&a.config).map_err(anyhow::Error::msg)?;
    if !a.data.is_empty() {
        cfg.data.sources = sources(&a.data, &cfg.data.sources)?;
    }
    if let Some(o) = a.out {
        cfg.out = o;
    }
    if let Some(n) = a.threads {
        anyhow::ensure!(n > 0, "--threads must be at least 1");
        cfg.data.threads = Some(n);
        tch::set_num_threads(n as i32);
    }
    let mut plan = None;
    if a.threads.is_none() && std::env::var_os("WORLD_SIZE").is_none() {
        // One process: the loader from the cores free now (ranks share a machine by design).
        let p = unimlip_trainer::ThreadPlan::now();
        cfg.data.threads.get_or_insert(p.loader);
        plan = Some(p);
    }
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    let opts = RunOptions {
        resume: a.resume,
        stop_after: a.stop_after,
        dist_timeout_s: a.dist_timeout,
        backend: a.backend.clone(),
    };
    let s = match a.json {
        true => train(&cfg, &opts, &Noted(&Silent, plan))?,
        false => train(&cfg, &opts, &Noted(&StepBar::new(), plan))?,
    };
    let last = s.last.clone().unwrap_or(serde_json::Value::Null);
    let summary = json!({
        "out": unimlip_shards::redact_url(&cfg.out),
        "step": s.step,
        "total_steps": s.total_steps,
        "samples": s.samples,
        "seconds": s.seconds,
        "samples_per_s": if s.seconds > 0.0 { s.samples as f64 / s.seconds } else { 0.0 },
        "last": last,
        "eval": s.eval,
    });
    if a.json {
        writeln!(out, "{summary}")?;
    } else {
        writeln!(
            out,
            "step {}/{}  loss {:.4}  {:.1} samples/s  → {}",
            s.step,
            s.total_steps,
            last["loss"].as_f64().unwrap_or(f64::NAN),
            summary["samples_per_s"].as_f64().unwrap_or(0.0),
            summary["out"].as_str().unwrap_or("")
        )?;
        if let Some(r) = s.eval {
            writeln!(
                out,
                "held-out retrieval ({} pairs): image→text R@1 {:.3}, text→image R@1 {:.3} (chance {:.3})",
                r.pairs, r.i2t_r1, r.t2i_r1, r.chance
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts `n` copies of this command as ranks 0..n (torchrun's variables set, `--nproc` left
/// out), passes rank 0's standard output through, and stops them all as soon as one fails.
fn launch(n: u32) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program to start its ranks")?;
    let mut args: Vec<String> = Vec::new();
    let mut skip = false;
    for arg in std::env::args().skip(1) {
        if skip {
            skip = false;
        } else if arg == "--nproc" {
            skip = true;
        } else if !arg.starts_with("--nproc=") {
            args.push(arg);
        }
    }
    let addr = std::env::var("MASTER_ADDR").unwrap_or_else(|_| "127.0.0.1".into());
    let port = match std::env::var("MASTER_PORT") {
        Ok(p) => p,
        Err(_) => std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
            .to_string(),
    };
    let mut children = Vec::new();
    for rank in 0..n {
        let child = Command::new(&exe)
            .args(&args)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", n.to_string())
            .env("LOCAL_WORLD_SIZE", n.to_string())
            .env("MASTER_ADDR", &addr)
            .env("MASTER_PORT", &port)
            .stdout(if rank == 0 {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .with_context(|| format!("cannot start rank {rank}"))?;
        children.push(child);
    }
    loop {
        let mut running = 0;
        for (rank, c) in children.iter_mut().enumerate() {
            match c.try_wait()? {
                None => running += 1,
                Some(s) if s.success() => {}
                Some(s) => {
                    for other in children.iter_mut() {
                        let _ = other.kill();
                        let _ = other.wait();
                    }
                    bail!("rank {rank} of {n} failed ({s}); the other ranks were stopped");
                }
            }
        }
        if running == 0 {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `--data URL[@WEIGHT]…` in place of the config's sources, keeping the first source's split
/// selection.
fn sources(data: &[String], old: &[SourceSpec]) -> anyhow::Result<Vec<SourceSpec>> {
    let template = old.first().cloned().unwrap_or_else(|| SourceSpec::new(""));
    data.iter()
        .map(|d| {
            let (url, weight) = match d.rsplit_once('@') {
                Some((u, w)) if !u.is_empty() && w.parse::<f64>().is_ok() => {
                    (u, w.parse::<f64>().expect("checked"))
                }
                _ => (d.as_str(), 1.0),
            };
            if !(weight.is_finite() && weight > 0.0) {
                bail!("--data {d}: the weight must be a positive number");
            }
            Ok(SourceSpec {
                url: url.to_string(),
                name: None,
                weight,
                ..template.clone()
            })
        })
        .collect()
}

/// A progress hook that logs the thread plan once the run has opened (so that a bad config
/// still gets one line), then reports as `0` does.
struct Noted<'a>(&'a dyn StepProgress, Option<ThreadPlan>);

impl StepProgress for Noted<'_> {
    fn begin(&self, step: i64, total: i64) {
        match self.1 {
            Some(p) if p.busy > 0 => tracing::warn!("{}", p.describe()),
            Some(p) => tracing::info!("{}", p.describe()),
            None => {}
        }
        self.0.begin(step, total);
    }

    fn step(&self, step: i64, line: &serde_json::Value) {
        self.0.step(step, line);
    }

    fn end(&self) {
        self.0.end();
    }
}
