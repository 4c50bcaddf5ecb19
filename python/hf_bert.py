"""Hugging Face BERT folders for testing `unimlip convert hf-bert` and `init_text` without a
download: a random model of a given shape, saved as `transformers` saves it.

    hf_bert.py make DIR [--format safetensors|bin] [--head none|mlm] [--seed S]
        writes DIR/config.json, DIR/model.safetensors (or pytorch_model.bin, as older
        `transformers` and many hub folders have), DIR/vocab.txt, and beside them
        inputs.safetensors (pixel_values, input_ids for the `tiny` model) and
        expected.safetensors (`text_cls`: Hugging Face's last_hidden_state[:, 0] on input_ids)
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

# The text tower of the `tiny` preset (trainer/src/model/uni.rs).
SHAPE = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=128, max_position_embeddings=77, type_vocab_size=2)


def flag(argv, name, default):
    return argv[argv.index(name) + 1] if name in argv else default


def vocab(n):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words += [f"w{i}" for i in range(n - len(words))]
    return "\n".join(words) + "\n"


def make(out, fmt, head, seed):
    from transformers import BertConfig, BertForMaskedLM, BertModel

    torch.manual_seed(seed)
    config = BertConfig(**SHAPE)
    model = (BertForMaskedLM if head == "mlm" else BertModel)(config).eval()
    with torch.no_grad():  # non-trivial LayerNorm affine and biases: every tensor matters
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape) * 0.1)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    if fmt == "bin":
        os.remove(os.path.join(out, "model.safetensors"))
        torch.save(model.state_dict(), os.path.join(out, "pytorch_model.bin"))
    with open(os.path.join(out, "vocab.txt"), "w") as f:
        f.write(vocab(SHAPE["vocab_size"]))
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(4, 77, dtype=torch.int64)
    for i in range(4):
        n = 5 + 4 * i
        ids[i, 0], ids[i, n + 1] = 2, 3
        ids[i, 1 : n + 1] = torch.randint(5, SHAPE["vocab_size"], (n,), generator=g)
    bert = model.bert if head == "mlm" else model
    with torch.no_grad():
        cls = bert(input_ids=ids).last_hidden_state[:, 0]
    inputs = {"pixel_values": torch.randn(4, 3, 96, 96, generator=g), "input_ids": ids}
    st_io.save(inputs, os.path.join(out, "inputs.safetensors"))
    st_io.save({"text_cls": cls}, os.path.join(out, "expected.safetensors"))


def main(argv):
    if len(argv) >= 3 and argv[1] == "make":
        make(argv[2], flag(argv, "--format", "safetensors"), flag(argv, "--head", "none"),
             int(flag(argv, "--seed", "0")))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
