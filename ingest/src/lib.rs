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
mod ingest;
mod input;
mod journal;
mod jpeg;
mod normalize;
mod parts;
mod pngdec;
mod pool;
mod report;
mod source;
pub mod synth;
mod table;

pub use datasets::{
    CHEXPERT_LABELS, Dataset, DatasetReader, NIH_LABELS, mimic_image_path, nih_labels,
};
pub use error::{Error, Result};
pub use ingest::{FAULT_ABORT_AFTER_SHARDS, IngestOptions, IngestReport, Progress, Quiet, ingest};
pub use input::{Input, Pending};
pub use journal::JOURNAL_DIR;
pub use normalize::{MAX_PIXELS, Normalized, Rejection, ResizePolicy, normalize, sniff};
pub use parts::{PARTS_DIR, PartFile, Partition, commit_parts};
pub use pool::{default_window, ordered_map};
pub use report::{Sections, sections};
pub use source::{Fetch, Source};
