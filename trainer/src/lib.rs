//! Uni-Mlip on libtorch through tch: the model with PMC-CLIP's parameter names, the five losses,
//! AdamW and the schedule, checkpoints, the tokenizer and MLM masking, and the training loop that
//! reads the streaming loader's uint8 batches, normalises them on the device and trains.
//!
//! libtorch comes from the `torch==2.11.0` wheel that `scripts/setup.sh` installs; the build uses
//! it through `LIBTORCH_USE_PYTORCH=1`, and the wheel's `torch/lib` must be on the library path
//! at run time (`env.sh` sets `LD_LIBRARY_PATH`).

pub mod amp;
pub mod checkpoint;
pub mod dist;
mod error;
pub mod forward;
mod input;
pub mod losses;
pub mod model;
pub mod optim;
pub mod step;
pub mod text;
pub mod train;
pub mod trained;
pub mod vocab;

pub use error::{Error, Result, torch_message};
pub use input::{CLIP_MEAN, CLIP_STD, device, images_to_device};

/// libtorch's random generator is global to the process: tests that draw from it (model
/// initialisation included) hold this lock so that parallel tests cannot interleave draws.
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
