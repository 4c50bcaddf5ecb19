//! The evaluation crate's one error type.

/// What can go wrong in an evaluation job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] unimlip_shards::Error),
    /// The reader failed.
    #[error(transparent)]
    Loader(#[from] unimlip_loader::Error),
    /// The model side failed.
    #[error(transparent)]
    Trainer(#[from] unimlip_trainer::Error),
    /// libtorch failed.
    #[error("libtorch: {}", unimlip_trainer::torch_message(.0))]
    Torch(#[from] tch::TchError),
    /// The data cannot be evaluated as asked.
    #[error("{0}")]
    Data(String),
}

/// The evaluation result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
