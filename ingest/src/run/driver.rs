//! The ingest driver: dataset reader → image normaliser pool → shard writers → manifest.
//!
//! Records flow in the reader's deterministic order; images are read and normalised on worker
//! threads and handed back in order, so the shards are the same bytes whatever the number of
//! workers. Each finished shard is uploaded, then its journal entry; the manifest is written
//! last. Counts add up: every input ends in exactly one shard row or one quarantine entry.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use unimlip_shards::{
    FinishedShard, MANIFEST_PATH, Manifest, QUARANTINE_PATH, QuarantineEntry, QuarantineSummary,
    Record, SCHEMA_VERSION, ShardEntry, ShardWriter, SourceInfo, Store, WriterOptions,
    check_dataset, encode_quarantine, now_rfc3339,
};

use super::journal::{self, JOURNAL_DIR, JournalEntry, Kept};
use super::ordered::{ordered_map, pool_window};
use super::parts::{PartFile, Partition};
use crate::datasets::{Dataset, DatasetReader};
use crate::image::{ResizePolicy, normalize_guarded};
use crate::input::{Input, Pending};
use crate::source::{Fetch, Source};
use crate::{Error, Result};

/// Environment variable that makes an ingest abort (as if killed) after uploading this many
/// shards: the hook the crash-and-resume tests use.
pub const FAULT_ABORT_AFTER_SHARDS: &str = "UNIMLIP_FAULT_ABORT_AFTER_SHARDS";

/// Everything an ingest run needs to know.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Which dataset layout to read.
    pub dataset: Dataset,
    /// Source root: a folder or URL.
    pub src: String,
    /// Output dataset root URL.
    pub out: String,
    /// Image worker threads.
    pub workers: usize,
    /// Resize policy.
    pub resize: ResizePolicy,
    /// Shard and row-group sizes.
    pub writer: WriterOptions,
    /// Dataset-specific variant (PMC-OA: `splits`, `pmc_oa`, `pmc_oa_beta`).
    pub variant: Option<String>,
    /// Replace a committed dataset made from other inputs or options.
    pub overwrite: bool,
    /// Process only this part of the source; `ingest --commit` merges the parts.
    pub partition: Option<Partition>,
    /// Take the output's writer lease even from a live-looking or expired holder (one known
    /// to be gone).
    pub break_lease: bool,
}

/// Receives progress events; the CLI draws a progress bar from them.
pub trait Progress: Sync {
    /// A phase begins.
    fn phase(&self, _name: &str) {}
    /// `n` more input records are done.
    fn advance(&self, _n: u64) {}
}

/// No progress output.
pub struct Quiet;
impl Progress for Quiet {}

/// What an ingest run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestReport {
    /// The committed manifest.
    pub manifest: Manifest,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Shards kept from an earlier, interrupted run.
    pub reused_shards: u64,
    /// Input records processed by this run (not covered by reused shards).
    pub processed: u64,
    /// Image bytes read from the source by this run.
    pub source_bytes: u64,
    /// Images stored as they were.
    pub kept_original: u64,
    /// Images resized or re-encoded.
    pub reencoded: u64,
    /// Whether the output was already complete (nothing was done).
    pub already_complete: bool,
    /// Whether the manifest was committed (a partition run leaves a part file instead).
    pub committed: bool,
    /// Objects of an earlier commit of this same ingest that no longer verified and were
    /// redone (with the shards after them in their split).
    pub repaired: Vec<String>,
}

/// A worker's verdict on one input.
struct Outcome {
    result: std::result::Result<Record, QuarantineEntry>,
    source_bytes: u64,
    kept_original: bool,
}

/// Runs an ingest to completion (or resumes an interrupted one).
pub fn ingest(opts: &IngestOptions, progress: &dyn Progress) -> Result<IngestReport> {
    let start = Instant::now();
    let store = Store::open(&opts.out)?;
    let (lease_path, what) = match opts.partition {
        Some(p) => (
            format!("{JOURNAL_DIR}/lease-{}.json", p.tag()),
            format!("ingest part {}/{}", p.index + 1, p.count),
        ),
        None => (format!("{JOURNAL_DIR}/lease.json"), "ingest".to_string()),
    };
    let lease = super::lease::Lease::acquire(&store, &lease_path, &what, opts.break_lease)?;
    if let Some(root) = store.local_root() {
        unimlip_shards::durable::remove_stale_tmp(root);
    }
    let src = Source::open(&opts.src)?;
    let reader = opts.dataset.reader(&src, opts.variant.as_deref())?;
    progress.phase("hashing metadata");
    let files = reader.files();
    let listing = src.listing_hash(&files)?;
    let options = options_json(opts, reader.as_ref());
    let key = run_key(opts.dataset, &options, &listing);
    let journal_dir = match opts.partition {
        Some(p) => format!("{JOURNAL_DIR}/{}", p.tag()),
        None => JOURNAL_DIR.to_string(),
    };
    let journal_key = format!("{key}:{}", journal_dir);
    let mut repaired = Vec::new();
    match Manifest::load_opt(&store) {
        Ok(None) => {}
        Ok(Some(m)) if same_run(&m, opts.dataset, &options, &listing) => {
            // The same ingest, committed: keep it only if every shard it names still verifies;
            // otherwise un-commit and let the journal keep what verifies and redo the rest.
            progress.phase("verifying the committed shards");
            let checked = check_dataset(&store, &m)?;
            if checked.damaged.is_empty() {
                return Ok(done_report(m, start));
            }
            for d in &checked.damaged {
                tracing::warn!(
                    "{}: {} is damaged ({}): redoing it",
                    store.url(),
                    d.path,
                    d.reason
                );
            }
            repaired = checked.damaged.into_iter().map(|d| d.path).collect();
            store.delete(MANIFEST_PATH)?;
        }
        Err(e) if !matches!(e, unimlip_shards::Error::BadManifest { .. }) => return Err(e.into()),
        // A different or unreadable committed dataset is replaced only when asked to.
        _ if !opts.overwrite => {
            return Err(Error::OutputExists {
                url: store.url().to_string(),
            });
        }
        _ => store.delete(MANIFEST_PATH)?,
    }
    progress.phase("checking earlier shards");
    let kept = journal::load(&store, &journal_dir, &journal_key)?;
    let source = SourceInfo {
        root: src.describe(),
        listing_sha256: listing,
        files,
    };
    let mut run = Run::new(&store, opts, journal_key, journal_dir, kept)?;
    progress.phase("ingesting");
    run.stream(reader.as_ref(), &src, opts, progress)?;
    progress.phase("committing");
    lease.check_held()?;
    let (manifest, quarantine) = run.finish(opts, options, source, reader.label_names())?;
    match opts.partition {
        None => manifest.commit(&store)?,
        Some(partition) => {
            let part = PartFile {
                run_key: key,
                partition,
                manifest: manifest.clone(),
                quarantine,
            };
            store.put(
                &partition.path(),
                serde_json::to_vec_pretty(&part).expect("part serialises"),
            )?;
        }
    }
    Ok(IngestReport {
        manifest,
        seconds: start.elapsed().as_secs_f64(),
        reused_shards: run.reused,
        processed: run.processed,
        source_bytes: run.source_bytes,
        kept_original: run.kept_original,
        reencoded: run.reencoded,
        already_complete: false,
        committed: opts.partition.is_none(),
        repaired,
    })
}

fn same_run(m: &Manifest, dataset: Dataset, options: &serde_json::Value, listing: &str) -> bool {
    m.dataset == dataset.name()
        && &m.ingest_options == options
        && m.source.listing_sha256 == listing
}

fn done_report(manifest: Manifest, start: Instant) -> IngestReport {
    IngestReport {
        reused_shards: manifest.shards.len() as u64,
        manifest,
        seconds: start.elapsed().as_secs_f64(),
        processed: 0,
        source_bytes: 0,
        kept_original: 0,
        reencoded: 0,
        already_complete: true,
        committed: true,
        repaired: Vec::new(),
    }
}

fn options_json(opts: &IngestOptions, reader: &dyn DatasetReader) -> serde_json::Value {
    json!({
        "partitions": opts.partition.map_or(1, |p| p.count),
        "resize": opts.resize.to_string(),
        "row_group_bytes": opts.writer.row_group_bytes,
        "shard_bytes": opts.writer.shard_bytes,
        "zstd_level": opts.writer.zstd_level,
        "variant": opts.variant,
        "reader": reader.options(),
    })
}

fn run_key(dataset: Dataset, options: &serde_json::Value, listing: &str) -> String {
    let text = format!(
        "{}\n{}\n{options}\n{listing}\n{}",
        dataset.name(),
        SCHEMA_VERSION,
        env!("CARGO_PKG_VERSION")
    );
    hex::encode(Sha256::digest(text))
}

/// Per-split state of a run.
struct SplitState {
    writer: ShardWriter,
    /// Input records of this split consumed so far (kept shards included).
    consumed: u64,
    /// Rejections since the last shard was closed.
    pending: Vec<QuarantineEntry>,
}

struct Run<'a> {
    store: &'a Store,
    key: String,
    journal_dir: String,
    partition: Option<Partition>,
    spool: tempfile::TempDir,
    writer_opts: WriterOptions,
    splits: BTreeMap<String, SplitState>,
    /// Shards kept from an earlier run, per split: the next index to write.
    kept_shards: BTreeMap<String, u32>,
    ids: HashSet<String>,
    shards: Vec<JournalEntry>,
    reused: u64,
    processed: u64,
    source_bytes: u64,
    kept_original: u64,
    reencoded: u64,
    uploaded: u64,
    abort_after: Option<u64>,
}

impl<'a> Run<'a> {
    fn new(
        store: &'a Store,
        opts: &IngestOptions,
        key: String,
        journal_dir: String,
        kept: BTreeMap<String, Kept>,
    ) -> Result<Self> {
        // On a local store the spool sits beside the shards, so finished shards are renamed
        // into place instead of copied.
        // Elsewhere it is a scratch folder named after this process, which a later run removes
        // if this one is killed.
        let spool = match store.local_root() {
            Some(root) => {
                let parent = root.join(JOURNAL_DIR);
                std::fs::create_dir_all(&parent)
                    .map_err(|e| Error::read(parent.display().to_string(), e))?;
                tempfile::Builder::new()
                    .prefix(".spool-")
                    .tempdir_in(&parent)
                    .map_err(|e| Error::read(parent.display().to_string(), e))?
            }
            None => unimlip_shards::scratch::scratch_dir("spool")
                .map_err(|e| Error::read(std::env::temp_dir().display().to_string(), e))?,
        };
        let mut run = Run {
            store,
            key,
            journal_dir,
            partition: opts.partition,
            spool,
            writer_opts: opts.writer,
            splits: BTreeMap::new(),
            kept_shards: BTreeMap::new(),
            ids: HashSet::new(),
            shards: Vec::new(),
            reused: 0,
            processed: 0,
            source_bytes: 0,
            kept_original: 0,
            reencoded: 0,
            uploaded: 0,
            abort_after: std::env::var(FAULT_ABORT_AFTER_SHARDS)
                .ok()
                .and_then(|v| v.parse().ok()),
        };
        for (split, k) in kept {
            run.reused += k.entries.len() as u64;
            run.kept_shards
                .insert(split.clone(), k.entries.len() as u32);
            let consumed = k.inputs_through();
            run.ids.extend(k.ids);
            run.shards.extend(k.entries);
            run.split_state(&split).consumed = consumed;
        }
        Ok(run)
    }

    fn split_state(&mut self, split: &str) -> &mut SplitState {
        let first = self.kept_shards.get(split).copied().unwrap_or(0);
        let (spool, opts) = (self.spool.path().to_path_buf(), self.writer_opts);
        let stem = match self.partition {
            Some(p) => format!("{split}-{}", p.tag()),
            None => split.to_string(),
        };
        self.splits
            .entry(split.to_string())
            .or_insert_with(|| SplitState {
                writer: ShardWriter::new(split, first, &spool, opts).with_stem(&stem),
                consumed: 0,
                pending: Vec::new(),
            })
    }

    fn stream(
        &mut self,
        reader: &dyn DatasetReader,
        src: &Source,
        opts: &IngestOptions,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut skip: BTreeMap<String, u64> = self
            .splits
            .iter()
            .map(|(s, st)| (s.clone(), st.consumed))
            .collect();
        let part = self.partition;
        let mut seq = 0u64;
        let inputs = reader.inputs()?.filter(move |i| {
            seq += 1;
            match (i, part) {
                (Ok(input), Some(p)) => p.owns(seq - 1, input),
                _ => true,
            }
        });
        let inputs = inputs.filter(move |i| match i {
            Ok(input) => match skip.get_mut(input.split()) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            },
            Err(_) => true,
        });
        let resize = opts.resize;
        ordered_map(
            inputs,
            opts.workers,
            pool_window(resize, opts.workers),
            |input| process(input, src, resize),
            |outcome| {
                progress.advance(1);
                self.accept(outcome)
            },
        )
    }

    fn accept(&mut self, o: Outcome) -> Result<()> {
        self.processed += 1;
        self.source_bytes += o.source_bytes;
        let record = match o.result {
            Ok(r) if !self.ids.insert(r.id.clone()) => Err(duplicate(&r)),
            other => other,
        };
        match record {
            Ok(r) => {
                if o.kept_original {
                    self.kept_original += 1
                } else {
                    self.reencoded += 1
                }
                let split = r.split.clone();
                let state = self.split_state(&split);
                state.consumed += 1;
                if let Some(done) = state.writer.push(r)? {
                    self.upload(done)?;
                }
            }
            Err(q) => {
                let state = self.split_state(q.split.as_deref().unwrap_or(""));
                state.consumed += 1;
                state.pending.push(q);
            }
        }
        Ok(())
    }

    fn upload(&mut self, done: FinishedShard) -> Result<()> {
        let state = self
            .splits
            .get_mut(&done.entry.split)
            .expect("split has a writer");
        self.store.put_file_moving(&done.entry.path, &done.file)?;
        let j = JournalEntry {
            key: self.key.clone(),
            entry: done.entry,
            inputs_through: state.consumed,
            quarantine: std::mem::take(&mut state.pending),
        };
        journal::record(self.store, &self.journal_dir, &j)?;
        self.shards.push(j);
        self.uploaded += 1;
        if self.abort_after == Some(self.uploaded) {
            std::process::abort();
        }
        Ok(())
    }

    /// Closes the last shards and builds the manifest (committed by the caller) and the full
    /// quarantine list.
    fn finish(
        &mut self,
        opts: &IngestOptions,
        options: serde_json::Value,
        source: SourceInfo,
        labels: Vec<String>,
    ) -> Result<(Manifest, Vec<QuarantineEntry>)> {
        let mut tail = Vec::new();
        let names: Vec<String> = self.splits.keys().cloned().collect();
        for split in names {
            let spool = self.spool.path().to_path_buf();
            let st = self.splits.get_mut(&split).expect("listed");
            let w = std::mem::replace(
                &mut st.writer,
                ShardWriter::new(&split, 0, &spool, opts.writer),
            );
            if let Some(done) = w.finish()? {
                self.upload(done)?;
            }
            tail.append(&mut self.splits.get_mut(&split).expect("listed").pending);
        }
        self.shards.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
        let mut quarantine: Vec<QuarantineEntry> = self
            .shards
            .iter()
            .flat_map(|j| j.quarantine.clone())
            .collect();
        quarantine.extend(tail);
        let entries: Vec<ShardEntry> = self.shards.iter().map(|j| j.entry.clone()).collect();
        self.remove_stale(&entries)?;
        let summary = match self.partition {
            None => self.write_quarantine(&quarantine)?,
            Some(_) => summarise(&quarantine, None),
        };
        let manifest = Manifest {
            dataset: opts.dataset.name().to_string(),
            schema_version: SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: now_rfc3339(),
            ingest_options: options,
            source,
            label_names: labels,
            inputs: entries.iter().map(|e| e.rows).sum::<u64>() + quarantine.len() as u64,
            splits: Manifest::split_stats(&entries),
            shards: entries,
            quarantine: summary,
        };
        manifest.check()?;
        Ok((manifest, quarantine))
    }

    fn write_quarantine(&self, entries: &[QuarantineEntry]) -> Result<QuarantineSummary> {
        let mut by_reason = BTreeMap::new();
        for q in entries {
            *by_reason.entry(q.reason.clone()).or_insert(0) += 1;
        }
        self.store
            .put(QUARANTINE_PATH, encode_quarantine(entries)?)?;
        Ok(QuarantineSummary {
            path: Some(QUARANTINE_PATH.to_string()),
            rows: entries.len() as u64,
            by_reason,
        })
    }

    /// Removes shards and journal entries no longer part of the dataset.
    fn remove_stale(&self, entries: &[ShardEntry]) -> Result<()> {
        // A part touches only its own shards; a single run owns them all.
        let mine = |path: &str| {
            self.partition
                .is_none_or(|p| path.contains(&format!("-{}-", p.tag())))
        };
        let live: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        for l in self.store.list("shards")? {
            if mine(&l.path) && !live.contains(l.path.as_str()) {
                self.store.delete(&l.path)?;
            }
        }
        let live_j: HashSet<String> = entries
            .iter()
            .map(|e| journal::journal_path(&self.journal_dir, &e.path))
            .collect();
        for l in self.store.list(&self.journal_dir)? {
            if !live_j.contains(&l.path) && !journal::is_lease(&l.path) {
                self.store.delete(&l.path)?;
            }
        }
        Ok(())
    }
}

/// Counts per reason of rejected inputs.
pub(crate) fn summarise(entries: &[QuarantineEntry], path: Option<&str>) -> QuarantineSummary {
    let mut by_reason = BTreeMap::new();
    for q in entries {
        *by_reason.entry(q.reason.clone()).or_insert(0) += 1;
    }
    QuarantineSummary {
        path: path.map(str::to_string),
        rows: entries.len() as u64,
        by_reason,
    }
}

fn duplicate(r: &Record) -> QuarantineEntry {
    QuarantineEntry {
        source: r.source_path.clone().unwrap_or_default(),
        id: Some(r.id.clone()),
        split: Some(r.split.clone()),
        reason: "duplicate-id".into(),
        detail: format!("id `{}` already ingested", r.id),
    }
}

/// Reads and normalises one input's image (runs on a worker thread).
fn process(input: Input, src: &Source, resize: ResizePolicy) -> Outcome {
    let pending = match input {
        Input::Ready(p) => p,
        Input::Rejected(q) => {
            return Outcome {
                result: Err(q),
                source_bytes: 0,
                kept_original: false,
            };
        }
    };
    let Pending {
        mut record,
        image_path,
        mask_path,
    } = *pending;
    if let Some(Fetch::Bytes(m)) = mask_path.map(|p| src.fetch(&p)) {
        record.mask = Some(m);
    }
    let reject = |reason: &str, detail: String, record: &Record| QuarantineEntry {
        source: image_path.clone(),
        id: Some(record.id.clone()),
        split: Some(record.split.clone()),
        reason: reason.into(),
        detail,
    };
    let bytes = match src.fetch(&image_path) {
        Fetch::Bytes(b) => b,
        Fetch::Missing => {
            return Outcome {
                result: Err(reject("missing-image", "no such file".into(), &record)),
                source_bytes: 0,
                kept_original: false,
            };
        }
        Fetch::Escapes => {
            return Outcome {
                result: Err(reject(
                    "path-escape",
                    "path leaves the dataset root".into(),
                    &record,
                )),
                source_bytes: 0,
                kept_original: false,
            };
        }
        Fetch::Failed(e) => {
            return Outcome {
                result: Err(reject("unreadable-image", e, &record)),
                source_bytes: 0,
                kept_original: false,
            };
        }
    };
    let source_bytes = bytes.len() as u64;
    match normalize_guarded(bytes, resize) {
        Ok(n) => {
            record.image = n.bytes;
            record.image_info = n.info;
            Outcome {
                result: Ok(record),
                source_bytes,
                kept_original: n.kept_original,
            }
        }
        Err(r) => Outcome {
            result: Err(reject(r.reason, r.detail, &record)),
            source_bytes,
            kept_original: false,
        },
    }
}
