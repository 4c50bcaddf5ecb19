//! Building a loader from command-line flags (shared by `bench loader` and `inspect --sample`).

use anyhow::{Context, bail};
use unimlip_loader::{CacheConfig, LaneDigits, LoaderConfig, Pipeline, SourceSpec};

use crate::cli::LoaderArgs;
use crate::fmt::parse_size;

/// A source from `URL` or `URL@WEIGHT`.
pub fn source(data: &str, a: &LoaderArgs) -> anyhow::Result<SourceSpec> {
    let (url, weight) = match data.rsplit_once('@') {
        Some((u, w)) if !u.is_empty() && w.parse::<f64>().is_ok() => {
            (u, w.parse::<f64>().expect("checked"))
        }
        _ => (data, 1.0),
    };
    if !(weight.is_finite() && weight > 0.0) {
        bail!("--data {data}: the weight must be a positive number");
    }
    let split_file = match &a.split_file {
        None => None,
        Some(s) => {
            let (name, part) = s
                .split_once(':')
                .with_context(|| format!("--split-file {s}: expected NAME:PART"))?;
            Some((name.to_string(), part.to_string()))
        }
    };
    Ok(SourceSpec {
        url: url.to_string(),
        name: None,
        splits: a.split.clone(),
        split_file,
        weight,
    })
}

/// The loader configuration the flags describe.
pub fn config(
    data: &[String],
    a: &LoaderArgs,
    batch_size: usize,
    threads: Option<usize>,
) -> anyhow::Result<LoaderConfig> {
    let pipeline = Pipeline::preset(&a.pipeline).with_context(|| {
        format!(
            "--pipeline {}: expected rrc-flip, unimlip, unimlip-tensor or eval",
            a.pipeline
        )
    })?;
    let sources = data
        .iter()
        .map(|d| source(d, a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut c = LoaderConfig::new(sources, pipeline, batch_size);
    c.seed = a.seed;
    if let Some(t) = threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        c.threads = t;
    }
    c.verify = !a.no_verify;
    c.order.digits = LaneDigits::parse(&a.lane_digits).with_context(|| {
        format!(
            "--lane-digits {}: expected twos-first or three-first",
            a.lane_digits
        )
    })?;
    if let Some(dir) = &a.cache {
        c.cache = Some(CacheConfig {
            dir: dir.clone(),
            max_bytes: parse_size(&a.cache_size)?,
        });
    }
    Ok(c)
}
