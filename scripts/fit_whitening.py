"""Fit the ``adain_white`` space: a PCA whitening of the AdaIN statistics of the learned heads' training images.

    python scripts/fit_whitening.py [--dim 64] [--out embed/weights]

Reads the heads' training set (:mod:`styledex.train.head_data`, built and cached on first use: ~10 min on 2 CPU
cores), fits :class:`styledex.embed.heads.StatsWhitening` on the 2944 AdaIN statistics of every item (no labels:
none of the held-out photos, looks, paintings or artists of ``train/splits.py`` is in that set), and writes
``adain_white.pt`` (fp32: the whitening divides by square roots of small variances) and ``adain_white.json`` (the
data, the kept variances' share of the total). The dimension, 64, is the one of the outside probe that motivated
it (the issue that asked for the learned heads), chosen before any measurement here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from styledex.embed.heads import STYLE_STATS_DIM, WHITENED, StatsWhitening
from styledex.train.head_data import DataRecipe, build

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "embed" / "weights")
    args = parser.parse_args()
    data = build(DataRecipe(), progress=True)
    statistics = data.style_inputs[:, :STYLE_STATS_DIM]
    head = StatsWhitening(args.dim)
    kept = head.fit(statistics)
    total = float(torch.cov(statistics.double().T).trace())
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({"state": {"head": head.state_dict()}, "meta": {"dim": args.dim}}, args.out / f"{WHITENED}.pt")
    record = {
        "name": WHITENED,
        "dim": args.dim,
        "data": {**data.recipe, "statistics": "adain_statistics (2944)"},
        "items": len(statistics),
        "variance_kept": round(float(kept.sum()) / total, 4),
        "largest_variances": [round(float(v), 6) for v in kept[:5]],
        "command": "python scripts/fit_whitening.py --dim " + str(args.dim),
    }
    (args.out / f"{WHITENED}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    kept_share = record["variance_kept"]
    print(f"{WHITENED}: {args.dim} directions keep {kept_share:.1%} of the variance of {len(statistics)} items")


if __name__ == "__main__":
    main()
