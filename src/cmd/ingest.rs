//! `unimlip ingest`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use unimlip_ingest::{
    Dataset, IngestOptions, IngestReport, Partition, ResizePolicy, commit_parts, ingest,
};
use unimlip_shards::{Store, WriterOptions};

use crate::cli::IngestArgs;
use crate::fmt::{bytes, parse_size};
use crate::progress::Bar;

pub fn run(a: IngestArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if a.commit {
        return commit(&a, out);
    }
    let opts = options(&a)?;
    let bar = Bar::new();
    let report = ingest(&opts, &bar);
    bar.finish();
    let report = report.with_context(|| {
        format!(
            "ingest of {} from {}",
            opts.dataset.name(),
            unimlip_shards::redact_url(&opts.src)
        )
    })?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        summary(&report, opts.workers, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn options(a: &IngestArgs) -> anyhow::Result<IngestOptions> {
    let workers = match a.workers {
        Some(0) => anyhow::bail!("invalid option --workers: must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let writer = WriterOptions {
        row_group_bytes: parse_size(&a.row_group_size).context("--row-group-size")?,
        shard_bytes: parse_size(&a.shard_size).context("--shard-size")?,
        ..WriterOptions::default()
    };
    Ok(IngestOptions {
        dataset: Dataset::parse(a.dataset.as_deref().unwrap_or_default())?,
        src: a.src.clone().unwrap_or_default(),
        out: a.out.clone(),
        workers,
        resize: a.resize.parse::<ResizePolicy>()?,
        writer,
        variant: a.variant.clone(),
        overwrite: a.overwrite,
        partition: a
            .partition
            .as_deref()
            .map(str::parse::<Partition>)
            .transpose()?,
    })
}

fn commit(a: &IngestArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let store = Store::open(&a.out)?;
    let m =
        commit_parts(&store).with_context(|| format!("commit of the parts in {}", store.url()))?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&m)?)?;
    } else {
        writeln!(
            out,
            "committed {}: {} rows, {} quarantined, {} shards",
            m.dataset,
            m.rows(),
            m.quarantine.rows,
            m.shards.len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(r: &IngestReport, workers: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    let m = &r.manifest;
    let total: u64 = m.shards.iter().map(|s| s.bytes).sum();
    if !r.committed {
        writeln!(
            out,
            "part done: {} rows, {} quarantined in {} shards ({:.1} s); run `unimlip ingest --commit --out URL` once every part is done",
            m.rows(),
            m.quarantine.rows,
            m.shards.len(),
            r.seconds
        )?;
        return Ok(());
    }
    if r.already_complete {
        writeln!(
            out,
            "{} is already complete: {} rows in {} shards; nothing to do",
            m.dataset,
            m.rows(),
            m.shards.len()
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "ingested {}: {} inputs → {} rows, {} quarantined; {} shards ({} reused), {} in {:.1} s",
        m.dataset,
        m.inputs,
        m.rows(),
        m.quarantine.rows,
        m.shards.len(),
        r.reused_shards,
        bytes(total),
        r.seconds
    )?;
    let splits: Vec<String> = m
        .splits
        .iter()
        .map(|(k, v)| format!("{k} {}", v.rows))
        .collect();
    writeln!(out, "  rows per split: {}", splits.join(", "))?;
    if !m.quarantine.by_reason.is_empty() {
        let q: Vec<String> = m
            .quarantine
            .by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(out, "  quarantined by reason: {}", q.join(", "))?;
    }
    let secs = r.seconds.max(1e-9);
    writeln!(
        out,
        "  {:.1} images/s, {:.1} MB/s of source images read, {} workers; {} kept as is, {} re-encoded",
        r.processed as f64 / secs,
        r.source_bytes as f64 / secs / 1e6,
        workers,
        r.kept_original,
        r.reencoded
    )?;
    Ok(())
}
