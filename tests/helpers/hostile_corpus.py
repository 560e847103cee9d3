"""A corpus of hostile and broken inputs (issue 6), written on demand into a folder.

:func:`write_corpus` makes, under ``root``:

- ``media/``: one file (or link, pipe…) per :class:`Case`, each with the outcome ``styledex add`` must give
  it: good controls (images, a video), odd but valid files (1×1, 16-bit, CMYK, animated GIF, a header that
  claims ten hours, a very long name, a newline in a name), and broken ones (empty, truncated, text named
  .jpg, decompression bombs, audio-only, zero-frame and truncated mp4, a non-UTF-8 name, an unreadable file, a
  named pipe, a link to /dev/zero, symlink loops, a dangling link). A file that is not media by extension
  (``notes.txt``) and a folder loop (``loop_dir`` → ``.``) are there for the folder walk to ignore.
- ``manifests/``: ``extra_columns.csv`` (more columns than ``path``: metadata), ``bad_rows.csv`` (rows with
  too many cells, no path, a missing file, a NUL byte, a name too long for the file system, a text file) and
  ``no_path_column.csv`` (unusable as a whole: exit 2), with the images they name in ``manifests/pics/``.

Cases the platform cannot make (chmod does not stop root from reading; a file system that refuses non-UTF-8
names) are left out and listed in :attr:`Corpus.skipped` with the reason. Plain functions, no pytest here.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from helpers.media import (
    make_16bit_png,
    make_audio_only_mp4,
    make_bomb_image,
    make_bomb_png,
    make_cmyk_jpeg,
    make_image,
    make_truncated,
    make_video,
)

Outcome = Literal["added", "failed"]

CLAIMED_HOURS = 10  # what the lying mp4's header says
LONG_NAME_BYTES = 250  # the long file name, extension included (most file systems allow 255)


@dataclass(frozen=True)
class Case:
    """One input of the corpus.

    ``path``: where it is (absolute; a str because a non-UTF-8 name only round-trips as the str os.fsdecode
    gives). ``label``: what it is, for tables. ``expect``: the outcome of ``styledex add``; ``reason``: a piece
    of the one-line failure reason (None for added). ``upload``: whether its bytes can be sent over HTTP (a
    pipe, a device link or a loop cannot). ``shown``: the path as the catalog records it (differs from
    ``path`` only for a non-UTF-8 name, shown with ``\\xNN`` escapes).
    """

    name: str
    path: str
    label: str
    expect: Outcome
    reason: str | None = None
    upload: bool = True
    shown: str = ""

    @property
    def recorded_path(self) -> str:
        return self.shown or self.path


@dataclass(frozen=True)
class Row:
    """One manifest row's expected outcome: ``path`` as the catalog records it (a file, or ``<csv>:row N``)."""

    manifest: str
    label: str
    path: str
    expect: Outcome
    reason: str | None = None
    metadata: dict[str, object] | None = None


@dataclass
class Corpus:
    root: Path
    media: Path
    cases: list[Case] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)  # of the usable manifests
    manifests: list[Path] = field(default_factory=list)  # usable ones: extra_columns.csv, bad_rows.csv
    no_path_manifest: Path | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # case name → why it could not be made here

    def case(self, name: str) -> Case:
        (found,) = [c for c in self.cases if c.name == name]
        return found


# -- media writers ------------------------------------------------------------------------------------------
def make_animated_gif(path: Path, frames: int = 3, size: tuple[int, int] = (32, 24)) -> Path:
    """A looping GIF of ``frames`` solid colours (red, green, blue…), 100 ms each."""
    colours = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (220, 220, 30)]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def _mp4_box_chain(data: bytes | bytearray, kind: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each box from the top level down to the first box of ``kind`` (32-bit sizes only)."""
    containers = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts")

    def walk(start: int, end: int, chain: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
        at = start
        while at + 8 <= end:
            size, name = struct.unpack(">I4s", data[at : at + 8])
            if size < 8:
                return None
            if name == kind:
                return [*chain, (at, size)]
            if name in containers:
                found = walk(at + 8, at + size, [*chain, (at, size)])
                if found:
                    return found
            at += size
        return None

    found = walk(0, len(data), [])
    if not found:
        raise RuntimeError(f"no {kind!r} box in the mp4")
    return found


def make_lying_mp4(path: Path, n_frames: int = 240, fps: int = 12, hours: int = CLAIMED_HOURS) -> Path:
    """An mp4 of ``n_frames`` frames (one keyframe: the worst case for seeking) whose header claims ``hours``.

    FFmpeg clamps a stream's duration to the sum of its sample durations (``stts``), so patching the
    ``mvhd``/``mdhd`` durations alone would change nothing. Here the time-to-sample table itself says the last
    frame lasts hours: every frame really is in the first ``n_frames / fps`` seconds, while the container,
    the stream and the edit list all claim ``hours``. PyAV writes the ``moov`` box after the media data, so
    growing it moves no sample offset.
    """
    make_video(path, n_frames=n_frames, fps=fps, gop=1000)
    data = bytearray(path.read_bytes())
    *parents, (at, size) = _mp4_box_chain(data, b"stts")
    assert _mp4_box_chain(data, b"mdat")[0][0] < parents[0][0], "moov must follow mdat"
    entries, count, delta = struct.unpack(">III", data[at + 12 : at + 24])
    if entries != 1 or count != n_frames:
        raise RuntimeError(f"unexpected stts: {entries} entries, {count} samples")
    *_, (mdhd, _) = _mp4_box_chain(data, b"mdhd")
    timescale = struct.unpack(">I", data[mdhd + 20 : mdhd + 24])[0]
    claimed = timescale * 3600 * hours
    table = struct.pack(">IIII", count - 1, delta, 1, claimed - (count - 1) * delta)
    new = struct.pack(">I4sII", 16 + len(table), b"stts", 0, 2) + table
    data[at : at + size] = new
    for parent, parent_size in parents:
        struct.pack_into(">I", data, parent, parent_size + len(new) - size)
    struct.pack_into(">I", data, mdhd + 24, claimed)  # media header: timescale units
    *_, (mvhd, _) = _mp4_box_chain(data, b"mvhd")
    movie_claim = struct.unpack(">I", data[mvhd + 20 : mvhd + 24])[0] * 3600 * hours
    struct.pack_into(">I", data, mvhd + 24, movie_claim)  # movie header: movie timescale units
    *_, (tkhd, _) = _mp4_box_chain(data, b"tkhd")
    struct.pack_into(">I", data, tkhd + 28, movie_claim)  # track header (version 0)
    *_, (elst, _) = _mp4_box_chain(data, b"elst")
    struct.pack_into(">I", data, elst + 16, movie_claim)  # the one edit's duration (version 0)
    path.write_bytes(bytes(data))
    return path


def make_zero_frame_mp4(path: Path) -> Path:
    """An mp4 whose video track is declared (codec, size) but holds no sample.

    PyAV drops a track that never got a packet, so a 4-frame clip is written and its sample tables (sizes,
    times, chunks, sync samples, composition offsets) are set to zero entries in place.
    """
    make_video(path, n_frames=4, fps=12)
    data = bytearray(path.read_bytes())
    for kind, count_at in ((b"stts", 12), (b"stsz", 16), (b"stsc", 12), (b"stco", 12), (b"stss", 12), (b"ctts", 12)):
        try:
            *_, (at, _) = _mp4_box_chain(data, kind)
        except RuntimeError:
            continue  # stss and ctts are optional
        struct.pack_into(">I", data, at + count_at, 0)
    path.write_bytes(bytes(data))
    return path


def _zlib_zeros(total: int, block: int = 1 << 20) -> bytes:
    """A zlib stream that inflates to ``total`` zero bytes, built in milliseconds for any size.

    After a full flush the compressor forgets everything, so each further 1 MiB block of zeros compresses to
    the very same bytes: one block is compressed and its output repeated. The Adler-32 of n zeros is
    (n mod 65521) << 16 | 1.
    """
    unit = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeat = unit.compress(b"\0" * block) + unit.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(total, block)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    end = (tail.compress(b"\0" * rest) if rest else b"") + tail.flush()
    return b"\x78\xda" + repeat * count + end + struct.pack(">I", ((total % 65521) << 16) | 1)


def make_bomb_png_rows(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A PNG declaring ``width`` × ``height`` 8-bit RGB whose data really holds every row, all black.

    Unlike :func:`helpers.media.make_bomb_png` (one row stored), this is a *complete*, valid image: its 1.2 GB of
    pixels inflate from about 1.2 MB of zlib data, so only the pixel limit, not a truncation error, can stop a
    decoder that trusts it.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    idat = _zlib_zeros(height * (1 + 3 * width))  # each row: filter byte 0, then 3 × width zero samples
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# -- the corpus ---------------------------------------------------------------------------------------------
def write_corpus(root: Path) -> Corpus:
    """Write the corpus under ``root`` (created) and return what each input must become."""
    media = root / "media"
    media.mkdir(parents=True)
    corpus = Corpus(root=root, media=media)
    add = corpus.cases.append

    def case(name: str, label: str, expect: Outcome, reason: str | None = None, upload: bool = True) -> None:
        add(Case(name, str((media / name).absolute()), label, expect, reason, upload))

    # Controls and valid oddities: all added.
    make_image(media / "good.png", size=(48, 40), seed=1, pattern="checker")
    case("good.png", "good PNG (control)", "added")
    good_jpg = make_image(media / "good.jpg", size=(64, 48), seed=2, pattern="noise")
    case("good.jpg", "good JPEG (control)", "added")
    make_video(media / "good.mp4", n_frames=12, size=(48, 32), fps=12, seed=3)
    case("good.mp4", "good mp4 (control)", "added")
    Image.new("RGB", (1, 1), (200, 40, 90)).save(media / "one_pixel.png")
    case("one_pixel.png", "1×1 image", "added")
    make_16bit_png(media / "gray16.png", size=(40, 8))
    case("gray16.png", "16-bit greyscale PNG", "added")
    make_cmyk_jpeg(media / "cmyk.jpg", size=(24, 24), cmyk=(0, 200, 200, 20))
    case("cmyk.jpg", "CMYK JPEG", "added")
    make_animated_gif(media / "animated.gif")
    case("animated.gif", "animated GIF (3 frames)", "added")
    Image.new("RGB", (40, 40), (10, 120, 230)).save(media / "png_named.webp", format="PNG")
    case("png_named.webp", "PNG bytes named .webp", "added")
    make_lying_mp4(media / "claims_10h.mp4")
    case("claims_10h.mp4", f"mp4 whose header claims {CLAIMED_HOURS} h (20 s of frames)", "added")

    stem = "l" * (LONG_NAME_BYTES - len(".png"))
    try:
        make_image(media / f"{stem}.png", size=(32, 32), seed=5, pattern="gradient")
        case(f"{stem}.png", f"{LONG_NAME_BYTES}-byte file name", "added")
    except OSError as exc:  # a file system with a shorter name limit
        corpus.skipped["long_name"] = f"cannot create a {LONG_NAME_BYTES}-byte name here: {exc.strerror}"

    make_image(media / "new\nline.png", size=(24, 24), seed=10, pattern="checker")
    case("new\nline.png", "file name with a newline", "added")

    # Broken inputs: each fails with a one-line reason naming what was wrong.
    (media / "empty.jpg").write_bytes(b"")
    case("empty.jpg", "zero-byte .jpg", "failed", "empty file (0 bytes)")
    (media / "empty.mp4").write_bytes(b"")
    case("empty.mp4", "zero-byte .mp4", "failed", "empty file (0 bytes)")
    make_truncated(good_jpg, media / "truncated.jpg", keep_fraction=0.4)
    case("truncated.jpg", "truncated JPEG (40 % kept)", "failed", "truncated")
    big_png = make_image(root / "big.png", size=(64, 64), seed=6, pattern="noise")
    make_truncated(big_png, media / "truncated.png", keep_fraction=0.5)
    case("truncated.png", "truncated PNG (50 % kept)", "failed", "truncated")
    (media / "text.jpg").write_text("this is a text file, not a JPEG\nwith two lines\n")
    case("text.jpg", "text named .jpg", "failed", "not a decodable image")
    (media / "bad\nname.jpg").write_text("text again, under a name with a newline\n")
    case("bad\nname.jpg", "text named .jpg, newline in the name", "failed", "not a decodable image")
    make_bomb_png(media / "bomb.png", 20000, 20000)
    case("bomb.png", "PNG declaring 20000×20000 (one row stored)", "failed", "over the 64.0 Mpx limit")
    make_bomb_png_rows(media / "bomb_full.png", 20000, 20000)
    case("bomb_full.png", "PNG of 20000×20000 zero rows (1.2 MB zlib)", "failed", "over the 64.0 Mpx limit")
    make_bomb_image(media / "bomb.jpg", 30000, 30000)
    case("bomb.jpg", "JPEG declaring 30000×30000", "failed", "over the 64.0 Mpx limit")
    make_audio_only_mp4(media / "audio_only.mp4")
    case("audio_only.mp4", "mp4 with only an audio stream", "failed", "no video stream (streams: audio)")
    make_zero_frame_mp4(media / "zero_frames.mp4")
    case("zero_frames.mp4", "mp4 with a video track of zero frames", "failed", "no decodable video frames")
    long_clip = make_video(root / "clip.mp4", n_frames=48, size=(48, 32), fps=12, seed=7)
    make_truncated(long_clip, media / "truncated.mp4", keep_fraction=0.3)
    case("truncated.mp4", "truncated mp4 (30 % kept, no index)", "failed", "not a decodable video container")
    (media / "noise.mp4").write_bytes(np.random.default_rng(8).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    case("noise.mp4", "4 kB of random bytes named .mp4", "failed", "not a decodable video container")

    # Names and file-system objects.
    bad_name = os.fsencode(media) + b"/caf\xe9_latin1.png"
    try:
        with open(bad_name, "wb") as f:  # a valid image: the name alone is the problem
            Image.new("RGB", (20, 20), (240, 200, 10)).save(f, format="PNG")
        path = os.fsdecode(bad_name)
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        add(Case("caf\\xe9_latin1.png", path, "non-UTF-8 file name (Latin-1 byte)", "failed",
                 "file name is not valid UTF-8", upload=False, shown=shown))  # fmt: skip
    except OSError as exc:  # e.g. a file system that stores names as Unicode only
        corpus.skipped["non_utf8_name"] = f"this file system refuses a non-UTF-8 name: {exc.strerror}"

    locked = make_image(media / "unreadable.png", size=(16, 16), seed=9, pattern="checker")
    locked.chmod(0)
    try:
        locked.read_bytes()
        readable = True
    except PermissionError:
        readable = False
    if readable:
        locked.unlink()
        corpus.skipped["unreadable"] = "chmod 000 does not stop this user from reading (root or CAP_DAC_OVERRIDE)"
    else:
        case("unreadable.png", "unreadable file (mode 000)", "failed", "Permission denied", upload=False)

    if hasattr(os, "mkfifo"):
        os.mkfifo(media / "pipe.jpg")
        case("pipe.jpg", "named pipe named .jpg", "failed", "not a regular file (a named pipe)", upload=False)
    if Path("/dev/zero").exists():
        (media / "endless.jpg").symlink_to("/dev/zero")
        case("endless.jpg", "symlink to /dev/zero named .jpg", "failed", "a character device", upload=False)
    (media / "self_loop.png").symlink_to("self_loop.png")
    case("self_loop.png", "symlink to itself", "failed", "Too many levels of symbolic links", upload=False)
    (media / "dangling.png").symlink_to("no_such_target.png")
    case("dangling.png", "dangling symlink", "failed", "No such file or directory", upload=False)
    (media / "loop_dir").symlink_to(".")  # a folder loop: the walk must not follow it (nothing under it)
    (media / "notes.txt").write_text("not media by extension: the folder walk ignores it")

    _write_manifests(corpus)
    return corpus


def _write_manifests(corpus: Corpus) -> None:
    folder = corpus.root / "manifests"
    pics = folder / "pics"
    pics.mkdir(parents=True)
    for i in range(4):
        make_image(pics / f"m{i}.png", size=(32, 32), seed=40 + i, pattern="gradient" if i % 2 else "checker")
    (pics / "notes.txt").write_text("a manifest row may name any file")

    extra = folder / "extra_columns.csv"
    extra.write_text("path,artist,year,,note\npics/m0.png,Ada,1901,,first\npics/m1.png,Bo,1902,x,\n")
    corpus.manifests.append(extra)
    pic = str((pics / "m0.png").absolute())
    corpus.rows += [
        Row("extra_columns.csv", "extra columns → metadata", pic, "added", None,
            {"artist": "Ada", "year": 1901, "note": "first"}),
        Row("extra_columns.csv", "unnamed column → metadata", str((pics / "m1.png").absolute()), "added", None,
            {"artist": "Bo", "year": 1902, "Unnamed: 3": "x"}),
    ]  # fmt: skip

    bad = folder / "bad_rows.csv"
    too_long = "x" * 300 + ".png"
    lines = [
        "path,artist,year",
        "pics/m2.png,Cy,1903",  # row 1: fine
        "pics/m3.png,Di,1904,surplus,cells",  # row 2: more cells than the header
        ",Ed,1905",  # row 3: cells but no path
        "pics/missing.png,Fi,1906",  # row 4: no such file
        "pics/notes.txt,Gu,1907",  # row 5: not media
        f"pics/{too_long},Ha,1908",  # row 6: a name longer than the file system allows
        '"pics/nul\x00byte.png",Io,1909',  # row 7: a NUL byte no path may hold
        ",,",  # an empty row: skipped, not an item
    ]
    bad.write_text("\n".join(lines) + "\n")
    corpus.manifests.append(bad)
    where = f"{bad.absolute()}:row"
    corpus.rows += [
        Row("bad_rows.csv", "good row", str((pics / "m2.png").absolute()), "added", None,
            {"artist": "Cy", "year": 1903}),
        Row("bad_rows.csv", "row with 5 cells under a 3-column header", str((pics / "m3.png").absolute()),
            "failed", "manifest row 2 has 5 cells, the header has 3"),
        Row("bad_rows.csv", "row with cells but no path", f"{where} 3", "failed", "manifest row 3 has no path"),
        Row("bad_rows.csv", "row naming a missing file", str((pics / "missing.png").absolute()), "failed",
            "cannot read file: No such file or directory"),
        Row("bad_rows.csv", "row naming a text file", str((pics / "notes.txt").absolute()), "failed",
            "neither an image nor a video"),
        Row("bad_rows.csv", "row with a 304-byte file name", str((pics / too_long).absolute()), "failed",
            "cannot read file: File name too long"),
        Row("bad_rows.csv", "row with a NUL byte in its path", str((pics / "nul\x00byte.png").absolute()),
            "failed", "embedded null byte"),
    ]  # fmt: skip

    no_path = folder / "no_path_column.csv"
    no_path.write_text("file,artist\npics/m0.png,Ada\n")
    corpus.no_path_manifest = no_path
