"""Which of the project's modules one operation runs code in: ``styledex add`` of two images and a warm
``GET /items/{id}/similar``, each traced with a profile hook (every Python call, in every thread).

    python scripts/call_path.py [--json]

Builds a tiny catalog (two generated 64-px images, the 64-px VGG19 input the tests use) in a temporary folder,
then prints, per operation, the project files whose functions ran, in the order first entered. Model loading and
other first-use work are done by an untraced warm-up request first, so the request path is what a running server
does per request. The same script runs on older checkouts (it uses only ``styledex.cli.main`` and
``styledex.serve.app.create_app``), which is how the README's before/after figures were taken.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

TINY_CONFIG = "embed: {image_size: 64, spaces: [content, adain, gram]}\n"


def project_root() -> Path:
    import styledex

    return Path(styledex.__file__).resolve().parents[1]


class CallRecorder:
    """A profile hook on every thread started after :meth:`install` (and this one) that, while :meth:`record`
    runs an action, notes the project files whose functions are called, in first-entered order. Installed before
    the server's threads start, so the request's worker thread carries it too."""

    def __init__(self, root: Path) -> None:
        self.prefix = str(root) + "/"
        self.seen: dict[str, None] | None = None

    def hook(self, frame: Any, event: str, arg: Any) -> None:
        seen = self.seen
        if seen is not None and event == "call":
            filename = frame.f_code.co_filename
            if filename.startswith(self.prefix) and "/tests/" not in filename and "/scripts/" not in filename:
                seen.setdefault(filename[len(self.prefix) :], None)

    def install(self) -> None:
        threading.setprofile(self.hook)
        sys.setprofile(self.hook)

    def record(self, action: Callable[[], Any]) -> list[str]:
        self.seen = {}
        try:
            action()
        finally:
            seen, self.seen = self.seen, None
        return list(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from styledex.cli import main as cli_main
    from styledex.config import load_config
    from styledex.serve.app import create_app

    recorder = CallRecorder(project_root())
    recorder.install()
    with tempfile.TemporaryDirectory() as tmp:
        folder, catalog = Path(tmp) / "pics", Path(tmp) / "catalog"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for n in range(3):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"{n}.png")
        config = Path(tmp) / "tiny.yaml"
        config.write_text(TINY_CONFIG)
        warm = folder / "0.png"
        assert cli_main(["--config", str(config), "add", str(warm), "--catalog", str(catalog), "--quiet"]) == 0
        rest = [str(folder / "1.png"), str(folder / "2.png")]
        add = recorder.record(
            lambda: cli_main(["--config", str(config), "add", *rest, "--catalog", str(catalog), "--quiet"])
        )

        with TestClient(create_app(catalog, config=load_config(config), token=None)) as client:
            assert client.get("/items/1/similar", params={"space": "style", "k": 2}).status_code == 200  # warm-up
            similar = recorder.record(lambda: client.get("/items/2/similar", params={"space": "style", "k": 2}))
    report = {"styledex add": add, "GET /items/{id}/similar": similar}
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    for name, files in report.items():
        print(f"{name}: {len(files)} project modules")
        for file in files:
            print(f"  {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
