"""Copy the outputs of ``styledex train`` runs into the places the project ships them from.

    python scripts/ship_weights.py runs/johnson/starry runs/adain/default ...

For each run folder: ``<name>.pt`` and ``<name>.json`` → ``embed/weights/``; style images (``*.jpg``) →
``embed/weights/styles/``; ``loss.png`` → ``docs/training/<name>_loss.png``. The checkpoint is never shipped.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "embed" / "weights"


def ship(run: Path) -> list[Path]:
    weights = [p for p in run.glob("*.pt") if p.name != "checkpoint.pt"]
    if not weights:
        raise SystemExit(f"{run}: no exported weights (did the run finish?)")
    copied = []
    for pt in weights:
        for src, dst in ((pt, WEIGHTS / pt.name), (pt.with_suffix(".json"), WEIGHTS / f"{pt.stem}.json")):
            shutil.copy2(src, dst)
            copied.append(dst)
        if (run / "loss.png").is_file():
            dst = ROOT / "docs" / "training" / f"{pt.stem}_loss.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run / "loss.png", dst)
            copied.append(dst)
    for jpg in run.glob("*.jpg"):
        (WEIGHTS / "styles").mkdir(parents=True, exist_ok=True)
        shutil.copy2(jpg, WEIGHTS / "styles" / jpg.name)
        copied.append(WEIGHTS / "styles" / jpg.name)
    return copied


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for folder in sys.argv[1:]:
        for path in ship(Path(folder)):
            print(path.relative_to(ROOT))
