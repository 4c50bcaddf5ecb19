"""A PyTorch reference of Uni-Mlip written from the model spec (ModifiedResNet with attention
pooling as in CLIP, a BERT encoder with HuggingFace's parameter names, OpenCLIP residual attention
blocks for the fusion, SLIP's SimCLR head and loss, torchvision's drop_block2d), used to check
`unimlip model forward` numerically.

    uni_mlip_ref.py make OUT_DIR [--seed S]
        writes weights.safetensors (random, PMC-CLIP names), inputs.safetensors and
        expected.safetensors (this reference's outputs) for the `tiny` config
    uni_mlip_ref.py checkpoint OUT.pt [--seed S]
        writes a PMC-CLIP-style checkpoint of the same random `tiny` model (DDP `module.` prefix,
        num_batches_tracked, position_ids, optimiser state), for testing the converter
    uni_mlip_ref.py load-pmc CKPT.pt INPUTS OUT [--model M]
        loads a checkpoint as PMC-CLIP's main.py `--resume` does (torch.load, `module.` stripped,
        a strict load_state_dict into a model with PMC-CLIP's modules and buffers, its AdamW
        groups loading the checkpoint's optimiser state) and writes this reference's outputs on
        INPUTS (the SimCLR loss only where the checkpoint has the SimCLR head)
    uni_mlip_ref.py compare EXPECTED GOT
        prints the max |difference| per tensor and fails above 1e-5 (features) / 1e-4 (losses)
    uni_mlip_ref.py init-stats tiny|rn50-pubmedbert OUT.json [--seed S]
        initialises the model as the original modules do (PyTorch's defaults, PMC-CLIP's
        `initialize_parameters`, Hugging Face's `BertPreTrainedModel._init_weights`) and writes
        each tensor's element count, mean and standard deviation
    uni_mlip_ref.py init OUT.safetensors [--model TOML] [--seed S]
        writes a fresh model initialised as the original modules do (the `tiny` config, or a
        model TOML of `unimlip train`), for starting both implementations from the same weights
    uni_mlip_ref.py replay RUN.toml DUMP_DIR OUT.json [--float64] [--save FINAL.safetensors]
        trains this reference as `unimlip train --config RUN.toml` did (same initial weights,
        optimiser, schedule, switches and weights), feeding it the micro-batches and random
        draws that run wrote with `dump_steps = DUMP_DIR`; writes each step's losses (in
        float64 with --float64, to measure what fp32 rounding alone does to the curves) and
        with --save the final weights
"""

import math
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

# The `tiny` preset (trainer/src/model/uni.rs).
TINY = dict(
    image_size=96, layers=(1, 1, 1, 1), width=8, heads=4, output_dim=64,
    vocab=1000, hidden=64, text_layers=2, text_heads=4, intermediate=128, max_positions=77,
    type_vocab=2, embed_dim=64, context=77, fusion_layers=2, fusion_heads=4,
    ssl_mlp_dim=128, ssl_emb_dim=32,
)

# The paper-size preset (`rn50-pubmedbert`): CLIP's RN50 and PubMedBERT-base.
RN50_PUBMEDBERT = dict(
    image_size=224, layers=(3, 4, 6, 3), width=64, heads=32, output_dim=768,
    vocab=30522, hidden=768, text_layers=12, text_heads=12, intermediate=3072, max_positions=512,
    type_vocab=2, embed_dim=768, context=77, fusion_layers=4, fusion_heads=8,
    ssl_mlp_dim=4096, ssl_emb_dim=256,
)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * 4, 1, bias=False)),
                ("1", nn.BatchNorm2d(planes * 4)),
            ]))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class AttentionPool2d(nn.Module):
    def __init__(self, spacial_dim, embed_dim, num_heads, output_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(
            torch.randn(spacial_dim ** 2 + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)
        self.num_heads = num_heads

    def forward(self, x):
        x = x.flatten(start_dim=2).permute(2, 0, 1)
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)
        x = x + self.positional_embedding[:, None, :].to(x.dtype)
        x, _ = F.multi_head_attention_forward(
            query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1],
            num_heads=self.num_heads, q_proj_weight=self.q_proj.weight,
            k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
            in_proj_weight=None,
            in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=self.c_proj.weight, out_proj_bias=self.c_proj.bias,
            use_separate_proj_weight=True, training=False, need_weights=False)
        return x.squeeze(0)


class ModifiedResNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        w = c["width"]
        self.conv1 = nn.Conv2d(3, w // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w // 2)
        self.conv2 = nn.Conv2d(w // 2, w // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(w // 2)
        self.conv3 = nn.Conv2d(w // 2, w, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(w)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = w
        for i, n in enumerate(c["layers"]):
            setattr(self, f"layer{i + 1}", self._make_layer(w << i, n, 1 if i == 0 else 2))
        self.attnpool = AttentionPool2d(c["image_size"] // 32, w * 32, c["heads"], c["output_dim"])

    def _make_layer(self, planes, blocks, stride):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * 4
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def trunk(self, x):
        for conv, bn in [(self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)]:
            x = F.relu(bn(conv(x)))
        x = self.avgpool(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class BertSelfAttention(nn.Module):
    def __init__(self, h, heads, p=0.0):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.heads, self.p = heads, p

    def forward(self, x):
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = (q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)).softmax(-1)
        att = F.dropout(att, self.p, self.training)
        return (att @ v).transpose(1, 2).reshape(b, n, d)


class BertOutput(nn.Module):
    def __init__(self, i, h, p=0.0):
        super().__init__()
        self.dense = nn.Linear(i, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)
        self.p = p

    def forward(self, x, residual):
        return self.LayerNorm(F.dropout(self.dense(x), self.p, self.training) + residual)


class BertAttention(nn.Module):
    def __init__(self, h, heads, p=0.0):
        super().__init__()
        self.self = BertSelfAttention(h, heads, p)
        self.output = BertOutput(h, h, p)

    def forward(self, x):
        return self.output(self.self(x), x)


class BertIntermediate(nn.Module):
    def __init__(self, h, i):
        super().__init__()
        self.dense = nn.Linear(h, i)

    def forward(self, x):
        return F.gelu(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        p = c.get("dropout", 0.0)
        self.attention = BertAttention(c["hidden"], c["text_heads"], p)
        self.intermediate = BertIntermediate(c["hidden"], c["intermediate"])
        self.output = BertOutput(c["intermediate"], c["hidden"], p)

    def forward(self, x):
        x = self.attention(x)
        return self.output(self.intermediate(x), x)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab"], c["hidden"], padding_idx=0)
        self.position_embeddings = nn.Embedding(c["max_positions"], c["hidden"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab"], c["hidden"])
        self.LayerNorm = nn.LayerNorm(c["hidden"], eps=1e-12)
        self.p = c.get("dropout", 0.0)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)[None]
        x = self.word_embeddings(ids) + self.position_embeddings(pos)
        x = self.LayerNorm(x + self.token_type_embeddings(torch.zeros_like(ids)))
        return F.dropout(x, self.p, self.training)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["text_layers"])])


class BertPooler(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.dense = nn.Linear(h, h)


class BertModel(nn.Module):
    """HuggingFace BertModel's names; no attention mask (spec A3). Dropout (BERT's: embeddings,
    attention probabilities, both sub-layer outputs) only where a config sets `dropout`: the
    parity checks run without it, the step benchmark with the preset's."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c["hidden"])

    def forward(self, ids):
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x)
        return x


class ResidualAttentionBlock(nn.Module):
    """OpenCLIP's pre-LN block: nn.MultiheadAttention and a GELU MLP."""

    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d, 4 * d)), ("gelu", nn.GELU()), ("c_proj", nn.Linear(4 * d, d))]))

    def forward(self, x):  # [L, B, D]
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, d, layers, heads):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(d, heads) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class UniMlip(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, e = c["hidden"], c["embed_dim"]
        self.visual = ModifiedResNet(c)
        self.text_encoder = BertModel(c)
        self.text_projection = nn.Parameter(torch.randn(h, e) * h ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.img_special_token = nn.Parameter(torch.randn(1, 1, e) * 0.02)
        self.mlm_projection = nn.Parameter(torch.randn(h, c["vocab"]) * h ** -0.5)
        self.fusion_module = Transformer(h, c["fusion_layers"], c["fusion_heads"])
        self.positional_embedding = nn.Parameter(torch.randn(c["context"], h) * 0.01)
        self.ln_final = nn.LayerNorm(h)
        m, o = c["ssl_mlp_dim"], c["ssl_emb_dim"]
        self.image_mlp = nn.Sequential(OrderedDict([
            ("layer1", nn.Linear(e, m)), ("bn1", nn.BatchNorm1d(m)), ("relu1", nn.ReLU()),
            ("layer2", nn.Linear(m, m)), ("bn2", nn.BatchNorm1d(m)), ("relu2", nn.ReLU()),
            ("layer3", nn.Linear(m, o))]))

    def encode_text(self, ids):
        states = self.text_encoder(ids)
        return states, states[:, 0] @ self.text_projection

    def fuse(self, states, image_features):
        b, n, _ = states.shape
        x = torch.cat([states, self.img_special_token.expand(b, -1, -1), image_features[:, None]], 1)
        fused = self.fusion_module(x.permute(1, 0, 2)).permute(1, 0, 2)[:, :n]
        return fused, (fused @ self.mlm_projection).log_softmax(-1)


def itc(image, text, logit_scale):
    logits = logit_scale.exp() * image @ text.t()
    labels = torch.arange(image.shape[0], device=image.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def drop_block2d(x, p, block_size, noise, eps=1e-6):
    """torchvision.ops.drop_block2d with the Bernoulli draw given."""
    n, c, h, w = x.shape
    block_size = min(block_size, w, h)
    noise = F.pad(noise.to(x.dtype), [block_size // 2] * 4, value=0)
    noise = F.max_pool2d(noise, stride=(1, 1), kernel_size=(block_size, block_size),
                         padding=block_size // 2)
    noise = 1 - noise
    return x * noise * (noise.numel() / (eps + noise.sum()))


def simclr(za, zb, tau=0.1):
    """SLIP's SIMCLRLoss on one process."""
    qa, qb = F.normalize(za, dim=-1, p=2), F.normalize(zb, dim=-1, p=2)
    n = qa.shape[0]
    labels = torch.arange(n, device=qa.device)
    masks = F.one_hot(labels, n) * 1e9
    aa, bb = qa @ qa.t() / tau - masks, qb @ qb.t() / tau - masks
    ab, ba = qa @ qb.t() / tau, qb @ qa.t() / tau
    return (F.cross_entropy(torch.cat([ab, aa], 1), labels)
            + F.cross_entropy(torch.cat([ba, bb], 1), labels)) / 2


@torch.no_grad()
def forward(model, x):
    model.eval()
    layer4 = model.visual.trunk(x["pixel_values"])
    image = F.normalize(model.visual.attnpool(layer4), dim=-1)
    states, projected = model.encode_text(x["input_ids"])
    text = F.normalize(projected, dim=-1)
    mlm_states = model.encode_text(x["mlm_input_ids"])[0]
    fused, logprobs = model.fuse(mlm_states, image)
    dropped = F.normalize(model.visual.attnpool(drop_block2d(layer4, 0.5, 3, x["dropblock_noise"])), dim=-1)
    keep = x["text_dropout_mask"].to(projected.dtype)
    text_dropped = F.normalize(projected * keep / 0.25, dim=-1)
    v = logprobs.shape[-1]
    out = {
        "image_features": image, "text_features": text, "layer4": layer4,
        "fusion_out": fused, "mlm_logprobs": logprobs,
        "loss_itc": itc(image, text, model.logit_scale),
        "loss_itc_img": itc(dropped, text, model.logit_scale),
        "loss_itc_txt": itc(image, text_dropped, model.logit_scale),
        "loss_mlm": F.nll_loss(logprobs.reshape(-1, v), x["mlm_labels"].reshape(-1), ignore_index=0),
    }
    if hasattr(model, "image_mlp"):
        za = model.image_mlp(model.visual.attnpool(model.visual.trunk(x["view_a"])))
        zb = model.image_mlp(model.visual.attnpool(model.visual.trunk(x["view_b"])))
        out["loss_i2i"] = simclr(za, zb)
    return out


def randomise(model, g):
    """Non-trivial values everywhere a fresh init leaves constants (BN statistics and affine,
    LayerNorm affine, zero biases), so that every parameter matters in the comparison."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if "running_var" in name:
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif "running_mean" in name or name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() == 1 and ("bn" in name or "LayerNorm" in name or "ln_" in name
                                    or "downsample.1" in name):
                t.copy_(1 + torch.randn(t.shape, generator=g) * 0.1)


def make_inputs(c, g, b=4):
    side, n, v = c["image_size"], c["context"], c["vocab"]
    ids = torch.zeros(b, n, dtype=torch.int64)
    labels = torch.zeros(b, n, dtype=torch.int64)
    for i in range(b):
        length = 6 + 3 * i
        ids[i, 0], ids[i, length + 1] = 2, 3
        ids[i, 1 : length + 1] = torch.randint(5, v, (length,), generator=g)
        labels[i, 0], labels[i, length + 1] = 2, 3
        labels[i, 2], labels[i, 4] = ids[i, 2], ids[i, 4]
    mlm_ids = ids.clone()
    mlm_ids[:, 2] = 4
    mlm_ids[:, 4] = 4
    h = side // 32
    return {
        "pixel_values": torch.randn(b, 3, side, side, generator=g),
        "input_ids": ids,
        "mlm_input_ids": mlm_ids,
        "mlm_labels": labels,
        "dropblock_noise": torch.bernoulli(torch.full((b, c["width"] * 32, h - 2, h - 2), 0.3), generator=g),
        "text_dropout_mask": torch.bernoulli(torch.full((b, c["embed_dim"]), 0.25), generator=g),
        "view_a": torch.randn(b, 3, side, side, generator=g),
        "view_b": torch.randn(b, 3, side, side, generator=g),
    }


@torch.no_grad()
def init_like_originals(model, c):
    """A fresh model's parameters as the original code initialises them. The modules were built
    with PyTorch's defaults (nn.Linear, nn.Conv2d, nn.BatchNorm*d, nn.LayerNorm,
    nn.MultiheadAttention); on top of those, as the originals do:
    - Hugging Face `BertPreTrainedModel._init_weights` over the text encoder: Linear weights and
      Embeddings N(0, initializer_range 0.02), Linear biases 0, the padding row (pad_token_id 0)
      of the word embeddings 0, LayerNorm weight 1 and bias 0;
    - PMC-CLIP `ModifiedResNet.initialize_parameters`: the attention pool's q/k/v/c projections
      N(0, c_proj.in_features^-0.5), every bottleneck's bn3.weight 0 (the positional embedding
      is randn / embed_dim^0.5 from its constructor);
    - PMC-CLIP `PMC_CLIP.__init__` / `init_parameters`: positional_embedding N(0, 0.01),
      logit_scale ln(1/0.07), text_projection and mlm_projection N(0, width^-0.5),
      img_special_token zeros; the fusion Transformer and SLIP's image MLP keep PyTorch's
      defaults."""
    for m in model.text_encoder.modules():
        if isinstance(m, nn.Linear):
            m.weight.normal_(mean=0.0, std=0.02)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.Embedding):
            m.weight.normal_(mean=0.0, std=0.02)
        elif isinstance(m, nn.LayerNorm):
            m.bias.zero_()
            m.weight.fill_(1.0)
    model.text_encoder.embeddings.word_embeddings.weight[0].zero_()
    pool = model.visual.attnpool
    std = pool.c_proj.in_features ** -0.5
    for lin in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
        nn.init.normal_(lin.weight, std=std)
    pool.positional_embedding.copy_(
        torch.randn(pool.positional_embedding.shape) / pool.positional_embedding.shape[1] ** 0.5)
    for stage in (model.visual.layer1, model.visual.layer2, model.visual.layer3, model.visual.layer4):
        for name, param in stage.named_parameters():
            if name.endswith("bn3.weight"):
                nn.init.zeros_(param)
    h = c["hidden"]
    nn.init.normal_(model.positional_embedding, std=0.01)
    nn.init.constant_(model.logit_scale, math.log(1 / 0.07))
    nn.init.normal_(model.text_projection, std=h ** -0.5)
    nn.init.normal_(model.mlm_projection, std=h ** -0.5)
    model.img_special_token.zero_()


def model_config(name_or_path):
    """A preset's dict, or a `unimlip` model TOML mapped onto this reference's names. The
    reference has no dropout in the text tower, so a TOML must set `text.dropout = 0`."""
    presets = {"tiny": TINY, "rn50-pubmedbert": RN50_PUBMEDBERT}
    if name_or_path in presets:
        return presets[name_or_path]
    import tomllib
    with open(name_or_path, "rb") as f:
        t = tomllib.load(f)
    v, x = t["vision"], t["text"]
    if x["dropout"] != 0:
        sys.exit(f"{name_or_path}: text.dropout is {x['dropout']}; the reference has no dropout")
    return dict(
        image_size=v["image_size"], layers=tuple(v["layers"]), width=v["width"],
        heads=v["heads"], output_dim=v["output_dim"], vocab=x["vocab_size"], hidden=x["hidden"],
        text_layers=x["layers"], text_heads=x["heads"], intermediate=x["intermediate"],
        max_positions=x["max_positions"], type_vocab=x["type_vocab"], embed_dim=t["embed_dim"],
        context=t["context_length"], fusion_layers=t["fusion_layers"],
        fusion_heads=t["fusion_heads"], ssl_mlp_dim=t["ssl_mlp_dim"], ssl_emb_dim=t["ssl_emb_dim"],
    )


def init_stats(name, out, seed):
    import json
    c = {"tiny": TINY, "rn50-pubmedbert": RN50_PUBMEDBERT}[name]
    torch.manual_seed(seed)
    model = UniMlip(c)
    init_like_originals(model, c)
    stats = {}
    for k, t in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        t = t.double()
        stats[k] = [t.numel(), t.mean().item(), t.std().item() if t.numel() > 1 else 0.0]
    with open(out, "w") as f:
        json.dump(stats, f)


LOSS_TOL, FEATURE_TOL = 1e-4, 1e-5


def compare(expected_path, got_path):
    want, got = st_io.load(expected_path), st_io.load(got_path)
    bad = []
    for name in sorted(want):
        if name not in got:
            bad.append(f"{name}: missing")
            continue
        a, b = want[name].double(), got[name].double()
        if a.shape != b.shape:
            bad.append(f"{name}: shape {tuple(b.shape)}, expected {tuple(a.shape)}")
            continue
        diff = (a - b).abs().max().item() if a.numel() else 0.0
        tol = LOSS_TOL if name.startswith("loss_") else FEATURE_TOL
        print(f"{name:16s} max |diff| {diff:.3e} (tolerance {tol:.0e})")
        if not diff <= tol:
            bad.append(f"{name}: max |diff| {diff:.3e} > {tol:.0e}")
    if bad:
        sys.exit("parity failed: " + "; ".join(bad))


def seeded_model(argv):
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = UniMlip(TINY)
    randomise(model, g)
    return model, g


def pmc_checkpoint(model, path):
    state = OrderedDict(("module." + k, v) for k, v in model.state_dict().items()
                        if not k.startswith("image_mlp."))
    state["module.text_encoder.embeddings.position_ids"] = torch.arange(TINY["max_positions"])[None]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    torch.save({"epoch": 1, "name": "tiny", "state_dict": state, "optimizer": opt.state_dict()}, path)


def load_pmc(path, c):
    """PMC-CLIP's main.py `--resume` on one process: the checkpoint must have `epoch`, its
    `state_dict` loses `module.` and loads strictly into PMC-CLIP's modules (no SimCLR head
    unless the checkpoint has one; BERT's position_ids and BatchNorm's num_batches_tracked
    buffers), and its optimiser state loads into AdamW over PMC-CLIP's two groups."""
    ckpt = torch.load(path, map_location="cpu")
    if "epoch" not in ckpt:
        sys.exit(f"{path}: no `epoch`: PMC-CLIP's --resume would load it as a bare state_dict")
    sd = ckpt["state_dict"]
    if next(iter(sd.items()))[0].startswith("module"):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    model = UniMlip(c)
    if not any(k.startswith("image_mlp.") for k in sd):
        del model.image_mlp
    model.text_encoder.embeddings.register_buffer(
        "position_ids", torch.arange(c["max_positions"])[None])
    model.load_state_dict(sd)
    exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": 0.2},
    ], lr=5e-4)
    optimizer.load_state_dict(ckpt["optimizer"])
    return model


def main(argv):
    if len(argv) >= 3 and argv[1] == "checkpoint":
        model, _ = seeded_model(argv)
        pmc_checkpoint(model, argv[2])
    elif len(argv) >= 3 and argv[1] == "make":
        out = argv[2]
        model, g = seeded_model(argv)
        os.makedirs(out, exist_ok=True)
        weights = {k: v for k, v in model.state_dict().items()
                   if not k.endswith("num_batches_tracked")}
        st_io.save(weights, os.path.join(out, "weights.safetensors"))
        x = make_inputs(TINY, g)
        st_io.save(x, os.path.join(out, "inputs.safetensors"))
        st_io.save(forward(model, x), os.path.join(out, "expected.safetensors"))
    elif len(argv) >= 4 and argv[1] == "init-stats":
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
        init_stats(argv[2], argv[3], seed)
    elif len(argv) >= 3 and argv[1] == "init":
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
        model_path = argv[argv.index("--model") + 1] if "--model" in argv else "tiny"
        c = model_config(model_path)
        torch.manual_seed(seed)
        model = UniMlip(c)
        init_like_originals(model, c)
        st_io.save({k: v for k, v in model.state_dict().items()
                    if not k.endswith("num_batches_tracked")}, argv[2])
    elif len(argv) >= 5 and argv[1] == "replay":
        import replay
        dtype = torch.float64 if "--float64" in argv else torch.float32
        save = argv[argv.index("--save") + 1] if "--save" in argv else None
        replay.main(argv[2], argv[3], argv[4], dtype, save)
    elif len(argv) >= 5 and argv[1] == "load-pmc":
        c = model_config(argv[argv.index("--model") + 1] if "--model" in argv else "tiny")
        model = load_pmc(argv[2], c)
        st_io.save(forward(model, st_io.load(argv[3])), argv[4])
    elif len(argv) == 4 and argv[1] == "compare":
        compare(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
