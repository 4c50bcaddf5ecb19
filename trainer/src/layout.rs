//! The CUDA performance switches of a run (`[device]`): channels-last weights and batches, and
//! cuDNN's algorithm benchmark. On the CPU nothing changes.

use tch::{Device, Tensor, nn};

use crate::train::DeviceConfig;
use crate::{Error, Result};

/// Applies `cfg` to a run on `device` whose model lives in `vs`, before the optimiser is made
/// (its moments copy the weights' layout). Returns how many weights moved to channels-last.
pub fn apply(cfg: &DeviceConfig, device: Device, vs: &nn::VarStore) -> Result<usize> {
    if device == Device::Cpu {
        return Ok(0);
    }
    tch::Cuda::cudnn_set_benchmark(cfg.cudnn_benchmark);
    if !cfg.channels_last {
        return Ok(0);
    }
    let mut moved = 0;
    for (name, mut t) in vs.variables() {
        if t.dim() != 4 {
            continue;
        }
        to_channels_last(&mut t).map_err(|e| Error::Mismatch(format!("{name}: {e}")))?;
        moved += 1;
    }
    Ok(moved)
}

/// Moves a 4-D tensor's storage to channels-last in place.
pub fn to_channels_last(t: &mut Tensor) -> std::result::Result<(), String> {
    crate::shim::to_channels_last(t)
}

/// A batch of images in the layout the run asked for: the loader's permuted NHWC bytes are
/// channels-last already; with the switch off they are made contiguous NCHW.
pub fn images(cfg: &DeviceConfig, device: Device, x: Tensor) -> Result<Tensor> {
    match device {
        Device::Cpu => Ok(x),
        _ if cfg.channels_last => Ok(x),
        _ => Ok(x.f_contiguous()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weight_moves_to_channels_last_in_place() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let w = (vs.root() / "conv").var("weight", &[4, 3, 2, 2], nn::Init::Const(1.0));
        let before = Vec::<f32>::try_from(&w.flatten(0, -1)).unwrap();
        let mut handle = w.shallow_clone();
        to_channels_last(&mut handle).unwrap();
        assert_eq!(
            w.stride(),
            [12, 1, 6, 3],
            "NHWC strides, seen through the variable"
        );
        assert!(w.requires_grad());
        assert_eq!(Vec::<f32>::try_from(&w.flatten(0, -1)).unwrap(), before);
        let moved = apply(&DeviceConfig::default(), Device::Cpu, &vs).unwrap();
        assert_eq!(moved, 0, "nothing changes on the CPU");
    }
}
