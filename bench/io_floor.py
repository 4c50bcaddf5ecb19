"""The I/O floor: read every image file and write the same Parquet columns without decoding."""
import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

IMAGE_DIR = "caption_T060_filtered_top4_sep_v0_subfigures"


def main():
    src, out = sys.argv[1], sys.argv[2]
    start = time.time()
    os.makedirs(out, exist_ok=True)
    writer, batch, n = None, [], 0
    compression = {"id": "zstd", "caption": "zstd", "source_path": "zstd", "image": "none"}
    with open(os.path.join(src, "pmc_oa_beta.jsonl")) as f:
        for line in f:
            o = json.loads(line)
            with open(os.path.join(src, IMAGE_DIR, o["image"]), "rb") as g:
                data = g.read()
            batch.append({"id": o["image"].rsplit(".", 1)[0], "image": data, "source_path": o["image"], "caption": o["caption"]})
            n += 1
            if len(batch) == 256:
                t = pa.Table.from_pylist(batch)
                writer = writer or pq.ParquetWriter(os.path.join(out, "floor.parquet"), t.schema, compression=compression)
                writer.write_table(t)
                batch = []
    if batch:
        t = pa.Table.from_pylist(batch)
        writer = writer or pq.ParquetWriter(os.path.join(out, "floor.parquet"), t.schema, compression=compression)
        writer.write_table(t)
    writer.close()
    print(json.dumps({"images": n, "seconds": time.time() - start}))


if __name__ == "__main__":
    main()
