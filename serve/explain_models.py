"""The models an explanation runs, loaded once per process: a lazy module-level cache behind a lock.

Kept apart from the panel and the numbers so this one place can later give way to a shared model cache.
VGG19 runs on CUDA when available, else CPU (the same weights the search embedder holds); onnxruntime picks its
own provider for the Magenta networks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch

from styledex.embed.embedder import pick_device
from styledex.embed.onnx_nets import MagentaPredictor, MagentaTransformer
from styledex.embed.vgg import STYLE_LAYERS, VGG19Encoder, shared_encoder

__all__ = ["ExplainModels", "explain_models"]


@dataclass(frozen=True)
class ExplainModels:
    encoder: VGG19Encoder  # STYLE_LAYERS (relu1_1…relu5_1)
    device: torch.device  # where ``encoder`` runs and its input must be
    predictor: MagentaPredictor  # image → 100-d style vector
    transformer: MagentaTransformer  # (image, style vector) → image


_MODELS: ExplainModels | None = None
_MODELS_LOCK = threading.Lock()


def explain_models() -> tuple[ExplainModels, float]:
    """The shared models and the milliseconds this call spent loading them (0 once loaded)."""
    global _MODELS
    if _MODELS is not None:
        return _MODELS, 0.0
    with _MODELS_LOCK:
        if _MODELS is not None:
            return _MODELS, 0.0
        start = time.perf_counter()
        device = pick_device("auto")
        encoder = shared_encoder(STYLE_LAYERS, device)  # the same weights the search embedder holds
        predictor = MagentaPredictor()
        transformer = MagentaTransformer(predictor)
        # Create both ONNX sessions now, under the lock: the wrappers create them lazily without one.
        _ = predictor.session, transformer.session
        _MODELS = ExplainModels(encoder, device, predictor, transformer)
        return _MODELS, (time.perf_counter() - start) * 1000.0
