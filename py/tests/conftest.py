"""Shared fixtures: small datasets written by the unimlip CLI (`UNIMLIP_BIN`), in the real
layouts, ingested once per session."""

import os
import shutil
import subprocess
import sys

import pytest


def cli():
    path = os.environ.get("UNIMLIP_BIN") or shutil.which("unimlip")
    if not path:
        pytest.skip("no unimlip binary: set UNIMLIP_BIN (scripts/test.sh does)")
    return path


def ingest(tmp, dataset, n, extra=()):
    src, out = tmp / f"{dataset}-src", tmp / f"{dataset}"
    subprocess.run([cli(), "synth", "--dataset", dataset, "--out", str(src), "--n", str(n), *extra],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cli(), "ingest", "--dataset", dataset, "--src", str(src), "--out", str(out),
                    "--json"], check=True, stdout=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="session")
def figures(tmp_path_factory):
    """About 600 PMC-OA-like figures of 64-128 px."""
    tmp = tmp_path_factory.mktemp("figures")
    return ingest(tmp, "pmc-oa", 600, ["--image-size", "64-128", "--seed", "3"])


@pytest.fixture(scope="session")
def chexpert(tmp_path_factory):
    """A CheXpert-layout dataset: labels with uncertain and unmentioned entries."""
    return ingest(tmp_path_factory.mktemp("chexpert"), "chexpert", 120)


def run_py(code, *args):
    """Runs `code` in a new interpreter (a fresh process, as a restarted job is)."""
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout
