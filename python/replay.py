"""Replays a `unimlip train` run in the PyTorch reference, step by step.

The run must have been made with `dump_steps = DIR`: every micro-batch's normalised views, masked
caption ids, MLM labels, DropBlock seeds and text-dropout keep-masks are in DIR, one safetensors
file per micro-batch. This module starts from the run's `init` weights and applies the same
step: the five losses with the run's switches and weights, `torch.optim.AdamW` with the run's
decay groups, PMC-CLIP's cosine schedule with warmup, and the logit-scale clamp. It writes each
step's losses, named as in the run's `metrics.jsonl`.
"""

import glob
import json
import math
import os
import tomllib

import torch
import torch.nn.functional as F

import st_io
from uni_mlip_ref import UniMlip, drop_block2d, itc, model_config, simclr

TEXT_KEEP = 0.25


def decays(name, dims):
    """The trainer's rule (trainer/src/optim.rs): >= 2-D, and not a BN, LN, bias or logit scale."""
    last = name.rsplit(".", 1)[-1]
    return (dims >= 2 and "bn" not in name and "ln" not in name and "LayerNorm" not in name
            and last != "bias" and "logit_scale" not in name)


def cosine_lr(base, step, warmup, total):
    """PMC-CLIP's `cosine_lr` (trainer/src/optim.rs)."""
    if step < warmup:
        return base * (step + 1) / warmup
    e, es = step - warmup, max(total - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * e / es)) * base


def info_nce(a, b, tau):
    """The paper's Eq. 2 on two views' normalised embeddings, both directions."""
    logits = a @ b.t() / tau
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


class Run:
    """What a `unimlip train` config says, with this reference's defaults where it is silent
    (the trainer's defaults, trainer/src/train/config.rs)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            t = tomllib.load(f)
        base = os.path.dirname(os.path.abspath(path))
        model = t.get("model", "tiny")
        if model not in ("tiny", "rn50-pubmedbert"):
            model = os.path.join(base, model)
        self.model = model_config(model)
        self.init = os.path.join(base, t["init"])
        o, lo = t.get("optim", {}), t.get("losses", {})
        self.lr, self.warmup = o.get("lr", 1e-4), o.get("warmup", 500)
        self.total = o["max_steps"]
        self.weight_decay = o.get("weight_decay", 0.1)
        self.betas, self.eps = tuple(o.get("betas", (0.9, 0.999))), o.get("eps", 1e-8)
        # The trainer's kernel: libtorch's fused AdamW unless the run asks for the written-out
        # update (which torch's single-tensor AdamW computes as the same formula).
        self.fused = o.get("adamw", "fused") == "fused"
        if o.get("accumulate", 1) != 1:
            raise SystemExit(f"{path}: replay supports accumulate = 1")
        i2i = lo.get("i2i", "slip")
        self.i2i = {True: "slip", False: None}.get(i2i, i2i)
        if lo.get("simclr_start_epoch", 0) != 0:
            raise SystemExit(f"{path}: replay supports simclr_start_epoch = 0")
        self.on = {k: lo.get(k, True) for k in ("itc", "itc_img", "itc_txt", "mlm")}
        self.freeze_bn = lo.get("freeze_bn", True)
        self.w = (lo.get("weight_cm", 0.167), lo.get("weight_um", 0.5), lo.get("weight_fm", 0.5))


def losses(model, run, x):
    """One step's losses, as the trainer's loss graph (trainer/src/step/graph.rs) computes
    them in one process."""
    bn_train = not (run.i2i and run.freeze_bn)
    model.train()
    model.visual.train(bn_train)
    ls = model.logit_scale
    layer4 = model.visual.trunk(x["weak"])
    image = F.normalize(model.visual.attnpool(layer4), dim=-1)
    states, projected = model.encode_text(x["input_ids"])
    text = F.normalize(projected, dim=-1)
    out = {}
    if run.on["itc"]:
        out["loss_itc"] = itc(image, text, ls)
    if run.on["itc_img"]:
        dropped = drop_block2d(layer4, 0.5, 3, x["dropblock_noise"])
        out["loss_itc_img"] = itc(F.normalize(model.visual.attnpool(dropped), dim=-1), text, ls)
    if run.on["itc_txt"]:
        keep = x["text_keep"].to(projected.dtype)
        out["loss_itc_txt"] = itc(image, F.normalize(projected * keep / TEXT_KEEP, dim=-1), ls)
    if run.i2i == "slip":
        pooled = [model.visual.attnpool(model.visual.trunk(x[v])) for v in ("view_a", "view_b")]
        out["loss_i2i"] = simclr(model.image_mlp(pooled[0]), model.image_mlp(pooled[1]))
    elif run.i2i == "eq2":
        za, zb = [F.normalize(model.visual.attnpool(model.visual.trunk(x[v])), dim=-1)
                  for v in ("view_a", "view_b")]
        out["loss_i2i"] = info_nce(za, zb, 0.1)
    if run.on["mlm"]:
        _, logprobs = model.fuse(states, image)
        labels = x["mlm_labels"].reshape(-1)
        nll = F.nll_loss(logprobs.reshape(-1, logprobs.shape[-1]), labels, ignore_index=0,
                         reduction="sum")
        out["loss_mlm"] = nll / (labels != 0).sum().clamp_min(1)
    cm, um, fm = run.w
    total = sum(cm * v for k, v in out.items() if k.startswith("loss_itc"))
    if "loss_i2i" in out:
        total = total + um * out["loss_i2i"]
    if "loss_mlm" in out:
        total = total + fm * out["loss_mlm"]
    out["loss"] = total
    return out


def main(config, dump, out_path, dtype=torch.float32, save=None):
    """Replays the run of `config` from the micro-batches in `dump`, writing `out_path`; in
    `dtype` (float64 shows how far fp32 rounding alone moves the curves); the final weights
    (as float32) to `save` when given."""
    run = Run(config)
    model = UniMlip(run.model).to(dtype)
    weights = st_io.load(run.init)
    weights = {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{run.init}: missing {missing}, unexpected {unexpected}")
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if decays(n, p.dim())], "weight_decay": run.weight_decay},
        {"params": [p for n, p in named if not decays(n, p.dim())], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=run.lr, betas=run.betas, eps=run.eps, fused=run.fused)
    files = sorted(glob.glob(os.path.join(dump, "step-*-0.safetensors")))
    if len(files) < run.total:
        raise SystemExit(f"{dump}: {len(files)} dumped steps, the run has {run.total}")
    lines = []
    for step, path in enumerate(files[: run.total]):
        x = {k: v.to(dtype) if v.is_floating_point() else v for k, v in st_io.load(path).items()}
        lr = cosine_lr(run.lr, step, run.warmup, run.total)
        for g in opt.param_groups:
            g["lr"] = lr
        # The trainer zeroes gradients in place (a parameter keeps a zero gradient once it has
        # had one), as zero_grad(set_to_none=False) does.
        opt.zero_grad(set_to_none=False)
        out = losses(model, run, x)
        out["loss"].backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        line = {k: v.item() for k, v in out.items()}
        line.update(step=step + 1, lr=lr, logit_scale=model.logit_scale.exp().item())
        lines.append(line)
    with open(out_path, "w") as f:
        json.dump(lines, f)
    if save:
        st_io.save({k: v.float() if v.is_floating_point() else v
                    for k, v in model.state_dict().items()
                    if not k.endswith("num_batches_tracked")}, save)
