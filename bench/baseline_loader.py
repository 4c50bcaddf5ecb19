"""PyTorch baseline of `unimlip bench loader`: the same Parquet shards read with pyarrow, PIL
decode, torchvision transforms v2, a DataLoader with one worker process per core.

  baseline_loader.py DATASET_ROOT --pipeline rrc-flip|unimlip --workers N --samples N

Prints one JSON object: samples, seconds (from opening the shards to the last batch),
samples_per_s.
"""
import argparse
import glob
import io
import json
import os
import time

import pyarrow.parquet as pq
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2


def pipelines():
    rrc_flip = v2.Compose([
        v2.RandomResizedCrop(224, antialias=True),
        v2.RandomHorizontalFlip(),
        v2.PILToTensor(),
    ])
    weak = v2.Compose([
        v2.RandomResizedCrop(224, scale=(0.5, 1.0), interpolation=v2.InterpolationMode.BICUBIC),
        v2.PILToTensor(),
    ])
    strong = v2.Compose([   # SLIP / PMC-CLIP "MoCo augmentation", crop scale 0.5
        v2.RandomResizedCrop(224, scale=(0.5, 1.0), interpolation=v2.InterpolationMode.BICUBIC),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomApply([v2.GaussianBlur(23, sigma=(0.1, 2.0))], p=0.5),
        v2.RandomHorizontalFlip(),
        v2.PILToTensor(),
    ])
    return {
        "rrc-flip": lambda im: (rrc_flip(im),),
        "unimlip": lambda im: (weak(im), strong(im), strong(im)),
    }


class Shards(Dataset):
    def __init__(self, root, pipeline):
        files = sorted(glob.glob(os.path.join(root, "shards", "*.parquet")))
        ids, images, captions = [], [], []
        for f in files:
            t = pq.read_table(f, columns=["id", "image", "caption"])
            ids += t.column("id").to_pylist()
            images += t.column("image").to_pylist()
            captions += t.column("caption").to_pylist()
        self.ids, self.images, self.captions = ids, images, captions
        self.pipeline = pipeline

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        im = Image.open(io.BytesIO(self.images[i])).convert("RGB")
        return pipelines()[self.pipeline](im), self.ids[i], self.captions[i] or ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--pipeline", default="rrc-flip")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=64)
    a = ap.parse_args()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    ds = Shards(a.root, a.pipeline)
    want = a.samples or len(ds)
    got = 0
    while got < want:
        loader = DataLoader(ds, batch_size=a.batch_size, shuffle=True, drop_last=True,
                            num_workers=a.workers)
        for views, _, _ in loader:
            got += views[0].shape[0]
            if got >= want:
                break
    secs = time.perf_counter() - t0
    print(json.dumps({"samples": got, "seconds": secs, "samples_per_s": got / secs}))


if __name__ == "__main__":
    main()
