//! Uni-Mlip on libtorch through tch: the model with PMC-CLIP's parameter names, the five losses,
//! AdamW and the schedule, checkpoints, the tokenizer and MLM masking, and the training loop that
//! reads the streaming loader's uint8 batches, normalises them on the device and trains.
//!
//! libtorch comes from the `torch==2.11.0` wheel that `scripts/setup.sh` installs; the build uses
//! it through `LIBTORCH_USE_PYTORCH=1`, and the wheel's `torch/lib` must be on the library path
//! at run time (`env.sh` sets `LD_LIBRARY_PATH`).
//!
//! # Contents
//! - **Model**: [`UniMlip`] with its [`ModelConfig`] (`tiny`, `rn50-pubmedbert`), the towers and
//!   heads in [`model`]; [`forward`] runs named inputs through it (`unimlip model forward`).
//! - **Text**: [`TextTokenizer`] (WordPiece, MLM masking), [`train_vocab`].
//! - **Loss graph**: [`losses_on`] over one process's or the global batch, its [`Switches`],
//!   [`StepInput`] and [`StepLosses`]; the loss functions themselves in [`losses`].
//! - **Optimiser**: [`AdamW`] (libtorch's fused kernel or written out: [`AdamWKernel`]),
//!   [`AdamWConfig`], [`cosine_lr`].
//! - **Training**: [`train`] a [`TrainConfig`] with [`RunOptions`], reporting to a
//!   [`StepProgress`]; [`Retrieval`] is its held-out score; [`bench_step`] times one step.
//! - **Checkpoints**: [`checkpoint`] (save, latest, load), [`Trained`] (a run folder or weight
//!   files with their model and tokenizer, for evaluation); [`hf`] reads a Hugging Face BERT
//!   folder into the text tower (`convert hf-bert`, `init_text`).
//! - **Distributed**: [`dist`] (c10d groups and collectives, torchrun's environment).
//! - **Input**: [`images_to_device`] (uint8 → normalised tensors), [`device`], and
//!   [`ThreadPlan`] (the loader's threads from the cores free now), [`layout`] (the CUDA
//!   switches: channels-last, cuDNN benchmark).

mod amp;
pub mod checkpoint;
pub mod dist;
mod error;
mod forward;
pub mod hf;
mod input;
pub mod layout;
pub mod losses;
pub mod model;
mod optim;
mod shim;
pub use shim::host_memory_policy;
mod step;
pub mod tensorboard;
mod text;
mod threads;
mod train;
mod trained;
mod vocab;

pub use error::{Error, Result, torch_message};
pub use forward::forward;
pub use input::{CLIP_MEAN, CLIP_STD, device, images_to_device};
pub use model::{Fusion, ModelConfig, UniMlip, l2_normalize};
pub use optim::{AdamW, AdamWConfig, AdamWKernel, ParamGroup, cosine_lr, decays};
pub use step::{
    ContrastiveGrad, I2iForm, Losses, Semantics, StepInput, StepLosses, Switches, losses_on,
    losses_single, unscale_replicated,
};
pub use text::{Specials, TextTokenizer, mask_words};
pub use threads::ThreadPlan;
pub use train::{
    CheckpointConfig, DataConfig, DeviceConfig, EvalConfig, I2i, LogConfig, LossConfig,
    OptimConfig, Retrieval, RunOptions, RunSummary, Silent, StepBench, StepProgress, StepTimes,
    TrainConfig, bench_step, train,
};
pub use trained::{LoadedWeights, RunInfo, Trained, load_weights, write_run_info};
pub use vocab::{SPECIALS, train_vocab};

/// libtorch's random generator is global to the process: tests that draw from it (model
/// initialisation included) hold this lock so that parallel tests cannot interleave draws.
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
