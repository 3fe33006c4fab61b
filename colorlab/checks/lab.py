"""Checks of exercise 1 (``01_lab_conversion``): sRGB decoding and sRGB -> CIE Lab.

References: the private sRGB curves of :mod:`colorlab.color` and :func:`colorlab.color.rgb_to_lab`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from colorlab import color
from colorlab.checks._core import _as_tensor, _Check, _compare, _gen, _isolated


def _lab_from_linear(lin: Tensor, matrix: np.ndarray, f: Callable[[Tensor], Tensor]) -> Tensor:
    """Lab from linear RGB with a given RGB->XYZ/white matrix and companding ``f`` (variants)."""
    fxyz = f(color._mix(lin, matrix))
    fx, fy, fz = fxyz[:, 0:1], fxyz[:, 1:2], fxyz[:, 2:3]
    return torch.cat([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


_SRGB_HINT = (
    "decode each value on its own, with torch.where: c / 12.92 where c <= 0.04045, "
    "else ((c + 0.055) / 1.055) ** 2.4"
)


@_isolated
def check_srgb_to_linear(srgb_to_linear: Callable[[Tensor], Tensor]) -> None:
    """Check ``srgb_to_linear(c) -> c_lin``: the sRGB decoding curve, element-wise, any shape."""
    g = _gen(10)
    cases = [
        (
            "values around the threshold 0.04045",
            torch.tensor([0.0, 0.01, 0.04, 0.04045, 0.0405, 0.2, 0.5, 1.0], dtype=torch.float64),
        ),
        ("a random image batch (2, 3, 4, 5), float32", torch.rand(2, 3, 4, 5, generator=g)),
        (
            "dark values below 0.05, float64",
            torch.rand(3, 7, generator=g, dtype=torch.float64) * 0.05,
        ),
    ]
    chk = _Check("srgb_to_linear", _SRGB_HINT, len(cases))
    for i, (desc, c) in enumerate(cases, 1):
        chk.start(i, desc)
        got = chk.call(srgb_to_linear, c.clone())
        expected = color._srgb_to_linear(c)
        variants = [
            ("you returned the input unchanged: apply the sRGB decoding curve", lambda: c),
            (
                "you used the power law c ** 2.2, an approximation: sRGB is linear (c / 12.92) for "
                "c <= 0.04045 and ((c + 0.055) / 1.055) ** 2.4 above",
                lambda: c**2.2,
            ),
            (
                "the linear segment is missing: for c <= 0.04045 the value is c / 12.92",
                lambda: ((c + 0.055) / 1.055) ** 2.4,
            ),
            (
                "the power segment is missing: above 0.04045 the value is "
                "((c + 0.055) / 1.055) ** 2.4",
                lambda: c / 12.92,
            ),
            (
                "the two segments are swapped: c / 12.92 is for the dark values (c <= 0.04045)",
                lambda: torch.where(c > 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4),
            ),
            (
                "this is the inverse curve (linear -> sRGB); decode instead",
                lambda: color._linear_to_srgb(c),
            ),
        ]
        _compare(chk, got, expected, atol=1e-5, rtol=1e-5, variants=variants)
    chk.passed()


@_isolated
def check_rgb_to_lab(rgb_to_lab: Callable[[Tensor], Tensor]) -> None:
    """Check ``rgb_to_lab(rgb) -> lab``: ``(B,3,H,W)`` sRGB in [0,1] -> CIE Lab (D65).

    Compared with :func:`colorlab.color.rgb_to_lab` to within 0.05 Lab units.
    """
    g = _gen(11)
    named = torch.tensor(
        [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]],
        dtype=torch.float64,
    ).T.reshape(1, 3, 2, 3)
    cases = [
        ("black, white, red, green, blue and mid-gray, shape (1, 3, 2, 3)", named),
        ("random colours, shape (2, 3, 8, 8), float32", torch.rand(2, 3, 8, 8, generator=g)),
        (
            "very dark colours (both branches of f), shape (1, 3, 4, 6), float64",
            torch.rand(1, 3, 4, 6, generator=g, dtype=torch.float64) * 0.06,
        ),
    ]
    chk = _Check(
        "rgb_to_lab",
        "sRGB -> linear (srgb_to_linear) -> XYZ (the 3x3 matrix) -> divide by the D65 white -> "
        "f(t) -> L = 116 f(Y) - 16, a = 500 (f(X) - f(Y)), b = 200 (f(Y) - f(Z))",
        len(cases),
    )
    lab_f, xyz = color._lab_f, color._XYZ_FROM_RGB
    xyzn = color._XYZN_FROM_RGB
    for i, (desc, rgb) in enumerate(cases, 1):
        chk.start(i, desc)
        got = chk.call(rgb_to_lab, rgb.clone())
        expected = color.rgb_to_lab(rgb)
        lin = color._srgb_to_linear(rgb)
        g_t = _as_tensor(got)
        if g_t is not None and g_t.dim() == 4 and g_t.shape[-1] == 3 and g_t.shape[1] != 3:
            chk.fail(
                "the result is channels-last",
                expected=str(tuple(expected.shape)),
                got=str(tuple(g_t.shape)),
                hint="keep the channels first: L, a, b in dim 1 (torch.cat(..., dim=1))",
            )
        variants = [
            ("you returned the RGB input unchanged, not Lab (L lies in [0, 100])", lambda: rgb),
            (
                "you skipped the sRGB gamma linearisation: decode with srgb_to_linear before the "
                "XYZ matrix (the matrix applies to linear light)",
                lambda: color.rgb_to_lab(color._linear_to_srgb(rgb)),
            ),
            (
                "you did not divide XYZ by the D65 white point (0.95047, 1.0, 1.08883)",
                lambda: _lab_from_linear(lin, xyz, lab_f),
            ),
            (
                "the matrix is transposed: X = 0.412453 R + 0.357580 G + 0.180423 B (use its rows)",
                lambda: _lab_from_linear(lin, (xyz.T / np.array(color.WHITE_D65)[:, None]), lab_f),
            ),
            (
                "f is missing: apply f(t) = t ** (1/3) (or 7.787 t + 16/116 for small t) to X/Xn, "
                "Y/Yn and Z/Zn",
                lambda: _lab_from_linear(lin, xyzn, lambda t: t),
            ),
            (
                "the linear part of f is missing: for t <= 0.008856, f(t) = 7.787 t + 16/116",
                lambda: _lab_from_linear(lin, xyzn, lambda t: t.clamp(min=0) ** (1.0 / 3.0)),
            ),
            (
                "a and b are swapped: a = 500 (f(X) - f(Y)) (green-red), b = 200 (f(Y) - f(Z)) "
                "(blue-yellow)",
                lambda: expected[:, [0, 2, 1]],
            ),
            (
                "L is off by 16: L = 116 f(Y) - 16",
                lambda: (
                    expected + torch.tensor([16.0, 0.0, 0.0], dtype=expected.dtype).view(1, 3, 1, 1)
                ),
            ),
            (
                "the channels come out in the order b, a, L: return torch.cat([L, a, b], dim=1)",
                lambda: expected[:, [2, 1, 0]],
            ),
        ]
        _compare(chk, got, expected, atol=0.05, rtol=0.0, variants=variants, names=("L", "a", "b"))
    chk.passed()
