//! Streaming reader over unimlip shards, with exact and elastic resume, and the lock-free
//! augmentation pool.
//!
//! A [`Loader`] opens one or more datasets (mixed by weight, optionally filtered by a split
//! file) and streams, for rank `r` of `W`, the batches of an epoch from any [`Cursor`]:
//!
//! ```no_run
//! use unimlip_loader::{Loader, LoaderConfig, Pipeline, SourceSpec};
//! let config = LoaderConfig::new(vec![SourceSpec::new("s3://bucket/roco")], Pipeline::unimlip(), 256);
//! let loader = Loader::open(config)?;
//! let mut cursor = loader.start(0);
//! for batch in loader.stream(&cursor, 0, 1)? {
//!     let batch = batch?;
//!     let weak = batch.view(0); // 256 × 224 × 224 × 3 bytes
//!     cursor = batch.cursor.clone(); // save this with the checkpoint
//! }
//! # Ok::<(), unimlip_loader::Error>(())
//! ```
//!
//! The order is [`unimlip_shards::plan`]'s: a pure function of (seed, epoch) over canonical
//! row-group blocks, so the cursor is the whole resume state, and any world size or thread count
//! continues from it without duplicates or losses.

pub mod augment;
mod config;
mod error;
pub mod fetch;
mod loader;
mod once;
mod pool;
pub mod stats;
pub mod testkit;
mod tj;

pub use augment::{Augmenter, ColourOps, Crop, Pipeline, ViewSpec};
pub use config::{LoaderConfig, SourceSpec};
pub use error::{Error, Result};
pub use fetch::CacheConfig;
pub use loader::{Batch, Loader, SampleRef, Stream};
pub use pool::sample_seed;
pub use stats::Summary;
pub use unimlip_shards::plan::{Cursor, LaneDigits, OrderConfig, Tail};
