"""Catalogs for tests: the session's tiny catalog (built with the real CLI), catalogs of random vectors (no media, no
embedding), and the facts every catalog must satisfy after a crash or a concurrent write (:func:`check_consistent`).

The tiny config makes the real VGG19 cheap on CPU: 64-px input, three VGG spaces (no ONNX predictor), 3 frames per
video. The session catalog (8 small images + 1 small video) is built once by ``tests/conftest.py`` and is read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from styledex.catalog import ITEM_FRAME, Catalog, ItemRecord, SpaceVectors
from styledex.config import IndexConfig
from styledex.embed.embedder import Embedder
from styledex.embed.spaces import SPACES, resolve
from styledex.index import IndexMismatchError, SpaceIndex
from styledex.search import embed_meta
from styledex.space_indexes import SpaceIndexes

from helpers.cli import run_inprocess
from helpers.media import make_image, make_shapes, make_video, restyle

TINY_CONFIG = """\
embed: {image_size: 64, spaces: [content, adain, gram]}
media: {frames: 3}
catalog: {items_per_batch: 4}
"""

SESSION_VIDEO_FRAMES = 4  # passed as --frames to the session `add`, overriding the config's 3


# -- the session catalog ------------------------------------------------------------------------------------
@dataclass
class TinyCatalog:
    """The session catalog: its directory, the media folder it was built from, and what `add` reported."""

    directory: Path
    media: Path
    config: Path
    summary: dict[str, Any]
    items: list[dict[str, Any]]
    paths: dict[str, Path] = field(default_factory=dict)  # short name → file
    ids: dict[str, int] = field(default_factory=dict)  # short name → item id


def build_tiny_catalog(root: Path, config: Path) -> TinyCatalog:
    """8 images (5 formats, one in a subfolder) and one 24-frame video under ``root``, added once with ``--frames 4``.

    ``A`` and ``B`` are shape drawings; ``A_restyled`` is A after a strong colour restyle and ``B_restyled`` is
    B after the same restyle (B itself is not in the catalog): same style as A_restyled, other content.
    """
    media = root / "media"
    (media / "sub").mkdir(parents=True)
    paths: dict[str, Path] = {}
    paths["A"] = make_shapes(media / "A.png", seed=4)
    b = make_shapes(root / "B.png", seed=5)  # outside the media folder: only its restyle is added
    paths["A_restyled"] = restyle(paths["A"], media / "A_restyled.png")
    paths["B_restyled"] = restyle(b, media / "B_restyled.png")
    paths["noise"] = make_image(media / "noise.jpg", seed=1, pattern="noise")
    paths["gradient"] = make_image(media / "gradient.webp", seed=2, pattern="gradient")
    paths["checker"] = make_image(media / "checker.bmp", seed=3, pattern="checker")
    paths["sub_checker"] = make_image(media / "sub" / "checker2.png", seed=7, pattern="checker")
    paths["gif"] = make_image(media / "sub" / "anim.gif", seed=8, pattern="gradient")
    paths["video"] = make_video(media / "sub" / "clip.mp4", n_frames=24, size=(64, 48), fps=12, seed=9)
    (media / "notes.txt").write_text("not media: a folder walk must ignore this")

    directory = root / "catalog"
    run = run_inprocess(
        "--config", config, "add", media, "--catalog", directory, "--frames", SESSION_VIDEO_FRAMES, "--json"
    )
    assert run.rc == 0, run.err
    summary = run.json()
    listing = run_inprocess("list", "--catalog", directory, "--json")
    assert listing.rc == 0, listing.err
    items = listing.json()
    by_path = {item["path"]: item["id"] for item in items}
    ids = {name: by_path[str(path.absolute())] for name, path in paths.items()}
    return TinyCatalog(directory, media, config, summary, items, paths, ids)


# -- catalogs of random vectors -----------------------------------------------------------------------------
def clustered_unit_vectors(n: int, dim: int, *, seed: int = 0, clusters: int = 30, spread: float = 0.6) -> np.ndarray:
    """[n, dim] float32 unit rows around ``clusters`` random centres (real embeddings cluster; isotropic noise is
    the worst case of every approximate index, and unlike them). Row i depends on (n, dim, seed) only."""
    rng = np.random.default_rng([seed, dim])
    centres = rng.standard_normal((clusters, dim))
    vectors = (centres[rng.integers(clusters, size=n)] + spread * rng.standard_normal((n, dim))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def build_vector_catalog(
    directory: Path, items: int, spaces: Sequence[str], *, seed: int = 0, batch: int = 1000
) -> Catalog:
    """A catalog of ``items`` image rows (ids 1..items) with :func:`clustered_unit_vectors` in the real ``spaces``
    (their dims; fingerprints as the real embedder's, so every command opens it as it opens any catalog); no media
    behind the rows, no index built. The caller closes it."""
    catalog = Catalog.open(directory, create=True)
    meta = embed_meta(Embedder(list(spaces)))
    vectors = {space: clustered_unit_vectors(items, resolve(space).dim, seed=seed) for space in spaces}
    with catalog.writing():
        catalog.set_meta("embed", meta)
        for start in range(0, items, batch):
            records = [
                ItemRecord(
                    path=f"/synthetic/{i}.jpg", status="ok", kind="image", sha256=f"{i:064x}",
                    vectors={space: SpaceVectors(vectors[space][i]) for space in spaces},
                )
                for i in range(start, min(items, start + batch))
            ]  # fmt: skip
            catalog.write_batch(records)
    return catalog


# -- what must hold after any crash or concurrent write -----------------------------------------------------
def check_consistent(catalog_dir: Path, *, search: bool = True) -> list[int]:
    """Everything that must hold after a crash (see tests/robustness/test_crash.py); the ok item ids, ascending.

    ``search``: also run `styledex search --id` for one item and compare with the ok items (exact indexes only).
    """
    # Opened first, as any command would: a kill inside the very first open left a file without tables.
    with Catalog.open(catalog_dir) as catalog:
        db = catalog.db
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        orphans = db.execute("SELECT COUNT(*) FROM vectors WHERE item_id NOT IN (SELECT id FROM items)").fetchone()
        assert orphans[0] == 0
        rows = [tuple(r) for r in db.execute("SELECT id, path, sha256, status FROM items ORDER BY id")]
        per_space = {
            r[0]: r[1]
            for r in db.execute("SELECT space, COUNT(*) FROM vectors WHERE frame = ? GROUP BY space", (ITEM_FRAME,))
        }
        ok = [row for row in rows if row[3] == "ok"]
        ok_ids = [row[0] for row in ok]
        assert len(ok) == len(rows), "a crash must not leave failed rows for good files"
        assert len({row[2] for row in ok}) == len(ok), "an item is in the catalog twice"
        assert len({row[1] for row in rows}) == len(rows), "a path is in the catalog twice"

        embed = catalog.get_meta("embed")
        if embed is None:  # killed before the embedding settings were stored: nothing can have been added
            assert ok_ids == []
            return ok_ids
        assert set(per_space) <= set(embed["spaces"])
        for space, fingerprint in embed["spaces"].items():
            assert per_space.get(space, 0) == len(ok), f"{space}: one item-level vector per ok item"
            spec = SPACES[space]
            # An index on disk is current (its revision is the catalog's) and then exact, or visibly not.
            try:
                saved = SpaceIndex.open(
                    catalog.index_dir(space), expected_fingerprint=fingerprint, expected_dim=spec.dim
                )
            except (FileNotFoundError, IndexMismatchError):
                saved = None
            if saved is not None and saved.revision == catalog.revision:
                assert saved.ids().tolist() == ok_ids, f"{space}: a saved index passes for current but is not"
            opened = SpaceIndexes.of(catalog, IndexConfig()).index(spec, fingerprint)
            assert opened.ids().tolist() == ok_ids and len(opened) == len(ok_ids), space
    if search and ok_ids:
        space = next(iter(embed["spaces"]))
        hits = run_inprocess("search", "--catalog", catalog_dir, "--id", ok_ids[0], "--space", space,
                             "-k", 1000, "--json")  # fmt: skip
        assert hits.rc == 0, hits.err
        assert sorted(h["id"] for h in hits.json()[str(ok_ids[0])]) == ok_ids[1:]
    return ok_ids
