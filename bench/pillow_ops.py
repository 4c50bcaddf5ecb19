"""Each colour, greyscale and blur operation as PMC-CLIP's and SLIP's torchvision transforms run
it on a PIL image (torchvision's _functional_pil, SLIP's GaussianBlur), on an RGB uint8 array.
Used by bench/check_ops.py and loader/tests/pil.rs."""
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def pillow_op(op, img, f):
    im = Image.fromarray(img, "RGB")
    if op == "brightness":
        out = ImageEnhance.Brightness(im).enhance(f)
    elif op == "contrast":
        out = ImageEnhance.Contrast(im).enhance(f)
    elif op == "saturation":
        out = ImageEnhance.Color(im).enhance(f)
    elif op == "hue":
        h, s, v = im.convert("HSV").split()
        nh = np.array(h, dtype=np.uint8)
        nh += np.int32(f * 255).astype(np.uint8)
        out = Image.merge("HSV", (Image.fromarray(nh, "L"), s, v)).convert("RGB")
    elif op == "greyscale":
        g = np.array(im.convert("L"), dtype=np.uint8)
        out = Image.fromarray(np.dstack([g, g, g]), "RGB")
    elif op == "blur":
        out = im.filter(ImageFilter.GaussianBlur(radius=f))
    else:
        raise ValueError(f"unknown op {op}")
    return np.array(out)
