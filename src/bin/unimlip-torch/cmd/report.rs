//! `unimlip report RUN_DIR…`: charts and one HTML page.

use std::io::Write;
use std::process::ExitCode;

use unimlip_evaluation::{read_run, write_report};

use unimlip::cli::ReportArgs;

pub fn run(a: ReportArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let runs = a
        .runs
        .iter()
        .map(|d| read_run(d))
        .collect::<Result<Vec<_>, _>>()?;
    let dir = a.out.unwrap_or_else(|| a.runs[0].join("report"));
    let page = write_report(&runs, a.samples.as_deref(), &dir)?;
    writeln!(out, "report: {}", page.display())?;
    Ok(ExitCode::SUCCESS)
}
