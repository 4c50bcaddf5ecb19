//! The Uni-Mlip model (model.md §1–4), with the PMC-CLIP checkpoint's parameter names.

mod fusion;
pub mod init;
mod text;
mod uni;
mod vision;

pub use fusion::Fusion;
pub use text::{Bert, TextConfig};
pub use uni::{ModelConfig, SslHead, TextOutput, UniMlip, l2_normalize};
pub use vision::{AttentionPool, Bottleneck, ModifiedResNet, VisionConfig, VisualOutput};
