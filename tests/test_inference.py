"""Inference: colorize any size from the full-resolution L, folders, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from colorlab import color
from colorlab.inference import (
    colorize,
    colorize_file,
    colorize_folder,
    colorize_many,
    inference_mode,
    luminance_L,
    size_divisor,
    working_size,
)


class SmallAB(nn.Module):
    """A tiny generator whose ab stays well inside the gamut (so L survives RGB clipping)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.seen: list[tuple[int, ...]] = []

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(L.shape))
        return torch.tanh(self.conv(L)) * 0.15


class ConstantAB(nn.Module):
    """Predicts the same ab everywhere: (B,1,H,W) -> (B,2,H,W)."""

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.ab = nn.Parameter(torch.tensor([a, b]).view(1, 2, 1, 1), requires_grad=False)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return self.ab.expand(L.shape[0], 2, *L.shape[-2:])


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful test image (gradients plus noise) of size h x w."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), 0.5 + 0.3 * np.sin(x / 5.0)], axis=2)
    img = img * 200 + rng.integers(0, 40, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_colorize_keeps_odd_size_and_the_input_lightness():
    model = SmallAB()
    img = _photo(37, 53)
    out = colorize(model, img, size=32, device="cpu")
    assert out.shape == (37, 53, 3) and out.dtype == np.uint8
    assert model.seen[-1] == (1, 1, 32, 32)  # the model ran at its working size
    diff = np.abs(luminance_L(out) - luminance_L(img))
    assert diff.mean() < 0.5 and diff.max() < 2.0  # L units (0-100): only 8-bit rounding
    # the colour really changed: ab of the output is the model's, not the input's
    assert not np.array_equal(out, img)


def test_colorize_upsamples_ab_from_the_working_size():
    a, b = 0.2, -0.1
    out = colorize(ConstantAB(a, b), _photo(40, 30), size=16, device="cpu")
    t = torch.from_numpy(out).permute(2, 0, 1)[None].float() / 255
    _, ab = color.rgb_to_L_ab(t)
    inner = ab[..., 5:-5, 5:-5]  # away from saturated pixels at the gradient corners
    assert torch.allclose(inner.mean(dim=(0, 2, 3)), torch.tensor([a, b]), atol=0.02)


@pytest.mark.parametrize("gray", ["2d", "3d1", "pil", "float"])
def test_grayscale_inputs_work(gray):
    base = _photo(24, 31)[..., 1]
    image = {
        "2d": base,
        "3d1": base[..., None],
        "pil": Image.fromarray(base, mode="L"),
        "float": base.astype(np.float32) / 255.0,
    }[gray]
    out = colorize(SmallAB(), image, size=16, device="cpu")
    assert out.shape == (24, 31, 3)
    gray_rgb = np.repeat(base[..., None], 3, axis=2)
    assert np.abs(luminance_L(out) - luminance_L(gray_rgb)).mean() < 0.5


def test_eval_mode_is_deterministic_and_dropout_option_is_not():
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.Dropout(0.5), nn.Conv2d(8, 2, 1), nn.Tanh()
    )
    img = _photo(20, 20)
    a = colorize(model, img, size=16, device="cpu")
    b = colorize(model, img, size=16, device="cpu")
    assert np.array_equal(a, b)
    torch.manual_seed(0)
    c = colorize(model, img, size=16, device="cpu", dropout=True)
    d = colorize(model, img, size=16, device="cpu", dropout=True)
    assert not np.array_equal(c, d)
    assert model.training  # the caller's mode is restored


def test_inference_mode_keeps_batchnorm_in_eval_with_dropout():
    model = nn.Sequential(nn.BatchNorm2d(2), nn.Dropout(0.5))
    with inference_mode(model, dropout=True):
        assert not model[0].training and model[1].training
    assert model[0].training and model[1].training


def test_working_size_respects_the_model_divisor():
    class Strided(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.ModuleList(nn.Conv2d(1, 1, 4, stride=2, padding=1) for _ in range(3))
            self.shortcut = nn.Conv2d(1, 1, 1, stride=2)  # 1x1 shortcut: not a level

    m = Strided()
    assert size_divisor(m) == 8
    assert working_size(m, 37) == 40 and working_size(m, 3) == 8
    m.size_divisor = 32
    assert working_size(m, 37) == 32


def test_tuple_output_of_a_classifier_generator_is_accepted():
    class WithClass(nn.Module):
        def forward(self, L):
            return torch.zeros(L.shape[0], 2, *L.shape[-2:]), torch.zeros(L.shape[0], 10)

    outs = colorize_many(WithClass(), [_photo(10, 12), _photo(15, 9)], size=8, device="cpu")
    assert [o.shape for o in outs] == [(10, 12, 3), (15, 9, 3)]
    assert np.abs(outs[0].astype(int)[..., 0] - outs[0][..., 1]).max() <= 1  # ab = 0: gray


def test_colorize_folder_skips_bad_files_with_a_warning(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(_photo(33, 47)).save(src / "a.jpg")
    Image.fromarray(_photo(20, 20, seed=1)).save(src / "sub" / "b.png")
    (src / "broken.png").write_bytes(b"this is not a png")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="broken.png"):
        written = colorize_folder(SmallAB(), src, out, size=16, device="cpu")
    assert sorted(p.relative_to(out).as_posix() for p in written) == ["a.png", "sub/b.png"]
    assert Image.open(out / "a.png").size == (47, 33)
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporary file


def test_colorize_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        colorize_folder(SmallAB(), tmp_path / "missing", tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        colorize_folder(SmallAB(), tmp_path / "empty", tmp_path / "o")


def test_colorize_file_default_name_and_missing_checkpoint(tmp_path):
    p = tmp_path / "photo.jpg"
    Image.fromarray(_photo(21, 17)).save(p)
    written = colorize_file(SmallAB(), p, size=16, device="cpu")
    assert written == tmp_path / "photo_color.png" and Image.open(written).size == (17, 21)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        colorize(tmp_path / "nope.pt", p)


def test_real_generators_get_a_working_size_they_accept():
    from colorlab.models import ColorizerWithClassifier, UNet

    unet = UNet.pix2pix(num_downs=5, ngf=4)
    assert size_divisor(unet) == unet.downsampling == 32
    assert colorize(unet, _photo(37, 53), size=40, device="cpu").shape == (37, 53, 3)  # ran at 32
    clf = ColorizerWithClassifier.pix2pix(
        n_classes=3,
        num_downs=5,
        ngf=4,
        image_size=64,
        tap=1,
        branch_blocks=1,
        branch_channels=8,
        fusion_units=(8,),
        head_units=(8,),
    )
    assert working_size(clf, 32) == 64  # its dense class branch fixes the input size
    assert colorize(clf, _photo(20, 30), size=32, device="cpu").shape == (20, 30, 3)
