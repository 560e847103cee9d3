"""The HTTP way: a uvicorn server over a catalog, on a free loopback port in this process, and a client to it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(directory: Path) -> Iterator[Any]:
    """An httpx client to a uvicorn server over the catalog at ``directory``, on a free loopback port."""
    import httpx
    import uvicorn

    from styledex.serve.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(directory), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
