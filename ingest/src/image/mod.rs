//! Image bytes in, validated (and per the policy resized and re-encoded) image bytes out.
//!
//! - [`normalize`](normalize::normalize): the policy, validation and resizing;
//! - `jpeg`: reduced-scale decoding and libjpeg-turbo encoding;
//! - `pngdec`: PNG decoding into a buffer each worker keeps.

mod jpeg;
mod normalize;
mod pngdec;

pub use normalize::{
    DEFAULT_IMAGE_MEMORY, MAX_PIXELS, Normalized, Rejection, ResizePolicy, image_memory, normalize,
    normalize_guarded, set_image_memory, sniff,
};
