"""Train every transfer model styledex ships, in parallel on one CUDA GPU: how the shipped weights were made.

    python scripts/export_training_data.py .devdata            # on a machine with the data packages
    STYLEDEX_TRAIN_DATA=.devdata python scripts/gpu_train.py runs/gpu --limit 420

Each run in :data:`RUNS` is ``styledex train``'s trainer with the config in ``configs/train/<method>.yaml`` plus the
overrides below (256-px crops, batch 8: the papers' crop size, which a 2-core CPU cannot afford), stopped after
``--limit`` seconds of training (``time_limit_s``; the record keeps the steps done). Runs are separate processes
because one small-batch trainer leaves most of a GPU idle; each gets one CPU thread for its crop sampling.
Stylebank runs twice in sequence: a bank of three styles, then a fourth added with everything else frozen.

Afterwards ``python scripts/ship_weights.py runs/gpu/<run>`` copies a run's weights into ``embed/weights/``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STYLES = ROOT / "embed" / "weights" / "styles"

GPU = {"batch_size": 8, "image_size": 256, "load_side": 300, "threads": 1, "steps": 1_000_000}
DECODER = {"lr": 5e-4, "lr_decay": 2e-4}  # halves the lr by step 5k

# name -> (method, overrides). Base banks must come before the runs that add to them (see `chain`).
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "adain": ("adain", {"lr": 1e-4, "lr_decay": 5e-5}),  # Huang & Belongie's lr and decay
    "adain_id": ("adain", {"lr": 3e-4, "lr_decay": 5e-5, "identity_weight": 1.0}),
    **{f"wct_relu{k}_1": ("wct", {"layer": f"relu{k}_1", **DECODER}) for k in range(1, 6)},
    "johnson_starry": ("johnson", {"style_images": [str(STYLES / "starry.jpg")], "name": "starry", "lr": 1e-3}),
    "johnson_seurat": ("johnson", {"style_images": [str(STYLES / "seurat.jpg")], "name": "seurat", "lr": 1e-3}),
    "cin_predictor": ("cin-predictor", {"lr": 5e-4, "lr_decay": 1e-4}),
    "stylebank": ("stylebank", {"style_images": [str(STYLES / f"{n}.jpg") for n in ("toledo", "rousseau", "klimt")],
                                "content_weight": 2.0, "lr": 1e-3}),
    "stylebank_add": ("stylebank", {"style_images": [str(STYLES / "gauguin.jpg")], "content_weight": 2.0,
                                    "lr": 1e-3}),
}
# runs that start when the one before them ends, sharing its time budget (fractions of --limit)
CHAINS = {"stylebank": [("stylebank", 0.65), ("stylebank_add", 0.35)]}


def train_one(name: str, out: Path, limit: float) -> None:
    from styledex.train import load_train_config, train

    method, overrides = RUNS[name]
    overrides = {**GPU, **overrides, "time_limit_s": limit}
    if name == "stylebank_add":
        overrides["base"] = str(out.parent / "stylebank" / "stylebank.pt")
    cfg = load_train_config(method, overrides=overrides)
    result = train(method, cfg, out, progress=False)
    rec = result.record
    print(f"{name}: {rec['steps']} steps in {rec['train_seconds']} s on {rec['device']}; "
          f"final {rec['final_losses']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--limit", type=float, default=420, help="training seconds per run")
    parser.add_argument("--runs", nargs="+", default=[n for n in RUNS if n != "stylebank_add"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        train_one(args.one, args.out / args.one, args.limit)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    procs: list[tuple[str, subprocess.Popen]] = []
    for name in args.runs:
        steps = CHAINS.get(name, [(name, 1.0)])
        cmd = " && ".join(
            f"{sys.executable} {__file__} {args.out} --one {n} --limit {args.limit * share:.0f} "
            f"> {args.out / n}.log 2>&1" for n, share in steps
        )
        procs.append((name, subprocess.Popen(cmd, shell=True, env={**os.environ, "OMP_NUM_THREADS": "1"})))
    start = time.time()
    for name, proc in procs:
        code = proc.wait()
        print(f"[{time.time() - start:6.0f} s] {name}: exit {code}", flush=True)


if __name__ == "__main__":
    main()
