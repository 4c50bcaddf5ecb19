"""The straightforward Python ingest the benchmark compares against.

Reads a PMC-OA layout (pmc_oa_beta.jsonl + image folder), decodes every image with PIL to
validate it, applies the same policy as `unimlip ingest` (keep the bytes when the longer side is
at most 512 px, else resize to 512 with bicubic and re-encode in the same format: JPEG quality 90,
PNG keeping 16-bit), and writes Parquet with pyarrow: same columns, image uncompressed, the rest
zstd. Work is spread over a multiprocessing pool of --workers processes.
"""
import argparse
import io
import json
import os
import time
from multiprocessing import Pool

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGE_DIR = "caption_T060_filtered_top4_sep_v0_subfigures"
MAX_SIDE = 512


def normalise(task):
    root, name, caption = task
    path = os.path.join(root, IMAGE_DIR, name)
    with open(path, "rb") as f:
        data = f.read()
    im = Image.open(io.BytesIO(data))
    fmt = im.format
    im.load()  # decode every pixel: the validation
    w, h = im.size
    depth = 16 if im.mode in ("I;16", "I;16B", "I") else 8
    channels = 1 if im.mode in ("L", "I;16", "I;16B", "I", "LA") else 3
    if max(w, h) > MAX_SIDE:
        s = MAX_SIDE / max(w, h)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        if depth == 16:
            im = im.convert("I").resize(size, Image.BICUBIC).convert("I;16")
        else:
            im = im.resize(size, Image.BICUBIC)
        out = io.BytesIO()
        if fmt == "JPEG":
            im.save(out, "JPEG", quality=90)
        else:
            im.save(out, "PNG", compress_level=1)
        data, (w, h) = out.getvalue(), size
    return {
        "id": name.rsplit(".", 1)[0], "split": "train", "image": data, "image_format": fmt.lower(),
        "width": w, "height": h, "channels": channels, "bit_depth": depth,
        "source_path": f"{IMAGE_DIR}/{name}", "caption": caption, "extra": "{}",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    a = ap.parse_args()
    start = time.time()
    tasks = []
    with open(os.path.join(a.src, "pmc_oa_beta.jsonl")) as f:
        for line in f:
            o = json.loads(line)
            tasks.append((a.src, o["image"], o["caption"]))
    os.makedirs(a.out, exist_ok=True)
    writer, batch, n = None, [], 0
    compression = {c: "zstd" for c in ("id", "split", "image_format", "width", "height", "channels", "bit_depth", "source_path", "caption", "extra")}
    compression["image"] = "none"
    with Pool(a.workers) as pool:
        for row in pool.imap(normalise, tasks, chunksize=8):
            batch.append(row)
            n += 1
            if len(batch) == 256:
                t = pa.Table.from_pylist(batch)
                writer = writer or pq.ParquetWriter(os.path.join(a.out, "shard-00000.parquet"), t.schema, compression=compression)
                writer.write_table(t)
                batch = []
    if batch:
        t = pa.Table.from_pylist(batch)
        writer = writer or pq.ParquetWriter(os.path.join(a.out, "shard-00000.parquet"), t.schema, compression=compression)
        writer.write_table(t)
    writer.close()
    print(json.dumps({"images": n, "seconds": time.time() - start}))


if __name__ == "__main__":
    main()
