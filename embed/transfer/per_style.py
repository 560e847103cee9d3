"""The shipped networks of a per-style method (one ``<prefix><style>.pt`` per trained style in ``embed/weights/``,
its style image in ``embed/weights/styles/<style>.jpg``): listing them for the registry and picking the file a
``stylize`` call asks for, with the one-line errors a user can act on. Shared by ``johnson`` and ``pix2pix``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from styledex.embed.transfer import weights as shipped_weights
from styledex.embed.transfer.imaging import pick_device, run_network
from styledex.embed.transfer.registry import TransferError, transfer_method

Loader = Callable[[Path, torch.device], tuple[torch.nn.Module, dict[str, Any]]]


@dataclass(frozen=True)
class PerStyleWeights:
    """The weight files of per-style method ``method``, named ``<prefix><style>.pt``."""

    method: str
    prefix: str

    def trained(self) -> dict[str, Path]:
        """Every shipped network: ``{style name: weight file}``."""
        files = shipped_weights.shipped_with_prefix(self.prefix)
        return {path.stem[len(self.prefix) :]: path for path in files}

    def styles(self) -> list[dict[str, str | None]]:
        """``[{"name", "style_image"}]`` of the shipped networks, for the registry (no weights are loaded): the
        style image the run's record names (``style_image``, relative to the weights folder; a look learned from
        many paintings names a representative one), else ``styles/<name>.jpg``."""
        out: list[dict[str, str | None]] = []
        for name, path in self.trained().items():
            try:
                recorded = json.loads(path.with_suffix(".json").read_text(encoding="utf-8")).get("style_image")
            except (OSError, ValueError):
                recorded = None
            # Records name it "styles/<file>"; the styles folder is looked up now (tests point it elsewhere).
            image = shipped_weights.STYLES_DIR / (recorded or f"styles/{name}.jpg").removeprefix("styles/")
            out.append({"name": name, "style_image": str(image) if image.is_file() else None})
        return out

    def any_shipped(self) -> bool:
        """Whether any network ships: the method is available from the first trained style on."""
        return bool(shipped_weights.shipped_with_prefix(self.prefix))

    def folder(self) -> str | None:
        """The weights folder when any network ships (read at each call: tests point it elsewhere)."""
        return str(shipped_weights.WEIGHTS_DIR) if self.any_shipped() else None

    def path_for(self, styles: Sequence[Any], style_name: str | None, model: str | None) -> Path:
        """The weight file a call asks for: ``model`` when given, else the shipped network of ``style_name``;
        TransferError (one line, naming the trained styles) for a style image, no style or an unknown one."""
        names = sorted(self.trained())
        listing = ", ".join(names) if names else "none shipped yet"
        if styles:
            raise TransferError(
                f"method {self.method!r} is per-style: give --style-name (trained: {listing}), not --style IMAGE"
            )
        if model is not None:
            return Path(model)
        if style_name is None:
            raise TransferError(f"method {self.method!r} needs --style-name (trained: {listing})")
        if style_name not in names:
            raise TransferError(f"{self.method} has no style {style_name!r}; trained: {listing}")
        return self.trained()[style_name]

    def check_meta(self, path: Path, meta: dict[str, Any], style_name: str | None) -> None:
        """TransferError when a ``model`` file given for ``style_name`` was trained for another style."""
        if style_name is not None and style_name != meta.get("name"):
            raise TransferError(f"{path} was trained for style {meta.get('name')!r}, not {style_name!r}")

    def render(
        self, load: Loader, content: Image.Image,
        styles: Sequence[Any], style_name: str | None, size: int, *, model: str | None, device: str | None,
        multiple: Callable[[Any], int] = lambda net: 4,
    ) -> Image.Image:  # fmt: skip
        """A per-style method's ``stylize``: the network of :meth:`path_for` (``load(path, device)`` → (net,
        meta)) run on ``content`` at long side ``size``, padded to ``multiple(net)`` px and cropped back."""
        path = self.path_for(styles, style_name, model)
        dev = pick_device(device)
        net, meta = load(path, dev)
        if model is not None:
            self.check_meta(path, meta, style_name)
        return run_network(net, content, size, dev, multiple=multiple(net))

    def register(
        self, module: str, *, description: str, train: str, load: Loader,
        multiple: Callable[[Any], int] = lambda net: 4,
    ) -> Callable[..., Image.Image]:  # fmt: skip
        """Register the method (kind ``per-style``, available once a network ships) with a ``stylize`` that runs
        its networks through :meth:`render`; that ``stylize`` is returned for ``module`` (the method's module) to
        hold under that name, where the registry looks it up."""

        def stylize(
            content: Image.Image,
            styles: Sequence[Image.Image],
            style_name: str | None,
            size: int,
            *,
            model: str | None = None,
            device: str | None = None,
        ) -> Image.Image:
            """``content`` through the network trained for the look ``style_name``, long side ``size`` px.

            Args:
                style_name: a trained look (``styledex models`` lists them); optional when ``model`` is given.
                model: a weight file of this method to use instead of the shipped ones (a run's output).
                device: ``cpu``/``cuda``; default CUDA when available.
            """
            return self.render(load, content, styles, style_name, size, model=model, device=device,
                               multiple=multiple)  # fmt: skip

        stylize.__module__ = module
        stylize.__qualname__ = "stylize"
        return transfer_method(self.method, kind="per-style", description=description, available=self.any_shipped,
                               weights=self.folder, styles=self.styles, train=train)(stylize)  # fmt: skip
