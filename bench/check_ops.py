"""Parity of unimlip's colour and blur operations with torchvision.transforms.v2 on uint8.

  check_ops.py PATH/TO/colour_ops   (built by: cargo build --release -p unimlip-loader --example colour_ops)

For random images and factors, runs each operation in unimlip and in torchvision and prints the
share of values that differ and the largest difference.
"""
import subprocess
import sys

import torch
from torchvision.transforms.v2 import functional as F

exe = sys.argv[1]
g = torch.Generator().manual_seed(0)
W, H = 96, 64
cases = [("brightness", 0.6), ("brightness", 1.4), ("contrast", 0.6), ("contrast", 1.4),
         ("saturation", 0.6), ("saturation", 1.4), ("hue", -0.1), ("hue", 0.07),
         ("greyscale", 0.0), ("blur", 0.1), ("blur", 0.8), ("blur", 2.0)]
worst = 0
for op, f in cases:
    f = float(torch.tensor(f, dtype=torch.float32))  # factors are drawn as float32, as torchvision's
    img = torch.randint(0, 256, (3, H, W), dtype=torch.uint8, generator=g)
    # smooth half so that hue/saturation see real colours, not just noise
    img[:, :, : W // 2] = img[:, :, : W // 2].float().mean(dim=2, keepdim=True).to(torch.uint8)
    raw = img.permute(1, 2, 0).contiguous().numpy().tobytes()
    out = subprocess.run([exe, op, repr(f), str(W), str(H)], input=raw, capture_output=True, check=True).stdout
    ours = torch.frombuffer(bytearray(out), dtype=torch.uint8).reshape(H, W, 3).permute(2, 0, 1)
    ref = {
        "brightness": lambda: F.adjust_brightness(img, f),
        "contrast": lambda: F.adjust_contrast(img, f),
        "saturation": lambda: F.adjust_saturation(img, f),
        "hue": lambda: F.adjust_hue(img, f),
        "greyscale": lambda: F.rgb_to_grayscale(img, num_output_channels=3),
        "blur": lambda: F.gaussian_blur(img, [23, 23], [f, f]),
    }[op]()
    d = (ours.int() - ref.int()).abs()
    worst = max(worst, int(d.max()))
    print(f"{op:<11}{f:>7.3f}: {float((d > 0).float().mean()) * 100:6.2f}% of values differ, max {int(d.max())}")
print(f"largest difference: {worst}")
