//! `unimlip synth`.

use std::io::Write;

use anyhow::Context;
use std::process::ExitCode;

use unimlip_ingest::{Dataset, synth};

use crate::cli::SynthArgs;

pub fn run(a: SynthArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let dataset = Dataset::parse(&a.dataset)?;
    let report = match &a.image_size {
        None => synth::synth(dataset, &a.out, a.n, a.seed)?,
        Some(range) => {
            anyhow::ensure!(
                dataset == Dataset::PmcOa,
                "--image-size writes benchmark inputs in the pmc-oa layout only"
            );
            let (lo, hi) = range
                .split_once('-')
                .context("--image-size: expected LO-HI")?;
            let sizes = (
                lo.parse().context("--image-size LO")?,
                hi.parse().context("--image-size HI")?,
            );
            let formats = a
                .formats
                .split(',')
                .map(synth::BenchFormat::parse)
                .collect::<Result<Vec<_>, _>>()?;
            synth::write_bench(&a.out, a.n, a.seed, sizes, &formats)?
        }
    };
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let quarantined: u64 = report.expected_quarantine.values().sum();
    writeln!(
        out,
        "wrote synthetic {} to {}: {} records, {} images ({} planted to be quarantined)",
        report.dataset,
        a.out.display(),
        report.records,
        report.images,
        quarantined
    )?;
    Ok(ExitCode::SUCCESS)
}
