"""inspect / verify from Python, and the shards read by Hugging Face `datasets`."""

import glob

import pytest

import unimlip


def test_inspect_summarises_the_manifest(figures):
    s = unimlip.inspect(str(figures))
    assert s["dataset"] == "pmc-oa" and s["rows"] > 0 and s["shards"] >= 1
    assert sum(v["rows"] for v in s["splits"].values()) == s["rows"]
    assert s["inputs"] == s["rows"] + s["quarantine"]["rows"]


def test_verify_passes_then_names_a_damaged_shard(figures, tmp_path):
    import shutil
    v = unimlip.verify(str(figures))
    assert v["shards"] == unimlip.inspect(str(figures))["shards"]
    copy = tmp_path / "copy"
    shutil.copytree(figures, copy)
    shard = sorted(glob.glob(str(copy / "shards" / "*.parquet")))[0]
    data = bytearray(open(shard, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(shard, "wb").write(bytes(data))
    with pytest.raises(OSError, match="shards/"):
        unimlip.verify(str(copy))
