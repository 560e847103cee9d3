"""The models an explanation runs, loaded once per process through the shared model cache
(:data:`styledex.embed.model_cache.MODELS`). VGG19 runs on CUDA when available, else CPU (the same weights the
search embedder holds); onnxruntime picks its own provider for the Magenta networks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from styledex.embed.embedder import pick_device
from styledex.embed.model_cache import MODELS
from styledex.embed.onnx_nets import MagentaPredictor, MagentaTransformer
from styledex.embed.vgg import STYLE_LAYERS, VGG19Encoder, shared_encoder

__all__ = ["ExplainModels", "explain_models"]


@dataclass(frozen=True)
class ExplainModels:
    encoder: VGG19Encoder  # STYLE_LAYERS (relu1_1…relu5_1)
    device: torch.device  # where ``encoder`` runs and its input must be
    predictor: MagentaPredictor  # image → 100-d style vector
    transformer: MagentaTransformer  # (image, style vector) → image


def _load() -> ExplainModels:
    device = pick_device("auto")
    encoder = shared_encoder(STYLE_LAYERS, device)  # the same weights the search embedder holds
    predictor = MagentaPredictor()
    transformer = MagentaTransformer(predictor)
    # Create both ONNX sessions now, under the cache's lock: the wrappers create them lazily without one.
    _ = predictor.session, transformer.session
    return ExplainModels(encoder, device, predictor, transformer)


def explain_models() -> tuple[ExplainModels, float]:
    """The shared models and the milliseconds this call spent loading them (0 once loaded)."""
    start = time.perf_counter()
    loaded = False

    def load() -> ExplainModels:
        nonlocal loaded
        loaded = True
        return _load()

    models = MODELS.get_or_load(("explain", "auto"), load)
    return models, (time.perf_counter() - start) * 1000.0 if loaded else 0.0
