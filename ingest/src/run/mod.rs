//! Running an ingest: the driver (reader → normaliser pool → shard writers → manifest), the
//! resume journal, scale-out parts and their commit, the ordered parallel map, and the
//! write-nothing decode pass `bench decode` measures.

mod decode;
mod driver;
mod journal;
mod lease;
mod ordered;
mod parts;

pub use decode::{DecodeCounts, decode_files, image_files};
pub use driver::{FAULT_ABORT_AFTER_SHARDS, IngestOptions, IngestReport, Progress, Quiet, ingest};
pub use journal::JOURNAL_DIR;
pub use ordered::{default_window, ordered_map, pool_window};
pub use parts::{PARTS_DIR, PartFile, Partition, commit_parts};
