//! Dataset ingest for unimlip: one reader per published layout, a parallel image normaliser and
//! the driver that writes checksummed shards and commits the manifest.
//!
//! ```no_run
//! use unimlip_ingest::{Dataset, IngestOptions, Quiet, ResizePolicy, ingest};
//! let opts = IngestOptions {
//!     dataset: Dataset::parse("roco")?,
//!     src: "/data/roco-dataset".into(),
//!     out: "s3://bucket/roco".into(),
//!     workers: 8,
//!     resize: ResizePolicy::default(),
//!     writer: Default::default(),
//!     variant: None,
//!     overwrite: false,
//!     partition: None,
//!     break_lease: false,
//! };
//! let report = ingest(&opts, &Quiet)?;
//! println!("{} rows", report.manifest.rows());
//! # Ok::<(), unimlip_ingest::Error>(())
//! ```
//!
//! `synth` writes small datasets in the same layouts, with the real quirks planted, for tests
//! and demos.
//!
//! # Why read the source twice for a resumed run?
//! It does not: the journal under `_ingest/` records how many input records each finished shard
//! covers, so a re-run skips those records without reading their images.

mod datasets;
mod error;
mod image;
mod input;
mod run;
mod source;
pub mod synth;

pub use datasets::{
    CHEXPERT_LABELS, Dataset, DatasetReader, NIH_LABELS, Sections, mimic_image_path, nih_labels,
    sections,
};
pub use error::{Error, Result};
pub use image::{
    DEFAULT_IMAGE_MEMORY, MAX_PIXELS, Normalized, Rejection, ResizePolicy, image_memory, normalize,
    normalize_guarded, set_image_memory, sniff,
};
pub use input::{Input, Pending};
pub use run::{
    DecodeCounts, FAULT_ABORT_AFTER_SHARDS, IngestOptions, IngestReport, JOURNAL_DIR, PARTS_DIR,
    PartFile, Partition, Progress, Quiet, commit_parts, decode_files, default_window, image_files,
    ingest, ordered_map, pool_window,
};
pub use source::{Fetch, Source};
