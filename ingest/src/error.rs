//! The one error type of the `unimlip-ingest` crate.

/// Everything that stops an ingest or a synth run. (A bad sample does not: it goes to
/// quarantine.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dataset name is not one this build knows.
    #[error("unknown dataset `{0}` (known: {known})", known = crate::Dataset::NAMES.join(", "))]
    UnknownDataset(String),
    /// The source does not look like the dataset's published layout.
    #[error("{src}: not a {dataset} layout: {reason}")]
    Layout {
        /// The dataset.
        dataset: &'static str,
        /// The source root.
        src: String,
        /// What was expected and not found.
        reason: String,
    },
    /// An option has a value that cannot be used.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option name.
        option: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// A metadata file could not be read.
    #[error("{path}: {cause}")]
    Read {
        /// The file, relative to the source root or absolute.
        path: String,
        /// The underlying error (in the message, so one line says it all).
        cause: std::io::Error,
    },
    /// The output already holds a different dataset.
    #[error(
        "{url} already holds a committed dataset made from other inputs or options; pass --overwrite to replace it"
    )]
    OutputExists {
        /// The output URL.
        url: String,
    },
    /// Another writer holds the output's lease.
    #[error("{0}")]
    Lease(String),
    /// Synthesising a dataset failed.
    #[error("synth: {0}")]
    Synth(String),
    /// Reading or writing the store failed.
    #[error(transparent)]
    Shards(#[from] unimlip_shards::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn read(path: impl Into<String>, cause: std::io::Error) -> Self {
        Error::Read {
            path: path.into(),
            cause,
        }
    }
}
