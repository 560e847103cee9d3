"""`styledex add --engine ray`: the add stages on Ray Data, for catalogs that outgrow one process.

The same stages as the in-process engine (:func:`styledex.pipeline.add_sources`), spread over a Ray cluster:

    read sources (driver) → hash and decode (Ray tasks) → embed every space (an actor pool, one model set per
    actor, a GPU each when the cluster has them) → one shard per batch (styledex.shards, written by the actor)
    → merge the shards into the catalog (driver: rows, raw vectors, indexes), in source order

Shards live in ``<catalog>/ray-runs/<run>/``, where ``<run>`` is a digest of the sources, the catalog's embedding
settings and the media settings: a run killed at any moment (driver, worker or machine) keeps its finished shards,
and the same command run again embeds only the sources no shard holds, then merges. The merge skips content the
catalog already holds (by SHA-256) and rewrites a failed record over the last one of its path, so an item is never
added twice, also when a crash came between committing a shard's rows and deleting the run. The catalog's write
lock is held throughout, as for the in-process engine.

The outcome matches the in-process engine's: the same rows (a failure is recorded with the same one-line reason, a
duplicate is skipped the same way) and the same vectors (tests/scale/test_ray_engine.py: cosine ≥ 0.9999 in every
space).

``address`` joins a running cluster (``ray://…`` or ``host:port``), whose workers must have styledex and its
weights installed; without it a local Ray runtime starts with this machine's CPUs and stops after the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import pickle
import re
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from styledex.catalog import ItemRecord
from styledex.config import Config
from styledex.embed.spaces import SPACES
from styledex.pipeline import AddSummary, Decoded, Source, decode_source, embed_decoded
from styledex.progress import progress_bar
from styledex.shards import SKIPPED, ShardRow, read_shard, shard_files, shard_source_indexes, write_shard
from styledex.space_indexes import SpaceIndexes

RUNS_FOLDER = "ray-runs"
# CPUs a decoding task reserves: small, so decoding always finds room beside actors that hold the rest (an actor
# pool holding every CPU starved the decode tasks and the run stalled).
DECODE_CPUS = 0.25
LOCAL_START_ATTEMPTS = 2  # tries to start a local runtime (see _init_ray)


class RayUnavailable(Exception):
    """Ray is not installed (the ``scale`` extra) or the cluster cannot be reached; str() is a one-line reason."""


@dataclass(frozen=True)
class EmbedSettings:
    """What each actor builds its embedder from: the catalog's spaces, input size and aspect, and the config's
    batch size, device and precision (plain values: they travel to the workers)."""

    spaces: tuple[str, ...]
    image_size: int
    aspect: str
    batch_size: int
    device: str
    precision: str


def run_key(sources: Sequence[Source], embed_meta: dict[str, Any], config: Config) -> str:
    """16 hex digits naming a run: the sources in order, the catalog's embedding settings and the media settings.
    The same command on the same catalog finds the same run folder."""
    payload = {
        "sources": [[s.path, s.metadata, s.error] for s in sources],
        "embed": embed_meta,
        "media": config.media.model_dump(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _decode_batch(batch: dict[str, Any], config: Config, known: frozenset[str]) -> dict[str, Any]:
    """Ray task: hash and decode a batch of pickled sources → the same rows with pickled ``Decoded`` results."""
    decoded = [pickle.dumps(decode_source(pickle.loads(blob), config, known)) for blob in batch["source"]]
    return {"index": list(batch["index"]), "decoded": decoded}


def _embed_writer_class(settings: EmbedSettings, folder: str, threads: int | None) -> type:
    """The actor class of the pool: one embedder per actor, built once; each call embeds a batch of decoded items
    and writes their shard. A class made here carries its settings with it (not as constructor arguments in the
    object store, which Ray warns cannot be restored when an actor restarts)."""

    class EmbedWriter:
        def __init__(self) -> None:
            import torch

            from styledex.embed.embedder import Embedder

            if threads is not None:
                torch.set_num_threads(threads)
            self.embedder = Embedder(
                list(settings.spaces), image_size=settings.image_size, aspect=settings.aspect,
                batch_size=settings.batch_size, device=settings.device, precision=settings.precision,
            )  # fmt: skip

        def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
            indexes = [int(i) for i in batch["index"]]
            decoded: list[Decoded] = [pickle.loads(blob) for blob in batch["decoded"]]
            # Content already in the catalog was hashed, not decoded (decode_source): nothing to embed.
            known = [d.media is None and d.error is None for d in decoded]
            records = iter(embed_decoded([d for d, k in zip(decoded, known, strict=True) if not k], self.embedder))
            rows = []
            for index, d, skipped in zip(indexes, decoded, known, strict=True):
                record = (ItemRecord(path=d.source.path, status=SKIPPED, sha256=d.sha256, size=d.size)
                          if skipped else next(records))  # fmt: skip
                rows.append(ShardRow(index, record))
            digest = hashlib.sha256(",".join(map(str, indexes)).encode()).hexdigest()[:8]
            write_shard(Path(folder) / f"shard-{min(indexes):09d}-{digest}.parquet", rows)
            return {"items": [len(rows)]}

    return EmbedWriter


def add_with_ray(
    indexes: SpaceIndexes,
    sources: Sequence[Source],
    config: Config,
    settings: EmbedSettings,
    embed_meta: dict[str, Any],
    *,
    address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> AddSummary:
    """Ingest ``sources`` into ``indexes.catalog`` (held for writing by the caller) on Ray (module docstring).

    ``settings``/``embed_meta``: the catalog's embedder settings and stored fingerprints. ``workers``: actors in
    the pool (default: the cluster's GPUs when it has some, else one per 2 CPUs of it, at least 1). RayUnavailable
    when Ray is missing or the cluster cannot be joined.
    """
    started = time.perf_counter()
    catalog = indexes.catalog
    for name, fingerprint in embed_meta["spaces"].items():
        indexes.index(SPACES[name], fingerprint)  # opened first, so the merge's commits patch them
    folder = catalog.directory / RUNS_FOLDER / run_key(sources, embed_meta, config)
    folder.mkdir(parents=True, exist_ok=True)
    done = {i for shard in shard_files(folder) for i in shard_source_indexes(shard)}
    todo = [(i, s) for i, s in enumerate(sources) if i not in done]
    ray = _ray(address) if todo else None  # a missing Ray or an unreachable head fails before any progress
    bar = progress_bar(total=len(sources), desc="styledex add (ray)", unit="item", enabled=progress)
    with bar:
        bar.update(len(sources) - len(todo))  # held by the shards of an earlier run of this command
        if todo:
            known = frozenset(catalog.ok_hashes())
            # Ray's driver threads print what its workers and raylets report (a worker that died, say) to
            # sys.stdout, where `--json` prints the summary: they go to stderr with the progress lines instead.
            with contextlib.redirect_stdout(sys.stderr):
                _run_dataset(ray, todo, folder, config, settings, known, address, workers, bar)
    summary = _merge(indexes, folder, {name: SPACES[name].dim for name in settings.spaces})
    summary.resumed = len(done)
    shutil.rmtree(folder)
    summary.seconds = time.perf_counter() - started
    return summary


def _ray(address: str | None) -> Any:
    """The ``ray`` module, quiet, once the cluster at ``address`` (if any) answers; RayUnavailable otherwise."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise RayUnavailable("--engine ray needs Ray: pip install -e '.[scale]'") from None
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local runtime of this process: no token to hand out
    # Ray's own lines (start-up, plans, a warning per actor pool) would bury styledex's progress and summary.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if address is not None and not ray.is_initialized():
        _check_reachable(address)
    return ray


def _run_dataset(
    ray: Any, todo: list[tuple[int, Source]], folder: Path, config: Config, settings: EmbedSettings,
    known: frozenset[str], address: str | None, workers: int | None, bar: Any,
) -> None:  # fmt: skip
    """Decode and embed ``todo`` (source index, source) on Ray; every batch lands as a shard in ``folder``."""
    started_here = not ray.is_initialized()
    if started_here:
        _init_ray(ray, address)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # styledex's own bar reports the items
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 1)), int(resources.get("GPU", 0))
        pool = workers or (gpus if gpus else max(1, int(cpus // 2)))
        per_actor = max(0.5, (cpus - DECODE_CPUS) / pool) if not gpus else 1.0
        threads = max(1, round(per_actor))  # torch threads per actor: its share of the CPUs
        batch = config.catalog.items_per_batch
        rows = [{"index": i, "source": pickle.dumps(source)} for i, source in todo]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / batch)))
        dataset = dataset.map_batches(
            _decode_batch, batch_size=batch, num_cpus=DECODE_CPUS, fn_kwargs={"config": config, "known": known}
        ).map_batches(
            _embed_writer_class(settings, str(folder), threads), batch_size=batch,
            compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=per_actor, num_gpus=1 if gpus else 0,
        )  # fmt: skip
        for row in dataset.iter_rows():
            bar.update(int(row["items"]))
    finally:
        if started_here:
            ray.shutdown()


def _init_ray(ray: Any, address: str | None, attempts: int = LOCAL_START_ATTEMPTS) -> None:
    """Start a local Ray runtime (``address`` None) or join the cluster at ``address``; RayUnavailable if it fails.

    A local start is tried ``attempts`` times: Ray gives its raylet a fixed 30 s to register, and on a loaded
    2-core machine (a training run beside the test suite) that start-up once timed out where a second try would
    have come up. Joining a named cluster is tried once: an unreachable head is not a transient."""
    tries = attempts if address is None else 1
    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            return
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError: Ray's words, on one line
            if ray.is_initialized():
                ray.shutdown()
            if attempt == tries:
                raise RayUnavailable(f"cannot start or join Ray at {address or 'a local runtime'}: "
                                     f"{' '.join(str(exc).split())}") from None  # fmt: skip


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """RayUnavailable (one line) when ``address`` (``host:port`` or ``ray://host:port``) takes no TCP connection
    within ``timeout`` s: ``ray.init`` would retry an unreachable head for minutes, printing warnings. ``auto`` and
    addresses without a port are left to Ray."""
    match = re.fullmatch(r"(?:ray://)?\[?([^\]]+?)\]?:(\d+)", address.strip())
    if match is None:
        return
    host, port = match.group(1), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise RayUnavailable(f"cannot join Ray at {address}: {exc.strerror or exc}") from None


def _merge(indexes: SpaceIndexes, folder: Path, dims: dict[str, int]) -> AddSummary:
    """Commit every shard in ``folder`` to the catalog in source order, one transaction per shard, skipping content
    the catalog holds (or an earlier row of this run holds) as the in-process engine does."""
    catalog = indexes.catalog
    summary = AddSummary()
    seen = set(catalog.ok_hashes())
    for shard in shard_files(folder):
        records: list[ItemRecord] = []
        for row in read_shard(shard, dims):
            rec = row.record
            if rec.status == SKIPPED or (rec.sha256 is not None and rec.sha256 in seen):
                summary.skipped.append(rec.path)
                continue
            if rec.status == "ok" and rec.sha256 is not None:
                seen.add(rec.sha256)
            records.append(rec)
        summary.count(records, catalog.write_batch(records) if records else [])
    indexes.save()
    return summary
