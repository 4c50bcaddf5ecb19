//! What a step takes (the batch on the device, which losses are on) and what it gives back.

use tch::Tensor;

/// Which losses are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    /// Plain ITC.
    pub itc: bool,
    /// ITC with DropBlock-perturbed image features.
    pub itc_img: bool,
    /// ITC with dropout-perturbed text features.
    pub itc_txt: bool,
    /// SimCLR on the two strong views (visual BatchNorm statistics frozen while on).
    pub i2i: bool,
    /// MLM through the fusion.
    pub mlm: bool,
}

impl Switches {
    /// All five.
    pub fn all() -> Switches {
        Switches {
            itc: true,
            itc_img: true,
            itc_txt: true,
            i2i: true,
            mlm: true,
        }
    }
}

/// One batch on the device.
#[derive(Debug)]
pub struct StepInput<'a> {
    /// The weak view, normalised `[B, 3, H, W]`.
    pub weak: &'a Tensor,
    /// The two strong views (needed when SimCLR is on).
    pub strong: Option<(&'a Tensor, &'a Tensor)>,
    /// Caption ids with MLM masking applied `[B, L]`.
    pub input_ids: &'a Tensor,
    /// MLM labels `[B, L]` (0 = not predicted).
    pub mlm_labels: &'a Tensor,
    /// DropBlock seeds `[B, C, h−2, w−2]`, to reproduce a reference exactly (drawn when absent).
    pub dropblock_noise: Option<&'a Tensor>,
    /// Text dropout keep-mask `[B, E]` (drawn when absent).
    pub text_keep: Option<&'a Tensor>,
}

/// The losses of one step (absent when switched off) and their weighted total.
#[derive(Debug)]
pub struct Losses {
    /// ITC.
    pub itc: Option<Tensor>,
    /// ITC, image perturbed.
    pub itc_img: Option<Tensor>,
    /// ITC, text perturbed.
    pub itc_txt: Option<Tensor>,
    /// SimCLR.
    pub i2i: Option<Tensor>,
    /// MLM.
    pub mlm: Option<Tensor>,
    /// The weighted sum.
    pub total: Tensor,
}
