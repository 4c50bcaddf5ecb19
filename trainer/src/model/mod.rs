//! The Uni-Mlip model (model.md §1–4), with the PMC-CLIP checkpoint's parameter names.

mod vision;

pub use vision::{AttentionPool, Bottleneck, ModifiedResNet, VisionConfig, VisualOutput};
