//! The one error type of the `unimlip-shards` crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing a dataset store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A store URL could not be understood.
    #[error("invalid store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given, with any credentials removed.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An object-store operation failed.
    #[error("{op} `{path}`: {cause}")]
    Store {
        /// The operation (`get`, `put`, `list`, ...).
        op: &'static str,
        /// The object path relative to the store root.
        path: String,
        /// The underlying object-store error (in the message, so one line says it all).
        cause: object_store::Error,
    },
    /// A storage operation got no answer within the I/O budget, retries included.
    #[error(
        "{op} `{path}`: no answer from the store within the I/O budget of {budget_s} s (retries included; --io-timeout or UNIMLIP_IO_TIMEOUT sets it): {cause}"
    )]
    Timeout {
        /// The operation (`get`, `put`, `list`, ...).
        op: &'static str,
        /// The object path relative to the store root.
        path: String,
        /// The budget in seconds.
        budget_s: f64,
        /// The innermost cause, one line.
        cause: String,
    },
    /// No credentials for the store: none in the environment, and the cloud's instance
    /// metadata service (the last resort) did not give any.
    #[error(
        "{op} `{path}`: no credentials for {scheme}: set {vars} (the instance metadata service, tried last, gave none)"
    )]
    NoCredentials {
        /// The operation.
        op: &'static str,
        /// The object path relative to the store root.
        path: String,
        /// The store's scheme (`s3`, `gs`, `az`).
        scheme: &'static str,
        /// The environment variables that provide credentials.
        vars: &'static str,
    },
    /// An object that must exist does not.
    #[error("`{path}` not found in {store}")]
    NotFound {
        /// The object path relative to the store root.
        path: String,
        /// The store it was looked up in.
        store: String,
    },
    /// A local file operation failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error (in the message, so one line says it all).
        cause: std::io::Error,
    },
    /// Parquet or Arrow encoding or decoding failed.
    #[error("parquet `{path}`: {reason}")]
    Parquet {
        /// The shard involved.
        path: String,
        /// What the Parquet or Arrow library reported.
        reason: String,
    },
    /// A shard does not match what the manifest says of it.
    #[error("corrupt shard `{path}`: {reason}")]
    CorruptShard {
        /// The shard path relative to the store root.
        path: String,
        /// What differs.
        reason: String,
    },
    /// Objects of a committed dataset do not match its manifest.
    #[error("{count} damaged in a dataset of {total} shards: {list}")]
    Damaged {
        /// How many objects are damaged.
        count: usize,
        /// Shards in the dataset.
        total: usize,
        /// Each damaged object with why, `; `-separated.
        list: String,
    },
    /// The manifest could not be parsed or is inconsistent.
    #[error("bad manifest `{path}`: {reason}")]
    BadManifest {
        /// The manifest path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A split recipe cannot be built as asked (unknown recipe, bad option, wrong dataset).
    #[error("{0}")]
    Recipe(String),
    /// A record cannot be stored (for example a duplicate or empty id).
    #[error("invalid record `{id}`: {reason}")]
    InvalidRecord {
        /// The record id.
        id: String,
        /// Why it cannot be stored.
        reason: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn parquet(path: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Parquet {
            path: path.into(),
            reason: err.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}
