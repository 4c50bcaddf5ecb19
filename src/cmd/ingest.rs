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

/// Workers per core beyond which `--workers` is refused.
const MAX_WORKERS_PER_CORE: usize = 16;

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
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = match a.workers {
        Some(0) => anyhow::bail!("invalid option --workers: must be at least 1"),
        Some(n) if n > MAX_WORKERS_PER_CORE * cores => anyhow::bail!(
            "invalid option --workers {n}: at most {} on this machine ({MAX_WORKERS_PER_CORE} per core; each worker holds images in flight)",
            MAX_WORKERS_PER_CORE * cores
        ),
        Some(n) => n,
        None => cores,
    };
    unimlip_ingest::set_image_memory(parse_size(&a.image_memory).context("--image-memory")?);
    let writer = WriterOptions {
        row_group_bytes: parse_size(&a.row_group_size).context("--row-group-size")?,
        shard_bytes: parse_size(&a.shard_size).context("--shard-size")?,
        ..WriterOptions::default()
    };
    anyhow::ensure!(
        writer.row_group_bytes > 0 && writer.shard_bytes >= writer.row_group_bytes,
        "invalid options --shard-size {} and --row-group-size {}: a shard holds whole row groups, so it must be at least one row group",
        a.shard_size,
        a.row_group_size
    );
    Ok(IngestOptions {
        dataset: Dataset::parse(a.dataset.as_deref().unwrap_or_default())?,
        src: a.src.clone().unwrap_or_default(),
        out: a.out.clone(),
        workers,
        resize: a.resize.parse::<ResizePolicy>()?,
        writer,
        variant: a.variant.clone(),
        overwrite: a.overwrite,
        break_lease: a.break_lease,
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
            "{} is already complete: {} rows in {} shards, every shard verified; nothing to do",
            m.dataset,
            m.rows(),
            m.shards.len()
        )?;
        return Ok(());
    }
    if !r.repaired.is_empty() {
        writeln!(
            out,
            "repaired the committed dataset: {} damaged ({}) redone",
            r.repaired.len(),
            r.repaired.join(", ")
        )?;
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
