"""Draw a MUNIT run's renderings: rows the held-out photos, columns held-out paintings, each cell the photo's content
code decoded by the painting decoder with that painting's style code (what ``styledex transfer --method munit``
does).

    python scripts/munit_sheet.py runs/munit/default/munit.pt docs/training/munit_heldout.jpg [--side 256]

The first argument is a run's exported ``munit.pt`` or its ``checkpoint.pt`` (to look at a run while it trains).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from styledex.embed.transfer.imaging import fit_long_side, to_image
from styledex.embed.transfer.munit import Munit, image_batch, spec_keys
from styledex.embed.transfer.weights import load_weights
from styledex.train.data import named_images

CELL = 128


def load(path: Path) -> Munit:
    """The network of an exported weight file or of a training checkpoint, in eval mode."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if "modules" in blob:  # a checkpoint: the config holds the architecture
        state, spec = blob["modules"]["net"], {k: blob["config"][k] for k in spec_keys()}
    else:
        weights, spec = load_weights(path)
        state = weights["net"]
    net = Munit(**spec)
    net.load_state_dict(state)
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--side", type=int, default=256, help="long side the photos are rendered at, px")
    parser.add_argument("--count", type=int, default=6, help="photos and paintings")
    args = parser.parse_args()
    net = load(args.weights)
    photos = [img for _, img in named_images("heldout-photos")][: args.count]
    paintings = [img for _, img in named_images("heldout-paintings")][: args.count]
    sheet = Image.new("RGB", ((len(paintings) + 1) * CELL, (len(photos) + 1) * CELL), "white")
    with torch.inference_mode():
        codes = [net.painting.style(image_batch(p, 256, net.painting.multiple, torch.device("cpu"))) for p in paintings]
        for j, painting in enumerate(paintings):
            sheet.paste(fit_long_side(painting, CELL), ((j + 1) * CELL, 0))
        for i, photo in enumerate(photos):
            sheet.paste(fit_long_side(photo, CELL), (0, (i + 1) * CELL))
            target = fit_long_side(photo, args.side)
            content = net.photo.content(image_batch(photo, args.side, net.photo.multiple, torch.device("cpu")))
            for j, code in enumerate(codes):
                out = net.painting.decoder(content, code)[..., : target.height, : target.width]
                sheet.paste(fit_long_side(to_image(out), CELL), ((j + 1) * CELL, (i + 1) * CELL))
    sheet.save(args.out, quality=88) if args.out.suffix.lower() in (".jpg", ".jpeg") else sheet.save(args.out)
    print(f"{args.out}: {len(photos)} photos × {len(paintings)} paintings at {args.side} px")


if __name__ == "__main__":
    main()
