"""Draw a MIXGAN run: rows the held-out photos; columns the photo, the content decoder's rebuilt photo G_c(E(x)),
then the photo in each trained style domain (what ``styledex transfer --method mixgan --style-name D`` renders);
a last row of images generated from codes drawn from the prior (no input image: the paper's mixture generation),
one per domain.

    python scripts/mixgan_sheet.py runs/mixgan/default/mixgan.pt docs/training/mixgan_heldout.jpg [--side 256]

The first argument is a run's exported ``mixgan.pt`` or its ``checkpoint.pt`` (to look at a run while it trains);
the top row shows each domain's style image when it lies beside the weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from styledex.embed.transfer.imaging import fit_long_side, pad_to_multiple, to_image, to_tensor
from styledex.embed.transfer.mixgan import MULTIPLE, Mixgan, spec_keys
from styledex.embed.transfer.weights import load_weights
from styledex.train.data import named_images

CELL = 128


def load(path: Path) -> tuple[Mixgan, list[str]]:
    """The network of an exported weight file or of a training checkpoint, in eval mode, and its domains' names."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if "modules" in blob:  # a checkpoint: the config holds the architecture
        config = blob["config"]
        names = config.get("style_names") or [Path(p).stem for p in config["style_images"]]
        spec, state = {"width": config["width"], "z_channels": config["z_channels"], "domain_count": len(names)}, \
            blob["modules"]["net"]
    else:
        weights, meta = load_weights(path)
        names = [d["name"] for d in meta["domains"]]
        spec, state = {k: meta[k] for k in spec_keys()}, weights["net"]
    net = Mixgan(**spec)
    net.load_state_dict(state)
    return net.eval(), names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--side", type=int, default=256, help="long side the photos are rendered at, px")
    parser.add_argument("--count", type=int, default=6, help="held-out photos")
    args = parser.parse_args()
    net, names = load(args.weights)
    photos = [img for _, img in named_images("heldout-photos")][: args.count]
    sheet = Image.new("RGB", ((len(names) + 2) * CELL, (len(photos) + 2) * CELL), "white")
    for j, name in enumerate(names):
        style = args.weights.parent / f"{name}.jpg"
        if style.is_file():
            sheet.paste(fit_long_side(Image.open(style).convert("RGB"), CELL), ((j + 2) * CELL, 0))
    eye = torch.eye(len(names))
    with torch.inference_mode():
        for i, photo in enumerate(photos):
            target = fit_long_side(photo, args.side)
            x = pad_to_multiple(to_tensor(target)[None], MULTIPLE)
            rebuilt, mixtures = net.decode(net.encoder(x).expand(len(names), -1, -1, -1), eye)
            row = [target, to_image(rebuilt[:1, :, : target.height, : target.width]),
                   *(to_image(m[None, :, : target.height, : target.width]) for m in mixtures)]  # fmt: skip
            for j, image in enumerate(row):
                sheet.paste(fit_long_side(image, CELL), (j * CELL, (i + 1) * CELL))
        generated = net.generate(len(names), eye, args.side - args.side % MULTIPLE, torch.Generator().manual_seed(0))
        for j in range(len(names)):
            sheet.paste(fit_long_side(to_image(generated[j : j + 1]), CELL), ((j + 2) * CELL, (len(photos) + 1) * CELL))
    sheet.save(args.out, quality=88) if args.out.suffix.lower() in (".jpg", ".jpeg") else sheet.save(args.out)
    print(f"{args.out}: {len(photos)} photos × {len(names)} domains at {args.side} px, and {len(names)} generated")


if __name__ == "__main__":
    main()
