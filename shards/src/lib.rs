//! The unimlip data format: versioned, checksummed Parquet shards on object storage.
//!
//! A dataset root holds `manifest.json` (written last: the commit point), the shards under
//! `shards/<split>-<NNNNN>.parquet` and `quarantine.parquet`. Every shard has the Arrow
//! [`schema`] of version [`SCHEMA_VERSION`]; its size, SHA-256 and row-group row counts are in
//! the [`Manifest`], and readers verify what they read against it.
//!
//! ```
//! use unimlip_shards::{Store, Manifest};
//! let store = Store::open("memory://doc-example/ds").unwrap();
//! assert!(Manifest::load_opt(&store).unwrap().is_none());
//! ```
//!
//! # Why not one Parquet file per dataset?
//! Shards of a few hundred MiB let many ranks and workers read disjoint parts in parallel, let an
//! interrupted ingest keep the shards it finished, and keep any one upload small enough to
//! retry.

mod batch;
pub mod durable;
mod error;
mod manifest;
pub mod plan;
mod quarantine;
mod record;
mod scan;
mod schema;
pub mod scratch;
mod segments;
pub mod splits;
mod store;
mod verify;
mod writer;

pub use batch::{batch_to_records, records_to_batch};
pub use error::{Error, Result};
pub use manifest::{
    MANIFEST_PATH, Manifest, QUARANTINE_PATH, QuarantineSummary, ShardEntry, ShardHash, SourceInfo,
    SplitStats, now_rfc3339,
};
pub use quarantine::{QuarantineEntry, decode_quarantine, encode_quarantine};
pub use record::{ImageFormat, ImageInfo, QaItem, Record};
pub use scan::{MetaRow, scan_meta};
pub use schema::{QA_FIELDS, SCHEMA_VERSION, col, schema};
pub use store::{
    DEFAULT_IO_TIMEOUT, IO_TIMEOUT_ENV, Listed, MULTIPART_THRESHOLD_ENV, Store, io_timeout,
    redact_url, set_io_timeout,
};
pub use verify::{
    Damaged, Verified, check_dataset, check_shard, fetch_verified, read_shard, sha256_hex,
    verify_dataset, verify_shard_bytes,
};
pub use writer::{
    FinishedShard, ShardWriter, WriterOptions, footer_start, row_group_range, shard_path,
};
