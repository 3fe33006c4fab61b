"""Checks of exercise 6 (``06_metrics_and_inference``): PSNR, colourfulness, any-size colorizing.

References: :func:`colorlab.metrics.psnr`, :func:`colorlab.metrics.colorfulness_hasler` and
:func:`colorlab.inference.colorize`, on seeded test images and a deterministic stand-in model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from colorlab import color
from colorlab.checks._core import _Check, _fmt, _isolated, _scalar, _seeded_init, _shape
from colorlab.inference import colorize as reference_colorize
from colorlab.metrics import colorfulness_hasler
from colorlab.metrics import psnr as reference_psnr


def _images(seed: int, h: int, w: int, tint: tuple[float, float, float]) -> np.ndarray:
    """A smooth, tinted random uint8 image with some texture (H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(3 * xx + k) * 60 + 128 for k in range(3)], axis=-1)
    img = base + rng.normal(0, 25, (h, w, 3)) + np.array(tint) + yy[..., None] * 40
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _psnr_variant(
    pred: np.ndarray,
    target: np.ndarray,
    *,
    peak: float = 255.0,
    wrap: bool = False,
    scale: float = 1.0,
    square_peak: bool = True,
    rmse: bool = False,
) -> float:
    if wrap:
        diff = (np.asarray(pred, np.uint8) - np.asarray(target, np.uint8)).astype(np.float64)
    else:
        diff = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    diff = diff * scale
    mse = float(np.mean(diff**2))
    err = math.sqrt(mse) if rmse else mse
    return 10 * math.log10((peak**2 if square_peak else peak) / err)


@_isolated
def check_psnr(psnr: Callable[[np.ndarray, np.ndarray], float]) -> None:
    """Check ``psnr(pred, target) -> float`` (dB) on RGB images in 0-255 (uint8 or float),
    against :func:`colorlab.metrics.psnr`; identical images give ``inf``."""
    rng = np.random.default_rng(14)
    t1 = _images(1, 16, 16, (0, 0, 0))
    p1 = np.clip(t1 + rng.normal(0, 6, t1.shape), 0, 255).astype(np.uint8)
    t2 = _images(2, 12, 20, (20, -10, 0))
    p2 = np.clip(t2.astype(np.int64) - 40 + rng.integers(0, 30, t2.shape), 0, 255).astype(np.uint8)
    t3 = _images(3, 24, 20, (0, 10, -20)).astype(np.float64)
    p3 = np.clip(t3 + rng.normal(0, 12, t3.shape), 0, 255)
    cases = [
        ("uint8 (16, 16, 3) with small noise", p1, t1),
        ("uint8 (12, 20, 3), prediction darker than the target", p2, t2),
        ("float64 (24, 20, 3) in 0-255", p3, t3),
        ("identical uint8 images", t1.copy(), t1.copy()),
    ]
    chk = _Check(
        "psnr",
        "mse = np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2); "
        "return 10 * np.log10(255.0 ** 2 / mse) (and float('inf') when mse == 0)",
        len(cases),
    )
    for i, (desc, pred, target) in enumerate(cases, 1):
        chk.start(i, desc)
        with np.errstate(all="ignore"):
            got = chk.call(psnr, pred.copy(), target.copy())
        expected = float(reference_psnr(pred, target))
        value = _scalar(chk, got, "the PSNR")
        if math.isinf(expected):
            if not (math.isinf(value) and value > 0):
                chk.fail(
                    "identical images have an infinite PSNR (mse = 0): return float('inf')",
                    expected="inf",
                    got=_fmt(value),
                )
            continue
        if math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-6):
            continue
        offset = 20 * math.log10(255.0)
        variants = [
            (
                f"your PSNR is {offset:.2f} dB = 20 log10(255) too high: the images were scaled to "
                f"[0, 1] but the peak stayed 255; use the peak of the data range, 255 for 0-255 "
                f"images",
                dict(scale=1 / 255),
            ),
            (
                f"your PSNR is {offset:.2f} dB = 20 log10(255) too low: the peak value is 255 for "
                f"0-255 images, not 1 (PSNR on [0, 1] instead of 0-255)",
                dict(peak=1.0),
            ),
            (
                "uint8 arithmetic wrapped around (3 - 5 = 254): convert to float before "
                "subtracting",
                dict(wrap=True),
            ),
            ("square the peak: 10 log10(255^2 / MSE)", dict(square_peak=False)),
            (
                "use the mean squared error, not its square root, inside 10 log10(255^2 / MSE)",
                dict(rmse=True),
            ),
        ]
        known = None
        with np.errstate(all="ignore"):
            for msg, kw in variants:
                v = _psnr_variant(pred, target, **kw)
                if math.isclose(value, v, rel_tol=1e-6, abs_tol=1e-6):
                    known = msg
                    break
        chk.fail(known or "wrong PSNR", expected=f"{expected:.4f} dB", got=f"{value:.4f} dB")
    chk.passed()


def _colorfulness_variant(
    img: np.ndarray,
    *,
    wrap: bool = False,
    absolute: bool = False,
    w_sigma: float = 1.0,
    w_mu: float = 0.3,
    variance: bool = False,
    add_std: bool = False,
) -> float:
    if wrap:  # the arithmetic done on uint8 arrays: sums and differences wrap modulo 256
        u = np.asarray(img, np.uint8)
        r, g, b = u[..., 0], u[..., 1], u[..., 2]
        rg = (r - g).astype(np.float64)
        yb = 0.5 * (r + g).astype(np.float64) - b
    else:
        x = np.asarray(img, np.float64)
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        rg, yb = r - g, 0.5 * (r + g) - b
    if absolute:
        rg, yb = np.abs(rg), np.abs(yb)
    if variance:
        sigma = rg.var() + yb.var()
    elif add_std:
        sigma = rg.std() + yb.std()
    else:
        sigma = math.sqrt(rg.var() + yb.var())
    mu = math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return w_sigma * sigma + w_mu * mu


@_isolated
def check_colorfulness(colorfulness: Callable[[np.ndarray], float]) -> None:
    """Check ``colorfulness(img) -> float``: Hasler & Suesstrunk's metric on RGB 0-255 images,
    sigma_rgyb + 0.3 mu_rgyb with signed rg = R - G and yb = (R + G) / 2 - B, against
    :func:`colorlab.metrics.colorfulness_hasler`."""
    gray = np.repeat(_images(4, 10, 12, (0, 0, 0))[..., :1], 3, axis=2)
    cases = [
        ("a reddish uint8 image (20, 30, 3)", _images(5, 20, 30, (40, -30, -30))),
        ("a bluish uint8 image (16, 16, 3)", _images(6, 16, 16, (-30, -10, 50))),
        ("a gray uint8 image (R = G = B): colourfulness 0", gray),
        (
            "a float64 image in 0-255 (18, 14, 3)",
            _images(7, 18, 14, (10, 30, -40)).astype(np.float64),
        ),
    ]
    chk = _Check(
        "colorfulness",
        "rg = R - G; yb = 0.5 * (R + G) - B (in float); sigma = sqrt(rg.std()**2 + yb.std()**2); "
        "mu = sqrt(rg.mean()**2 + yb.mean()**2); return sigma + 0.3 * mu",
        len(cases),
    )
    for i, (desc, img) in enumerate(cases, 1):
        chk.start(i, desc)
        got = chk.call(colorfulness, img.copy())
        value = _scalar(chk, got, "the colourfulness")
        expected = float(colorfulness_hasler(img))
        # rtol 1e-3 also accepts the sample standard deviation (ddof=1) of torch.std
        if math.isclose(value, expected, rel_tol=1e-3, abs_tol=1e-6):
            continue
        variants = [
            (
                "the weight 0.3 belongs to the mean term: sigma + 0.3 * mu (you weighted sigma)",
                dict(w_sigma=0.3, w_mu=1.0),
            ),
            ("the mean term is weighted by 0.3: sigma + 0.3 * mu", dict(w_mu=1.0)),
            ("the mean term 0.3 * mu_rgyb is missing", dict(w_mu=0.0)),
            (
                "you used the absolute differences |R - G| (seed 000's variant): Hasler & "
                "Suesstrunk use the signed rg = R - G and yb = (R + G) / 2 - B",
                dict(absolute=True),
            ),
            (
                "uint8 arithmetic wrapped around (R - G < 0 becomes R - G + 256): convert to float "
                "first",
                dict(wrap=True),
            ),
            (
                "sigma is the square root of the summed variances: sqrt(std_rg^2 + std_yb^2)",
                dict(variance=True),
            ),
            ("sigma is sqrt(std_rg^2 + std_yb^2), not std_rg + std_yb", dict(add_std=True)),
        ]
        known = next(
            (
                msg
                for msg, kw in variants
                if math.isclose(value, _colorfulness_variant(img, **kw), rel_tol=1e-3, abs_tol=1e-6)
            ),
            None,
        )
        chk.fail(known or "wrong colourfulness", expected=f"{expected:.4f}", got=f"{value:.4f}")
    chk.passed()


class _ColorModel(nn.Module):
    """A deterministic stand-in generator ``(B,1,S,S) -> (B,2,S,S)`` in [-0.3, 0.3] that records
    the shapes and value ranges of its inputs."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 5, padding=2)
        _seeded_init(self.conv, seed, 0.3)
        self.calls: list[tuple[tuple[int, ...], float, float]] = []

    def forward(self, L: Tensor) -> Tensor:
        self.calls.append((tuple(L.shape), float(L.min()), float(L.max())))
        return 0.3 * torch.tanh(self.conv(L) + 0.5)


def _lab_of(rgb: np.ndarray) -> Tensor:
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].to(torch.float64) / 255
    return color.rgb_to_lab(t)[0]


@_isolated
def check_colorize_any_size(colorize_any_size: Callable[..., np.ndarray]) -> None:
    """Check ``colorize_any_size(model, rgb, size) -> rgb_out`` ((H,W,3) uint8 in and out).

    The output must keep the input's size and its full-resolution lightness L (the detail), with
    colours close to :func:`colorlab.inference.colorize` (ab predicted at ``size x size`` and
    upsampled). The model must see ``(B,1,size,size)`` inputs in [-1, 1].
    """
    cases = [(1, 48, 80, 32), (2, 37, 53, 16), (3, 20, 24, 32)]
    chk = _Check(
        "colorize_any_size",
        "L, _ = rgb_to_L_ab(x) at full size; ab = model(F.interpolate(L, size=(size, size), "
        "mode='bilinear')); ab = F.interpolate(ab, size=(H, W), mode='bilinear'); "
        "return the uint8 RGB of L_ab_to_rgb(L, ab)",
        len(cases),
    )
    for i, (seed, h, w, size) in enumerate(cases, 1):
        chk.start(i, f"a {h}x{w} photo, working size {size}")
        rgb = _images(700 + seed, h, w, (20, 0, -20))
        model = _ColorModel(710 + seed).eval()
        got = chk.call(colorize_any_size, model, rgb.copy(), size)
        calls = list(model.calls)
        model.calls.clear()
        expected = reference_colorize(model, rgb, size=size, device="cpu")
        if isinstance(got, Tensor):
            chk.fail(
                "return a numpy array (H, W, 3) of uint8, not a tensor",
                expected=f"(H, W, 3) = {(h, w, 3)} uint8",
                got=f"a tensor {tuple(got.shape)}",
            )
        if not isinstance(got, np.ndarray):
            chk.fail("return a numpy array (H, W, 3) of uint8", got=_shape(got))
        if got.shape != (h, w, 3):
            problem = "the output must have the input's size"
            if got.shape[:2] == (size, size):
                problem = (
                    "you returned the working size: upsample ab to the input's size and "
                    "combine it with the full-resolution L"
                )
            elif got.shape == (3, h, w):
                problem = "the output is channels-first: return (H, W, 3)"
            chk.fail(problem, expected=str((h, w, 3)), got=str(got.shape))
        if got.dtype != np.uint8:
            chk.fail(
                "the output must be uint8 in 0-255 (multiply by 255, round, .astype(np.uint8))",
                expected="dtype uint8",
                got=f"dtype {got.dtype}",
            )
        if not calls:
            chk.fail("the model was never called")
        for shape, lo, hi in calls:
            if len(shape) != 4 or shape[1] != 1 or shape[2:] != (size, size):
                chk.fail(
                    f"the generator must see (B, 1, {size}, {size}) lightness batches: "
                    f"resize L to the working size first",
                    expected=f"(1, 1, {size}, {size})",
                    got=str(shape),
                )
            if hi > 1.0 + 1e-4 or lo < -1.0 - 1e-4:
                chk.fail(
                    "the generator must get the normalised L in [-1, 1] (rgb_to_L_ab), "
                    "not L in [0, 100]",
                    expected="values in [-1, 1]",
                    got=f"values in [{_fmt(lo)}, {_fmt(hi)}]",
                )
        lab_in, lab_got, lab_ref = _lab_of(rgb), _lab_of(got), _lab_of(expected)
        dl_got = float((lab_got[0] - lab_in[0]).abs().mean())
        dl_ref = float((lab_ref[0] - lab_in[0]).abs().mean())
        if dl_got > dl_ref + 1.0:
            chk.fail(
                "the output lost the input's detail: keep the input's full-resolution L and "
                "only upsample ab (resizing the colorized RGB, or L, blurs the lightness)",
                expected=f"mean |L_out - L_in| <= {dl_ref + 1.0:.2f}",
                got=f"mean |L_out - L_in| = {dl_got:.2f}",
            )
        dab = float((lab_got[1:] - lab_ref[1:]).abs().mean())
        if dab > 2.0:
            chk.fail(
                "the colours differ from the reference: predict ab at the working size, "
                "upsample it (bilinear) to the input size and combine it with L "
                "(L_ab_to_rgb works on the normalised L and ab)",
                expected="mean |ab_out - ab_reference| <= 2 Lab units",
                got=f"{dab:.2f} Lab units",
            )
    chk.passed()
