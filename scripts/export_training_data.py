"""Write the named training sources (train/data.py) to image folders, for a machine that lacks the packages.

    python scripts/export_training_data.py OUT_DIR [--side 512]

Each of ``photos``, ``paintings``, ``heldout-photos`` and ``heldout-paintings`` becomes ``OUT_DIR/<source>/`` with
one JPEG (quality 95, so nearly but not bit-exactly the same pixels: PNGs would not fit the 64 MiB a GPU lease
carries) per image, short side shrunk to ``--side`` pixels (never enlarged). A trainer then reads them with
``STYLEDEX_TRAIN_DATA=OUT_DIR`` and records the source names as usual. ``--side`` must be at least the training
config's ``load_side``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from styledex.embed.transfer.imaging import fit_short_side
from styledex.train.data import NAMED_SOURCES, named_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--side", type=int, default=400, help="short side of the written images, pixels")
    parser.add_argument("--sources", nargs="+", default=list(NAMED_SOURCES), choices=NAMED_SOURCES)
    args = parser.parse_args()
    for source in args.sources:
        folder = args.out / source
        folder.mkdir(parents=True, exist_ok=True)
        pairs = named_images(source)
        for index, (name, image) in enumerate(pairs):
            small = image if min(image.size) <= args.side else fit_short_side(image, args.side)
            small.save(folder / f"{index:03d}_{name}.jpg", quality=95)
        print(f"{source}: {len(pairs)} images -> {folder}")


if __name__ == "__main__":
    main()
