"""Writes trained weights as PMC-CLIP's code saves and loads them: torch.save of
{"epoch", "name", "state_dict", "optimizer"} with DDP's `module.` prefix on every name, the
buffers its modules carry (BatchNorm's num_batches_tracked, BERT's position_ids), and an AdamW
state of its two parameter groups (no decay; decay) whose moments start fresh.
Usage: export_pmc_clip.py WEIGHTS.safetensors META.json OUT.pt"""

import json
import sys
from collections import OrderedDict

import torch

import st_io


def state_dict(tensors):
    out = OrderedDict()
    for name in sorted(tensors):
        out["module." + name] = tensors[name]
        if name.endswith(".running_var"):
            stem = name[: -len("running_var")]
            out["module." + stem + "num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    pos = tensors.get("text_encoder.embeddings.position_embeddings.weight")
    if pos is not None:
        out["module.text_encoder.embeddings.position_ids"] = torch.arange(pos.shape[0])[None]
    return out


def optimizer(groups):
    """PMC-CLIP's AdamW groups (main.py): defaults of its params.py for RN50 (lr 5e-4,
    betas (0.9, 0.999), eps 1e-8, wd 0.2); `state` empty, so the moments start at zero."""
    no_decay, decay = groups
    common = dict(lr=5e-4, betas=(0.9, 0.999), eps=1e-8, amsgrad=False)
    return {
        "state": {},
        "param_groups": [
            dict(common, weight_decay=0.0, params=list(range(no_decay))),
            dict(common, weight_decay=0.2, params=list(range(no_decay, no_decay + decay))),
        ],
    }


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: export_pmc_clip.py WEIGHTS.safetensors META.json OUT.pt")
    tensors = st_io.load(argv[1])
    with open(argv[2]) as f:
        meta = json.load(f)
    ckpt = {
        "epoch": meta["epoch"],
        "name": meta["name"],
        "state_dict": state_dict(tensors),
        "optimizer": optimizer(meta["groups"]),
    }
    torch.save(ckpt, argv[3])


if __name__ == "__main__":
    main(sys.argv)
