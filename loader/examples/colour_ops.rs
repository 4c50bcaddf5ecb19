//! Applies one colour operation to a raw RGB image, for parity checks against torchvision
//! (`bench/check_ops.py`):
//!
//!     colour_ops OP FACTOR WIDTH HEIGHT < in.rgb > out.rgb
//!
//! OP: brightness, contrast, saturation, hue, greyscale, blur (FACTOR = σ, 23 taps).

use std::io::{Read, Write};

use unimlip_loader::augment::{
    BlurScratch, blur, brightness, contrast, greyscale, hue, saturation,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, factor, w, h] = args.as_slice() else {
        return Err("usage: colour_ops OP FACTOR WIDTH HEIGHT < in.rgb > out.rgb".into());
    };
    let f: f32 = factor.parse()?;
    let (w, h): (usize, usize) = (w.parse()?, h.parse()?);
    let mut img = Vec::new();
    std::io::stdin().read_to_end(&mut img)?;
    if img.len() != w * h * 3 {
        return Err(format!("expected {} bytes, got {}", w * h * 3, img.len()).into());
    }
    match op.as_str() {
        "brightness" => brightness(&mut img, f),
        "contrast" => contrast(&mut img, 3, f),
        "saturation" => saturation(&mut img, f),
        "hue" => hue(&mut img, f),
        "greyscale" => greyscale(&mut img, 3),
        "blur" => blur(&mut img, (w, h, 3), 23, f, &mut BlurScratch::default()),
        other => return Err(format!("unknown op {other}").into()),
    }
    std::io::stdout().write_all(&img)?;
    Ok(())
}
