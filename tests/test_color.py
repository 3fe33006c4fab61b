"""colorlab.color against scikit-image, its gradients, and the network scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import data as skdata

from colorlab import color
from colorlab.color import (
    AB_SCALE,
    L_MAX,
    L_SCALE,
    L_ab_to_rgb,
    denormalize_lab,
    lab_to_rgb,
    normalize_lab,
    rgb_to_L_ab,
    rgb_to_lab,
)

TOL = {torch.float64: 1e-6, torch.float32: 1e-3}  # max |error| in Lab units vs scikit-image


def _real_images() -> dict[str, np.ndarray]:
    """Three photos scikit-image ships, cropped to keep tests fast, as float64 HxWx3 in [0,1]."""
    photos = {
        "astronaut": skdata.astronaut(),
        "coffee": skdata.coffee(),
        "chelsea": skdata.chelsea(),
    }
    return {name: img[:160, :200] / 255.0 for name, img in photos.items()}


def _random_image(seed: int, h: int = 48, w: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.random((h, w, 3))
    img[0, :4] = [[0, 0, 0], [1, 1, 1], [0.04045, 0.04045, 0.04045], [1, 0, 0]]  # edges, threshold
    img[1, :3] = [[0.02, 0.01, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]  # dark (linear branches)
    return img


def _chw(img: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(dtype)


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().permute(1, 2, 0).double().numpy()


IMAGES = {f"random{seed}": _random_image(seed) for seed in range(2)} | _real_images()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("autograd", [False, True], ids=["inference", "autograd"])
@pytest.mark.parametrize("name", list(IMAGES))
def test_rgb_to_lab_matches_skimage(name, dtype, autograd):
    img = IMAGES[name]
    expected = skcolor.rgb2lab(img)
    x = _chw(img, dtype).requires_grad_(autograd)  # autograd=True takes the differentiable path
    lab = rgb_to_lab(x)
    assert lab.dtype == dtype and lab.shape == x.shape
    assert np.abs(_hwc(lab) - expected).max() < TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("autograd", [False, True], ids=["inference", "autograd"])
@pytest.mark.parametrize("name", ["random0", "astronaut", "coffee"])
def test_lab_to_rgb_matches_skimage(name, dtype, autograd):
    lab = skcolor.rgb2lab(IMAGES[name])
    lab[0, :3] = [[50.0, 0.0, 120.0], [5.0, 80.0, -90.0], [100.0, 0.0, 0.0]]  # out of gamut, Z < 0
    with pytest.warns(UserWarning, match="negative Z"):
        expected = skcolor.lab2rgb(lab)
    rgb = lab_to_rgb(_chw(lab, dtype).requires_grad_(autograd))
    assert rgb.dtype == dtype
    assert np.abs(_hwc(rgb) - expected).max() < (1e-9 if dtype == torch.float64 else 1e-5)
    assert rgb.min() >= 0 and rgb.max() <= 1


@pytest.mark.parametrize("name", list(IMAGES))
def test_round_trip_float64(name):
    x = _chw(IMAGES[name])
    back = lab_to_rgb(rgb_to_lab(x))
    assert (back - x).abs().max() < 1e-4


def test_batched_equals_per_image_and_single_image_shape():
    batch = torch.stack([_chw(IMAGES[n][:48, :40]) for n in ("random0", "random1", "coffee")])
    lab = rgb_to_lab(batch)
    assert lab.shape == (3, 3, 48, 40)
    for i in range(3):
        single = rgb_to_lab(batch[i])
        assert single.shape == (3, 48, 40)
        torch.testing.assert_close(single, lab[i], rtol=0, atol=1e-10)
    assert lab_to_rgb(lab[0]).shape == (3, 48, 40)


def test_large_image_chunking_and_non_contiguous_input():
    """An image of several CPU chunks plus a remainder, given channels-last (a strided view)."""
    rng = np.random.default_rng(3)
    img = rng.random((190, 180, 3))
    assert img.shape[0] * img.shape[1] % color._CPU_CHUNK_PIXELS != 0
    assert img.shape[0] * img.shape[1] > color._CPU_CHUNK_PIXELS
    x = torch.from_numpy(img).permute(2, 0, 1)[None]  # non-contiguous
    assert not x.is_contiguous()
    lab = rgb_to_lab(x)
    assert np.abs(_hwc(lab[0]) - skcolor.rgb2lab(img)).max() < 1e-6


def test_inference_and_autograd_paths_agree():
    x = _chw(IMAGES["random0"], torch.float32)[None]
    fast = rgb_to_lab(x)
    graph = rgb_to_lab(x.clone().requires_grad_(True)).detach()
    torch.testing.assert_close(fast, graph, rtol=0, atol=1e-3)
    lab = graph.double()
    torch.testing.assert_close(lab_to_rgb(lab), lab_to_rgb(lab.requires_grad_(True)).detach())


def test_white_black_and_primaries():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    lab = rgb_to_lab(rgb.T.reshape(1, 3, 1, 3))[0, :, 0].T
    # white: L = 100; a, b ~ 0.005 only (the 6-decimal sRGB matrix does not hit D65 exactly)
    assert abs(lab[0, 0] - L_MAX) < 1e-4 and lab[0, 1:].abs().max() < 0.01
    torch.testing.assert_close(lab[1], torch.zeros(3, dtype=torch.float64))
    # sRGB red: L ~ 53.24, a ~ 80.09, b ~ 67.20 (standard published values)
    torch.testing.assert_close(
        lab[2], torch.tensor([53.24, 80.09, 67.20], dtype=torch.float64), atol=0.01, rtol=0
    )


@pytest.mark.parametrize(
    "fill", [0.0, 1.0, 0.04045, 0.5], ids=["black", "white", "threshold", "gray"]
)
def test_gradients_finite_at_extremes(fill):
    x = torch.full((1, 3, 4, 4), fill, dtype=torch.float32, requires_grad=True)
    L, ab = rgb_to_L_ab(x)
    (L.sum() + ab.square().sum() + ab.sum()).backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0  # L depends on every channel

    # pixels (L, a, b): black (0,0,0), white (100,0,0), and (50,0,130) whose Z < 0 is clamped
    lab = torch.tensor([[0.0, 100.0, 50.0], [0.0, 0.0, 0.0], [0.0, 0.0, 130.0]]).reshape(1, 3, 1, 3)
    lab.requires_grad_(True)
    lab_to_rgb(lab, clip=False).sum().backward()
    assert torch.isfinite(lab.grad).all()


def test_gradcheck_float64():
    rng = np.random.default_rng(7)
    x = torch.from_numpy(rng.uniform(0.1, 0.9, (1, 3, 3, 3))).requires_grad_(True)
    assert torch.autograd.gradcheck(rgb_to_lab, (x,))
    lab = rgb_to_lab(x.detach()).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: lab_to_rgb(t, clip=False), (lab,))


def test_dtype_preserved_and_autocast_does_not_degrade():
    x = _chw(IMAGES["random1"], torch.float32)[None]
    ref = rgb_to_lab(x)
    for requires_grad in (False, True):  # both code paths
        with torch.autocast("cpu", dtype=torch.bfloat16):
            under_autocast = rgb_to_lab(x.clone().requires_grad_(requires_grad))
        assert under_autocast.dtype == torch.float32
        torch.testing.assert_close(under_autocast.detach(), ref, rtol=0, atol=1e-3)
    half = rgb_to_lab(x.bfloat16())
    assert half.dtype == torch.bfloat16
    assert (half.float() - ref).abs().max() < 1.0  # bfloat16 has ~3 significant digits
    assert lab_to_rgb(ref.bfloat16()).dtype == torch.bfloat16


def test_meta_device_gives_shapes():
    """Any device: meta tensors (shape inference) go through without data."""
    x = torch.empty(2, 3, 5, 7, device="meta")
    assert rgb_to_lab(x).shape == (2, 3, 5, 7) and lab_to_rgb(x).device.type == "meta"
    L, ab = rgb_to_L_ab(x)
    assert L.shape == (2, 1, 5, 7) and ab.shape == (2, 2, 5, 7)


def test_clip_flag():
    lab = torch.tensor([50.0, 100.0, -100.0]).reshape(1, 3, 1, 1)  # far out of the sRGB gamut
    unclipped = lab_to_rgb(lab, clip=False)
    assert unclipped.min() < 0 or unclipped.max() > 1
    clipped = lab_to_rgb(lab)
    torch.testing.assert_close(clipped, unclipped.clamp(0, 1))


def test_normalization_constants_and_endpoints():
    assert (L_MAX, L_SCALE, AB_SCALE) == (100.0, 50.0, 110.0)
    lab = torch.tensor([[0.0, 100.0, 50.0], [110.0, -110.0, 0.0], [-110.0, 110.0, 55.0]]).reshape(
        1, 3, 1, 3
    )
    L, ab = normalize_lab(lab)
    assert L.shape == (1, 1, 1, 3) and ab.shape == (1, 2, 1, 3)
    torch.testing.assert_close(L.flatten(), torch.tensor([-1.0, 1.0, 0.0]))
    torch.testing.assert_close(ab[0, 0, 0], torch.tensor([1.0, -1.0, 0.0]))
    torch.testing.assert_close(ab[0, 1, 0], torch.tensor([-1.0, 1.0, 0.5]))


def test_denormalize_inverts_normalize():
    lab = rgb_to_lab(_chw(IMAGES["coffee"][:32, :32]))  # (3,H,W)
    L, ab = normalize_lab(lab)
    assert L.shape == (1, 32, 32) and ab.shape == (2, 32, 32)
    torch.testing.assert_close(denormalize_lab(L, ab), lab, rtol=0, atol=1e-12)
    Lb, abb = normalize_lab(lab[None])
    assert Lb.shape == (1, 1, 32, 32) and abb.shape == (1, 2, 32, 32)
    torch.testing.assert_close(denormalize_lab(Lb, abb), lab[None], rtol=0, atol=1e-12)


def test_normalized_sRGB_gamut_fits_in_unit_range():
    levels = torch.linspace(0, 1, 17, dtype=torch.float64)
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    cube = torch.stack([r, g, b]).reshape(1, 3, 17, -1)  # every corner and edge of the RGB cube
    L, ab = rgb_to_L_ab(cube)
    assert L.min() >= -1 - 1e-9 and L.max() <= 1 + 1e-9
    assert ab.abs().max() < 1  # |a|, |b| < 110 for all sRGB colours
    torch.testing.assert_close(L_ab_to_rgb(L, ab), cube, rtol=0, atol=1e-4)


def test_rgb_to_L_ab_round_trip_float32():
    x = _chw(IMAGES["chelsea"][:64, :64], torch.float32)[None]
    L, ab = rgb_to_L_ab(x)
    assert L.dtype == ab.dtype == torch.float32
    assert (L_ab_to_rgb(L, ab) - x).abs().max() < 1e-4


@pytest.mark.parametrize(
    "fn, shape, match",
    [
        (rgb_to_lab, (2, 4, 8, 8), r"rgb_to_lab expects .*\(B,3,H,W\).*got shape \(2, 4, 8, 8\)"),
        (rgb_to_lab, (8, 8), r"\(B,3,H,W\) or \(3,H,W\); got shape \(8, 8\)"),
        (rgb_to_lab, (1, 8, 8, 3), r"channels-last"),
        (lab_to_rgb, (1, 2, 8, 8), r"lab_to_rgb expects Lab of shape \(B,3,H,W\)"),
        (normalize_lab, (1, 1, 8, 8), r"normalize_lab expects Lab of shape \(B,3,H,W\)"),
    ],
)
def test_wrong_shapes_are_clear_errors(fn, shape, match):
    with pytest.raises(ValueError, match=match):
        fn(torch.rand(shape))


def test_wrong_types_are_clear_errors():
    with pytest.raises(TypeError, match=r"floating-point.*x.float\(\) / 255"):
        rgb_to_lab(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(TypeError, match="expects a torch.Tensor"):
        rgb_to_lab(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"ab \(B,2,H,W\)"):
        denormalize_lab(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match=r"normalised ab of shape \(B,2,H,W\)"):
        denormalize_lab(torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 4, 4))


def test_scaling_constants_are_not_redefined_elsewhere():
    """Project rule: the Lab scaling (50, 110) lives only in colorlab/color.py; import it."""
    import re
    from pathlib import Path

    package = Path(color.__file__).parent
    pattern = re.compile(
        r"[/*]\s*110(\.0*)?\b|\b110(\.0*)?\s*[/*]|/\s*50(\.0*)?\s*-\s*1\b|\+\s*1\.?0*\)\s*\*\s*50\b"
    )
    offenders = [
        f"{path.relative_to(package.parent)}:{n}: {line.strip()}"
        for path in package.rglob("*.py")
        if path.name != "color.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line.split("#")[0])
    ]
    assert not offenders, "Lab scaling re-defined; import L_SCALE/AB_SCALE instead:\n" + "\n".join(
        offenders
    )
    assert pattern.search("ab = lab[:, 1:] / 110.0") and pattern.search("L / 50 - 1")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("grad", [False, True])
def test_normalised_L_of_every_rgb_colour_stays_in_range(dtype, grad):
    g = torch.linspace(0, 1, 17, dtype=dtype)
    cube = torch.stack(torch.meshgrid(g, g, g, indexing="ij")).reshape(1, 3, -1, 1)
    cube.requires_grad_(grad)
    L, ab = normalize_lab(rgb_to_lab(cube))
    assert L.min() >= -1 and L.max() <= 1 and ab.abs().max() < 1
