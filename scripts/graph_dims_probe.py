"""How many principal components a `content` graph needs, on real vectors: `SpaceSpec.graph_dims`' measurement.

An hnsw graph over the first d principal components finds candidates that the exact vectors then re-rank, so what
matters is whether each query's exact top 10 is among its candidates. Synthetic vectors cannot say (the bench's
generator puts all structure in 64 directions, where any d ≥ 64 looks perfect), so this reads the real `content`
vectors of the eval catalogs (``styledex eval`` caches them: the old and the hard benchmark, 1338 items; the newest
catalog of each) with each
item's twelve query views. Half of the items (and their views) fit the PCA; the other half are the pool and the
queries: each query asks with its twelve views, each view takes its C nearest pool rows in the reduced space
(centred L2, as the graph measures), the union is re-ranked by the best view's exact inner product, and recall@10 is
its overlap with the exact top 10 (the query's own rows excluded). Exhaustive in the reduced space: it measures
the reduction, not the graph.

    python scripts/graph_dims_probe.py                     # every cached eval catalog
    python scripts/graph_dims_probe.py --dims 64 128 256 --candidates 30 100 --queries 200
"""

from __future__ import annotations

import argparse
import glob
import os
from pathlib import Path

import numpy as np

from styledex.catalog import Catalog
from styledex.embed.content_views import query_views
from styledex.embed.spaces import SPACES

SPACE = "content"


def catalog_views(directories: list[str]) -> np.ndarray:
    """Every item's twelve query views [n, 12, dim] in the catalogs."""
    dim = SPACES[SPACE].dim
    views = []
    for directory in directories:
        catalog = Catalog.open(directory)
        try:
            ids, vectors = catalog.load_vectors(SPACE, dim)
            views += [query_views(v, catalog.item_views(int(i), SPACE, dim)) for i, v in zip(ids, vectors, strict=True)]
        finally:
            catalog.close()
    return np.stack(views)


def main() -> None:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "styledex"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", action="append", help="an eval catalog folder (default: every cached one)")
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--candidates", type=int, nargs="+", default=[30, 100], help="per view")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    # Each benchmark folder's newest catalog: the one embedded with the shipped weights.
    newest = (max(glob.glob(f"{bench}/catalog-*"), key=os.path.getmtime, default=None) for bench in
              sorted(glob.glob(str(cache / "*-v1"))))  # fmt: skip
    directories = args.catalog or [d for d in newest if d]
    if not directories:
        parser.error(f"no eval catalog under {cache}: run styledex eval first, or pass --catalog")
    views = catalog_views(directories)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(views))
    fit, test = order[: len(views) // 2], order[len(views) // 2 :]
    fitting = views[fit].reshape(-1, views.shape[2])
    mean = fitting.mean(axis=0)
    _, singular, basis = np.linalg.svd(fitting - mean, full_matrices=False)
    share = np.cumsum(singular**2) / (singular**2).sum()
    pool = views[test].reshape(-1, views.shape[2])  # the held-out items' vectors and views, 12 rows per item
    owner = np.repeat(np.arange(len(test)), views.shape[1])
    queries = rng.choice(len(test), size=min(args.queries, len(test)), replace=False)
    print(f"{len(views)} items from {len(directories)} catalogs; PCA fitted on {len(fit)} items' views, pool "
          f"{len(pool)} rows of {len(test)} items, {len(queries)} queries x {views.shape[1]} views")  # fmt: skip
    print("| components | variance kept | candidates per view | recall@10 |\n|---|---|---|---|")
    for dims in args.dims:
        projection = basis[:dims].T
        reduced = (pool - mean) @ projection
        for per_view in args.candidates:
            hits = 0
            for q in queries:
                asks = views[test[q]]
                exact = (asks @ pool.T).max(axis=0)
                exact[owner == q] = -np.inf
                truth = set(np.argsort(-exact)[:10].tolist())
                found: set[int] = set()
                for row in (asks - mean) @ projection:
                    distance = ((reduced - row) ** 2).sum(axis=1)
                    distance[owner == q] = np.inf
                    found |= set(np.argpartition(distance, per_view)[:per_view].tolist())
                candidates = np.array(sorted(found))
                best = candidates[np.argsort(-(asks @ pool[candidates].T).max(axis=0))[:10]]
                hits += len(truth & set(best.tolist()))
            print(f"| {dims} | {share[dims - 1]:.3f} | {per_view} | {hits / (10 * len(queries)):.3f} |")


if __name__ == "__main__":
    main()
