"""The loader from Python: batches, zero-copy arrays, a PyTorch loop, exact and elastic resume."""

import json

import numpy as np
import pytest

import unimlip
from conftest import run_py


def ids_of(loader, batches=None):
    out = []
    for i, b in enumerate(loader):
        out.extend(b["id"])
        if batches is not None and i + 1 == batches:
            break
    return out


def test_batches_are_uint8_views_over_the_loaders_buffers(figures):
    loader = unimlip.Loader(str(figures), pipeline="unimlip", batch_size=16, threads=2,
                            image_size=96)
    assert loader.views == ["weak", "strong1", "strong2"]
    b = next(iter(loader))
    for v in loader.views:
        a = b[v]
        assert a.dtype == np.uint8 and a.shape == (16, 96, 96, 3) and a.flags.c_contiguous
        # NumPy adopted the loader's buffer (its base), it did not copy it.
        assert type(a.base).__name__ == "Array" and a.base.nbytes == a.nbytes
        assert a.flags.writeable
    assert len(b["id"]) == 16 and all(isinstance(i, str) for i in b["id"])
    assert all(isinstance(c, str) and c for c in b["caption"])
    assert b["labels"] is None
    # The strong views are augmented differently from the weak one.
    assert not np.array_equal(b["weak"], b["strong1"])


def test_an_epoch_has_every_sample_once_and_the_next_iteration_is_the_next_epoch(figures):
    loader = unimlip.Loader(str(figures), pipeline="eval", batch_size=50, threads=2)
    n = unimlip.inspect(str(figures))["rows"]
    assert len(loader) == n // 50
    first = ids_of(loader)
    assert len(first) == n // 50 * 50 and len(set(first)) == len(first)
    second = ids_of(loader)
    assert len(second) == len(first) and second != first   # reshuffled
    assert loader.state_dict()["cursor"]["epoch"] == 2


def test_labels_are_float32_with_nan_for_unmentioned(chexpert):
    loader = unimlip.Loader(str(chexpert), pipeline="eval", batch_size=8, threads=1)
    b = next(iter(loader))
    labels = b["labels"]
    assert labels.dtype == np.float32 and labels.shape[0] == 8 and labels.shape[1] >= 5
    assert np.isnan(labels).any() and set(np.unique(labels[~np.isnan(labels)])) <= {-1.0, 0.0, 1.0}


def test_a_pytorch_training_loop(figures):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    loader = unimlip.Loader(str(figures), pipeline="rrc-flip", batch_size=32, threads=2,
                            image_size=64)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=4), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for b in loader:
        pixels = torch.from_numpy(b["rrc"])
        assert pixels.data_ptr() == b["rrc"].ctypes.data   # no copy on the way to torch
        x = pixels.permute(0, 3, 1, 2).float().div(255)
        target = x.mean(dim=(1, 2, 3)).unsqueeze(1)   # learn the mean brightness
        loss = torch.nn.functional.mse_loss(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert len(losses) == unimlip.inspect(str(figures))["rows"] // 32
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


RESUME = """
import json, sys, unimlip
url, batches, world, rank, state_in, out = sys.argv[1:7]
loader = unimlip.Loader(url, pipeline="rrc-flip", batch_size=20, seed=7, threads=2,
                        image_size=48, rank=int(rank), world_size=int(world))
if state_in != "-":
    loader.load_state_dict(json.load(open(state_in)))
ids, digests = [], []
for i, b in enumerate(loader):
    ids.extend(b["id"])
    digests.append(int(b["rrc"].astype("uint64").sum()))
    if i + 1 == int(batches):
        break
json.dump({"ids": ids, "pixels": digests, "state": loader.state_dict()}, open(out, "w"))
"""


def resume_run(tmp, url, batches, world=1, rank=0, state=None, tag="run"):
    out, state_in = tmp / f"{tag}.json", "-"
    if state is not None:
        state_in = tmp / f"{tag}-state.json"
        state_in.write_text(json.dumps(state))
    run_py(RESUME, url, batches, world, rank, state_in, out)
    return json.loads(out.read_text())


def test_resume_in_a_new_process_gives_exactly_the_remaining_sequence(figures, tmp_path):
    url = str(figures)
    whole = resume_run(tmp_path, url, 10**6, tag="whole")
    head = resume_run(tmp_path, url, 7, tag="head")
    tail = resume_run(tmp_path, url, 10**6, state=head["state"], tag="tail")
    assert head["ids"] + tail["ids"] == whole["ids"]
    # The same pixels too: the augmentations are keyed by sample and position, not by process.
    assert head["pixels"] + tail["pixels"] == whole["pixels"]
    assert head["state"]["cursor"]["position"] == 7 * 20


def test_two_ranks_resume_on_one(figures, tmp_path):
    url = str(figures)
    whole = resume_run(tmp_path, url, 10**6, tag="whole1")
    r0 = resume_run(tmp_path, url, 4, world=2, rank=0, tag="r0")
    r1 = resume_run(tmp_path, url, 4, world=2, rank=1, tag="r1")
    assert r0["state"] == r1["state"], "every rank saves the same state"
    rest = resume_run(tmp_path, url, 10**6, state=r0["state"], tag="rest")
    consumed = 4 * 2 * 20
    assert sorted(r0["ids"] + r1["ids"]) == sorted(whole["ids"][:consumed])
    assert rest["ids"] == whole["ids"][consumed:]


def test_bad_arguments_raise_clear_errors(figures, tmp_path):
    with pytest.raises(ValueError, match="pipeline"):
        unimlip.Loader(str(figures), pipeline="simclr")
    with pytest.raises(ValueError, match="rank 2 of world size 2"):
        unimlip.Loader(str(figures), rank=2, world_size=2)
    with pytest.raises(OSError):
        unimlip.Loader(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="split_file"):
        unimlip.Loader(str(figures), split_file="official")
    loader = unimlip.Loader(str(figures), batch_size=8, threads=1, pipeline="eval")
    with pytest.raises(ValueError):
        loader.load_state_dict({"nope": 1})
    state = loader.state_dict()
    state["cursor"]["seed"] = 99
    with pytest.raises(ValueError, match="seed"):
        loader.load_state_dict(state)


def test_stats_report_the_pipeline(figures):
    loader = unimlip.Loader(str(figures), pipeline="eval", batch_size=25, threads=2)
    ids_of(loader, batches=4)
    s = loader.stats()
    assert s["samples"] == 100 and s["batches"] == 4


def test_throughput_against_bench_loader_is_logged(figures):
    """Python's rate beside the CLI's on the same shards; bench/python.sh asserts the ratio."""
    import os
    import subprocess
    import sys
    from conftest import cli
    script = os.path.join(os.path.dirname(__file__), "..", "bench_loader.py")
    out = subprocess.run([sys.executable, script, str(figures), "--bin", cli(), "--repeat", "1",
                          "--batch-size", "32"], check=True, capture_output=True,
                         text=True).stdout
    report = json.loads(out)
    print("unimlip.Loader vs bench loader:", json.dumps(report))
    assert report["python_median"] > 0 and report["cli_median"] > 0
