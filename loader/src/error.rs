//! The loader's error type.

/// Everything that can go wrong while streaming a dataset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shard layer (store, manifest, Parquet) failed.
    #[error(transparent)]
    Shards(#[from] unimlip_shards::Error),
    /// A shard's bytes do not match its manifest entry.
    #[error("shard {path} of {store} is corrupt: {reason}")]
    CorruptShard {
        /// Shard path within the dataset.
        path: String,
        /// Dataset URL (no credentials).
        store: String,
        /// What did not match.
        reason: String,
    },
    /// A row group could not be decoded.
    #[error("shard {path}, row group {row_group}: {reason}")]
    BadRowGroup {
        /// Shard path within the dataset.
        path: String,
        /// Row group index.
        row_group: usize,
        /// Why it could not be read.
        reason: String,
    },
    /// The configuration cannot be used.
    #[error("invalid loader configuration: {0}")]
    Config(String),
    /// A cursor does not belong to this order (other seed, mixture or epoch layout).
    #[error("cannot resume: {0}")]
    Resume(String),
    /// No sample of a block could be decoded, so a failed one cannot be replaced.
    #[error("no sample of shard {path}, row group {row_group} decodes; cannot replace sample {id}")]
    NoReplacement {
        /// Shard path.
        path: String,
        /// Row group index.
        row_group: usize,
        /// Id of the sample that failed.
        id: String,
    },
    /// A local cache file or folder could not be used.
    #[error("cache {path}: {cause}")]
    Cache {
        /// The file or folder.
        path: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The store stopped answering: an earlier read of this loader spent the whole I/O budget,
    /// so the reads queued behind it fail at once instead of each waiting out its own.
    #[error("{0}")]
    Unavailable(String),
    /// A worker thread stopped unexpectedly.
    #[error("loader worker stopped: {0}")]
    Worker(String),
}

/// Result with the loader's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
