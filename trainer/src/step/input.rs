//! What a step takes (the batch on the device, which losses are on) and what it gives back.

use tch::Tensor;

/// The image–image loss, where the paper and the code differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum I2iForm {
    /// SLIP's NT-Xent through the MLP head (SLIP's code, the default).
    #[default]
    Slip,
    /// The paper's Eq. 2 literally: cross-view InfoNCE on the normalised image embeddings
    /// (the attention pool's outputs), τ 0.1, no head.
    Eq2,
}

/// How the contrastive gradient of a multi-rank run is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContrastiveGrad {
    /// Exactly one process's gradient on the global batch: each rank's slice of the
    /// contrastive losses back-propagated times the world size, replicated parameters unscaled.
    #[default]
    Exact,
    /// PMC-CLIP's code (OpenCLIP's gather without gradient): each rank's contrastive gradient
    /// reaches only its slice, so after DDP's averaging the contrastive terms weigh 1/W
    /// relative to MLM.
    Openclip,
}

/// What a multi-rank step does beyond one process's (the identity with one rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Semantics {
    /// Normalise the SimCLR head's BatchNorm over the global batch.
    pub sync_head_bn: bool,
    /// How the contrastive gradient is formed.
    pub contrastive_grad: ContrastiveGrad,
}

impl Default for Semantics {
    fn default() -> Self {
        Semantics {
            sync_head_bn: true,
            contrastive_grad: ContrastiveGrad::Exact,
        }
    }
}

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
    /// Which image–image loss, when on.
    pub i2i_form: I2iForm,
    /// Freeze the visual BatchNorm statistics while the image–image loss is on (the paper's);
    /// off for the naive SimCLR ablation, where every visual pass updates them.
    pub freeze_bn: bool,
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
            i2i_form: I2iForm::Slip,
            freeze_bn: true,
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
