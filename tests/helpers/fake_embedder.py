"""A stand-in for :class:`styledex.embed.embedder.Embedder` that needs no network: deterministic vectors from pixels.

It has what the pipeline (``add_sources``), the search (``Searcher(catalog, embedder=...)``) and
``catalog_embedder(..., factory=FakeEmbedder)`` use: ``specs``, ``names``, ``image_size``, ``batch_size``,
``fingerprints()`` and ``embed(images) -> {space: float32 [n, dim] unit rows}``, and the constructor's arguments.

The spaces are real ones (their names, dims and metrics: the search resolves names through the registry), and each
is fed by a few numbers read from the RGB pixels scaled to 0..1:

- a ``content`` space (the layout): the mean colour of each cell of a 2 × 2 grid, 12 numbers;
- a ``style`` space (the palette): the mean and the standard deviation of each channel, 6 numbers.

Those numbers, less 0.5 (so vectors spread over the sphere), followed by a constant 0.05 (so a mid-grey image has
a direction too), fill the first coordinates of the vector; the rest are 0; the row is then L2-normalized.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from styledex.embed.spaces import SpaceSpec, resolve

DEFAULT_SPACES = ("content", "predictor")  # 2048-d layout, 100-d palette
BIAS = 0.05


def layout_features(image: Image.Image) -> np.ndarray:
    """The mean RGB (0..1) of each cell of a 2 × 2 grid, row by row: [12] float64 (a box filter averages areas)."""
    cells = image.convert("RGB").resize((2, 2), Image.Resampling.BOX)
    return np.asarray(cells, dtype=np.float64).reshape(-1) / 255.0


def palette_features(image: Image.Image) -> np.ndarray:
    """The mean and standard deviation (0..1) of R, G and B over all pixels: [6] float64."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
    return np.concatenate([pixels.mean(axis=0), pixels.std(axis=0)])


def fake_vector(image: Image.Image, spec: SpaceSpec) -> np.ndarray:
    """The unit vector [spec.dim] float32 of ``image`` in ``spec`` (module docstring)."""
    features = layout_features(image) if spec.kind == "content" else palette_features(image)
    vector = np.zeros(spec.dim, np.float64)
    vector[: len(features)] = features - 0.5
    vector[len(features)] = BIAS
    return (vector / np.linalg.norm(vector)).astype(np.float32)


class FakeEmbedder:
    """The Embedder interface over :func:`fake_vector`. ``calls`` records how many images each ``embed`` call got."""

    def __init__(
        self,
        spaces: Sequence[str] = DEFAULT_SPACES,
        *,
        image_size: int = 32,
        batch_size: int = 8,
        device: str = "cpu",
        threads: int | None = None,
        precision: str = "auto",
        aspect: str = "keep",
    ) -> None:
        self.specs: list[SpaceSpec] = [resolve(name) for name in dict.fromkeys(spaces)]
        self.image_size = image_size
        self.aspect = aspect
        self.batch_size = batch_size
        self.device, self.threads, self.precision = device, threads, precision
        self.calls: list[int] = []

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def fingerprints(self) -> dict[str, str]:
        """Space name → fingerprint: 16 hex digits, never one of the real embedder's (other weights)."""
        return {spec.name: spec.fingerprint(f"fake-pixels:{self.image_size}") for spec in self.specs}

    def embed(self, images: Sequence[Image.Image], *, views: bool = False) -> dict[str, np.ndarray]:
        """Like the real embedder's, but never with region views (a fake catalog asks with whole vectors)."""
        self.calls.append(len(images))
        return {
            spec.name: np.stack([fake_vector(image, spec) for image in images])
            if images
            else np.zeros((0, spec.dim), np.float32)
            for spec in self.specs
        }
