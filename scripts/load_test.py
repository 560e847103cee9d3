"""Loopback load test: a steady query rate against ``styledex serve`` while another process runs ``styledex add``.

    python scripts/load_test.py --catalog CAT --ingest FOLDER [--config C] [--rate 20] [--duration 60]
        [--search-share 0.05] [--query-image IMG] [--json out.json]

Starts ``styledex serve`` on a free loopback port (a subprocess), waits for ``/health``, warms both query routes
up (the first search loads the model and the indexes; not measured), then sends requests open-loop from one
asyncio httpx client: request i is due at t0 + i / rate whatever the earlier ones are doing, so a slow server
cannot lower the offered rate (no coordinated omission). Latency is counted from the due time to the end of the
response, so client-side lateness is charged to the server, not hidden. Mix: ``GET /items/{id}/similar`` on a
random ok item present at the start, and a share of ``POST /search`` with one small image upload.

At t0 ``styledex add FOLDER`` starts in another process on the same catalog. The load runs ``--duration``
seconds, longer if the ingest has not finished by then (it must overlap the whole ingest; at most
``--max-duration``). ``/health`` is polled every 0.5 s (not counted as load) to see items appear. At the end: the
items before and after, and every newly added item must answer ``GET /items/{id}/similar`` with 200, i.e. be in
the served indexes.

A 503 to ``POST /search`` is counted as shed, not as an error: the server refuses model-bound requests past
``serve.max_heavy_requests`` on purpose (with ``Retry-After``) so that the cheap route keeps its latency. An error
is anything else but a 200: another status (a 409 would mean reads wait on the writer; a 503 to /similar), a
timeout or a broken connection. Latencies are those of the 200s. Prints a table; ``--json`` also writes
everything measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np

HEALTH_POLL_S = 0.5
REQUEST_TIMEOUT_S = 30.0
# The header /health names the answering server process with (styledex.serve.routes_catalog.WORKER_HEADER).
WORKER_HEADER = "X-Styledex-Worker"
# Warm-up: a round of both routes under this many seconds counts as warm; give up after this many rounds.
WARM_ROUND_S = 1.0
WARMUP_MAX_ROUNDS = 60


@dataclass
class Sample:
    """One request: ``route`` ("similar" or "search"); ``due``, ``sent`` (when the client got to it) and ``end``
    in seconds since t0; ``status`` (0: no response); ``error`` (empty for a 200, and for a shed search)."""

    route: str
    due: float
    sent: float
    end: float
    status: int
    error: str = ""

    @property
    def latency_ms(self) -> float:
        return (self.end - self.due) * 1000.0

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def shed(self) -> bool:
        """Refused on purpose: a 503 to a model-bound request (serve.max_heavy_requests)."""
        return self.status == 503 and not self.error


@dataclass
class Report:
    """Everything one run measured (seconds unless named otherwise)."""

    target_rate: float
    workers: int  # server processes
    workers_seen: int  # distinct processes that answered /health during the warm-up
    duration_s: float
    requests: int
    errors: int
    error_kinds: dict[str, int]
    shed: int  # 503s to POST /search past serve.max_heavy_requests: refused on purpose, not errors
    achieved_rate: float
    client_lag_p99_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    per_route: dict[str, dict[str, float]]
    per_phase: dict[str, dict[str, float]]  # requests due while the ingest ran, and after it ended
    items_before: int
    items_after: int
    items_added: int
    new_items_searchable: int
    ingest_rc: int | None
    ingest_start_s: float
    ingest_end_s: float | None
    ingest_files: int
    first_new_item_seen_s: float | None
    health_timeline: list[tuple[float, int]] = field(default_factory=list)
    # per whole second of due time: (second, requests, p99 ms of the good ones): when the tail happens
    latency_by_second: list[tuple[int, int, float]] = field(default_factory=list)
    error_samples: list[tuple[float, str]] = field(default_factory=list)  # (due s, error) of the first 50 errors
    server_log_tail: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def styledex_command(config: Path | None, *args: str) -> list[str]:
    head = [sys.executable, "-m", "styledex.cli"]
    return head + (["--config", str(config)] if config else []) + list(args)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summarize(samples: list[Sample]) -> dict[str, float]:
    latencies = [s.latency_ms for s in samples if s.ok]
    return {
        "count": len(samples),
        "errors": sum(1 for s in samples if s.error),
        "shed": sum(1 for s in samples if s.shed),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2) if latencies else float("nan"),
    }


async def wait_healthy(client: httpx.AsyncClient, server: subprocess.Popen[bytes], timeout: float) -> int:
    """The item count once ``/health`` answers; RuntimeError when the server died or never came up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before answering /health")
        try:
            response = await client.get("/health")
            if response.status_code == 200:
                return int(response.json()["items"])
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the server did not answer /health within {timeout:g} s")


async def ok_ids(client: httpx.AsyncClient) -> list[int]:
    ids: list[int] = []
    offset = 0
    while True:
        page = (await client.get("/items", params={"offset": offset, "limit": 1000})).json()
        ids += [item["id"] for item in page["items"]]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return ids


async def one_request(
    client: httpx.AsyncClient, route: str, due: float, t0: float, item_id: int, image: bytes, space: str
) -> Sample:
    delay = t0 + due - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    sent = time.perf_counter() - t0
    try:
        if route == "similar":
            response = await client.get(f"/items/{item_id}/similar", params={"space": space, "k": 10})
        else:
            files = {"file": ("query.png", image, "image/png")}
            response = await client.post("/search", files=files, data={"space": space, "k": "10"})
        status = response.status_code
        shed = status == 503 and route == "search" and "retry-after" in response.headers
        error = "" if status == 200 or shed else f"HTTP {status}"
        if status == 200 and "results" not in response.json():
            error = "no results key"
    except httpx.HTTPError as exc:
        status, error = 0, type(exc).__name__
    return Sample(route, due, sent, time.perf_counter() - t0, status, error)


async def poll_health(client: httpx.AsyncClient, t0: float, stop: asyncio.Event) -> list[tuple[float, int]]:
    timeline: list[tuple[float, int]] = []
    while not stop.is_set():
        try:
            response = await client.get("/health")
            if response.status_code == 200:
                count = int(response.json()["items"])
                if not timeline or timeline[-1][1] != count:
                    timeline.append((round(time.perf_counter() - t0, 2), count))
        except httpx.HTTPError:
            pass
        with contextlib.suppress(TimeoutError):  # the poll interval, cut short by stop
            await asyncio.wait_for(stop.wait(), HEALTH_POLL_S)
    return timeline


async def load_phase(
    args: argparse.Namespace,
    client: httpx.AsyncClient,
    ids: list[int],
    image: bytes,
    ingest: subprocess.Popen[bytes],
    t0: float,
) -> tuple[list[Sample], float, list[tuple[float, int]]]:
    """Send the open-loop load from ``t0`` until ``--duration`` is over and the ingest has ended (or
    ``--max-duration``); (samples, seconds at which the ingest ended, /health timeline)."""
    rng = random.Random(args.seed)
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_health(client, t0, stop))
    tasks: list[asyncio.Task[Sample]] = []
    ingest_end: float | None = None
    i = 0
    while True:
        due = i / args.rate
        # Requests keep falling due until the duration is over and the ingest has ended: the load covers the
        # whole ingest even when this loop runs behind the clock.
        covered = ingest_end is not None and due >= ingest_end
        if due >= args.max_duration or (due >= args.duration and covered):
            break
        route = "search" if rng.random() < args.search_share else "similar"
        tasks.append(asyncio.create_task(one_request(client, route, due, t0, rng.choice(ids), image, args.space)))
        i += 1
        # Schedule ahead by at most one second, so the loop notices the ingest's end in time; when behind the
        # clock, still let the due requests start one by one.
        await asyncio.sleep(0)
        while due - (time.perf_counter() - t0) > 1.0:
            await asyncio.sleep(0.2)
        if ingest_end is None and ingest.poll() is not None:
            ingest_end = time.perf_counter() - t0
    samples = list(await asyncio.gather(*tasks))
    if ingest.poll() is None:  # only after --max-duration: the run is reported as it stands
        ingest.wait()
    if ingest_end is None:
        ingest_end = time.perf_counter() - t0
    stop.set()
    return samples, ingest_end, await poller


async def warm_up(base_url: str, item_id: int, image: bytes, args: argparse.Namespace) -> int:
    """Both query routes until every server process has loaded the model and the indexes (not measured): each
    round on a fresh connection, which the kernel hands to any of the ``--workers`` processes, until the last
    max(3, 2·workers) rounds each answered within WARM_ROUND_S and ``/health`` has named as many processes
    (its X-Styledex-Worker header) as were started. Returns how many it named."""
    quick, seen = 0, set()
    for _ in range(WARMUP_MAX_ROUNDS):
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as fresh:
            started = time.perf_counter()
            seen.add((await fresh.get("/health")).headers.get(WORKER_HEADER))
            for route in ("similar", "search"):
                warm = await one_request(fresh, route, 0.0, time.perf_counter(), item_id, image, args.space)
                if not warm.ok:
                    raise RuntimeError(f"warm-up {warm.route} failed: {warm.error or f'HTTP {warm.status}'}")
        quick = quick + 1 if time.perf_counter() - started < WARM_ROUND_S else 0
        if quick >= max(3, 2 * args.workers) and len(seen) >= args.workers:
            return len(seen)
    raise RuntimeError(
        f"after {WARMUP_MAX_ROUNDS} warm-up rounds: {len(seen)} of {args.workers} server processes answered, "
        f"the last {quick} rounds under {WARM_ROUND_S:g} s"
    )


async def run_load(args: argparse.Namespace, base_url: str, server: subprocess.Popen[bytes]) -> Report:
    image = args.query_image.read_bytes()
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        before = await wait_healthy(client, server, args.startup_timeout)
        ids = await ok_ids(client)
        if not ids:
            raise RuntimeError("the catalog has no ok item to query")
        workers_seen = await warm_up(base_url, ids[0], image, args)
        for _ in range(3):  # the measuring client's connection pool
            await one_request(client, "similar", 0.0, time.perf_counter(), ids[0], image, args.space)

        ingest_files = sum(1 for p in args.ingest.rglob("*") if p.is_file())
        with tempfile.TemporaryFile() as ingest_log:  # not a pipe: nobody reads it while the load runs
            t0 = time.perf_counter()
            ingest = subprocess.Popen(
                styledex_command(args.config, "add", str(args.ingest), "--catalog", str(args.catalog), "--quiet"),
                stdout=subprocess.DEVNULL, stderr=ingest_log,
            )  # fmt: skip
            samples, ingest_end, timeline = await load_phase(args, client, ids, image, ingest, t0)
            ingest_log.seek(0)
            ingest_stderr = ingest_log.read().decode(errors="replace")

        after = int((await client.get("/health")).json()["items"])
        new_ids = sorted(set(await ok_ids(client)) - set(ids))
        searchable = 0
        for new_id in new_ids:
            response = await client.get(f"/items/{new_id}/similar", params={"space": args.space, "k": 3})
            searchable += response.status_code == 200

    window = max(s.due for s in samples) + 1.0 / args.rate
    good = [s.latency_ms for s in samples if s.ok]
    errors = [s for s in samples if s.error]
    first_seen = next((t for t, count in timeline if count > before), None)
    if ingest.returncode:
        print(f"ingest exited with {ingest.returncode}: {ingest_stderr.strip()[-500:]}", file=sys.stderr)
    return Report(
        target_rate=args.rate,
        workers=args.workers,
        workers_seen=workers_seen,
        duration_s=round(window, 2),
        requests=len(samples),
        errors=len(errors),
        error_kinds=dict(Counter(s.error for s in errors)),
        shed=sum(1 for s in samples if s.shed),
        # Good answers per second of the run (t0 to the last answer): what the server actually kept up with.
        achieved_rate=round(len(good) / max(max(s.end for s in samples), 1e-9), 2),
        client_lag_p99_ms=round(percentile([(s.sent - s.due) * 1000 for s in samples], 99), 2),
        p50_ms=round(percentile(good, 50), 2),
        p99_ms=round(percentile(good, 99), 2),
        max_ms=round(max(good), 2) if good else float("nan"),
        per_route={route: summarize([s for s in samples if s.route == route]) for route in ("similar", "search")},
        per_phase={
            "during_ingest": summarize([s for s in samples if s.due < ingest_end]),
            "after_ingest": summarize([s for s in samples if s.due >= ingest_end]),
        },
        items_before=before,
        items_after=after,
        items_added=after - before,
        new_items_searchable=searchable,
        ingest_rc=ingest.returncode,
        ingest_start_s=0.0,
        ingest_end_s=round(ingest_end, 2),
        ingest_files=ingest_files,
        first_new_item_seen_s=first_seen,
        latency_by_second=by_second(samples),
        error_samples=[(round(e.due, 3), e.error) for e in errors[:50]],
        health_timeline=timeline,
    )


def by_second(samples: list[Sample]) -> list[tuple[int, int, float]]:
    """(second, requests due in it, p99 latency of its good answers in ms) for each whole second of the run."""
    seconds: dict[int, list[Sample]] = {}
    for sample in samples:
        seconds.setdefault(int(sample.due), []).append(sample)
    return [(second, len(group), round(percentile([s.latency_ms for s in group if s.ok], 99), 2))
            for second, group in sorted(seconds.items())]  # fmt: skip


def print_table(report: Report) -> None:
    rows = [
        ("target rate (req/s)", f"{report.target_rate:g}"),
        ("server processes (answered)", f"{report.workers} ({report.workers_seen})"),
        ("achieved rate (req/s)", f"{report.achieved_rate:g}"),
        ("client lag p99 (ms)", f"{report.client_lag_p99_ms:g}"),
        ("duration (s)", f"{report.duration_s:g}"),
        ("requests", str(report.requests)),
        ("errors", f"{report.errors} {report.error_kinds or ''}".strip()),
        ("shed (503 + Retry-After)", str(report.shed)),
        ("p50 / p99 / max (ms)", f"{report.p50_ms:g} / {report.p99_ms:g} / {report.max_ms:g}"),
    ]
    for route, stats in report.per_route.items():
        rows.append((f"  {route}: n, shed, p50 / p99 (ms)",
                     f"{stats['count']:g}, {stats['shed']:g}, {stats['p50_ms']:g} / {stats['p99_ms']:g}"))  # fmt: skip
    for phase, stats in report.per_phase.items():
        rows.append((f"  {phase.replace('_', ' ')}: n, p50 / p99 (ms)",
                     f"{stats['count']:g}, {stats['p50_ms']:g} / {stats['p99_ms']:g}"))  # fmt: skip
    rows += [
        ("items before → after", f"{report.items_before} → {report.items_after} (+{report.items_added})"),
        ("new items searchable", f"{report.new_items_searchable} / {report.items_added}"),
        ("ingest (s from t0)", f"{report.ingest_start_s:g} → {report.ingest_end_s:g}, rc {report.ingest_rc}, "
                               f"{report.ingest_files} files"),
        ("first new item seen (s)", f"{report.first_new_item_seen_s}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, required=True, help="catalog to serve and to add into")
    parser.add_argument("--ingest", type=Path, required=True, help="folder `styledex add` adds during the load")
    parser.add_argument("--config", type=Path, help="config file for both the server and the add")
    parser.add_argument("--query-image", type=Path, help="the POST /search upload (default: first image ingested)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load at least (default 60)")
    parser.add_argument(
        "--max-duration", type=float, help="stop even if the ingest runs on (default 5 × duration, ≥ duration + 120)"
    )
    parser.add_argument("--search-share", type=float, default=0.05, help="share of POST /search (default 0.05)")
    parser.add_argument("--space", default="style", help="space of every query (default style)")
    parser.add_argument("--connections", type=int, default=32, help="client connection pool size (default 32)")
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for /health")
    parser.add_argument("--workers", type=int, default=1, help="server processes (styledex serve --workers)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.workers < 1:
        parser.error("--rate, --duration and --workers must be positive")
    if not 0 <= args.search_share <= 1:
        parser.error(f"--search-share must be in 0..1, got {args.search_share}")
    # `styledex add` alone needs 5 to 30 s to start (imports, VGG weights), whatever the folder.
    args.max_duration = args.max_duration or max(5 * args.duration, args.duration + 120)
    if args.query_image is None:
        from styledex.media import IMAGE_EXTENSIONS

        images = sorted(p for p in args.ingest.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            parser.error(f"no image in {args.ingest} to use as the query; give --query-image")
        args.query_image = images[0]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    port = free_port()
    server_log = args.json.with_suffix(".server.log") if args.json else Path(os.devnull)
    with open(server_log, "wb") as log:
        server = subprocess.Popen(
            styledex_command(
                args.config, "serve", "--catalog", str(args.catalog), "--port", str(port),
                "--workers", str(args.workers),
            ),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            report = asyncio.run(run_load(args, f"http://127.0.0.1:{port}", server))
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    if args.json:
        report.server_log_tail = server_log.read_text(errors="replace")[-4000:]
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
