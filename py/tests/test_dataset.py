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


def test_hugging_face_datasets_reads_the_shards(figures, tmp_path, monkeypatch):
    """The two lines of the README: `datasets` opens a dataset root's shards as Parquet."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    import io
    from PIL import Image

    ds = datasets.load_dataset("parquet", data_files=str(figures / "shards" / "*.parquet"),
                               split="train")
    assert len(ds) == unimlip.inspect(str(figures))["rows"]
    row = ds[0]
    assert isinstance(row["caption"], str) and row["caption"]
    img = Image.open(io.BytesIO(row["image"]))
    img.load()
    assert (img.width, img.height) == (row["width"], row["height"])
    assert {"id", "split", "image_format", "labels", "qa"} <= set(ds.column_names)
