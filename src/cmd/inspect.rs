//! `unimlip inspect`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use unimlip_shards::{Manifest, Store, Verified, check_dataset};

use crate::cli::InspectArgs;
use crate::fmt::bytes;

pub fn run(a: InspectArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if let (Some(n), Some(dir)) = (a.sample, &a.out) {
        return write_samples(&a, n, dir, out);
    }
    let store = Store::open_existing(&a.url)?;
    let m = Manifest::load(&store).with_context(|| format!("cannot inspect {}", store.url()))?;
    if let Some(dir) = &a.html {
        let page = super::page::write(&store, &m, dir, a.thumbnails)?;
        writeln!(
            out,
            "wrote {}: {} thumbnails from {} splits, {} quarantine rows ({} with a thumbnail)",
            dir.join("index.html").display(),
            page.thumbnails,
            m.splits.len(),
            page.quarantine_rows,
            page.quarantine_thumbnails
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let verified = if a.verify {
        Some(check_dataset(&store, &m))
    } else {
        None
    };
    if a.json {
        writeln!(out, "{}", summary_json(&m, verified.as_ref()))?;
    } else {
        table(&m, out)?;
        if let Some(v) = &verified {
            match v {
                Ok(v) if v.damaged.is_empty() => writeln!(
                    out,
                    "verified {} shards ({}) and the quarantine table in {:.1} s",
                    v.shards,
                    bytes(v.bytes),
                    v.seconds
                )?,
                Ok(v) => {
                    for d in &v.damaged {
                        writeln!(out, "DAMAGED {}: {}", d.path, d.reason)?;
                    }
                }
                Err(e) => writeln!(out, "VERIFY FAILED: {e:#}")?,
            }
        }
    }
    match verified {
        Some(Err(e)) => {
            Err(anyhow::Error::new(e).context(format!("verification of {} failed", store.url())))
        }
        Some(Ok(v)) if !v.damaged.is_empty() => {
            let list: Vec<String> = v
                .damaged
                .iter()
                .map(|d| format!("{} ({})", d.path, d.reason))
                .collect();
            anyhow::bail!(
                "verification of {} failed: {} damaged in a dataset of {} shards (re-running the same ingest repairs it): {}",
                store.url(),
                v.damaged.len(),
                v.shards,
                list.join("; ")
            )
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn summary_json(
    m: &Manifest,
    verified: Option<&unimlip_shards::Result<Verified>>,
) -> serde_json::Value {
    let splits: serde_json::Map<String, serde_json::Value> = m
        .splits
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!({"rows": v.rows, "shards": v.shards, "bytes": v.bytes}),
            )
        })
        .collect();
    let mut v = json!({
        "dataset": m.dataset,
        "schema_version": m.schema_version,
        "tool_version": m.tool_version,
        "created_at": m.created_at,
        "rows": m.rows(),
        "inputs": m.inputs,
        "splits": splits,
        "shards": m.shards.len(),
        "bytes": m.shards.iter().map(|s| s.bytes).sum::<u64>(),
        "quarantined": m.quarantine.rows,
        "quarantined_by_reason": m.quarantine.by_reason,
        "label_names": m.label_names,
        "ingest_options": m.ingest_options,
        "source": m.source,
    });
    match verified {
        Some(Ok(r)) => {
            v["verified"] = json!(r.damaged.is_empty());
            v["damaged"] = r
                .damaged
                .iter()
                .map(|d| json!({"path": d.path, "reason": d.reason}))
                .collect();
        }
        Some(Err(e)) => {
            v["verified"] = json!(false);
            v["verify_error"] = json!(format!("{e:#}"));
        }
        None => {}
    }
    v
}

fn table(m: &Manifest, out: &mut dyn Write) -> anyhow::Result<()> {
    let total: u64 = m.shards.iter().map(|s| s.bytes).sum();
    writeln!(
        out,
        "dataset   {} (schema v{}, unimlip {}, committed {})",
        m.dataset, m.schema_version, m.tool_version, m.created_at
    )?;
    writeln!(
        out,
        "source    {} ({} metadata files, sha256 {:.12})",
        m.source.root,
        m.source.files.len(),
        m.source.listing_sha256
    )?;
    writeln!(
        out,
        "rows      {} of {} inputs, {} shards, {}",
        m.rows(),
        m.inputs,
        m.shards.len(),
        bytes(total)
    )?;
    writeln!(
        out,
        "{:<14} {:>10} {:>7} {:>12}",
        "split", "rows", "shards", "bytes"
    )?;
    for (name, s) in &m.splits {
        writeln!(
            out,
            "{name:<14} {:>10} {:>7} {:>12}",
            s.rows,
            s.shards,
            bytes(s.bytes)
        )?;
    }
    let q: Vec<String> = m
        .quarantine
        .by_reason
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(
        out,
        "quarantined {}{}",
        m.quarantine.rows,
        if q.is_empty() {
            String::new()
        } else {
            format!(": {}", q.join(", "))
        }
    )?;
    let labels = if m.label_names.is_empty() {
        "(none)".to_string()
    } else {
        m.label_names.join(", ")
    };
    writeln!(out, "labels    {labels}")?;
    Ok(())
}

/// `--sample N --out DIR`: the first N samples of epoch 0, every view as a PNG, and
/// `samples.json` with what each file shows.
fn write_samples(
    a: &InspectArgs,
    n: usize,
    dir: &std::path::Path,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(n > 0, "--sample must be at least 1");
    let config = super::loader::config(std::slice::from_ref(&a.url), &a.loader, 1, None)?;
    let names: Vec<String> = config
        .pipeline
        .views
        .iter()
        .map(|v| v.name.clone())
        .collect();
    let loader = unimlip_loader::Loader::open(config)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut listed = Vec::new();
    for (i, batch) in loader.stream(&loader.start(0), 0, 1)?.take(n).enumerate() {
        let b = batch?;
        let s = &b.samples()[0];
        let mut files = Vec::new();
        for (v, name) in names.iter().enumerate() {
            let file = format!("{i:04}-{name}.png");
            write_png(&dir.join(&file), b.side(v), b.image(0, v))?;
            files.push(file);
        }
        listed.push(json!({
            "index": i,
            "position": s.position,
            "id": s.id(),
            "caption": s.caption(),
            "labels": s.labels(),
            "replaced": s.replaced(),
            "files": files,
        }));
    }
    let path = dir.join("samples.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&listed)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(
        out,
        "wrote {} samples × {} views ({}) to {}",
        listed.len(),
        names.len(),
        names.join(", "),
        dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn write_png(path: &std::path::Path, side: u32, rgb: &[u8]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), side, side);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(rgb)?;
    Ok(())
}
