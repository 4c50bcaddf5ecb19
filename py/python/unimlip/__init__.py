"""unimlip from Python: stream augmented batches of unimlip shards into a PyTorch loop.

    import unimlip
    loader = unimlip.Loader("s3://bucket/roco", pipeline="unimlip", batch_size=256)
    for batch in loader:                      # one epoch per iteration
        weak = torch.from_numpy(batch["weak"])  # (256, 224, 224, 3) uint8, no copy
        ...
        state = loader.state_dict()           # save with the checkpoint
    loader.load_state_dict(state)             # resume exactly, on any world size

The pixels come from the Rust loader's thread pool (decode, crops, colour, blur, flip) with the
GIL released while a batch is awaited; each view is a NumPy array over the loader's own buffer.
"""

import json
import os

import numpy as np

from . import _native

__all__ = ["Loader", "inspect", "verify", "__version__"]
__version__ = _native.__version__

PIPELINES = ("unimlip", "rrc-flip", "eval")


def _source(s, split_file):
    if isinstance(s, str):
        s = {"url": s}
    elif not isinstance(s, dict) or "url" not in s:
        raise TypeError(f"a source is a URL or a dict with a 'url', not {s!r}")
    s = dict(s)
    if split_file is not None and "split_file" not in s:
        s["split_file"] = split_file
    if "split_file" in s:
        sf = s["split_file"]
        if isinstance(sf, str):
            name, sep, part = sf.partition(":")
            if not sep or not name or not part:
                raise ValueError(f"split_file {sf!r}: expected 'NAME:PART', e.g. 'official:test'")
            sf = (name, part)
        s["split_file"] = list(sf)
    return s


def _env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer") from None


class Loader:
    """Batches of one or more unimlip datasets for rank `rank` of `world_size`.

    sources: a URL (local folder or s3://bucket/prefix), a dict {"url", "splits", "weight",
        "name", "split_file"}, or a list of them (mixed by weight).
    pipeline: "unimlip" (views weak, strong1, strong2), "rrc-flip" (view rrc) or "eval" (view
        eval), at `image_size` pixels.
    rank, world_size: default to torchrun's RANK and WORLD_SIZE (0 and 1 without them).
    threads: augmentation threads (default: every core).
    cache_dir, cache_bytes: a local shard cache for remote sources.
    split_file: "NAME:PART" of a split file in the dataset (e.g. "official:test").

    Iterating yields dicts: one uint8 array (batch, side, side, 3) per view, "id" and "caption"
    lists, "labels" (float32 (batch, classes), NaN where not mentioned) or None, and "index".
    """

    def __init__(
        self,
        sources,
        pipeline="unimlip",
        batch_size=256,
        seed=0,
        rank=None,
        world_size=None,
        threads=None,
        cache_dir=None,
        cache_bytes=None,
        split_file=None,
        image_size=224,
    ):
        if pipeline not in PIPELINES:
            raise ValueError(f"pipeline {pipeline!r}: expected one of {', '.join(PIPELINES)}")
        if isinstance(sources, (str, dict)):
            sources = [sources]
        sources = [_source(s, split_file) for s in sources]
        if not sources:
            raise ValueError("no sources")
        rank = _env_int("RANK", 0) if rank is None else int(rank)
        world_size = _env_int("WORLD_SIZE", 1) if world_size is None else int(world_size)
        options = {
            "sources": sources,
            "pipeline": pipeline,
            "image_size": int(image_size),
            "batch_size": int(batch_size),
            "seed": int(seed),
            "rank": rank,
            "world_size": world_size,
            "threads": None if threads is None else int(threads),
            "cache_dir": None if cache_dir is None else os.fspath(cache_dir),
            "cache_bytes": None if cache_bytes is None else int(cache_bytes),
        }
        self._native = _native.NativeLoader(json.dumps(options))
        self.batch_size = int(batch_size)
        self.rank, self.world_size = rank, world_size
        self.views = list(self._native.views())

    def __iter__(self):
        """The rest of the current epoch; the next iteration starts the next epoch."""
        while True:
            batch = self._native.next_batch()
            if batch is None:
                return
            for name in self.views:
                batch[name] = np.asarray(batch[name])
            if batch["labels"] is not None:
                batch["labels"] = np.asarray(batch["labels"])
            yield batch

    def __len__(self):
        """Batches left in the current epoch for this rank."""
        return self._native.batches_left()

    def state_dict(self):
        """The resume state after the last batch delivered (the same on every rank)."""
        return {"cursor": json.loads(self._native.state())}

    def load_state_dict(self, state):
        """Continue from `state_dict()`'s result, with this or any other world size."""
        if not isinstance(state, dict) or "cursor" not in state:
            raise ValueError("not a unimlip.Loader state: expected a dict with a 'cursor'")
        self._native.load_state(json.dumps(state["cursor"]))

    def stats(self):
        """The loader's stage figures so far (fetch, decode, augment, waits, cache)."""
        return json.loads(self._native.stats())


def inspect(url):
    """The manifest summary of the dataset at `url` as a dict."""
    return json.loads(_native.inspect(os.fspath(url)))


def verify(url):
    """Re-hash every shard of the dataset at `url`; raises OSError on the first damaged one."""
    return json.loads(_native.verify(os.fspath(url)))
