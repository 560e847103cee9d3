"""A contact sheet of the hard benchmark (``docs/hard_benchmark.jpg``): what its looks look like.

One photo in every named filter look (strength 1, and a few at 0.5), reframings, one item of every transfer method,
and frames of one video's clips (segment 1, segment 3, and the cut joining them), each tile labeled with its
style (and framing or segment). Reads the cached hard benchmark (built first if needed).

    python scripts/hard_benchmark_sheet.py [--photo chelsea] [--video bigbuckbunny] [-o docs/hard_benchmark.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import pandas as pd
from PIL import Image, ImageDraw, ImageOps

from styledex.evaluation.benchdata import HARD_RECIPE, build_benchmark

TILE = 160  # tile width and height, pixels (the picture is fitted inside, letterboxed)
LABEL = 14  # label strip under each tile, pixels
COLUMNS = 8


def clip_frame(path: str, last: bool = False) -> Image.Image:
    """The first (or last) frame of a clip."""
    with av.open(path) as container:
        frames = [f.to_image() for f in container.decode(video=0)]
    return frames[-1 if last else 0]


def tile(img: Image.Image, label: str) -> Image.Image:
    out = Image.new("RGB", (TILE, TILE + LABEL), "white")
    out.paste(ImageOps.pad(img.convert("RGB"), (TILE, TILE), color="white", centering=(0.5, 1.0)), (0, 0))
    ImageDraw.Draw(out).text((2, TILE + 1), label[:30], fill="black")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default="chelsea", help="the photo shown in every look")
    parser.add_argument("--video", default="bigbuckbunny", help="the video whose clips are shown")
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/hard_benchmark.jpg"))
    args = parser.parse_args()
    rows = pd.read_csv(build_benchmark(recipe=HARD_RECIPE) / "manifest.csv", keep_default_na=False)
    mine = rows[rows["content"] == f"photo:{args.photo}"]
    tiles: list[Image.Image] = []
    strong = mine[(mine["group"] == "filters") & mine["style"].str.endswith("@1")]
    tiles += [tile(Image.open(r.path), r.style.removeprefix("filter:")) for r in strong.itertuples()]
    mild = mine[(mine["group"] == "filters") & mine["style"].str.endswith("@0.5")].head(2)
    tiles += [tile(Image.open(r.path), r.style.removeprefix("filter:")) for r in mild.itertuples()]
    reframed = rows[rows["group"] == "reframed"].drop_duplicates("framing").head(8)
    tiles += [tile(Image.open(r.path), f"{r.framing} {r.style.removeprefix('filter:')}") for r in reframed.itertuples()]
    neural = mine[mine["group"] == "neural"]
    one_per_method = neural.assign(method=neural["style"].str.partition(":")[0]).drop_duplicates("method")
    # The default font runs "s:s" together (gatys:starry_night read "gatysstarry_night"): a space after the colon.
    tiles += [tile(Image.open(r.path), r.style.replace(":", ": ")) for r in one_per_method.itertuples()]
    extra = neural[~neural.index.isin(one_per_method.index)].iloc[:: max(1, len(neural) // 8)]
    tiles += [tile(Image.open(r.path), r.style.replace(":", ": ")) for r in extra.head(COLUMNS - len(tiles) % COLUMNS)
              .itertuples()]  # fmt: skip
    source = f"video:{args.video}"
    video = rows[(rows["group"] == "video_hard") & (rows["style"] == "cin:7")]
    clips = {r.segment: r.path for r in video[video["content"] == source].itertuples()}
    for segment, last in (("1", False), ("3", True), ("cut", False), ("cut", True)):
        where = "last frame" if last else "frame 1"
        tiles.append(tile(clip_frame(clips[segment], last), f"segment {segment}, {where}, cin:7"))
    for r in rows[(rows["group"] == "video_hard") & (rows["segment"] == "1") & (rows["content"] == source)].head(4)\
            .itertuples():
        tiles.append(tile(clip_frame(r.path), f"segment 1, {r.style.removeprefix('filter:')}"))
    count = len(tiles) - len(tiles) % COLUMNS  # full rows only
    sheet = Image.new("RGB", (COLUMNS * TILE, count // COLUMNS * (TILE + LABEL)), "white")
    for i, t in enumerate(tiles[:count]):
        sheet.paste(t, (i % COLUMNS * TILE, i // COLUMNS * (TILE + LABEL)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=82, optimize=True)
    print(f"{args.output}: {sheet.size[0]}×{sheet.size[1]}, {args.output.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
