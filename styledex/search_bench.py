"""Search latency on a synthetic catalog: raw FAISS, in-process search, and HTTP over loopback, in one run.

The catalog holds ``items`` rows with random unit vectors of the real dimensions (the count is what matters for
latency, not the content). Each query asks for the k nearest items of a random catalog item, excluding itself.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.embed.embedder import Embedder
from styledex.embed.spaces import resolve
from styledex.search import Searcher

BENCH_SPACES = ("content", "adain")


def build_synthetic_catalog(directory: Path, items: int, *, seed: int = 0, batch: int = 2000) -> Catalog:
    """A catalog of ``items`` fake image rows with random unit vectors in ``BENCH_SPACES``."""
    rng = np.random.default_rng(seed)
    catalog = Catalog.open(directory, create=True)
    fingerprints = Embedder(list(BENCH_SPACES)).fingerprints()
    with catalog.writing():
        catalog.set_meta("embed", {"spaces": fingerprints, "image_size": 256})
        for start in range(0, items, batch):
            count = min(batch, items - start)
            vectors = {}
            for space in BENCH_SPACES:
                v = rng.standard_normal((count, resolve(space).dim), dtype=np.float32)
                vectors[space] = v / np.linalg.norm(v, axis=1, keepdims=True)
            records = [
                ItemRecord(
                    path=f"/synthetic/{start + i}.jpg", status="ok", kind="image", sha256=f"{start + i:064x}",
                    vectors={s: SpaceVectors(vectors[s][i]) for s in BENCH_SPACES},
                )
                for i in range(count)
            ]  # fmt: skip
            catalog.write_batch(records)
        for space in BENCH_SPACES:
            spec = resolve(space)
            catalog.index(space, dim=spec.dim, fingerprint=fingerprints[space], metric=spec.metric)
    return catalog


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {"p50_ms": round(float(np.percentile(values, 50)), 3), "p99_ms": round(float(np.percentile(values, 99)), 3)}


def time_calls(call: Callable[[int], Any], ids: np.ndarray, warmup: int = 5) -> list[float]:
    for item_id in ids[:warmup]:
        call(int(item_id))
    samples = []
    for item_id in ids:
        started = time.perf_counter()
        call(int(item_id))
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_search_bench(items: int = 10_000, queries: int = 300, k: int = 10, space: str = "adain") -> dict[str, Any]:
    """p50/p99 of the three ways to ask the same question on the same index."""
    import httpx
    import uvicorn

    from styledex.serve.app import create_app

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "catalog"
        catalog = build_synthetic_catalog(directory, items)
        searcher = Searcher(catalog)
        index = searcher.index(space)
        ids = np.random.default_rng(1).choice(index.ids(), size=queries, replace=True)

        def raw(item_id: int) -> None:
            index.search(index.reconstruct(item_id)[None, :], k, exclude=[{item_id}])

        def inprocess(item_id: int) -> None:
            query = searcher.query_vectors_for_item(item_id, [space])
            searcher.search(query, {space: 1.0}, k, exclude=[item_id])

        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(directory), host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

                def http(item_id: int) -> None:
                    client.get(f"/items/{item_id}/similar", params={"space": space, "k": k}).raise_for_status()

                for via, call in (("faiss", raw), ("inprocess", inprocess), ("http", http)):
                    row = {"items": items, "space": space, "index": "flat", "via": via, "k": k, "queries": queries}
                    rows.append(row | percentiles(time_calls(call, ids)))
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            catalog.close()
    return {"search": rows}


def format_search_table(report: dict[str, Any]) -> str:
    lines = ["| items | space | index | via | p50 (ms) | p99 (ms) |", "|---|---|---|---|---|---|"]
    for r in report["search"]:
        cells = [r["items"], r["space"], r["index"], r["via"], f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)
