//! The Uni-Mlip model (model.md §1–4), with the PMC-CLIP checkpoint's parameter names.

mod text;
mod vision;

pub use text::{Bert, TextConfig};
pub use vision::{AttentionPool, Bottleneck, ModifiedResNet, VisionConfig, VisualOutput};
