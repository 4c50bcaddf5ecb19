"""The peers of unimlip, each run as its users run it (bench/peers.sh drives this).

  peers.py convert PEER SRC OUT [--validate] [--workers N]
      PEER: litdata (litdata.optimize), mds (streaming.MDSWriter), wds (webdataset.ShardWriter),
      ffcv (ffcv's DatasetWriter, which always decodes and re-encodes).
      SRC is a PMC-OA folder (`unimlip synth --dataset pmc-oa`). Without --validate the image
      bytes are copied as they are, as those tools' users write them; with it every image is
      fully decoded first (what `unimlip ingest` does), in a pool of N processes where the
      writer itself has none.
  peers.py load PEER PIPELINE SOURCE [--workers N] [--samples N] [--batch-size N]
      PEER: litdata, mds, wds (torchvision v2 in a DataLoader of N workers) or dali (DALI's own
      CPU operators, N threads, reading the WebDataset tars) or ffcv (its own loader and
      operators, N threads; rrc-flip only). PIPELINE: rrc-flip or unimlip
      (one weak and two strong views, bench/baseline_loader.py's transforms). SOURCE: the
      peer's output folder or an s3:// URL of it (endpoint and keys from AWS_ENDPOINT_URL,
      AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).

Each prints one JSON object: images or samples, seconds, the rate, cores used and, for
loading, first_batch_s (from opening the dataset to the first batch) and steady_samples_per_s
(from the first batch to the last: the rate once the pipeline is full, FFCV's compilation and
the workers' start left out).
"""
import argparse
import glob
import io
import json
import os
import shutil
import sys
import time
from multiprocessing import Pool

SHARD_BYTES = 64 << 20


def pmc_oa_samples(src):
    """(key, image path, caption) of every line of a PMC-OA folder's jsonl."""
    meta = os.path.join(src, "pmc_oa_beta.jsonl")
    images = os.path.join(src, "caption_T060_filtered_top4_sep_v0_subfigures")
    out = []
    with open(meta) as f:
        for line in f:
            r = json.loads(line)
            out.append((os.path.splitext(r["image"])[0], os.path.join(images, r["image"]), r["caption"]))
    return out


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def validated(item):
    """The sample with its bytes, after a full decode (raises on a bad image)."""
    from PIL import Image

    key, path, caption = item
    data = read_bytes(path)
    with Image.open(io.BytesIO(data)) as im:
        im.convert("RGB").load()
    return key, data, caption


def copied(item):
    key, path, caption = item
    return key, read_bytes(path), caption


def litdata_sample(item):
    key, data, caption = copied(item)
    return {"key": key, "image": data, "caption": caption}


def litdata_sample_validated(item):
    key, data, caption = validated(item)
    return {"key": key, "image": data, "caption": caption}


def convert(a):
    items = pmc_oa_samples(a.src)
    shutil.rmtree(a.out, ignore_errors=True)
    t0 = time.perf_counter()
    if a.peer == "litdata":
        from litdata import optimize

        fn = litdata_sample_validated if a.validate else litdata_sample
        optimize(fn=fn, inputs=items, output_dir=os.path.abspath(a.out), chunk_bytes=SHARD_BYTES,
                 num_workers=a.workers, mode="overwrite")
        cores = a.workers
    elif a.peer == "ffcv":
        ffcv_convert(items, a.out, a.workers)
        cores = a.workers
    else:
        # MDSWriter and ShardWriter write from one process; validation gets a pool in front.
        pool = Pool(a.workers) if a.validate else None
        samples = pool.imap(validated, items, chunksize=16) if pool else map(copied, items)
        cores = a.workers if pool else 1
        if a.peer == "mds":
            from streaming import MDSWriter

            with MDSWriter(out=a.out, columns={"key": "str", "image": "bytes", "caption": "str"},
                           size_limit=SHARD_BYTES) as w:
                for key, data, caption in samples:
                    w.write({"key": key, "image": data, "caption": caption})
        elif a.peer == "wds":
            import webdataset as wds

            os.makedirs(a.out, exist_ok=True)
            with wds.ShardWriter(os.path.join(a.out, "shard-%06d.tar"), maxsize=SHARD_BYTES,
                                 verbose=0) as w:
                for key, data, caption in samples:
                    w.write({"__key__": key, "jpg": data, "txt": caption})
        else:
            sys.exit(f"peers.py: unknown peer {a.peer!r}")
        if pool:
            pool.close()
            pool.join()
    secs = time.perf_counter() - t0
    print(json.dumps({"peer": a.peer, "validate": a.validate, "images": len(items), "seconds": secs,
                      "images_per_s": len(items) / secs, "cores": cores}))


class FfcvSource:
    """The samples as FFCV's writer takes them: a decoded image (FFCV keeps no encoded bytes as
    they are: it decodes and re-encodes every image) and the caption's bytes."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        import numpy as np
        from PIL import Image

        _, path, caption = self.items[i]
        return Image.open(path).convert("RGB"), np.frombuffer(caption.encode(), dtype=np.uint8)


def ffcv_convert(items, out, workers):
    from ffcv.fields import BytesField, RGBImageField
    from ffcv.writer import DatasetWriter

    os.makedirs(out, exist_ok=True)
    writer = DatasetWriter(os.path.join(out, "data.beton"),
                           {"image": RGBImageField(write_mode="jpg", jpeg_quality=90),
                            "caption": BytesField()}, num_workers=workers)
    writer.from_indexed_dataset(FfcvSource(items))


def ffcv_loader(a):
    """FFCV's own loader and operators (rrc-flip only: see below)."""
    from ffcv.fields.decoders import RandomResizedCropRGBImageDecoder
    from ffcv.loader import Loader, OrderOption
    from ffcv.transforms import RandomHorizontalFlip, ToTensor

    if a.pipeline != "rrc-flip":
        sys.exit("peers.py: FFCV 1.0.2 cannot give one field several pipelines (its Loader has no"
                 " custom_field_mapper yet), so it has no three-view row")
    pipelines = {"image": [RandomResizedCropRGBImageDecoder((224, 224)), RandomHorizontalFlip(),
                           ToTensor()], "caption": None}
    loader = Loader(os.path.join(a.source, "data.beton"), batch_size=a.batch_size,
                    num_workers=a.workers, order=OrderOption.RANDOM, drop_last=True,
                    pipelines=pipelines, seed=0)

    def batches():
        while True:
            for b in loader:
                yield b

    return batches()


def views_of(pipeline):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from baseline_loader import pipelines

    return pipelines()[pipeline]


class Decode:
    """PIL decode + the torchvision v2 views of one sample's bytes (picklable for workers)."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.views = None

    def __call__(self, data):
        from PIL import Image

        if self.views is None:
            self.views = views_of(self.pipeline)
        return self.views(Image.open(io.BytesIO(data)).convert("RGB"))


def s3_options():
    return {
        "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
        "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
    }


def torch_loader(a, decode):
    import torch
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    s3 = a.source.startswith("s3://")
    if a.peer == "litdata":
        import litdata

        class Litdata(litdata.StreamingDataset):
            def __getitem__(self, i):
                return decode(super().__getitem__(i)["image"])

        kw = {}
        if s3:
            cache = os.path.join(a.cache, "litdata")
            shutil.rmtree(cache, ignore_errors=True)   # every run reads from the store
            kw = {"storage_options": s3_options(), "cache_dir": cache}
            # LitData's prefetcher (obstore) refuses plain-HTTP endpoints such as the loopback
            # server's unless its client options allow them; there is no public switch.
            from litdata.streaming import downloader

            downloader._OBSTORE_CLIENT_OPTIONS["allow_http"] = "true"
        ds = Litdata(a.source, shuffle=True, drop_last=True, **kw)
        return litdata.StreamingDataLoader(ds, batch_size=a.batch_size, num_workers=a.workers,
                                           drop_last=True)
    if a.peer == "mds":
        import streaming

        class Mds(streaming.StreamingDataset):
            def __getitem__(self, i):
                return decode(super().__getitem__(i)["image"])

        streaming.base.util.clean_stale_shared_memory()
        if s3:
            os.environ.setdefault("S3_ENDPOINT_URL", os.environ["AWS_ENDPOINT_URL"])
            local = os.path.join(a.cache, "mds")
            shutil.rmtree(local, ignore_errors=True)
            ds = Mds(remote=a.source, local=local, shuffle=True, batch_size=a.batch_size)
        else:
            ds = Mds(local=a.source, shuffle=True, batch_size=a.batch_size)
        return DataLoader(ds, batch_size=a.batch_size, num_workers=a.workers, drop_last=True)
    if a.peer == "wds":
        import webdataset as wds

        urls = wds_urls(a.source)
        ds = (wds.WebDataset(urls, shardshuffle=len(urls), nodesplitter=wds.split_by_node,
                             workersplitter=wds.split_by_worker, empty_check=False)
              .shuffle(1000).to_tuple("jpg").map(lambda t: decode(t[0])))
        return DataLoader(ds, batch_size=a.batch_size, num_workers=a.workers, drop_last=True)
    sys.exit(f"peers.py: unknown peer {a.peer!r}")


def wds_urls(source):
    """The tars of a WebDataset folder, or `pipe:` URLs that stream them from S3 (as its docs
    show with `aws s3 cp`; here a boto3 one-liner, as no AWS CLI is installed)."""
    if not source.startswith("s3://"):
        return sorted(glob.glob(os.path.join(source, "*.tar")))
    bucket, _, prefix = source[len("s3://"):].partition("/")
    import boto3

    s3 = boto3.client("s3", **s3_options())
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
                  if o["Key"].endswith(".tar"))
    cat = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers.py")
    return [f"pipe:{sys.executable} {cat} s3cat {bucket} {k}" for k in keys]


def dali_loader(a):
    """DALI CPU pipeline over the WebDataset tars: its decoder and operators, a.workers threads."""
    from nvidia.dali import fn, pipeline_def, types

    tars = sorted(glob.glob(os.path.join(a.source, "*.tar")))

    def strong(img):
        img = fn.random_resized_crop(img, size=(224, 224), random_area=(0.5, 1.0),
                                     interp_type=types.INTERP_CUBIC)
        jitter = fn.random.coin_flip(probability=0.8)
        grey = fn.random.coin_flip(probability=0.2)
        sat = 1.0 + jitter * fn.random.uniform(range=(-0.4, 0.4))
        img = fn.color_twist(img,
                             brightness=1.0 + jitter * fn.random.uniform(range=(-0.4, 0.4)),
                             contrast=1.0 + jitter * fn.random.uniform(range=(-0.4, 0.4)),
                             saturation=sat * (1 - grey),
                             hue=jitter * fn.random.uniform(range=(-36.0, 36.0)))
        if fn.random.coin_flip(probability=0.5):
            img = fn.gaussian_blur(img, window_size=23, sigma=fn.random.uniform(range=(0.1, 2.0)))
        return fn.flip(img, horizontal=fn.random.coin_flip())

    @pipeline_def(batch_size=a.batch_size, num_threads=a.workers, device_id=None, seed=0,
                  enable_conditionals=True)
    def pipe():
        jpegs = fn.readers.webdataset(paths=tars, ext=["jpg"], random_shuffle=True,
                                      initial_fill=1000, name="reader")
        if a.pipeline == "rrc-flip":
            img = fn.decoders.image_random_crop(jpegs, device="cpu", output_type=types.RGB,
                                                random_area=(0.08, 1.0))
            img = fn.resize(img, size=(224, 224))
            return fn.flip(img, horizontal=fn.random.coin_flip())
        img = fn.decoders.image(jpegs, device="cpu", output_type=types.RGB)
        weak = fn.random_resized_crop(img, size=(224, 224), random_area=(0.5, 1.0),
                                      interp_type=types.INTERP_CUBIC)
        return weak, strong(img), strong(img)

    p = pipe()
    p.build()

    def batches():
        while True:
            out = p.run()
            yield [o.as_array() for o in out]

    return batches()


def load(a):
    t_open = time.perf_counter()
    if a.peer == "dali":
        batches = dali_loader(a)
    elif a.peer == "ffcv":
        batches = ffcv_loader(a)
    else:
        batches = iter(torch_loader(a, Decode(a.pipeline)))
    got, first, t_first, n_first = 0, None, None, 0
    t0 = time.perf_counter()
    while got < a.samples:
        try:
            views = next(batches)
        except StopIteration:  # an epoch ended: the next one
            batches = iter(torch_loader(a, Decode(a.pipeline)))
            continue
        got += len(views[0])
        if first is None:
            t_first, n_first = time.perf_counter(), got
            first = t_first - t_open
    t_end = time.perf_counter()
    secs = t_end - t0
    steady = (got - n_first) / (t_end - t_first) if t_end > t_first else float("nan")
    print(json.dumps({"peer": a.peer, "pipeline": a.pipeline, "samples": got, "seconds": secs,
                      "samples_per_s": got / secs, "steady_samples_per_s": steady,
                      "cores": a.workers, "first_batch_s": first}))
    sys.stdout.flush()
    os._exit(0)  # DALI's and the workers' teardown is not what is measured


def s3cat(bucket, key):
    import boto3

    body = boto3.client("s3", **s3_options()).get_object(Bucket=bucket, Key=key)["Body"]
    shutil.copyfileobj(body, sys.stdout.buffer, 1 << 20)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "s3cat":
        return s3cat(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert")
    c.add_argument("peer")
    c.add_argument("src")
    c.add_argument("out")
    c.add_argument("--validate", action="store_true")
    c.add_argument("--workers", type=int, default=os.cpu_count())
    l = sub.add_parser("load")
    l.add_argument("peer")
    l.add_argument("pipeline", choices=["rrc-flip", "unimlip"])
    l.add_argument("source")
    l.add_argument("--workers", type=int, default=os.cpu_count())
    l.add_argument("--samples", type=int, default=3000)
    l.add_argument("--batch-size", type=int, default=64)
    l.add_argument("--cache", default="/tmp/unimlip-peers-cache")
    a = ap.parse_args()
    convert(a) if a.cmd == "convert" else load(a)


if __name__ == "__main__":
    main()
