"""Times one full Uni-Mlip training step in the PyTorch reference: forward, the five losses (as
`replay.losses`), backward, `torch.optim.AdamW(fused=True)` with the trainer's decay groups, the
logit-scale clamp. The batch is the one `unimlip bench step --dump DIR` wrote, so both sides run
the same step on the same inputs and random draws.

    bench_step.py MODEL DUMP_FILE [--steps N] [--warmup K] [--device cpu|cuda] [--no-fused]
                  [--bf16] [--channels-last] [--cudnn-benchmark] [--text-dropout P]

--text-dropout: BERT's dropout in the text tower, as the unimlip model has it (`bench step`
reports its `text_dropout`); the reference leaves it out unless given.

Prints one JSON object: every timed step's seconds, the median, samples/s and the last loss.
"""

import json
import math
import sys
import time

import torch

import st_io
from replay import decays, losses
from uni_mlip_ref import UniMlip, model_config


class Defaults:
    """The trainer's loss defaults (trainer/src/train/config.rs)."""

    on = {"itc": True, "itc_img": True, "itc_txt": True, "mlm": True}
    i2i = "slip"
    freeze_bn = True
    w = (0.167, 0.5, 0.5)


def option(argv, name, default):
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    steps, warmup = int(option(argv, "--steps", 10)), int(option(argv, "--warmup", 2))
    device = torch.device(option(argv, "--device", "cpu"))
    fused = "--no-fused" not in argv
    bf16 = "--bf16" in argv
    if "--cudnn-benchmark" in argv:
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    config = dict(model_config(argv[1]), dropout=float(option(argv, "--text-dropout", 0.0)))
    model = UniMlip(config).to(device)
    fmt = torch.channels_last if "--channels-last" in argv else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = {k: v.to(device) for k, v in st_io.load(argv[2]).items()}
    for k in ("weak", "view_a", "view_b"):
        x[k] = x[k].contiguous(memory_format=fmt)
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if decays(n, p.dim())], "weight_decay": 0.1},
        {"params": [p for n, p in named if not decays(n, p.dim())], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, fused=fused)
    times, loss = [], None
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = losses(model, Defaults, x)
        out["loss"].backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        loss = out["loss"]
    s = sorted(times)
    median = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    batch = x["weak"].shape[0]
    result = {"times": times, "median": median, "samples_per_s": batch / median,
              "loss": loss.item(), "threads": torch.get_num_threads(), "fused": fused}
    if device.type == "cuda":
        result["peak_gpu_bytes"] = torch.cuda.max_memory_allocated(device)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
