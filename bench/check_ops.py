"""Parity of unimlip's colour, greyscale and blur operations with the originals.

  check_ops.py PATH/TO/colour_ops [pil|tensor]
  (colour_ops is built by: cargo build --release -p unimlip-loader --example colour_ops)

pil (the default, the `unimlip` pipeline's arithmetic): against Pillow, as torchvision's
_functional_pil and SLIP's GaussianBlur call it (ImageEnhance, convert("L"), the HSV round trip,
ImageFilter.GaussianBlur). tensor (the `unimlip-tensor` pipeline): against
torchvision.transforms.v2 on uint8 tensors (needs torchvision).

For random images and factors, runs each operation in unimlip and in the original and prints the
share of values that differ and the largest difference.
"""
import os
import random
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pillow_ops import pillow_op  # noqa: E402

exe = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "pil"
rng = np.random.default_rng(0)
W, H = 96, 64
cases = [("brightness", 0.6), ("brightness", 1.4), ("contrast", 0.6), ("contrast", 1.4),
         ("saturation", 0.6), ("saturation", 1.4), ("hue", -0.1), ("hue", 0.07),
         ("greyscale", 0.0), ("blur", 0.1), ("blur", 0.8), ("blur", 2.0)]
random.seed(0)
cases += [(op, float(np.float32(random.uniform(lo, hi)))) for op, lo, hi in
          [("brightness", 0.6, 1.4), ("contrast", 0.6, 1.4), ("saturation", 0.6, 1.4),
           ("hue", -0.1, 0.1), ("blur", 0.1, 2.0)] for _ in range(4)]


def tensor(op, img, f):
    import torch
    from torchvision.transforms.v2 import functional as F
    t = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    out = {
        "brightness": lambda: F.adjust_brightness(t, f),
        "contrast": lambda: F.adjust_contrast(t, f),
        "saturation": lambda: F.adjust_saturation(t, f),
        "hue": lambda: F.adjust_hue(t, f),
        "greyscale": lambda: F.rgb_to_grayscale(t, num_output_channels=3),
        "blur": lambda: F.gaussian_blur(t, [23, 23], [f, f]),
    }[op]()
    return out.permute(1, 2, 0).numpy()


worst = 0
for op, f in cases:
    f = float(np.float32(f))  # factors are drawn as float32, as torchvision's
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    # smooth half so that hue/saturation see real colours, not just noise
    img[:, : W // 2] = img[:, : W // 2].mean(axis=1, keepdims=True).astype(np.uint8)
    out = subprocess.run([exe, op, repr(f), str(W), str(H), mode], input=img.tobytes(),
                         capture_output=True, check=True).stdout
    ours = np.frombuffer(out, dtype=np.uint8).reshape(H, W, 3)
    ref = pillow_op(op, img, f) if mode == "pil" else tensor(op, img, f)
    d = np.abs(ours.astype(int) - ref.astype(int))
    worst = max(worst, int(d.max()))
    print(f"{mode} {op:<11}{f:>7.3f}: {float((d > 0).mean()) * 100:6.2f}% of values differ, max {int(d.max())}")
print(f"largest difference: {worst}")
sys.exit(1 if worst else 0)
