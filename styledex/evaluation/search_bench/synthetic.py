"""Synthetic vectors for the search bench: the clustered generator, its per-space profiles, and fitting a profile.

Isotropic Gaussian vectors have no neighbourhood structure at all, the worst case for every ANN index and unlike real
embeddings, so the default generator ("clustered") mimics the measured structure of real vectors: a shared mean
direction, a low-rank part with a power-law spectrum carrying clusters, and isotropic noise, then L2 normalization.
For a unit vector x::

    x ∝ μ·u + B·(√λ ⊙ (√(1−w)·c_z + √w·g)) + √(σ²/dim)·ε

u: a fixed random unit vector; B: a fixed random orthonormal dim×r basis (r = ``rank``); λᵢ ∝ i^(−α) scaled so
Σλ = (1 − μ²)(1 − ``noise_share``); z: a uniform cluster among ``clusters`` with centre c_z ~ N(0, I_r); g, ε: standard
normal (r and dim); w = ``within_share`` (the part of the low-rank variance inside a cluster); σ² = (1 − μ²)·
``noise_share``. μ (``mean_norm``), α and ``noise_share`` were fitted to the item vectors of the cached benchmark
catalog (``~/.cache/styledex/bench-v1``, 320 items): adain |mean| 0.945, eigenvalue decay α 1.59, 97% of the centred
variance in 64 components; content |mean| 0.37, α 0.67, 67% in 64 components. The cluster count and spread are
assumptions (the benchmark's labels are too few to fit them). Rows are generated in chunks of ``CHUNK`` rows, each
from its own seeded generator, so any rows can be regenerated instead of stored twice. ``isotropic`` (ε alone,
normalized) is reported at one size as the worst case.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from styledex.embed.spaces import resolve


@dataclass(frozen=True)
class SyntheticProfile:
    """Parameters of the clustered generator (module docstring): the structure of one space's vectors."""

    mean_norm: float
    alpha: float
    noise_share: float
    rank: int = 64
    clusters: int = 1000
    within_share: float = 0.3


SPACE_PROFILES: dict[str, SyntheticProfile] = {
    "adain": SyntheticProfile(mean_norm=0.945, alpha=1.59, noise_share=0.03),
    "content": SyntheticProfile(mean_norm=0.37, alpha=0.67, noise_share=0.33),
    # fit_profile on the same 320 items (it gives adain 0.945 / 1.64 / 0.035, content 0.369 / 0.73 / 0.34).
    "gram": SyntheticProfile(mean_norm=0.885, alpha=1.57, noise_share=0.044),
    "predictor": SyntheticProfile(mean_norm=0.95, alpha=2.56, noise_share=0.003),
    "cin": SyntheticProfile(mean_norm=0.941, alpha=3.04, noise_share=0.0005),
    # fit_profile on the same 320 items' style_head vectors (the `style` alias's space since the learned head).
    "style_head": SyntheticProfile(mean_norm=0.281, alpha=1.61, noise_share=0.0062),
}
_DEFAULT_PROFILE = SyntheticProfile(mean_norm=0.5, alpha=1.0, noise_share=0.2)


def fit_profile(vectors: np.ndarray, rank: int = 64) -> SyntheticProfile:
    """The clustered generator's ``mean_norm``, ``alpha`` and ``noise_share`` fitted to real vectors [n, dim].

    mean_norm: |mean| of the L2-normalized rows. alpha: minus the log-log slope of the centred covariance's leading
    ``rank`` eigenvalues against their rank. noise_share: from the share t of the centred variance in those
    components; the generator's noise spreads evenly over all ``dim`` directions, so t = (1 - s) + s·rank/dim and
    s = (1 - t) / (1 - rank/dim). With fewer rows than dimensions t is over-estimated (only n - 1 directions vary).
    """
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    mean = unit.mean(axis=0)
    eigen = np.linalg.svd(unit - mean, compute_uv=False) ** 2
    eigen /= eigen.sum()
    r = min(rank, len(eigen))
    alpha = -np.polyfit(np.log(np.arange(1, r + 1)), np.log(eigen[:r]), 1)[0]
    noise_share = max(0.0, (1 - eigen[:r].sum()) / (1 - r / vectors.shape[1]))
    return SyntheticProfile(
        mean_norm=round(float(np.linalg.norm(mean)), 3), alpha=round(float(alpha), 2),
        noise_share=round(float(noise_share), 4), rank=rank,
    )  # fmt: skip


class SyntheticVectors:
    """Unit vectors [n, dim] float32 of one space, row i reproducible from (dim, profile, seed, kind) alone."""

    CHUNK = 8192

    def __init__(self, dim: int, profile: SyntheticProfile, *, seed: int = 0, kind: str = "clustered") -> None:
        if kind not in ("clustered", "isotropic"):
            raise ValueError(f"kind must be clustered or isotropic, got {kind!r}")
        self.dim, self.profile, self.seed, self.kind = dim, profile, seed, kind
        rng = np.random.default_rng([seed, dim, 0])
        p = profile
        self._mean = rng.standard_normal(dim).astype(np.float32)
        self._mean *= p.mean_norm / np.linalg.norm(self._mean)
        self._basis = np.linalg.qr(rng.standard_normal((dim, p.rank)))[0].astype(np.float32)  # [dim, r]
        spread = (1 - p.mean_norm**2) * (1 - p.noise_share)
        lam = np.arange(1, p.rank + 1, dtype=np.float64) ** -p.alpha
        self._scale = np.sqrt(lam / lam.sum() * spread).astype(np.float32)  # [r]
        self._centres = rng.standard_normal((p.clusters, p.rank)).astype(np.float32)
        self._noise = math.sqrt((1 - p.mean_norm**2) * p.noise_share / dim)

    @classmethod
    def for_space(cls, space: str, *, seed: int = 0, kind: str = "clustered") -> SyntheticVectors:
        spec = resolve(space)
        return cls(spec.dim, SPACE_PROFILES.get(spec.name, _DEFAULT_PROFILE), seed=seed, kind=kind)

    def _chunk(self, number: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.dim, 1, number])
        noise = rng.standard_normal((self.CHUNK, self.dim), dtype=np.float32)
        if self.kind == "isotropic":
            x = noise
        else:
            p = self.profile
            z = rng.integers(p.clusters, size=self.CHUNK)
            g = rng.standard_normal((self.CHUNK, p.rank), dtype=np.float32)
            latent = (math.sqrt(1 - p.within_share) * self._centres[z] + math.sqrt(p.within_share) * g) * self._scale
            x = noise
            x *= self._noise
            x += latent @ self._basis.T
            x += self._mean
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def clusters(self, rows: np.ndarray) -> np.ndarray:
        """The cluster of each of ``rows`` [q] (row numbers): [q] int64, replaying their chunks' generators."""
        found = np.zeros(len(rows), dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        for number in np.unique(rows // self.CHUNK):
            rng = np.random.default_rng([self.seed, self.dim, 1, int(number)])
            rng.standard_normal((self.CHUNK, self.dim), dtype=np.float32)  # the noise _chunk draws first
            z = rng.integers(self.profile.clusters, size=self.CHUNK)
            mask = rows // self.CHUNK == number
            found[mask] = z[rows[mask] % self.CHUNK]
        return found

    def relatives(self, rows: np.ndarray, count: int) -> np.ndarray:
        """For each of ``rows`` [q], ``count`` new unit vectors of its cluster (fresh within-cluster and noise
        draws, seeded by the row): [q, count, dim] float32. They stand for other pictures of a row's subject, e.g.
        the region views (crops) a content query asks with; isotropic rows get isotropic relatives."""
        out = np.zeros((len(rows), count, self.dim), dtype=np.float32)
        clusters = self.clusters(rows) if self.kind == "clustered" else np.zeros(len(rows), dtype=np.int64)
        p = self.profile
        for i, (row, z) in enumerate(zip(np.asarray(rows).tolist(), clusters.tolist(), strict=True)):
            rng = np.random.default_rng([self.seed, self.dim, 2, row])
            x = rng.standard_normal((count, self.dim), dtype=np.float32)
            if self.kind == "clustered":
                g = rng.standard_normal((count, p.rank), dtype=np.float32)
                latent = (math.sqrt(1 - p.within_share) * self._centres[z] + math.sqrt(p.within_share) * g)
                x = x * self._noise + (latent * self._scale) @ self._basis.T + self._mean
            out[i] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1: [stop - start, dim] float32."""
        first, last = start // self.CHUNK, (stop - 1) // self.CHUNK
        block = np.concatenate([self._chunk(c) for c in range(first, last + 1)]) if stop > start else None
        if block is None:
            return np.zeros((0, self.dim), np.float32)
        offset = first * self.CHUNK
        return np.ascontiguousarray(block[start - offset : stop - offset])

    def chunks(self, n: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows [≤ CHUNK, dim]) covering rows 0..n-1 in order."""
        for start in range(0, n, self.CHUNK):
            yield start, self.rows(start, min(n, start + self.CHUNK))
