"""Converts a PMC-CLIP checkpoint (torch.save of {"state_dict": ...}) into safetensors with the
model's parameter names: strips `module.`, drops `num_batches_tracked`, `position_ids` and any
optimiser or scaler state. Usage: convert_pmc_clip.py IN.pt OUT.safetensors"""

import sys

import torch

import st_io


def convert(state):
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError("the checkpoint holds no state_dict")
    out = {}
    for name, t in state.items():
        if not torch.is_tensor(t):
            continue
        if name.startswith("module."):
            name = name[len("module.") :]
        if name.endswith("num_batches_tracked") or name.endswith("position_ids"):
            continue
        out[name] = t.float() if t.is_floating_point() else t
    return out


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: convert_pmc_clip.py IN.pt OUT.safetensors")
    try:
        ckpt = torch.load(argv[1], map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - one line for any unreadable file
        first = (str(e).strip().splitlines() or ["unreadable"])[0]
        sys.exit(f"not a readable torch checkpoint: {first}")
    tensors = convert(ckpt)
    st_io.save(tensors, argv[2])
    print(f"{len(tensors)} tensors")


if __name__ == "__main__":
    main(sys.argv)
