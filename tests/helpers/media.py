"""Generators of tiny test media, written on demand (nothing here is committed as a binary).

Plain functions, not pytest fixtures: each writes one file and returns its ``Path``, so any test can call them
with ``tmp_path``. Everything is deterministic for a given ``seed``. :func:`make_shapes` draws the kind of layout
VGG sees; :func:`restyle` changes an image's colours and keeps its layout.

Videos carry their frame index as an 8-bit binary code in a top band (8 blocks across, white = 1, most
significant bit on the left), readable after lossy coding and downscaling with :func:`read_frame_index`.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

_BAND_BITS = 8  # frame-index code: 8 blocks across the top band, so indices 0..255 (wrapping beyond)
_BAND_FRACTION = 1 / 6  # the code band covers the top sixth of the frame


def _pattern(size: tuple[int, int], seed: int, pattern: str) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array: "noise" (uniform), "gradient" (R along x, G along y), "checker"."""
    w, h = size
    rng = np.random.default_rng(seed)
    if pattern == "noise":
        return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    if pattern == "gradient":
        x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
        y = np.linspace(0, 255, h)[:, None].repeat(w, 1)
        b = np.full((h, w), int(rng.integers(0, 256)))
        return np.stack([x, y, b], axis=-1).round().astype(np.uint8)
    if pattern == "checker":
        yy, xx = np.mgrid[0:h, 0:w]
        on = ((yy // 8) + (xx // 8)) % 2 == 1
        a, b = rng.integers(0, 256, size=(2, 3))
        return np.where(on[..., None], a, b).astype(np.uint8)
    raise ValueError(f"pattern must be noise, gradient or checker, got {pattern!r}")


def make_image(
    path: Path | str,
    size: tuple[int, int] = (64, 48),
    seed: int = 0,
    pattern: str = "noise",
    mode: str = "RGB",
) -> Path:
    """Write a ``size`` = (width, height) image; the format comes from the extension (jpg, png, webp, bmp,
    tif, gif).

    ``mode`` is the stored pixel mode: "RGB", "L", "1", "P", "RGBA", "LA", "I;16" (16-bit grey, values
    0..65535), "F" (float grey, 0..1), "CMYK", "YCbCr"… Modes with alpha get a fully transparent top-left
    quarter and an opaque rest. The format must be able to store the mode (JPEG cannot store alpha, for
    instance).
    """
    path = Path(path)
    w, h = size
    rgb = _pattern(size, seed, pattern)
    if mode == "I;16":
        grey = rgb.astype(np.float64).mean(axis=-1) * 257.0
        img = Image.fromarray(grey.round().astype(np.uint16))
    elif mode == "F":
        img = Image.fromarray((rgb.astype(np.float32).mean(axis=-1) / 255.0).astype(np.float32), mode="F")
    elif mode in ("RGBA", "LA", "PA"):
        alpha = np.full((h, w), 255, np.uint8)
        alpha[: h // 2, : w // 2] = 0
        img = Image.fromarray(np.dstack([rgb, alpha]), "RGBA").convert(mode)
    else:
        img = Image.fromarray(rgb, "RGB")
        if mode == "P":
            img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        elif mode != "RGB":
            img = img.convert(mode)
    kwargs = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    img.save(path, **kwargs)
    return path


def make_bomb_png(path: Path | str, width: int = 20000, height: int = 20000) -> Path:
    """A PNG of a few hundred bytes whose IHDR declares ``width`` × ``height`` 8-bit RGB pixels.

    Only the first scanline's worth of (zero) data is stored, compressed: a decoder that trusts the header and
    allocates the full canvas would need width × height × 3 bytes (1.2 GB for the default).
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, colour type 2 (RGB), no interlace
    idat = zlib.compress(b"\x00" * (1 + 3 * width), 9)  # one filter byte + one RGB row
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path = Path(path)
    path.write_bytes(data)
    return path


def make_bomb_image(path: Path | str, width: int = 30000, height: int = 30000) -> Path:
    """A tiny GIF, BMP, JPEG, WebP or TIFF (by extension) whose header declares ``width`` × ``height`` pixels.

    A real 16×16 image is written, then its size fields are rewritten in place: the pixel data stays tiny, so
    only a decoder that trusts the header and allocates the declared canvas would blow up. Limits of the
    formats' size fields: GIF, JPEG and TIFF (SHORT) 65535, WebP lossless 16384.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    buf = io.BytesIO()
    small = Image.fromarray(_pattern((16, 16), 0, "noise"), "RGB")
    formats = {".gif": "GIF", ".bmp": "BMP", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF"}
    fmt = formats[suffix]
    small.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    data = bytearray(buf.getvalue())
    if fmt == "GIF":
        struct.pack_into("<HH", data, 6, width, height)  # logical screen
        flags = data[10]
        at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        while data[at] == 0x21:  # skip extension blocks up to the image descriptor
            at += 2
            while data[at]:
                at += data[at] + 1
            at += 1
        struct.pack_into("<HH", data, at + 5, width, height)
    elif fmt == "BMP":
        struct.pack_into("<ii", data, 18, width, height)
    elif fmt == "JPEG":
        at = data.find(b"\xff\xc0")
        struct.pack_into(">HH", data, at + 5, height, width)
    elif fmt == "WEBP":
        assert data[12:16] == b"VP8L"
        bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1)
        bits |= (width - 1) | ((height - 1) << 14)
        data[21:25] = bits.to_bytes(4, "little")
    else:  # TIFF, little-endian as Pillow writes it
        ifd = struct.unpack_from("<I", data, 4)[0]
        for k in range(struct.unpack_from("<H", data, ifd)[0]):
            entry = ifd + 2 + 12 * k
            tag, kind = struct.unpack_from("<HH", data, entry)
            if tag in (256, 257):
                value = width if tag == 256 else height
                struct.pack_into("<H" if kind == 3 else "<I", data, entry + 8, value)
    path.write_bytes(bytes(data))
    return path


def make_cmyk_jpeg(
    path: Path | str, size: tuple[int, int] = (32, 32), cmyk: tuple[int, int, int, int] = (255, 0, 0, 0)
) -> Path:
    """A solid CMYK JPEG (no ICC profile); the default colour is pure cyan (C=255, M=Y=K=0)."""
    path = Path(path)
    Image.new("CMYK", size, cmyk).save(path, quality=95)
    return path


def make_16bit_png(path: Path | str, size: tuple[int, int] = (256, 8)) -> Path:
    """A 16-bit greyscale PNG: a horizontal ramp from 0 (left column) to 65535 (right column)."""
    w, h = size
    ramp = np.linspace(0, 65535, w).round().astype(np.uint16)
    path = Path(path)
    Image.fromarray(np.tile(ramp, (h, 1))).save(path)
    return path


def make_exif_rotated_jpeg(path: Path | str, size: tuple[int, int] = (64, 32), orientation: int = 6) -> Path:
    """A grey ``size`` JPEG with a red 12×12 block in its STORED top-left corner and EXIF Orientation
    ``orientation``.

    With orientation 6 the viewer rotates 90° clockwise, so the displayed image is (height × width) and the
    red block appears in the top-RIGHT corner; with 8 (90° counter-clockwise) it appears bottom-left.
    """
    w, h = size
    arr = np.full((h, w, 3), 128, np.uint8)
    arr[:12, :12] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = Path(path)
    Image.fromarray(arr, "RGB").save(path, quality=95, exif=exif.tobytes())
    return path


def make_truncated(src: Path | str, dst: Path | str, keep_fraction: float = 0.5) -> Path:
    """Copy the first ``keep_fraction`` (0..1) of ``src``'s bytes to ``dst``, like a cut-off download."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst


def _video_codec(suffix: str, codec: str | None) -> str:
    if codec is not None:
        return codec
    have = av.codecs_available
    prefs = {
        ".mp4": ("libx264", "mpeg4"),
        ".m4v": ("libx264", "mpeg4"),
        ".mov": ("libx264", "mpeg4"),
        ".mkv": ("libx264", "mpeg4"),
        ".avi": ("mjpeg", "mpeg4"),
        ".webm": ("libvpx", "libvpx-vp9"),
        ".mpg": ("mpeg1video",),
        ".mpeg": ("mpeg2video",),
    }.get(suffix, ("mpeg4",))
    for name in prefs:
        if name in have:
            return name
    raise RuntimeError(f"no encoder for {suffix} among {prefs}")


def _write_video(path: Path, frames: Sequence[np.ndarray], fps: int, codec: str | None, gop: int) -> Path:
    """Encode (H, W, 3) uint8 RGB arrays at ``fps`` with a keyframe at least every ``gop`` frames."""
    h, w = frames[0].shape[:2]
    name = _video_codec(path.suffix.lower(), codec)
    with av.open(str(path), "w") as container:
        options = {"crf": "18"} if name == "libx264" else {}
        if name in ("libvpx", "libvpx-vp9"):
            options = {"deadline": "realtime", "cpu-used": "8", "b": "400k"}
        stream = container.add_stream(name, rate=Fraction(fps), options=options)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuvj420p" if name == "mjpeg" else "yuv420p"
        stream.codec_context.gop_size = gop
        if name in ("mpeg4", "mjpeg", "mpeg1video", "mpeg2video"):
            stream.codec_context.qscale = 2  # near-lossless: tests read pixel values back
            stream.codec_context.flags |= av.codec.context.Flags.qscale
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _index_band(arr: np.ndarray, index: int) -> None:
    """Paint ``index`` (mod 256) as 8 black/white blocks across the top band of ``arr`` in place."""
    h, w = arr.shape[:2]
    band = max(2, round(h * _BAND_FRACTION))
    for bit in range(_BAND_BITS):
        x0, x1 = bit * w // _BAND_BITS, (bit + 1) * w // _BAND_BITS
        on = (index >> (_BAND_BITS - 1 - bit)) & 1
        arr[:band, x0:x1] = 255 if on else 0


def read_frame_index(img: Image.Image) -> int:
    """Read back the frame index painted by :func:`make_video` from a decoded (possibly downscaled) frame."""
    arr = np.asarray(img.convert("L"), dtype=np.float64)
    h, w = arr.shape
    band = max(1, round(h * _BAND_FRACTION))
    value = 0
    for bit in range(_BAND_BITS):
        x0, x1 = bit * w // _BAND_BITS, (bit + 1) * w // _BAND_BITS
        # Sample the middle of each block: block edges blur under chroma subsampling and scaling.
        pad_x, pad_y = max(0, (x1 - x0) // 4), max(0, band // 4)
        cell = arr[pad_y : max(pad_y + 1, band - pad_y), x0 + pad_x : max(x0 + pad_x + 1, x1 - pad_x)]
        value = (value << 1) | int(cell.mean() > 127)
    return value


def make_video(
    path: Path | str,
    n_frames: int = 24,
    size: tuple[int, int] = (64, 48),
    fps: int = 12,
    seed: int = 0,
    codec: str | None = None,
    gop: int = 12,
) -> Path:
    """Write a ``n_frames`` video of ``size`` = (width, height) at ``fps`` whose frames all differ.

    The codec follows the extension (libx264 or mpeg4 for .mp4/.mov/.mkv, mjpeg for .avi, vp8/vp9 for .webm,
    mpeg1video/mpeg2video for .mpg/.mpeg, which need a standard rate such as 24 or 25) unless ``codec`` is
    given. Content: a seeded gradient background, a square moving 2 px a frame, and the frame index coded in
    the top band (see :func:`read_frame_index`). A keyframe at least every ``gop`` frames, so seeking has
    somewhere to land.
    """
    w, h = size
    rng = np.random.default_rng(seed)
    base = _pattern(size, seed, "gradient")
    colour = rng.integers(0, 256, size=3, dtype=np.uint8)
    side = max(4, min(w, h) // 4)
    frames = []
    for i in range(n_frames):
        arr = base.copy()
        x = (2 * i) % max(1, w - side)
        y = (h - side) // 2 + round((h // 6) * np.sin(i / 3))
        arr[y : y + side, x : x + side] = colour
        _index_band(arr, i)
        frames.append(arr)
    return _write_video(Path(path), frames, fps, codec, gop)


def make_scene_video(
    path: Path | str,
    colours: Sequence[tuple[int, int, int]] = ((220, 30, 30), (30, 200, 30), (30, 30, 220)),
    frames_per_scene: int = 8,
    size: tuple[int, int] = (64, 48),
    fps: int = 12,
    codec: str | None = None,
    gop: int = 12,
) -> Path:
    """A video of ``len(colours)`` solid-colour scenes of ``frames_per_scene`` frames each.

    Hard cuts at frame indices k × frames_per_scene, i.e. at times k × frames_per_scene / fps seconds; within
    a scene every frame is identical.
    """
    w, h = size
    frames = [np.full((h, w, 3), c, np.uint8) for c in colours for _ in range(frames_per_scene)]
    return _write_video(Path(path), frames, fps, codec, gop)


def make_lying_duration_mkv(
    path: Path | str,
    n_frames: int = 240,
    claimed_seconds: float | None = 36_000.0,
    gop: int = 1000,
    fps: int = 12,
) -> Path:
    """A Matroska video of ``n_frames`` frames whose header claims ``claimed_seconds`` (default 10 hours).

    Made by rewriting the Segment Info Duration element (EBML id 0x4489, milliseconds) of a
    :func:`make_video` file in place; with the default ``gop`` the whole clip is one keyframe interval, the
    worst case for seeking. ``claimed_seconds=None`` renames the element to an unknown id instead: a file that
    declares no duration at all.
    """
    path = Path(path)
    make_video(
        path,
        n_frames=n_frames,
        fps=fps,
        gop=gop,
        codec="libx264" if "libx264" in av.codecs_available else "mpeg4",
    )
    data = bytearray(path.read_bytes())
    at = data.find(b"\x44\x89")
    size = data[at + 2] & 0x7F  # one-byte EBML size: 4 or 8 (float32 / float64)
    if at < 0 or size not in (4, 8):
        raise RuntimeError("no Duration element found in the Matroska header")
    if claimed_seconds is None:
        data[at + 1] = 0x88  # 0x4488: not a Matroska id, so demuxers skip the element
    else:
        data[at + 3 : at + 3 + size] = struct.pack(">d" if size == 8 else ">f", claimed_seconds * 1000.0)
    path.write_bytes(bytes(data))
    return path


def make_audio_only_mp4(path: Path | str, seconds: float = 0.5, rate: int = 44100) -> Path:
    """An .mp4 holding a single AAC (or MP2) stream of a 440 Hz tone, and no video stream."""
    path = Path(path)
    name = "aac" if "aac" in av.codecs_available else "mp2"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(name, rate=rate, layout="mono")
        fmt = stream.codec_context.format.name
        chunk = stream.codec_context.frame_size or 1024
        t = np.arange(int(seconds * rate)) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(tone) - chunk + 1, chunk):
            samples = tone[None, start : start + chunk]
            if fmt == "s16":
                samples = (samples * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format=fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_shapes(path: Path, seed: int, size: int = 96) -> Path:
    """A flat background with six filled circles and squares: clear layout, the kind of content VGG sees."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), tuple(int(x) for x in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(8, 30))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x - r, y - r, x + r, y + r], fill=colour)
    img.save(path)
    return path


def restyle(src: Path, dst: Path) -> Path:
    """A strong colour-only restyle: blur, invert, swap channels, then a per-channel affine map."""
    arr = np.asarray(Image.open(src).convert("RGB").filter(ImageFilter.GaussianBlur(1.5))).astype(np.float64)
    arr = (255.0 - arr)[..., [2, 0, 1]] * np.array([0.6, 1.0, 0.4]) + np.array([60.0, 0.0, 120.0])
    Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8)).save(dst)
    return dst
