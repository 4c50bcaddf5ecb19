"""`unimlip.Loader` from Python against `unimlip bench loader` on the same shards, interleaved.

    python py/bench_loader.py DATASET --bin path/to/unimlip [--pipeline unimlip] [--repeat 3]
        [--batch-size 64] [--threads N] [--min-ratio 0.95]

Both sides stream one epoch with the same pipeline, batch size, threads and seed; the rate is
samples/s from the first batch on (the pipeline full, as `bench loader` reports it). Prints one
JSON object with every run and the medians; with --min-ratio, exits 1 when Python's median is
below that fraction of the CLI's.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import unimlip


def python_rate(url, pipeline, batch_size, threads):
    loader = unimlip.Loader(url, pipeline=pipeline, batch_size=batch_size, threads=threads)
    it = iter(loader)
    first = next(it)
    samples, start = 0, time.perf_counter()
    del first
    for b in it:
        samples += len(b["id"])
    return samples / (time.perf_counter() - start)


def cli_rate(binary, url, pipeline, batch_size, threads):
    out = subprocess.run([binary, "bench", "loader", "--data", url, "--pipeline", pipeline,
                          "--batch-size", str(batch_size), "--threads", str(threads), "--json"],
                         check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    return report.get("steady_samples_per_s") or report["samples_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pipeline", default="unimlip")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--min-ratio", type=float)
    a = ap.parse_args()
    py, cli = [], []
    for _ in range(a.repeat):
        cli.append(cli_rate(a.bin, a.dataset, a.pipeline, a.batch_size, a.threads))
        py.append(python_rate(a.dataset, a.pipeline, a.batch_size, a.threads))
    ratio = statistics.median(py) / statistics.median(cli)
    print(json.dumps({"pipeline": a.pipeline, "threads": a.threads, "batch_size": a.batch_size,
                      "python_samples_per_s": py, "cli_samples_per_s": cli,
                      "python_median": statistics.median(py), "cli_median": statistics.median(cli),
                      "ratio": ratio}))
    if a.min_ratio is not None and ratio < a.min_ratio:
        print(f"unimlip.Loader at {ratio:.3f} of bench loader, below {a.min_ratio}",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
