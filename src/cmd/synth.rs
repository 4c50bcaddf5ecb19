//! `unimlip synth`.

use std::io::Write;
use std::process::ExitCode;

use unimlip_ingest::{Dataset, synth};

use crate::cli::SynthArgs;

pub fn run(a: SynthArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let dataset = Dataset::parse(&a.dataset)?;
    let report = synth::synth(dataset, &a.out, a.n, a.seed)?;
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
