//! uint8 NHWC batches from the loader → normalised float NCHW tensors on the device.

use tch::{Device, Kind, Tensor};

use crate::Error;

/// OpenAI CLIP channel means (model.md §6; not ImageNet's).
pub const CLIP_MEAN: [f64; 3] = [0.48145466, 0.4578275, 0.40821073];
/// OpenAI CLIP channel standard deviations.
pub const CLIP_STD: [f64; 3] = [0.26862954, 0.26130258, 0.27577711];

/// The first CUDA device when there is one, else the CPU.
pub fn device() -> Device {
    Device::cuda_if_available()
}

/// `n` RGB images of `side × side` (uint8, NHWC, as a loader view holds them) as a float32
/// `[n, 3, side, side]` tensor on `device`, scaled to [0, 1] and normalised with the CLIP
/// statistics. Only the uint8 bytes cross to the device; the arithmetic runs there.
pub fn images_to_device(
    bytes: &[u8],
    n: usize,
    side: usize,
    device: Device,
) -> Result<Tensor, Error> {
    if bytes.len() != n * side * side * 3 {
        return Err(Error::Shape {
            bytes: bytes.len(),
            n,
            side,
        });
    }
    let dims = [n as i64, side as i64, side as i64, 3];
    let x = Tensor::f_from_slice(bytes)?
        .f_view(dims)?
        .f_to_device(device)?
        .f_permute([0, 3, 1, 2])?
        .f_to_kind(Kind::Float)?;
    let mean = Tensor::f_from_slice(&CLIP_MEAN)?
        .f_to_kind(Kind::Float)?
        .f_view([1, 3, 1, 1])?
        .f_to_device(device)?;
    let std = Tensor::f_from_slice(&CLIP_STD)?
        .f_to_kind(Kind::Float)?
        .f_view([1, 3, 1, 1])?
        .f_to_device(device)?;
    let x = ((x / 255.0) - mean) / std;
    // On the CPU, contiguous NCHW as PyTorch's ToTensor gives: libtorch's channels-last CPU
    // kernels (BatchNorm's backward above all) are slower here and round further from exact
    // arithmetic, which the training-parity test shows. On a GPU the permuted (channels-last)
    // layout stays.
    match device {
        Device::Cpu => Ok(x.f_contiguous()?),
        _ => Ok(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_become_clip_normalised_nchw() {
        let _rng = crate::rng_lock();
        // Two 2×2 images: the first all (255, 0, 128), the second a gradient in red.
        let mut bytes = Vec::new();
        for _ in 0..4 {
            bytes.extend([255u8, 0, 128]);
        }
        for v in [0u8, 85, 170, 255] {
            bytes.extend([v, 0, 0]);
        }
        let t = images_to_device(&bytes, 2, 2, Device::Cpu).unwrap();
        assert_eq!(t.size(), [2, 3, 2, 2]);
        assert_eq!(t.kind(), Kind::Float);
        assert_eq!(t.stride(), [12, 4, 2, 1], "contiguous NCHW on the CPU");
        let at = |i: i64, c: i64, y: i64, x: i64| t.double_value(&[i, c, y, x]);
        let want = |v: f64, c: usize| (v / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
        assert!((at(0, 0, 1, 1) - want(255.0, 0)).abs() < 1e-6);
        assert!((at(0, 1, 0, 0) - want(0.0, 1)).abs() < 1e-6);
        assert!((at(0, 2, 0, 1) - want(128.0, 2)).abs() < 1e-6);
        // Row-major: (y, x) = (1, 0) is the third pixel, 170.
        assert!((at(1, 0, 1, 0) - want(170.0, 0)).abs() < 1e-6);
        assert!(images_to_device(&bytes[1..], 2, 2, Device::Cpu).is_err());
    }

    #[test]
    fn the_device_is_usable() {
        let _rng = crate::rng_lock();
        let d = device();
        let t = Tensor::from_slice(&[1.0f32, 2.0]).to_device(d);
        assert_eq!(t.sum(Kind::Float).double_value(&[]), 3.0);
        assert_eq!(d == Device::Cpu, !tch::Cuda::is_available());
    }
}
