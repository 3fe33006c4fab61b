"""RGB <-> CIE Lab in pure torch, and the one place that defines the network scaling.

Colour model
------------
* RGB is **sRGB** in ``[0, 1]`` (gamma-encoded, as images are stored), channels first:
  ``(B,3,H,W)`` or a single image ``(3,H,W)``.
* Lab is **CIE L*a*b*** under the **D65** white point (2 degree observer), reached through linear
  sRGB and CIE XYZ. ``L`` lies in ``[0, 100]``; for sRGB colours ``a`` lies in about ``[-86, 98]``
  and ``b`` in about ``[-108, 95]`` (roughly the ``[-128, 127]`` of 8-bit Lab).

The formulas and constants are those of scikit-image's ``rgb2lab``/``lab2rgb`` (the sRGB->XYZ
matrix to six decimals, the D65 white ``(0.95047, 1, 1.08883)``, and the rounded CIE constants
``0.008856`` and ``7.787`` of the piecewise cube root), so the two agree to ~1e-10 in float64.

Everything is batched, differentiable, works on any device, and preserves the input dtype
(float32 and float64 are computed natively; float16/bfloat16 are computed in float32 and cast
back). Autocast is disabled inside the conversion so mixed-precision training does not degrade it.

Two code paths compute the same formulas:

* when a gradient must flow back to the input, or on a GPU: plain out-of-place tensor ops on the
  whole batch; the branches of the piecewise functions are evaluated on clamped inputs and
  selected with ``torch.where``, so gradients are finite everywhere, pure black and white included;
* on the CPU without autograd (data loading, evaluation): in-place ops on one cache-sized chunk
  (32768 pixels) at a time, several times faster than streaming the batch through memory
  (``benchmarks/bench_color.py``).

Network scaling
---------------
Networks see Lab scaled to ``[-1, 1]``. These constants are defined here and nowhere else::

    L_norm  = L / L_SCALE - 1      L  in [0, 100]   <->  L_norm  in [-1, 1]   (L_SCALE = 50)
    ab_norm = ab / AB_SCALE        ab in [-110, 110] <-> ab_norm in [-1, 1]   (AB_SCALE = 110)

``AB_SCALE = 110`` covers the whole sRGB gamut (|a|, |b| < 108), so every real colour maps inside
``[-1, 1]`` and a ``tanh`` output can reach all of them.

>>> import torch
>>> rgb = torch.rand(2, 3, 8, 8)
>>> L, ab = rgb_to_L_ab(rgb)           # (2,1,8,8) and (2,2,8,8) in [-1, 1]
>>> back = L_ab_to_rgb(L, ab)          # (2,3,8,8) in [0, 1]
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

__all__ = [
    "L_MAX",
    "L_SCALE",
    "AB_SCALE",
    "WHITE_D65",
    "rgb_to_lab",
    "lab_to_rgb",
    "normalize_lab",
    "denormalize_lab",
    "rgb_to_L_ab",
    "L_ab_to_rgb",
]

#: Largest lightness: L of pure white.
L_MAX: float = 100.0
#: Lightness scale of the networks: ``L_norm = L / L_SCALE - 1`` maps [0, 100] to [-1, 1].
L_SCALE: float = 50.0
#: Chroma scale of the networks: ``ab_norm = ab / AB_SCALE`` maps [-110, 110] to [-1, 1].
AB_SCALE: float = 110.0

#: CIE XYZ of the D65 reference white (2 degree observer), Y normalised to 1.
WHITE_D65: tuple[float, float, float] = (0.95047, 1.0, 1.08883)

# Linear sRGB -> XYZ (sRGB specification, D65); XYZ -> linear sRGB is its exact inverse.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB)
# Lab works on XYZ relative to the white point: fold the white into the matrices.
_XYZN_FROM_RGB = _XYZ_FROM_RGB / np.array(WHITE_D65)[:, None]
_RGB_FROM_XYZN = _RGB_FROM_XYZ * np.array(WHITE_D65)[None, :]

# sRGB transfer function (gamma) thresholds.
_SRGB_DECODE_THRESHOLD = 0.04045  # encoded value below which the curve is linear
_SRGB_ENCODE_THRESHOLD = 0.0031308  # linear value below which the curve is linear
_SRGB_LINEAR_SLOPE = 12.92
_SRGB_A = 0.055
_SRGB_GAMMA = 2.4

# CIE Lab companding f(t) = cbrt(t) above _LAB_EPSILON, else _LAB_KAPPA * t + 16/116
# (rounded CIE constants, as scikit-image uses; exact ones are (6/29)^3 and (29/6)^2/3).
_LAB_EPSILON = 0.008856
_LAB_KAPPA = 7.787
_LAB_OFFSET = 16.0 / 116.0
_LAB_F_THRESHOLD = 0.2068966  # f(_LAB_EPSILON): inverse threshold of f

_REDUCED_PRECISION = (torch.float16, torch.bfloat16)


def _check_image(x: torch.Tensor, channels: int, what: str, name: str) -> None:
    """Raise a clear error unless ``x`` is a floating tensor of shape (B,C,H,W) or (C,H,W)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} expects a torch.Tensor {what} of shape (B,{channels},H,W) or "
            f"({channels},H,W); got {type(x).__name__}"
        )
    if x.dim() not in (3, 4) or x.shape[-3] != channels:
        hint = ""
        if x.dim() in (3, 4) and x.shape[-1] == channels:
            hint = " (it looks channels-last: permute it to channels-first)"
        raise ValueError(
            f"{name} expects {what} of shape (B,{channels},H,W) or ({channels},H,W); "
            f"got shape {tuple(x.shape)}{hint}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} expects a floating-point tensor {what}; got dtype {x.dtype} "
            "(convert uint8 images with `x.float() / 255`)"
        )


def _mix(x: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    """Apply a 3x3 colour matrix over the channel dimension of ``(B,3,H,W)``."""
    m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,bjhw->bihw", m, x)


# --- The differentiable path (autograd, GPUs): out-of-place ops, branches on clamped inputs. ---


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    power = ((c.clamp(min=_SRGB_DECODE_THRESHOLD) + _SRGB_A) / (1.0 + _SRGB_A)) ** _SRGB_GAMMA
    return torch.where(c > _SRGB_DECODE_THRESHOLD, power, c / _SRGB_LINEAR_SLOPE)


def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    power = (1.0 + _SRGB_A) * c.clamp(min=_SRGB_ENCODE_THRESHOLD) ** (1.0 / _SRGB_GAMMA) - _SRGB_A
    return torch.where(c > _SRGB_ENCODE_THRESHOLD, power, c * _SRGB_LINEAR_SLOPE)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    cube_root = t.clamp(min=_LAB_EPSILON) ** (1.0 / 3.0)
    return torch.where(t > _LAB_EPSILON, cube_root, _LAB_KAPPA * t + _LAB_OFFSET)


def _lab_f_inverse(f: torch.Tensor) -> torch.Tensor:
    return torch.where(f > _LAB_F_THRESHOLD, f * f * f, (f - _LAB_OFFSET) / _LAB_KAPPA)


def _rgb_to_lab_graph(x: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) sRGB -> Lab with autograd-friendly ops."""
    f = _lab_f(_mix(_srgb_to_linear(x), _XYZN_FROM_RGB))
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    return torch.cat([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def _lab_to_rgb_graph(x: torch.Tensor, clip: bool) -> torch.Tensor:
    """(B,3,H,W) Lab -> sRGB with autograd-friendly ops."""
    fy = (x[:, 0:1] + 16.0) / 116.0
    fx = fy + x[:, 1:2] / 500.0
    fz = (fy - x[:, 2:3] / 200.0).clamp(min=0.0)  # negative Z clamped, as scikit-image does
    rgb = _linear_to_srgb(_mix(_lab_f_inverse(torch.cat([fx, fy, fz], dim=1)), _RGB_FROM_XYZN))
    return rgb.clamp(0.0, 1.0) if clip else rgb


# --- The CPU inference path: no autograd, so work in place, one cache-sized chunk at a time. ---
#
# Streaming a 64-image batch through ~20 full-size temporaries is bound by memory bandwidth; the
# same ops on 32768 pixels at a time stay in the CPU cache and run several times faster. Fewer
# passes matter too, so constants are folded into the two matrices:
#
# * sRGB decode: ((c + a) / (1 + a)) ** 2.4 = exp(2.4 * log(c + a)) * (1 + a) ** -2.4; the
#   last factor goes into the XYZ matrix and the linear branch is pre-scaled by its inverse.
# * Lab: with f'(t) = (f(t) - 16/116) / kappa, i.e. t below epsilon and
#   (cbrt(t) - 16/116) / kappa above, Lab = (kappa * LAB_FROM_F) @ f' exactly (the 16/116 offsets
#   cancel: 116 * 16/116 - 16 = 0), so the linear branch costs nothing.
# * Branches are blended with an exact 0/1 mask, clamp(x * 2**100 - threshold * 2**100, 0, 1)
#   (2**100 is a power of two: the products are exact, so the sign of the difference is exact);
#   on the CPU this is cheaper than a comparison followed by torch.where.
#
# The tests check this path and the graph path against scikit-image.

_CPU_CHUNK_PIXELS = 1 << 15  # 32768 pixels: the five (3,n) float32 buffers stay in L2 cache
_MASK_GAIN = 2.0**100
_SRGB_POWER_GAIN = (1.0 + _SRGB_A) ** -_SRGB_GAMMA
_LAB_FROM_F = np.array([[0.0, 116.0, 0.0], [500.0, -500.0, 0.0], [0.0, 200.0, -200.0]])


def _mask_(x: torch.Tensor, negative_threshold: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out <- 1.0 where x > threshold else 0.0 (``negative_threshold`` = -threshold * 2**100)."""
    return torch.add(negative_threshold, x, alpha=_MASK_GAIN, out=out).clamp_(0.0, 1.0)


def _blend_(upper: torch.Tensor, lower: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """In place: upper <- where(mask, upper, lower) for a 0/1 float mask."""
    return upper.sub_(lower).mul_(mask).add_(lower)


class _CpuConstants:
    """The folded matrices and thresholds of the CPU path, as tensors of one dtype."""

    def __init__(self, dtype: torch.dtype) -> None:
        def tensor(value) -> torch.Tensor:
            return torch.as_tensor(value, dtype=dtype)

        self.xyz_from_rgb = tensor(_XYZN_FROM_RGB * _SRGB_POWER_GAIN)
        self.lab_from_f = tensor(_LAB_FROM_F * _LAB_KAPPA)
        self.srgb_threshold = tensor(-_SRGB_DECODE_THRESHOLD * _MASK_GAIN)
        self.lab_threshold = tensor(-_LAB_EPSILON * _MASK_GAIN)
        self.log_kappa = tensor(-np.log(_LAB_KAPPA))


def _rgb_to_lab_chunk(x, out, a, b, m, k: _CpuConstants) -> None:
    """One ``(3,n)`` chunk of sRGB -> Lab into ``out``; ``a, b, m`` are ``(3,n)`` workspaces."""
    # linear sRGB / gain: exp(2.4 log(max(c, t) + a)) above the threshold, c / (12.92 gain) below
    power = torch.clamp(x, min=_SRGB_DECODE_THRESHOLD, out=b).add_(_SRGB_A)
    power.log_().mul_(_SRGB_GAMMA).exp_()
    linear = torch.mul(x, 1.0 / (_SRGB_LINEAR_SLOPE * _SRGB_POWER_GAIN), out=a)
    rgb_linear = _blend_(power, linear, _mask_(x, k.srgb_threshold, m))
    t = torch.mm(k.xyz_from_rgb, rgb_linear, out=a)  # XYZ / white point
    # f'(t): cbrt(t) / kappa - 16 / (116 kappa) above epsilon, t below
    cube = torch.clamp(t, min=_LAB_EPSILON, out=b).log_()
    cube = (
        torch.add(k.log_kappa, cube, alpha=1.0 / 3.0, out=cube)
        .exp_()
        .sub_(_LAB_OFFSET / _LAB_KAPPA)
    )
    f = _blend_(cube, t, _mask_(t, k.lab_threshold, m))
    torch.mm(k.lab_from_f, f, out=out)  # out: a strided (3,n) view of the image; BLAS writes it


def _rgb_to_lab_cpu(x: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) sRGB -> Lab without autograd, chunk by chunk (CPU)."""
    x = x.contiguous()
    lab = torch.empty_like(x)
    constants = _CpuConstants(x.dtype)
    workspaces: dict[int, tuple[torch.Tensor, ...]] = {}
    for image, image_lab in zip(x.flatten(2), lab.flatten(2)):  # (3, H*W) views
        for chunk, chunk_lab in zip(
            image.split(_CPU_CHUNK_PIXELS, dim=1), image_lab.split(_CPU_CHUNK_PIXELS, dim=1)
        ):
            n = chunk.shape[1]
            if n not in workspaces:
                workspaces[n] = tuple(x.new_empty((3, n)) for _ in range(3))
            _rgb_to_lab_chunk(chunk, chunk_lab, *workspaces[n], constants)
    # The folded constants round differently: keep L of white at 100, not 100 + 4e-14, so that
    # normalised L stays inside [-1, 1] as on the graph path.
    lab[:, 0].clamp_(0.0, L_MAX)
    return lab


def _lab_to_rgb_cpu(x: torch.Tensor, clip: bool) -> torch.Tensor:
    """(B,3,H,W) Lab -> sRGB without autograd, one image at a time (CPU cache)."""
    rgb = torch.empty_like(x)
    for image, image_rgb in zip(x.split(1), rgb.split(1)):
        image_rgb.copy_(_lab_to_rgb_graph(image, clip))
    return rgb


def _autocast_off(device: torch.device) -> contextlib.AbstractContextManager:
    """Disable autocast on ``device`` (where the device type has autocast at all, e.g. not meta)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def _fast_path(x: torch.Tensor) -> bool:
    """Use the in-place CPU path: on CPU when no gradient has to flow back to ``x``."""
    return x.device.type == "cpu" and not (torch.is_grad_enabled() and x.requires_grad)


# --- Public conversions ----------------------------------------------------------------------


def _as_batch(x: torch.Tensor) -> tuple[torch.Tensor, bool, torch.dtype]:
    """(C,H,W) -> (1,C,H,W); half precision -> float32. Returns (x, was_single, dtype)."""
    single = x.dim() == 3
    dtype = x.dtype
    if single:
        x = x.unsqueeze(0)
    if dtype in _REDUCED_PRECISION:
        x = x.float()
    return x, single, dtype


def _restore(x: torch.Tensor, single: bool, dtype: torch.dtype) -> torch.Tensor:
    x = x.to(dtype)
    return x.squeeze(0) if single else x


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB -> CIE Lab (D65).

    Args:
        rgb: ``(B,3,H,W)`` or ``(3,H,W)`` float tensor, sRGB in ``[0, 1]``.

    Returns:
        Lab of the same shape and dtype: channel 0 is L in ``[0, 100]``, channels 1-2 are a, b
        (about ``[-86, 98]`` and ``[-108, 95]`` for sRGB inputs). Differentiable.
    """
    _check_image(rgb, 3, "sRGB in [0,1]", "rgb_to_lab")
    x, single, dtype = _as_batch(rgb)
    with _autocast_off(x.device):
        lab = _rgb_to_lab_cpu(x) if _fast_path(x) else _rgb_to_lab_graph(x)
    return _restore(lab, single, dtype)


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """CIE Lab (D65) -> sRGB.

    Args:
        lab: ``(B,3,H,W)`` or ``(3,H,W)`` float tensor; L in ``[0, 100]``, a and b in Lab units.
        clip: clamp the result to ``[0, 1]`` (colours outside the sRGB gamut are clipped, as
            scikit-image does). With ``clip=False`` out-of-gamut values are returned as they are.

    Returns:
        sRGB of the same shape and dtype, in ``[0, 1]`` when ``clip``. Differentiable.
        As in scikit-image, a negative Z (a "b" too large for the lightness) is clamped to 0.
    """
    _check_image(lab, 3, "Lab", "lab_to_rgb")
    x, single, dtype = _as_batch(lab)
    with _autocast_off(x.device):
        rgb = _lab_to_rgb_cpu(x, clip) if _fast_path(x) else _lab_to_rgb_graph(x, clip)
    return _restore(rgb, single, dtype)


def normalize_lab(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab -> the network scaling.

    Args:
        lab: ``(B,3,H,W)`` (or ``(3,H,W)``), L in ``[0, 100]``, ab in Lab units.

    Returns:
        ``(L, ab)``: ``(B,1,H,W)`` with ``L / L_SCALE - 1`` in ``[-1, 1]`` and ``(B,2,H,W)`` with
        ``ab / AB_SCALE`` in ``[-1, 1]`` (``(1,H,W)`` and ``(2,H,W)`` for a single image).
    """
    _check_image(lab, 3, "Lab", "normalize_lab")
    L = lab[..., 0:1, :, :] / L_SCALE - 1.0
    ab = lab[..., 1:3, :, :] / AB_SCALE
    return L, ab


def denormalize_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The network scaling -> Lab; the inverse of :func:`normalize_lab`.

    Args:
        L: ``(B,1,H,W)`` (or ``(1,H,W)``) in ``[-1, 1]``.
        ab: ``(B,2,H,W)`` (or ``(2,H,W)``) in ``[-1, 1]``, same batch and spatial size as ``L``.

    Returns:
        ``(B,3,H,W)`` Lab: L = ``(L + 1) * L_SCALE`` in ``[0, 100]``, ab = ``ab * AB_SCALE``.
    """
    _check_image(L, 1, "normalised L", "denormalize_lab")
    _check_image(ab, 2, "normalised ab", "denormalize_lab")
    if L.dim() != ab.dim() or L.shape[:-3] != ab.shape[:-3] or L.shape[-2:] != ab.shape[-2:]:
        raise ValueError(
            "denormalize_lab expects L (B,1,H,W) and ab (B,2,H,W) with the same B, H, W; "
            f"got L {tuple(L.shape)} and ab {tuple(ab.shape)}"
        )
    return torch.cat([(L + 1.0) * L_SCALE, ab * AB_SCALE], dim=-3)


def rgb_to_L_ab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB ``(B,3,H,W)`` in [0,1] -> normalised ``L (B,1,H,W)``, ``ab (B,2,H,W)`` in [-1,1]."""
    return normalize_lab(rgb_to_lab(rgb))


def L_ab_to_rgb(L: torch.Tensor, ab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Normalised ``L (B,1,H,W)``, ``ab (B,2,H,W)`` in [-1,1] -> sRGB ``(B,3,H,W)`` in [0,1].

    ``clip`` as in :func:`lab_to_rgb`. Typical use: ``L_ab_to_rgb(L, generator(L))``.
    """
    return lab_to_rgb(denormalize_lab(L, ab), clip=clip)
