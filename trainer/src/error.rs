//! The trainer's one error type: each variant renders as one line naming what failed and why.

/// What can go wrong in the trainer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The byte count does not match the shape.
    #[error("{bytes} bytes cannot hold {n} images of {side} × {side} × 3")]
    Shape {
        /// Bytes given.
        bytes: usize,
        /// Images.
        n: usize,
        /// Side in pixels.
        side: usize,
    },
    /// libtorch failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] unimlip_shards::Error),
    /// The reader failed.
    #[error(transparent)]
    Loader(#[from] unimlip_loader::Error),
    /// libtorch could not read or write a tensor file.
    #[error("{path}: {cause}")]
    Tensors {
        /// The file.
        path: String,
        /// The cause.
        cause: String,
    },
    /// Files or tensors do not fit the model.
    #[error("{0}")]
    Mismatch(String),
    /// The optimiser's kernel failed.
    #[error("{0}")]
    Optimiser(String),
    /// A config, argument or input is unusable.
    #[error("{0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// The first line of a libtorch message (its C++ backtrace follows on the next lines).
pub fn torch_message(e: &impl std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("").trim().to_string()
}

/// The trainer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
