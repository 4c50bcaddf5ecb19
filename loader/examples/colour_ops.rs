//! Applies one colour operation to a raw RGB image, for parity checks against Pillow or
//! torchvision (`bench/check_ops.py`):
//!
//!     colour_ops OP FACTOR WIDTH HEIGHT [pil|tensor] < in.rgb > out.rgb
//!
//! OP: brightness, contrast, saturation, hue, greyscale, blur (FACTOR = σ; tensor: 23 taps).
//! pil (default): PIL's arithmetic; tensor: torchvision's uint8 tensor kernels.

use std::io::{Read, Write};

use unimlip_loader::augment::{
    BlurScratch, blur, brightness, contrast, greyscale, hue, pil, saturation,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (op, factor, w, h, mode) = match args.as_slice() {
        [op, f, w, h] => (op, f, w, h, "pil"),
        [op, f, w, h, mode] => (op, f, w, h, mode.as_str()),
        _ => return Err("usage: colour_ops OP FACTOR WIDTH HEIGHT [pil|tensor] < in > out".into()),
    };
    let f: f32 = factor.parse()?;
    let (w, h): (usize, usize) = (w.parse()?, h.parse()?);
    let mut img = Vec::new();
    std::io::stdin().read_to_end(&mut img)?;
    if img.len() != w * h * 3 {
        return Err(format!("expected {} bytes, got {}", w * h * 3, img.len()).into());
    }
    match (mode, op.as_str()) {
        ("pil", "brightness") => pil::brightness(&mut img, f),
        ("pil", "contrast") => pil::contrast(&mut img, 3, f),
        ("pil", "saturation") => pil::saturation(&mut img, f),
        ("pil", "hue") => pil::hue(&mut img, f),
        ("pil", "greyscale") => pil::greyscale(&mut img, 3),
        ("pil", "blur") => pil::blur(&mut img, (w, h, 3), f, &mut pil::PilBlurScratch::default()),
        ("tensor", "brightness") => brightness(&mut img, f),
        ("tensor", "contrast") => contrast(&mut img, 3, f),
        ("tensor", "saturation") => saturation(&mut img, f),
        ("tensor", "hue") => hue(&mut img, f),
        ("tensor", "greyscale") => greyscale(&mut img, 3),
        ("tensor", "blur") => blur(&mut img, (w, h, 3), 23, f, &mut BlurScratch::default()),
        (m, o) => return Err(format!("unknown mode {m} or op {o}").into()),
    }
    std::io::stdout().write_all(&img)?;
    Ok(())
}
