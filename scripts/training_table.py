"""Print the README's training table from the records shipped beside the weights (``embed/weights/*.json``).

    python scripts/training_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent.parent / "embed" / "weights"


def main() -> None:
    print("| weights | method | trained on | steps | crop px × batch | train time | loss first → last | file |")
    print("|---|---|---|---|---|---|---|---|")
    for record_path in sorted(WEIGHTS.glob("*.json")):
        record = json.loads(record_path.read_text())
        weights = record_path.with_name(record_path.name.split(".")[0] + ".pt")
        if not weights.is_file() or "config" not in record:  # adain_white.json: a fitted matrix, not a training run
            continue
        # X.base.json: the record of the run a later one built on (stylebank's first styles)
        label = f"`{weights.name}`" + (" (base run)" if record_path.name.count(".") > 1 else "")
        device = record.get("device", "cpu")
        where = "H100" if "H100" in device else "CUDA" if device.startswith("cuda") else "2-core CPU"
        cfg = record["config"]
        first, last = record["first_losses"].get("total"), record["final_losses"].get("total")
        minutes = record["train_seconds"] / 60
        print(
            f"| {label} | {record['method']} | {where} | {record['steps']} | {cfg['image_size']} × {cfg['batch_size']} "
            f"| {minutes:.0f} min | {first:.3g} → {last:.3g} | {weights.stat().st_size / 1e6:.1f} MB |"
        )


if __name__ == "__main__":
    main()
