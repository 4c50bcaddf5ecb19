//! `unimlip bench loader`: stream shards through the real reader and pool, report samples/s.
//! `unimlip bench decode`: validate and resize a folder of images as ingest does, write nothing.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;
use sha2::{Digest, Sha256};
use unimlip_ingest::{ResizePolicy, decode_files, image_files};
use unimlip_loader::Loader;

use crate::cli::{BenchDecodeArgs, BenchLoaderArgs};

pub fn loader(a: BenchLoaderArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = super::loader::config(&a.data, &a.loader, a.batch_size, a.threads)?;
    let threads = config.threads;
    let t_open = Instant::now();
    let loader = Loader::open(config)?;
    let epoch_len = loader.order(0).len();
    // Without --samples: the rest of epoch 0 (whole batches); with it, on into later epochs.
    let want = a.samples.unwrap_or(u64::MAX);
    let mut cursor = loader.start(0);
    cursor.position = a.position;
    let mut digest = Sha256::new();
    let (mut got, mut first_batch_s) = (0u64, None);
    // After the first batch: the rate once the pipeline is full, as the peers are timed.
    let mut after_first: Option<(Instant, u64)> = None;
    let t0 = Instant::now();
    'outer: while got < want {
        let stream = loader.stream(&cursor, 0, 1)?;
        let mut any = false;
        for batch in stream {
            let b = batch?;
            any = true;
            first_batch_s.get_or_insert_with(|| t_open.elapsed().as_secs_f64());
            if a.digest {
                for s in b.samples() {
                    digest.update(s.id().as_bytes());
                    digest.update(s.position.to_le_bytes());
                }
                for v in 0..b.views() {
                    digest.update(b.view(v));
                }
            }
            got += b.len() as u64;
            after_first.get_or_insert_with(|| (Instant::now(), got));
            cursor = b.cursor.clone();
            if got >= want {
                break 'outer;
            }
        }
        anyhow::ensure!(any, "the dataset yields no full batch of {}", a.batch_size);
        if a.samples.is_none() {
            break;
        }
        cursor = loader.start(cursor.epoch + 1);
    }
    let secs = t0.elapsed().as_secs_f64();
    let rate = got as f64 / secs.max(1e-9);
    let steady = after_first.map(|(t, n)| (got - n) as f64 / t.elapsed().as_secs_f64().max(1e-9));
    let summary = loader.summary();
    let report = json!({
        "pipeline": a.loader.pipeline,
        "samples": got,
        "seconds": secs,
        "samples_per_s": rate,
        "threads": threads,
        "samples_per_s_per_thread": rate / threads as f64,
        "batch_size": a.batch_size,
        "first_batch_s": first_batch_s,
        "steady_samples_per_s": steady,
        "epoch_samples": epoch_len,
        "sequence_sha256": a.digest.then(|| hex::encode(digest.finalize())),
        "cursor": cursor,
        "stages": summary,
    });
    if a.json {
        writeln!(out, "{report}")?;
    } else {
        writeln!(
            out,
            "{} samples in {secs:.2} s: {rate:.1} samples/s, {:.1} per thread ({threads} threads, pipeline {})",
            got,
            rate / threads as f64,
            a.loader.pipeline
        )?;
        writeln!(
            out,
            "first batch after {:.3} s",
            first_batch_s.unwrap_or(f64::NAN)
        )?;
        writeln!(out, "{summary}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn decode(a: BenchDecodeArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let policy: ResizePolicy = a.resize.parse()?;
    unimlip_ingest::set_image_memory(anyhow::Context::context(
        crate::fmt::parse_size(&a.image_memory),
        "--image-memory",
    )?);
    let workers = a
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let files = image_files(&a.dir)?;
    anyhow::ensure!(
        !files.is_empty(),
        "no .jpg, .jpeg or .png file under {}",
        a.dir.display()
    );
    let c = decode_files(&files, policy, workers)?;
    let (images, secs) = (c.images, c.seconds);
    let rate = images as f64 / secs.max(1e-9);
    if a.json {
        let report = json!({
            "images": images,
            "seconds": secs,
            "images_per_s": rate,
            "workers": workers,
            "images_per_s_per_worker": rate / workers as f64,
            "resize": policy.to_string(),
            "source_bytes": c.source_bytes,
            "kept_original": c.kept,
            "reencoded": c.reencoded,
            "rejected": c.rejected,
        });
        writeln!(out, "{report}")?;
    } else {
        writeln!(
            out,
            "{images} images in {secs:.2} s: {rate:.1} images/s, {:.1} per worker ({workers} workers, resize {policy})",
            rate / workers as f64
        )?;
        let bad: u64 = c.rejected.values().sum();
        writeln!(
            out,
            "kept as is {}, re-encoded {}, rejected {bad}",
            c.kept, c.reencoded
        )?;
        for (reason, n) in &c.rejected {
            writeln!(out, "  {reason}: {n}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
