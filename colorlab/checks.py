"""Self-checks of the exercises: the student's code against the answer key, with specific feedback.

Every ``check_<exercise>(student)`` runs the student's function (or class) on a few seeded cases,
compares the result with the reference implementation and either prints one line::

    ✓ rgb_to_lab passed (3 cases)

or raises :class:`CheckFailed` (an ``AssertionError``) whose message names the case that failed,
what was expected and what came back (shapes or values), the specific problem when the result
matches a known mistake ("the fake was not detached", "missing the factor 1/2", ...), and a hint::

    d_step failed on case 1 of 2 (batch 2, 8x8 px):
      problem:  the generator received gradients during the D step: the fake was not detached ...
      hint:     ...

Failure policy
--------------
Every failure is an ``AssertionError`` (:class:`CheckFailed`), including errors raised *inside the
student's code*: an unfilled stub's ``NotImplementedError`` becomes "NAME is not implemented
yet ...", any other exception "NAME failed on case i of n ...: your code raised TypeError: ...".
The original exception is chained (``raise ... from err``), so the notebook traceback still
points at the student's line. A check cell therefore either prints ✓ or fails with an
``AssertionError``: the exercise notebooks (whose stub and check cells are tagged
``raises-exception``) and ``tests/test_checks.py`` rely on this.

Determinism
-----------
Inputs come from private seeded generators, and every check runs inside
``torch.random.fork_rng`` on one CPU thread: the messages are identical on every run (nbval
compares them), and a check leaves the notebook's global random state and thread count as it
found them.

The answer key
--------------
References come from the library where it has them: :func:`colorlab.color.rgb_to_lab`,
:func:`colorlab.models.receptive_field`, :class:`colorlab.losses.GANLoss`,
:func:`colorlab.train.d_step` / :func:`colorlab.train.g_step` (also with ``clip_value`` for the
WGAN critic), :func:`colorlab.losses.clip_weights`, :func:`colorlab.metrics.psnr` and
:func:`colorlab.metrics.colorfulness_hasler`, :func:`colorlab.inference.colorize`. The U-Net
blocks of exercise 2 (:class:`DownBlockReference`, :class:`UpBlockReference`,
:func:`unet_forward_reference`) and the gradient penalty with an explicit ``eps``
(:func:`gradient_penalty_reference`) are defined here.
"""

from __future__ import annotations

import copy
import functools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorlab import color

__all__ = [
    "CheckFailed",
    "PASS_MARK",
    "CHECKS",
    "check_srgb_to_linear",
    "check_rgb_to_lab",
    "check_down_block",
    "check_up_block",
    "check_unet_forward",
    "check_receptive_field",
    "check_d_loss_vanilla",
    "check_g_loss_saturating",
    "check_g_loss_non_saturating",
    "check_d_loss_lsgan",
    "check_g_loss_lsgan",
    "check_d_step",
    "check_g_step",
    "check_clip_weights",
    "check_critic_step",
    "check_gradient_penalty",
    "check_psnr",
    "check_colorfulness",
    "check_colorize_any_size",
    "DownBlockReference",
    "UpBlockReference",
    "unet_forward_reference",
    "gradient_penalty_reference",
    "PATCHGAN_LAYERS",
]

#: First character of the line a passing check prints.
PASS_MARK = "✓"


class CheckFailed(AssertionError):
    """A check found a problem. The message names the case, expected vs got, and a hint."""


# ==============================================================================================
# Machinery
# ==============================================================================================


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "..."


class _Check:
    """One check run: calls the student's code, formats failures, prints the pass line."""

    def __init__(self, name: str, hint: str, n_cases: int) -> None:
        self.name = name
        self.hint = hint
        self.n = n_cases
        self.case = 0
        self.desc = ""

    def start(self, i: int, desc: str) -> None:
        self.case, self.desc = i, desc

    def call(self, fn: Callable[..., Any], *args: Any, error_hint: str | None = None,
             **kwargs: Any) -> Any:
        """Run the student's ``fn``; convert any exception into a :class:`CheckFailed`."""
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as err:
            self.stub(err)
        except CheckFailed:
            raise
        except Exception as err:  # the student's code failed: report it as a failed case
            self.fail(f"your code raised {type(err).__name__}: {_one_line(err)}",
                      hint=error_hint, cause=err)

    def stub(self, err: NotImplementedError) -> NoReturn:
        """The student's code is still the exercise's stub."""
        msg = str(err) or "no hint"
        raise CheckFailed(
            f"{self.name} is not implemented yet: it raised NotImplementedError({msg!r}).\n"
            f"  Replace the line `raise NotImplementedError(...)` under `# YOUR CODE HERE` "
            f"with your code, run that cell again, then this check."
        ) from err

    def fail(self, problem: str, *, expected: str | None = None, got: str | None = None,
             hint: str | None = None, cause: BaseException | None = None) -> NoReturn:
        lines = [f"{self.name} failed on case {self.case} of {self.n} ({self.desc}):",
                 f"  problem:  {problem}"]
        if expected is not None:
            lines.append(f"  expected: {expected}")
        if got is not None:
            lines.append(f"  got:      {got}")
        lines.append(f"  hint:     {hint or self.hint}")
        raise CheckFailed("\n".join(lines)) from cause

    def passed(self) -> None:
        print(f"{PASS_MARK} {self.name} passed ({self.n} cases)")


def _isolated(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a check with a private, seeded global torch RNG and one CPU thread (the cases are
    tiny: on a busy machine thread start-up costs far more than it saves, and one thread makes
    float reductions reproducible); restore the caller's RNG state and thread count after."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _shape(x: Any) -> str:
    if isinstance(x, (Tensor, np.ndarray)):
        return str(tuple(x.shape))
    return f"a {type(x).__name__}"


def _as_tensor(x: Any) -> Tensor | None:
    """The student's result as a detached float64 tensor (or None if it is not array-like)."""
    if isinstance(x, Tensor):
        return x.detach().to(torch.float64)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.asarray(x, dtype=np.float64))
    if isinstance(x, (int, float, np.number)) and not isinstance(x, bool):
        return torch.tensor(float(x), dtype=torch.float64)
    return None


def _close(got: Any, expected: Any, atol: float, rtol: float) -> bool:
    g, e = _as_tensor(got), _as_tensor(expected)
    if g is None or e is None or g.shape != e.shape:
        return False
    return bool(torch.allclose(g, e, atol=atol, rtol=rtol, equal_nan=False))


def _first_match(got: Any, variants: Sequence[tuple[str, Callable[[], Any]]], atol: float,
                 rtol: float) -> str | None:
    """The message of the first known mistake whose output ``got`` matches, else None."""
    for message, make in variants:
        try:
            value = make()
        except Exception:
            continue
        if _close(got, value, atol, rtol):
            return message
    return None


def _worst(got: Tensor, expected: Tensor, names: Sequence[str] | None = None) -> str:
    """'largest difference 0.3 at index (0, 1, 2, 3): expected 0.5, got 0.8'."""
    diff = (got - expected).abs()
    diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
    flat = int(torch.argmax(diff))
    idx = tuple(int(i) for i in np.unravel_index(flat, tuple(diff.shape))) if diff.dim() else ()
    where = f" at index {idx}" if idx else ""
    if names is not None and len(idx) >= 2:
        where += f" (channel {names[idx[1]]})"
    return (f"largest difference {_fmt(float(diff.reshape(-1)[flat]))}{where}: expected "
            f"{_fmt(float(expected.reshape(-1)[flat]))}, got {_fmt(float(got.reshape(-1)[flat]))}")


def _compare(chk: _Check, got: Any, expected: Tensor, *, atol: float, rtol: float,
             variants: Sequence[tuple[str, Callable[[], Any]]] = (),
             names: Sequence[str] | None = None, what: str = "the result") -> None:
    """Fail unless ``got`` is a tensor/array of ``expected``'s shape and values."""
    g = _as_tensor(got)
    if g is None:
        chk.fail(f"{what} must be a tensor", expected=f"a tensor of shape {tuple(expected.shape)}",
                 got=_shape(got))
    e = expected.detach().to(torch.float64)
    if g.shape != e.shape:
        chk.fail(f"{what} has the wrong shape", expected=str(tuple(e.shape)), got=str(tuple(g.shape)))
    if not bool(torch.isfinite(g).all()) and bool(torch.isfinite(e).all()):
        chk.fail(f"{what} contains nan or inf", hint=chk.hint)
    if torch.allclose(g, e, atol=atol, rtol=rtol):
        return
    known = _first_match(g, variants, atol, rtol)
    chk.fail(known or f"{what} has the right shape but wrong values",
             expected=f"values within {_fmt(atol)} of the reference",
             got=_worst(g, e, names))


def _scalar(chk: _Check, value: Any, what: str) -> float:
    """A returned loss (float, 0-dim tensor or numpy scalar) as a Python float."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            chk.fail(f"{what} must be a single number", expected="a float (e.g. loss.item())",
                     got=f"a tensor of shape {tuple(value.shape)}")
        return float(value.detach())
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    chk.fail(f"{what} must be a number", expected="a float (e.g. loss.item())", got=_shape(value)
             if value is not None else "None (did you forget `return`?)")


@torch.no_grad()
def _seeded_init(module: nn.Module, seed: int, scale: float = 0.3) -> nn.Module:
    """Overwrite every parameter with seeded N(0, scale^2) values (independent of the global RNG)."""
    g = _gen(seed)
    for p in module.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module


def _params(module: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _same_params(a: Sequence[Tensor], b: Sequence[Tensor], atol: float = 1e-5,
                 rtol: float = 1e-4) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and torch.allclose(x, y, atol=atol, rtol=rtol) for x, y in zip(a, b)
    )


def _matches_update(got: Sequence[Tensor], update: Callable[..., list[Tensor]], *args: Any,
                    **kwargs: Any) -> bool:
    """Whether ``got`` equals the parameters a mistake variant's update produces (False if the
    variant itself cannot be computed)."""
    try:
        return _same_params(got, update(*args, **kwargs))
    except Exception:
        return False


def _max_param_diff(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


# ==============================================================================================
# Exercise 1: sRGB -> CIE Lab
# ==============================================================================================


def _lab_from_linear(lin: Tensor, matrix: np.ndarray, f: Callable[[Tensor], Tensor]) -> Tensor:
    """Lab from linear RGB with a given RGB->XYZ/white matrix and companding ``f`` (variants)."""
    fxyz = f(color._mix(lin, matrix))
    fx, fy, fz = fxyz[:, 0:1], fxyz[:, 1:2], fxyz[:, 2:3]
    return torch.cat([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


_SRGB_HINT = ("decode each value on its own, with torch.where: c / 12.92 where c <= 0.04045, "
              "else ((c + 0.055) / 1.055) ** 2.4")


@_isolated
def check_srgb_to_linear(srgb_to_linear: Callable[[Tensor], Tensor]) -> None:
    """Check ``srgb_to_linear(c) -> c_lin``: the sRGB decoding curve, element-wise, any shape."""
    g = _gen(10)
    cases = [
        ("values around the threshold 0.04045",
         torch.tensor([0.0, 0.01, 0.04, 0.04045, 0.0405, 0.2, 0.5, 1.0], dtype=torch.float64)),
        ("a random image batch (2, 3, 4, 5), float32", torch.rand(2, 3, 4, 5, generator=g)),
        ("dark values below 0.05, float64", torch.rand(3, 7, generator=g, dtype=torch.float64) * 0.05),
    ]
    chk = _Check("srgb_to_linear", _SRGB_HINT, len(cases))
    for i, (desc, c) in enumerate(cases, 1):
        chk.start(i, desc)
        got = chk.call(srgb_to_linear, c.clone())
        expected = color._srgb_to_linear(c)
        variants = [
            ("you returned the input unchanged: apply the sRGB decoding curve", lambda: c),
            ("you used the power law c ** 2.2, an approximation: sRGB is linear (c / 12.92) for "
             "c <= 0.04045 and ((c + 0.055) / 1.055) ** 2.4 above", lambda: c ** 2.2),
            ("the linear segment is missing: for c <= 0.04045 the value is c / 12.92",
             lambda: ((c + 0.055) / 1.055) ** 2.4),
            ("the power segment is missing: above 0.04045 the value is ((c + 0.055) / 1.055) ** 2.4",
             lambda: c / 12.92),
            ("the two segments are swapped: c / 12.92 is for the dark values (c <= 0.04045)",
             lambda: torch.where(c > 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)),
            ("this is the inverse curve (linear -> sRGB); decode instead",
             lambda: color._linear_to_srgb(c)),
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
        ("very dark colours (both branches of f), shape (1, 3, 4, 6), float64",
         torch.rand(1, 3, 4, 6, generator=g, dtype=torch.float64) * 0.06),
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
            chk.fail("the result is channels-last", expected=str(tuple(expected.shape)),
                     got=str(tuple(g_t.shape)),
                     hint="keep the channels first: L, a, b in dim 1 (torch.cat(..., dim=1))")
        variants = [
            ("you returned the RGB input unchanged, not Lab (L lies in [0, 100])", lambda: rgb),
            ("you skipped the sRGB gamma linearisation: decode with srgb_to_linear before the "
             "XYZ matrix (the matrix applies to linear light)",
             lambda: color.rgb_to_lab(color._linear_to_srgb(rgb))),
            ("you did not divide XYZ by the D65 white point (0.95047, 1.0, 1.08883)",
             lambda: _lab_from_linear(lin, xyz, lab_f)),
            ("the matrix is transposed: X = 0.412453 R + 0.357580 G + 0.180423 B (use its rows)",
             lambda: _lab_from_linear(lin, (xyz.T / np.array(color.WHITE_D65)[:, None]), lab_f)),
            ("f is missing: apply f(t) = t ** (1/3) (or 7.787 t + 16/116 for small t) to X/Xn, "
             "Y/Yn and Z/Zn", lambda: _lab_from_linear(lin, xyzn, lambda t: t)),
            ("the linear part of f is missing: for t <= 0.008856, f(t) = 7.787 t + 16/116",
             lambda: _lab_from_linear(lin, xyzn, lambda t: t.clamp(min=0) ** (1.0 / 3.0))),
            ("a and b are swapped: a = 500 (f(X) - f(Y)) (green-red), b = 200 (f(Y) - f(Z)) "
             "(blue-yellow)", lambda: expected[:, [0, 2, 1]]),
            ("L is off by 16: L = 116 f(Y) - 16", lambda: expected + torch.tensor(
                [16.0, 0.0, 0.0], dtype=expected.dtype).view(1, 3, 1, 1)),
            ("the channels come out in the order b, a, L: return torch.cat([L, a, b], dim=1)",
             lambda: expected[:, [2, 1, 0]]),
        ]
        _compare(chk, got, expected, atol=0.05, rtol=0.0, variants=variants, names=("L", "a", "b"))
    chk.passed()


# ==============================================================================================
# Exercise 2: U-Net blocks
# ==============================================================================================


class DownBlockReference(nn.Module):
    """The answer key of exercise 2.1: ``(B,c_in,H,W) -> (B,c_out,H/2,W/2)``.

    4x4 convolution, stride 2, padding 1, no bias -> BatchNorm2d -> LeakyReLU(0.2) (pix2pix).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class UpBlockReference(nn.Module):
    """The answer key of exercise 2.2: ``x (B,c_in,H,W), skip (B,c_skip,2H,2W) ->
    (B,c_out+c_skip,2H,2W)``.

    4x4 transposed convolution, stride 2, padding 1, no bias -> BatchNorm2d -> ReLU, then the
    skip is concatenated *after* the upsampled features: ``torch.cat([up, skip], dim=1)``
    (the order :class:`colorlab.models.UNet` uses).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU()

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return torch.cat([self.act(self.norm(self.up(x))), skip], dim=1)


def unet_forward_reference(downs: Sequence[nn.Module], ups: Sequence[nn.Module], head: nn.Module,
                           x: Tensor) -> Tensor:
    """The answer key of exercise 2.3: the U-Net forward pass with its skip connections.

    Every down block's output is kept; the last one (the bottleneck) is the input of the first
    up block, and up block ``j`` receives the skip of down block ``len(downs) - 2 - j`` (deepest
    first). ``head`` maps the last up block's output to the result.
    """
    skips = []
    for down in downs:
        x = down(x)
        skips.append(x)
    x = skips.pop()
    for up, skip in zip(ups, reversed(skips)):
        x = up(x, skip)
    return head(x)


def _load_by_shape(student: nn.Module, reference: nn.Module) -> str | None:
    """Copy the reference's parameters and buffers into ``student``, matching tensors by shape in
    order of appearance. Returns a problem description, or None on success."""
    for kind in ("parameters", "buffers"):
        dst = [t for t in getattr(student, kind)() if t.is_floating_point()]
        src = [t for t in getattr(reference, kind)() if t.is_floating_point()]
        used = [False] * len(dst)
        for s in src:
            for j, d in enumerate(dst):
                if not used[j] and d.shape == s.shape:
                    with torch.no_grad():
                        d.copy_(s)
                    used[j] = True
                    break
            else:
                return (f"no {kind[:-1]} of shape {tuple(s.shape)} in your block "
                        f"(yours: {[tuple(d.shape) for d in dst]})")
        if not all(used):
            extra = [tuple(d.shape) for d, u in zip(dst, used) if not u]
            return f"your block has extra {kind} of shapes {extra}"
    return None


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _instantiate(chk: _Check, cls: Any, *args: int) -> nn.Module:
    block = chk.call(cls, *args)
    if not isinstance(block, nn.Module):
        chk.fail(f"{chk.name}(...) must build an nn.Module", got=_shape(block))
    return block


_DOWN_HINT = ("self.conv = nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False), "
              "self.norm = nn.BatchNorm2d(c_out), self.act = nn.LeakyReLU(0.2); forward: "
              "act(norm(conv(x)))")


@_isolated
def check_down_block(DownBlock: Callable[[int, int], nn.Module]) -> None:
    """Check the class ``DownBlock(c_in, c_out)``: ``(B,c_in,H,W) -> (B,c_out,H/2,W/2)``.

    Parameters are matched to the reference by shape and copied, then outputs compared.
    """
    cases = [(1, 8, 4, 16, 16), (8, 16, 2, 8, 12), (3, 4, 3, 6, 10)]
    chk = _Check("DownBlock", _DOWN_HINT, len(cases))
    for i, (c_in, c_out, b, h, w) in enumerate(cases, 1):
        chk.start(i, f"DownBlock({c_in}, {c_out}) on a ({b}, {c_in}, {h}, {w}) batch")
        block = _instantiate(chk, DownBlock, c_in, c_out)
        ref = _seeded_init(DownBlockReference(c_in, c_out), 20 + i)
        n, n_ref = _count(block), _count(ref)
        if n != n_ref:
            conv = 16 * c_in * c_out
            diagnosis = {
                n_ref + c_out: "your convolution has a bias: BatchNorm right after it cancels any "
                               "bias, so pix2pix uses bias=False",
                conv: "the BatchNorm2d(c_out) after the convolution is missing",
                conv + c_out: "the BatchNorm2d(c_out) is missing (and the conv has a bias)",
                9 * c_in * c_out + 2 * c_out: "your kernel is 3x3: pix2pix's blocks use "
                                             "kernel_size=4 (with stride=2, padding=1)",
            }.get(n, "the layers differ from conv 4x4 (no bias) + BatchNorm2d")
            chk.fail(diagnosis, expected=f"{n_ref} parameters", got=f"{n} parameters")
        problem = _load_by_shape(block, ref)
        if problem:
            chk.fail(problem)
        x = torch.randn(b, c_in, h, w, generator=_gen(30 + i))
        block.train()
        ref.train()
        got = chk.call(block, x)
        expected = ref(x)
        g = _as_tensor(got)
        if g is not None and g.shape != expected.shape:
            if tuple(g.shape[-2:]) == (h, w):
                problem = "the spatial size did not halve: use stride=2"
            elif tuple(g.shape[-2:]) == (h // 2 - 1, w // 2 - 1):
                problem = "the output is one pixel too small: use padding=1"
            else:
                problem = "the output has the wrong shape"
            chk.fail(problem, expected=str(tuple(expected.shape)), got=str(tuple(g.shape)))
        conv_out = ref.conv(x)
        normed = ref.norm(conv_out)
        variants = [
            ("the activation is ReLU: pix2pix's encoder uses LeakyReLU(0.2)", lambda: F.relu(normed)),
            ("the LeakyReLU slope is 0.01 (PyTorch's default): use nn.LeakyReLU(0.2)",
             lambda: F.leaky_relu(normed, 0.01)),
            ("the activation is missing: add LeakyReLU(0.2) after the BatchNorm", lambda: normed),
            ("the order is wrong: conv -> BatchNorm -> LeakyReLU (normalise before the activation)",
             lambda: ref.norm(F.leaky_relu(conv_out, 0.2))),
        ]
        _compare(chk, got, expected, atol=1e-5, rtol=1e-4, variants=variants)
    chk.passed()


_UP_HINT = ("self.up = nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, "
            "bias=False), BatchNorm2d(c_out), ReLU; forward: up = act(norm(self.up(x))), then "
            "return torch.cat([up, skip], dim=1)")


@_isolated
def check_up_block(UpBlock: Callable[[int, int], nn.Module]) -> None:
    """Check the class ``UpBlock(c_in, c_out)`` with ``forward(x, skip)``:
    ``(B,c_in,H,W), (B,c_skip,2H,2W) -> (B,c_out+c_skip,2H,2W)``, skip concatenated last."""
    cases = [(16, 8, 8, 2, 4, 4), (8, 4, 6, 3, 3, 5), (4, 2, 2, 2, 8, 8)]
    chk = _Check("UpBlock", _UP_HINT, len(cases))
    for i, (c_in, c_out, c_skip, b, h, w) in enumerate(cases, 1):
        chk.start(i, f"UpBlock({c_in}, {c_out}) on x ({b}, {c_in}, {h}, {w}) with a skip "
                     f"({b}, {c_skip}, {2 * h}, {2 * w})")
        block = _instantiate(chk, UpBlock, c_in, c_out)
        ref = _seeded_init(UpBlockReference(c_in, c_out), 40 + i)
        n, n_ref = _count(block), _count(ref)
        if n != n_ref:
            conv = 16 * c_in * c_out
            diagnosis = {
                n_ref + c_out: "your transposed convolution has a bias: use bias=False before "
                               "BatchNorm",
                conv: "the BatchNorm2d(c_out) after the transposed convolution is missing",
            }.get(n, "the layers differ from a 4x4 transposed conv (no bias) + BatchNorm2d")
            chk.fail(diagnosis, expected=f"{n_ref} parameters", got=f"{n} parameters")
        problem = _load_by_shape(block, ref)
        if problem:
            chk.fail(problem)
        x = torch.randn(b, c_in, h, w, generator=_gen(50 + i))
        skip = torch.randn(b, c_skip, 2 * h, 2 * w, generator=_gen(60 + i))
        block.train()
        ref.train()
        got = chk.call(block, x, skip)
        expected = ref(x, skip)
        up = ref.act(ref.norm(ref.up(x)))
        g = _as_tensor(got)
        if g is not None and g.shape != expected.shape:
            if g.dim() == 4 and g.shape[0] == 2 * b:
                problem = "you concatenated along dim 0 (the batch): the channels are dim=1"
            elif g.dim() == 4 and g.shape[1] == c_out and tuple(g.shape[-2:]) == (2 * h, 2 * w):
                problem = (f"the output has only the {c_out} upsampled channels: the skip is "
                           f"missing; concatenate it: torch.cat([up, skip], dim=1)")
                if c_out == c_skip and _close(g, up + skip, 1e-5, 1e-4):
                    problem = ("you added the skip (ResNet style): a U-Net concatenates it, "
                               "torch.cat([up, skip], dim=1)")
            elif g.dim() == 4 and tuple(g.shape[-2:]) == (h, w):
                problem = "the spatial size did not double: stride=2 in the transposed conv"
            else:
                problem = "the output has the wrong shape"
            chk.fail(problem, expected=str(tuple(expected.shape)), got=str(tuple(g.shape)))
        normed = ref.norm(ref.up(x))
        variants = [
            ("the concatenation is in the wrong order: upsampled features first, then the skip, "
             "torch.cat([up, skip], dim=1) (the order colorlab.models.UNet uses)",
             lambda: torch.cat([skip, up], dim=1)),
            ("the skip went through the block: only x is upsampled, the skip is concatenated "
             "unchanged", lambda: torch.cat([up, up[:, :c_skip]], dim=1)),
            ("the activation is missing: ReLU after the BatchNorm",
             lambda: torch.cat([normed, skip], dim=1)),
            ("the decoder uses ReLU, not LeakyReLU",
             lambda: torch.cat([F.leaky_relu(normed, 0.2), skip], dim=1)),
        ]
        _compare(chk, got, expected, atol=1e-5, rtol=1e-4, variants=variants)
    chk.passed()


def _tiny_unet(channels: Sequence[int], seed: int) -> tuple[nn.ModuleList, nn.ModuleList, nn.Module]:
    """A U-Net from the reference blocks: ``channels`` = down block widths (last = bottleneck)."""
    downs = nn.ModuleList()
    c = 1
    for c_out in channels:
        downs.append(DownBlockReference(c, c_out))
        c = c_out
    ups = nn.ModuleList()
    for c_skip in reversed(channels[:-1]):  # each up block outputs c_skip + c_skip channels
        ups.append(UpBlockReference(c, c_skip))
        c = 2 * c_skip
    head = nn.Sequential(nn.ConvTranspose2d(c, 2, 4, stride=2, padding=1), nn.Tanh())
    for m in (downs, ups, head):
        _seeded_init(m, seed)
        seed += 1
    for m in (downs, ups, head):
        m.eval()
    return downs, ups, head


@_isolated
def check_unet_forward(unet_forward: Callable[..., Tensor]) -> None:
    """Check ``unet_forward(downs, ups, head, x)`` on small U-Nets built from the reference blocks.

    Also records which skip each up block receives, to name a wrong pairing precisely.
    """
    cases = [((4, 8, 8), (2, 1, 16, 16)), ((4, 8, 8), (2, 1, 16, 32)), ((4, 8, 16, 16), (2, 1, 32, 32))]
    chk = _Check(
        "unet_forward",
        "keep every down block's output in a list; pop the last one (the bottleneck) as x; then "
        "for up, skip in zip(ups, reversed(skips)): x = up(x, skip); finally return head(x)",
        len(cases),
    )
    for i, (channels, shape) in enumerate(cases, 1):
        chk.start(i, f"{len(channels)} down blocks {list(channels)}, {len(channels) - 1} up "
                     f"blocks, input {shape}")
        downs, ups, head = _tiny_unet(channels, 70 + 10 * i)
        x = torch.rand(*shape, generator=_gen(80 + i)) * 2 - 1
        expected = unet_forward_reference(downs, ups, head, x)
        down_outputs: list[Tensor] = []
        up_skips: list[Any] = []
        hooks = [d.register_forward_hook(lambda m, a, out: down_outputs.append(out)) for d in downs]
        hooks += [
            u.register_forward_pre_hook(
                lambda m, a, kw: up_skips.append(kw.get("skip", a[1] if len(a) > 1 else None)),
                with_kwargs=True,
            )
            for u in ups
        ]

        def diagnose() -> str | None:
            if len(down_outputs) != len(downs):
                return (f"the down blocks ran {len(down_outputs)} times, expected "
                        f"{len(downs)} (each once, in order)")
            for j, skip in enumerate(up_skips):
                want = len(downs) - 2 - j
                ids = [k for k, o in enumerate(down_outputs) if o is skip]
                if not ids:
                    return (f"up block {j} did not receive the output of a down block as its "
                            f"skip (it should get down block {want}'s)")
                if ids[0] != want:
                    extra = (" (the bottleneck is the input x of the first up block, not a skip)"
                             if ids[0] == len(downs) - 1 else "")
                    return (f"up block {j} received the skip of down block {ids[0]}, it needs "
                            f"down block {want}'s: the skips are used in reverse order, deepest "
                            f"first{extra}")
            if len(up_skips) != len(ups):
                return f"the up blocks ran {len(up_skips)} times, expected {len(ups)}"
            return None

        try:
            got = unet_forward(downs, ups, head, x)
        except NotImplementedError as err:
            chk.stub(err)
        except CheckFailed:
            raise
        except Exception as err:
            chk.fail(diagnose() or f"your code raised {type(err).__name__}: {_one_line(err)}",
                     cause=err)
        finally:
            for h in hooks:
                h.remove()
        problem = diagnose()
        if problem:
            chk.fail(problem)
        g = _as_tensor(got)
        if g is not None and g.shape != expected.shape and g.dim() == 4 and g.shape[1] != 2:
            chk.fail("the head was not applied at the end: return head(x)",
                     expected=str(tuple(expected.shape)), got=str(tuple(g.shape)))
        _compare(chk, got, expected, atol=1e-5, rtol=1e-4)
    chk.passed()


# ==============================================================================================
# Exercise 3: the receptive field
# ==============================================================================================


def _rf_library(layers: Sequence[tuple[int, int]]) -> int:
    from colorlab.models import receptive_field

    convs = [nn.Conv2d(1, 1, k, stride=s) for k, s in layers]
    return receptive_field(nn.Sequential(*convs))


def _rf_variant(layers: Sequence[tuple[int, int]], *, start: int = 1, use_jump: bool = True,
                add_k: bool = False, stride_first: bool = False) -> int:
    rf, jump = start, 1
    for k, s in layers:
        if stride_first:
            jump *= s
        rf += (k if add_k else k - 1) * (jump if use_jump else 1)
        if not stride_first:
            jump *= s
    return rf


#: pix2pix's PatchGANs as (kernel, stride) lists: PixelGAN, 16x16, 70x70, 286x286 ("ImageGAN").
PATCHGAN_LAYERS: dict[str, list[tuple[int, int]]] = {
    "PixelGAN (three 1x1 convs)": [(1, 1)] * 3,
    "PatchGAN n_layers=1": [(4, 2)] + [(4, 1)] * 2,
    "PatchGAN n_layers=3": [(4, 2)] * 3 + [(4, 1)] * 2,
    "PatchGAN n_layers=5": [(4, 2)] * 5 + [(4, 1)] * 2,
}


@_isolated
def check_receptive_field(receptive_field: Callable[[list[tuple[int, int]]], int]) -> None:
    """Check ``receptive_field(layers) -> int`` for ``layers`` = ``[(kernel, stride), ...]``
    (input side first) against :func:`colorlab.models.receptive_field` on the same convs."""
    rng = random.Random(12)
    cases: list[tuple[str, list[tuple[int, int]]]] = list(PATCHGAN_LAYERS.items())
    cases.append(("a single 3x3 conv", [(3, 1)]))
    for _ in range(3):
        layers = [(rng.choice([1, 2, 3, 4, 5, 7]), rng.choice([1, 2, 3]))
                  for _ in range(rng.randint(2, 6))]
        cases.append((f"random stack {layers}", layers))
    chk = _Check(
        "receptive_field",
        "start with rf = 1 and jump = 1; for each (k, s): rf += (k - 1) * jump, then jump *= s",
        len(cases),
    )
    for i, (desc, layers) in enumerate(cases, 1):
        chk.start(i, desc)
        got = chk.call(receptive_field, [tuple(layer) for layer in layers])
        expected = _rf_library(layers)
        if not isinstance(got, (int, np.integer, float)) or isinstance(got, bool) or (
            isinstance(got, float) and not got.is_integer()
        ):
            chk.fail("the result must be a whole number of pixels", expected=str(expected),
                     got=_shape(got) if not isinstance(got, float) else repr(got))
        if int(got) == expected:
            continue
        variants = [
            ("you forgot the stride product: each layer adds (k - 1) times the product of the "
             "strides of all layers before it (the 'jump'), not just (k - 1)",
             _rf_variant(layers, use_jump=False)),
            ("off by one: start from rf = 1 (one output pixel of a 1x1 conv sees one input pixel)",
             _rf_variant(layers, start=0)),
            ("off by one: start from rf = 1, not 2", _rf_variant(layers, start=2)),
            ("each layer adds (k - 1) * jump, not k * jump", _rf_variant(layers, add_k=True)),
            ("each layer adds (k - 1) * jump, not k * jump (and start from rf = 1)",
             _rf_variant(layers, add_k=True, start=0)),
            ("multiply the jump by a layer's stride *after* adding its (k - 1) * jump: a layer's "
             "own stride only spreads the layers after it", _rf_variant(layers, stride_first=True)),
        ]
        known = next((msg for msg, v in variants if v == int(got) and v != expected), None)
        chk.fail(known or "wrong receptive field", expected=str(expected), got=str(int(got)))
    chk.passed()


# ==============================================================================================
# Exercise 4: GAN losses, the D step and the G step of pix2pix
# ==============================================================================================


def _loss_cases(two: bool) -> list[tuple[str, tuple[Tensor, ...]]]:
    g = _gen(13)
    extreme_r = torch.tensor([[50.0], [-50.0], [30.0], [-30.0]])
    extreme_f = torch.tensor([[-50.0], [50.0], [-30.0], [30.0]])
    cases = [
        ("logits of a linear head, shape (8, 1)",
         (torch.randn(8, 1, generator=g) * 2, torch.randn(8, 1, generator=g) * 2)),
        ("PatchGAN logit maps, shape (2, 1, 5, 5)",
         (torch.randn(2, 1, 5, 5, generator=g) * 3, torch.randn(2, 1, 5, 5, generator=g) * 3 - 1)),
        ("confident logits of +-50 and +-30 (numerical stability)", (extreme_r, extreme_f)),
    ]
    return [(d, t if two else t[1:]) for d, t in cases]


def _check_loss(name: str, fn: Callable[..., Tensor], reference: Callable[..., Tensor],
                variants: Callable[..., list[tuple[str, Callable[[], Tensor]]]], two: bool,
                hint: str) -> None:
    cases = _loss_cases(two)
    chk = _Check(name, hint, len(cases))
    for i, (desc, inputs) in enumerate(cases, 1):
        chk.start(i, desc)
        args = tuple(t.clone().requires_grad_(True) for t in inputs)
        got = chk.call(fn, *args)
        if not isinstance(got, Tensor):
            chk.fail("the loss must be a torch tensor (a scalar with a graph), so that "
                     "loss.backward() works", expected="a 0-dim tensor", got=_shape(got)
                     if got is not None else "None (did you forget `return`?)")
        if got.numel() != 1:
            chk.fail("the loss must be a scalar: average over all elements with .mean()",
                     expected="a 0-dim tensor", got=f"shape {tuple(got.shape)}")
        ref_args = tuple(t.clone().requires_grad_(True) for t in inputs)
        expected = reference(*ref_args)
        if not bool(torch.isfinite(got.detach()).all()):
            chk.fail("the loss is not finite (nan or inf) for confident logits: never compute "
                     "log(sigmoid(x)) yourself; use F.binary_cross_entropy_with_logits or "
                     "F.logsigmoid, which are stable",
                     expected=_fmt(float(expected.detach())), got=str(float(got.detach())))
        _compare(chk, got.reshape(()), expected, atol=1e-5, rtol=1e-4,
                 variants=variants(*inputs), what="the loss value")
        if got.grad_fn is None:
            chk.fail("the loss is not connected to the logits (did you use .item(), .detach() "
                     "or torch.tensor(...)?): it must stay differentiable")
        grads = torch.autograd.grad(got.reshape(()), args, allow_unused=True)
        ref_grads = torch.autograd.grad(expected, ref_args)
        for k, (gr, er) in enumerate(zip(grads, ref_grads)):
            if gr is None or not torch.allclose(gr, er, atol=1e-6, rtol=1e-4):
                which = ("pred_real", "pred_fake")[k] if two else "pred_fake"
                chk.fail(f"the value is right but the gradient w.r.t. {which} is wrong (a "
                         f"detached or clamped term?)")
    chk.passed()


def _bce(x: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))


def _vanilla() -> Any:
    from colorlab.losses import GANLoss

    return GANLoss("vanilla")


def _lsgan() -> Any:
    from colorlab.losses import GANLoss

    return GANLoss("lsgan")


@_isolated
def check_d_loss_vanilla(d_loss_vanilla: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``d_loss_vanilla(pred_real, pred_fake) -> loss``: 0.5 (BCE(real, 1) + BCE(fake, 0))
    on logits, against ``GANLoss("vanilla").d_loss``."""
    gan = _vanilla()
    _check_loss(
        "d_loss_vanilla", d_loss_vanilla, lambda r, f: gan.d_loss(r, f)[0],
        lambda r, f: [
            ("missing the factor 1/2: pix2pix halves D's loss, 0.5 * (BCE(D(real), 1) + "
             "BCE(D(fake), 0))", lambda: _bce(r, 1) + _bce(f, 0)),
            ("wrong sign: D minimises the binary cross-entropy (a positive number)",
             lambda: -0.5 * (_bce(r, 1) + _bce(f, 0))),
            ("wrong sign and missing the factor 1/2", lambda: -(_bce(r, 1) + _bce(f, 0))),
            ("the labels are swapped: real -> 1, fake -> 0", lambda: 0.5 * (_bce(r, 0) + _bce(f, 1))),
            ("you averaged the logits before the loss: apply BCE to every logit, then average",
             lambda: 0.5 * (_bce(r.mean(), 1) + _bce(f.mean(), 0))),
            ("you applied a sigmoid before BCE-with-logits (it already includes the sigmoid)",
             lambda: 0.5 * (_bce(torch.sigmoid(r), 1) + _bce(torch.sigmoid(f), 0))),
        ],
        two=True,
        hint="0.5 * (F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real)) + "
             "F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake)))",
    )


@_isolated
def check_g_loss_saturating(g_loss_saturating: Callable[[Tensor], Tensor]) -> None:
    """Check ``g_loss_saturating(pred_fake)``: the original minimax G loss mean(log(1 - D)),
    against ``GANLoss("vanilla").saturating_g_loss``."""
    gan = _vanilla()
    _check_loss(
        "g_loss_saturating", g_loss_saturating, gan.saturating_g_loss,
        lambda f: [
            ("wrong sign: the minimax generator *minimises* log(1 - D(G(x))), a negative number",
             lambda: _bce(f, 0)),
            ("this is the non-saturating loss -log D(G(x)); here write the original "
             "log(1 - D(G(x)))", lambda: _bce(f, 1)),
            ("wrong sign, and this is the non-saturating form", lambda: -_bce(f, 1)),
        ],
        two=False,
        hint="log(1 - sigmoid(x)) = F.logsigmoid(-x): return F.logsigmoid(-pred_fake).mean() "
             "(= -BCE(pred_fake, 0))",
    )


@_isolated
def check_g_loss_non_saturating(g_loss_non_saturating: Callable[[Tensor], Tensor]) -> None:
    """Check ``g_loss_non_saturating(pred_fake)``: -mean(log D(G(x))) = BCE(pred_fake, 1),
    against ``GANLoss("vanilla").g_loss``."""
    gan = _vanilla()
    _check_loss(
        "g_loss_non_saturating", g_loss_non_saturating, gan.g_loss,
        lambda f: [
            ("wrong sign: G minimises -log D(G(x)) = BCE(D(G(x)), 1), a positive number",
             lambda: -_bce(f, 1)),
            ("the target is wrong: G wants D to call its fakes real, so the target is 1",
             lambda: _bce(f, 0)),
            ("this is the saturating loss log(1 - D(G(x))); the non-saturating one is "
             "-log D(G(x))", lambda: -_bce(f, 0)),
            ("you halved the generator loss: only D's loss is halved", lambda: 0.5 * _bce(f, 1)),
        ],
        two=False,
        hint="F.binary_cross_entropy_with_logits(pred_fake, torch.ones_like(pred_fake))",
    )


@_isolated
def check_d_loss_lsgan(d_loss_lsgan: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``d_loss_lsgan(pred_real, pred_fake)``: 0.5 (mean((r - 1)^2) + mean(f^2)),
    against ``GANLoss("lsgan").d_loss``."""
    gan = _lsgan()
    mse = lambda x, t: ((x - t) ** 2).mean()  # noqa: E731
    _check_loss(
        "d_loss_lsgan", d_loss_lsgan, lambda r, f: gan.d_loss(r, f)[0],
        lambda r, f: [
            ("missing the factor 1/2: 0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))",
             lambda: mse(r, 1) + mse(f, 0)),
            ("the targets are swapped: real -> 1, fake -> 0",
             lambda: 0.5 * (mse(r, 0) + mse(f, 1))),
            ("this is the vanilla (BCE) loss: LSGAN uses squared errors",
             lambda: 0.5 * (_bce(r, 1) + _bce(f, 0))),
            ("you applied a sigmoid: LSGAN works on the raw outputs",
             lambda: 0.5 * (mse(torch.sigmoid(r), 1) + mse(torch.sigmoid(f), 0))),
            ("wrong sign: D minimises the squared errors", lambda: -0.5 * (mse(r, 1) + mse(f, 0))),
        ],
        two=True,
        hint="0.5 * (F.mse_loss(pred_real, torch.ones_like(pred_real)) + "
             "F.mse_loss(pred_fake, torch.zeros_like(pred_fake)))",
    )


@_isolated
def check_g_loss_lsgan(g_loss_lsgan: Callable[[Tensor], Tensor]) -> None:
    """Check ``g_loss_lsgan(pred_fake)``: mean((f - 1)^2), against ``GANLoss("lsgan").g_loss``."""
    gan = _lsgan()
    mse = lambda x, t: ((x - t) ** 2).mean()  # noqa: E731
    _check_loss(
        "g_loss_lsgan", g_loss_lsgan, gan.g_loss,
        lambda f: [
            ("the target is wrong: G wants D(fake) close to the *real* label 1", lambda: mse(f, 0)),
            ("you halved the generator loss (as in the LSGAN paper); here G minimises "
             "mean((D(G(x)) - 1)^2) as seed 002's nn.MSELoss does, only D's loss is halved",
             lambda: 0.5 * mse(f, 1)),
            ("wrong sign: G minimises the squared error", lambda: -mse(f, 1)),
            ("you applied a sigmoid: LSGAN works on the raw outputs",
             lambda: mse(torch.sigmoid(f), 1)),
        ],
        two=False,
        hint="F.mse_loss(pred_fake, torch.ones_like(pred_fake))",
    )


# ---------------------------------------------------------------------------------------------
# One pix2pix iteration on tiny networks
# ---------------------------------------------------------------------------------------------


def _tiny_gd(seed: int, critic_init: float | None = None) -> tuple[nn.Module, nn.Module]:
    """A tiny generator ``(B,1,S,S) -> (B,2,S,S)`` and PatchGAN-like D ``(B,3,S,S) -> (B,1,S/2,S/2)``."""
    G = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(3, 6, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                      nn.Conv2d(6, 1, 3, padding=1))
    _seeded_init(G, seed, 0.5)
    _seeded_init(D, seed + 1, 0.3)
    if critic_init is not None:
        with torch.no_grad():
            g = _gen(seed + 2)
            for p in D.parameters():
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * critic_init)
    return G, D


def _batch(seed: int, b: int, s: int) -> tuple[Tensor, Tensor]:
    g = _gen(seed)
    L = torch.rand(b, 1, s, s, generator=g) * 2 - 1
    ab = torch.tanh(torch.randn(b, 2, s, s, generator=g))
    return L, ab


def _junk_grads(module: nn.Module, seed: int) -> None:
    """Leave stale gradients behind, as a previous step would: a missing zero_grad shows."""
    g = _gen(seed)
    for p in module.parameters():
        p.grad = torch.randn(p.shape, generator=g)


def _has_grad(module: nn.Module) -> bool:
    return any(p.grad is not None and bool((p.grad != 0).any()) for p in module.parameters())


def _d_update(D0: nn.Module, L: Tensor, real_ab: Tensor, fake_ab: Tensor, lr: float, seed: int, *,
              loss: str = "vanilla", scale: float = 0.5, sign: float = 1.0, swap: bool = False,
              zero_grad: bool = True, cat_ab_first: bool = False, clip: float = 0.0,
              clip_first: bool = False) -> list[Tensor]:
    """D's parameters after one step of a (possibly wrong) D update: the mistake variants."""
    D = copy.deepcopy(D0)
    opt = torch.optim.SGD(D.parameters(), lr=lr)
    _junk_grads(D, seed)
    if clip and clip_first:
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-clip, clip)
    fake_ab = fake_ab.detach()
    join = (lambda a: torch.cat([a, L], 1)) if cat_ab_first else (lambda a: torch.cat([L, a], 1))
    pr, pf = D(join(real_ab)), D(join(fake_ab))
    if loss == "wgan":
        value = pf.mean() - pr.mean()
    elif loss == "lsgan":
        value = ((pr - 1) ** 2).mean() + (pf**2).mean()
    else:
        value = _bce(pr, 0.0 if swap else 1.0) + _bce(pf, 1.0 if swap else 0.0)
    value = sign * scale * value
    if zero_grad:
        opt.zero_grad()
    value.backward()
    opt.step()
    if clip and not clip_first:
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-clip, clip)
    return _params(D)


def _step_setup(seed: int, b: int, s: int, critic_init: float | None = None):
    G0, D0 = _tiny_gd(seed, critic_init)
    L, real_ab = _batch(seed + 100, b, s)
    return G0, D0, L, real_ab


_D_STEP_HINT = ("real = torch.cat([L, real_ab], 1); fake = torch.cat([L, fake_ab.detach()], 1); "
                "loss = 0.5 * (BCE(D(real), 1) + BCE(D(fake), 0)); opt_d.zero_grad(); "
                "loss.backward(); opt_d.step(); return loss.item()")


@_isolated
def check_d_step(d_step: Callable[..., float]) -> None:
    """Check ``d_step(D, opt_d, L, real_ab, fake_ab) -> float`` (vanilla pix2pix D update).

    ``fake_ab = G(L)`` still carries G's graph: the step must detach it (G gets no gradient),
    update D exactly like :func:`colorlab.train.d_step` with ``GANLoss("vanilla")`` and return
    the loss before the update.
    """
    from colorlab.train import d_step as reference

    cases = [(1, 2, 8), (2, 3, 12)]
    lr = 0.5
    chk = _Check("d_step", _D_STEP_HINT, len(cases))
    for i, (seed, b, s) in enumerate(cases, 1):
        chk.start(i, f"batch {b}, {s}x{s} px, SGD lr={lr}")
        seed = 200 + 10 * seed
        G0, D0, L, real_ab = _step_setup(seed, b, s)
        Gs, Ds = copy.deepcopy(G0), copy.deepcopy(D0)
        opt = torch.optim.SGD(Ds.parameters(), lr=lr)
        _junk_grads(Ds, seed + 5)
        fake_s = Gs(L)
        ret = chk.call(d_step, Ds, opt, L, real_ab, fake_s,
                       error_hint="D scores (B, 3, H, W) tensors: the condition L and the ab "
                                  "channels concatenated, torch.cat([L, ab], dim=1)")
        Gr, Dr = copy.deepcopy(G0), copy.deepcopy(D0)
        opt_r = torch.optim.SGD(Dr.parameters(), lr=lr)
        _junk_grads(Dr, seed + 5)
        out = reference(Dr, opt_r, _vanilla(), L, real_ab, Gr(L))
        if _has_grad(Gs):
            chk.fail("the generator received gradients during the D step: the fake was not "
                     "detached. Use fake_ab.detach(): D's loss must train D only (otherwise "
                     "G is pushed to make its fakes *easier* to spot)")
        got_params, ref_params, start = _params(Ds), _params(Dr), _params(D0)
        if _same_params(got_params, start, atol=0, rtol=0):
            chk.fail("D's weights did not change: call opt_d.zero_grad(), loss.backward() and "
                     "opt_d.step()")
        if not _same_params(got_params, ref_params):
            fake = fake_s.detach()
            variants = [
                ("missing the factor 1/2: pix2pix halves D's loss, 0.5 * (BCE(D(real), 1) + "
                 "BCE(D(fake), 0))", dict(scale=1.0)),
                ("wrong sign: the D step must *minimise* its BCE loss", dict(sign=-1.0)),
                ("wrong sign and missing the factor 1/2", dict(sign=-1.0, scale=1.0)),
                ("the labels are swapped: real -> 1, fake -> 0", dict(swap=True)),
                ("the stale gradients were not cleared: call opt_d.zero_grad() before "
                 "loss.backward()", dict(zero_grad=False)),
                ("the condition must come first: torch.cat([L, ab], dim=1)",
                 dict(cat_ab_first=True)),
                ("this is the LSGAN loss; the D step here uses the vanilla BCE loss",
                 dict(loss="lsgan")),
            ]
            known = next((msg for msg, kw in variants if _matches_update(
                got_params, _d_update, D0, L, real_ab, fake, lr, seed + 5, **kw)), None)
            chk.fail(known or "D's weights after the step differ from the reference",
                     expected="the parameters of one SGD step on the halved vanilla D loss",
                     got=f"parameters off by up to {_fmt(_max_param_diff(got_params, ref_params))}")
        value = _scalar(chk, ret, "the returned loss")
        if not math.isclose(value, float(out["d_loss"]), rel_tol=1e-4, abs_tol=1e-6):
            chk.fail("the returned loss is wrong: return the D loss computed in this step "
                     "(loss.item())", expected=_fmt(float(out["d_loss"])), got=_fmt(value))
    chk.passed()


def _g_update(G0: nn.Module, D: nn.Module, L: Tensor, real_ab: Tensor, lr: float, seed: int,
              lam: float, *, adv: str = "ns", adv_sign: float = 1.0, rec: str = "l1",
              rec_weight: float | None = None, adv_weight: float = 1.0, zero_grad: bool = True,
              detach_adv: bool = False, detach_rec: bool = False) -> list[Tensor]:
    """G's parameters after one step of a (possibly wrong) G update: the mistake variants."""
    G = copy.deepcopy(G0)
    D = copy.deepcopy(D)
    opt = torch.optim.SGD(G.parameters(), lr=lr)
    _junk_grads(G, seed)
    fake = G(L)
    pred = D(torch.cat([L, fake.detach() if detach_adv else fake], 1))
    adv_term = {"ns": lambda: _bce(pred, 1.0), "sat": lambda: -_bce(pred, 0.0),
                "fake": lambda: _bce(pred, 0.0), "none": lambda: pred.sum() * 0}[adv]()
    f_rec = fake.detach() if detach_rec else fake
    rec_term = {"l1": lambda: (f_rec - real_ab).abs().mean(),
                "l2": lambda: ((f_rec - real_ab) ** 2).mean(),
                "none": lambda: f_rec.sum() * 0}[rec]()
    w = lam if rec_weight is None else rec_weight
    total = adv_weight * adv_sign * adv_term + w * rec_term
    if zero_grad:
        opt.zero_grad()
    total.backward()
    opt.step()
    return _params(G)


_NO_ADV = ("the adversarial term sends no gradient into G: add BCE(D(torch.cat([L, fake_ab], "
           "1)), 1), with fake_ab not detached")

_G_STEP_HINT = ("pred = D(torch.cat([L, fake_ab], 1)); loss = BCE(pred, 1) + lambda_l1 * "
                "(fake_ab - real_ab).abs().mean(); opt_g.zero_grad(); loss.backward(); "
                "opt_g.step(); return loss.item()")


@_isolated
def check_g_step(g_step: Callable[..., float]) -> None:
    """Check ``g_step(D, opt_g, L, real_ab, fake_ab, lambda_l1=100.0) -> float``.

    The G update of pix2pix: non-saturating BCE on ``D(L, fake_ab)`` plus ``lambda_l1`` times
    the L1 distance to the real ab, compared with :func:`colorlab.train.g_step`; D must not change.
    """
    from colorlab.train import g_step as reference

    cases = [(1, 2, 8, 100.0), (2, 3, 12, 10.0)]
    lr = 0.01
    chk = _Check("g_step", _G_STEP_HINT, len(cases))
    for i, (seed, b, s, lam) in enumerate(cases, 1):
        chk.start(i, f"batch {b}, {s}x{s} px, lambda_l1={lam:g}, SGD lr={lr}")
        seed = 300 + 10 * seed
        G0, D0, L, real_ab = _step_setup(seed, b, s)
        Gs, Ds = copy.deepcopy(G0), copy.deepcopy(D0)
        opt = torch.optim.SGD(Gs.parameters(), lr=lr)
        _junk_grads(Gs, seed + 5)
        ret = chk.call(g_step, Ds, opt, L, real_ab, Gs(L), lambda_l1=lam)
        Gr, Dr = copy.deepcopy(G0), copy.deepcopy(D0)
        opt_r = torch.optim.SGD(Gr.parameters(), lr=lr)
        _junk_grads(Gr, seed + 5)
        out = reference(Dr, opt_r, L, real_ab, Gr(L), gan_loss=_vanilla(), lambda_rec=lam)
        if not _same_params(_params(Ds), _params(D0), atol=0, rtol=0):
            chk.fail("D's weights changed during the G step: only opt_g.step() may run here")
        got_params, ref_params, start = _params(Gs), _params(Gr), _params(G0)
        if _same_params(got_params, start, atol=0, rtol=0):
            chk.fail("G's weights did not change: call opt_g.zero_grad(), loss.backward() and "
                     "opt_g.step() (and do not detach fake_ab)")
        if not _same_params(got_params, ref_params):
            variants = [
                ("wrong sign of the adversarial term: G minimises BCE(D(G(x)), 1) = "
                 "-log D(G(x))", dict(adv_sign=-1.0)),
                ("this is the saturating loss log(1 - D(G(x))): pix2pix's G uses the "
                 "non-saturating BCE(D(G(x)), 1)", dict(adv="sat")),
                ("the adversarial target is wrong: G wants D to answer 'real' (1) on its fakes",
                 dict(adv="fake")),
                ("the L1 term is missing: add lambda_l1 * mean |fake_ab - real_ab|",
                 dict(rec="none")),
                (_NO_ADV, dict(adv="none")),
                ("the L1 term is not weighted: multiply it by lambda_l1", dict(rec_weight=1.0)),
                ("you weighted the adversarial term instead of the L1 term: lambda_l1 multiplies "
                 "the L1 distance", dict(rec_weight=1.0, adv_weight=lam)),
                (f"lambda_l1 is hard-coded: use the argument (here {lam:g})",
                 dict(rec_weight=100.0 if lam != 100.0 else 10.0)),
                ("this is an L2 (squared) distance: pix2pix uses L1, mean |fake_ab - real_ab|",
                 dict(rec="l2")),
                ("the fake was detached in the L1 term", dict(detach_rec=True)),
                ("the stale gradients were not cleared: call opt_g.zero_grad() before "
                 "loss.backward()", dict(zero_grad=False)),
            ]
            known = next((msg for msg, kw in variants if _matches_update(
                got_params, _g_update, G0, D0, L, real_ab, lr, seed + 5, lam, **kw)), None)
            if known == _NO_ADV and isinstance(ret, (float, Tensor)) and math.isclose(
                    float(ret), float(out["g_loss"]), rel_tol=1e-4, abs_tol=1e-6):
                known = ("the fake was detached in the adversarial term (the loss value is "
                         "right, but no gradient reaches G through D): in the G step do not "
                         "detach fake_ab")
            chk.fail(known or "G's weights after the step differ from the reference",
                     expected="the parameters of one SGD step on BCE(D(fake), 1) + lambda_l1 * L1",
                     got=f"parameters off by up to {_fmt(_max_param_diff(got_params, ref_params))}")
        value = _scalar(chk, ret, "the returned loss")
        if not math.isclose(value, float(out["g_loss"]), rel_tol=1e-4, abs_tol=1e-6):
            chk.fail("the returned loss is wrong: return the total G loss (adversarial + "
                     "lambda_l1 * L1) as a float", expected=_fmt(float(out["g_loss"])),
                     got=_fmt(value))
    chk.passed()


# ==============================================================================================
# Exercise 5: the Wasserstein critic (weight clipping, gradient penalty)
# ==============================================================================================


def _clip_module(seed: int) -> nn.Module:
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    _seeded_init(m, seed, 0.5)
    with torch.no_grad():
        m[1].running_mean.fill_(0.7)
        m[1].running_var.fill_(2.5)
    return m


@_isolated
def check_clip_weights(clip_weights: Callable[..., None]) -> None:
    """Check ``clip_weights(module, clip)``: every *parameter* clamped to [-clip, clip] in place
    (as :func:`colorlab.losses.clip_weights`); buffers untouched, Parameter objects kept."""
    from colorlab.losses import clip_weights as reference

    cases = [(1, 0.01), (2, 0.3)]
    chk = _Check(
        "clip_weights",
        "with torch.no_grad(): for p in module.parameters(): p.clamp_(-clip, clip)",
        len(cases),
    )
    for i, (seed, clip) in enumerate(cases, 1):
        chk.start(i, f"a small critic with BatchNorm, clip={clip}")
        m = _clip_module(400 + seed)
        ref = copy.deepcopy(m)
        reference(ref, clip)
        before = list(m.parameters())
        before_vals = _params(m)
        before_buffers = [b.clone() for b in m.buffers()]
        chk.call(clip_weights, m, clip)
        after = list(m.parameters())
        if len(after) != len(before) or any(a is not b for a, b in zip(after, before)):
            chk.fail("the Parameter objects were replaced: clamp them in place (p.clamp_ under "
                     "torch.no_grad(), or p.data.clamp_); the optimiser keeps references to the "
                     "original ones")
        if not all(p.requires_grad for p in after):
            chk.fail("some parameters no longer require gradients: clamp in place without "
                     "changing requires_grad")
        if any(not torch.equal(b, b0) for b, b0 in zip(m.buffers(), before_buffers)):
            chk.fail("you also clipped the buffers (BatchNorm running statistics): clip "
                     "module.parameters() only, not module.state_dict()")
        got, expected = _params(m), _params(ref)
        if _same_params(got, expected, atol=0, rtol=0):
            continue
        if _same_params(got, before_vals, atol=0, rtol=0):
            chk.fail("the weights did not change: p.clamp(...) returns a new tensor; clamp in "
                     "place with p.clamp_(-clip, clip)")
        clipped_w = [e if p.dim() > 1 else b0 for p, e, b0 in zip(after, expected, before_vals)]
        if _same_params(got, clipped_w, atol=0, rtol=0):
            chk.fail("only the weight matrices were clipped: the biases and BatchNorm scales are "
                     "parameters too, clip every p in module.parameters()")
        if _same_params(got, [b0.clamp(-0.01, 0.01) for b0 in before_vals], atol=0, rtol=0):
            chk.fail(f"the bound is hard-coded to 0.01: use the clip argument (here {clip:g})")
        k = next(j for j, (g, e) in enumerate(zip(got, expected)) if not torch.equal(g, e))
        chk.fail(f"parameter {k} is not clamped to [-clip, clip]",
                 expected=f"values in [{-clip:g}, {clip:g}], unchanged inside",
                 got=f"min {_fmt(float(got[k].min()))}, max {_fmt(float(got[k].max()))}")
    chk.passed()


_CRITIC_HINT = ("with torch.no_grad(): fake_ab = G(L); loss = critic(torch.cat([L, fake_ab], 1))"
                ".mean() - critic(torch.cat([L, real_ab], 1)).mean(); opt_c.zero_grad(); "
                "loss.backward(); opt_c.step(); clip_weights(critic, clip); return loss.item()")


@_isolated
def check_critic_step(critic_step: Callable[..., float]) -> None:
    """Check ``critic_step(critic, G, opt_c, L, real_ab, clip=0.01) -> float``: one WGAN critic
    update with weight clipping, against :func:`colorlab.train.d_step` with
    ``GANLoss("wgan")`` and ``clip_value=clip``. The generator must stay untouched."""
    from colorlab.losses import GANLoss
    from colorlab.train import d_step as reference

    cases = [(1, 2, 8, 0.01), (2, 3, 12, 0.05)]
    lr = 0.05
    chk = _Check("critic_step", _CRITIC_HINT, len(cases))
    for i, (seed, b, s, clip) in enumerate(cases, 1):
        chk.start(i, f"batch {b}, {s}x{s} px, clip={clip:g}, SGD lr={lr}")
        seed = 500 + 10 * seed
        G0, C0, L, real_ab = _step_setup(seed, b, s, critic_init=3 * clip)
        Gs, Cs = copy.deepcopy(G0), copy.deepcopy(C0)
        opt = torch.optim.SGD(Cs.parameters(), lr=lr)
        _junk_grads(Cs, seed + 5)
        ret = chk.call(critic_step, Cs, Gs, opt, L, real_ab, clip=clip)
        Gr, Cr = copy.deepcopy(G0), copy.deepcopy(C0)
        opt_r = torch.optim.SGD(Cr.parameters(), lr=lr)
        _junk_grads(Cr, seed + 5)
        with torch.no_grad():
            fake = Gr(L)
        out = reference(Cr, opt_r, GANLoss("wgan"), L, real_ab, fake, clip_value=clip)
        g_now, g_start = _params(Gs), _params(G0)
        if not _same_params(g_now, g_start, atol=0, rtol=0):
            if _same_params(g_now, [p.clamp(-clip, clip) for p in g_start], atol=0, rtol=0):
                chk.fail("you clipped the generator's weights instead of the critic's: the "
                         "Lipschitz constraint is on the critic, clip_weights(critic, clip)")
            chk.fail("the generator's weights changed: the critic step must update the critic "
                     "only")
        if _has_grad(Gs):
            chk.fail("the generator received gradients: compute the fake under torch.no_grad() "
                     "(or detach it); the critic step trains the critic only")
        got_params, ref_params = _params(Cs), _params(Cr)
        if _same_params(got_params, _params(C0), atol=0, rtol=0):
            chk.fail("the critic's weights did not change: call opt_c.zero_grad(), "
                     "loss.backward(), opt_c.step(), then clip")
        if any(float(p.abs().max()) > clip * (1 + 1e-6) for p in got_params):
            if _matches_update(got_params, _d_update, C0, L, real_ab, fake, lr, seed + 5,
                               loss="wgan", scale=1.0, clip=clip, clip_first=True):
                chk.fail("you clipped before the update: opt_c.step() moves the weights out of "
                         "[-clip, clip] again; clip right after opt_c.step()")
            chk.fail(f"the critic's weights are outside [-clip, clip] = [{-clip:g}, {clip:g}]: "
                     f"clip every critic parameter after the step",
                     got=f"largest |weight| {_fmt(max(float(p.abs().max()) for p in got_params))}")
        if not _same_params(got_params, ref_params):
            variants = [
                ("wrong sign: the critic minimises mean(C(fake)) - mean(C(real)) (it scores real "
                 "samples high)", dict(sign=-1.0)),
                ("the Wasserstein critic loss is not halved (it estimates a distance, it is not "
                 "a classifier loss)", dict(scale=0.5)),
                ("this is the vanilla BCE loss: the WGAN critic minimises mean(C(fake)) - "
                 "mean(C(real)) on raw scores", dict(loss="vanilla")),
                ("the stale gradients were not cleared: call opt_c.zero_grad() before "
                 "loss.backward()", dict(zero_grad=False)),
                (f"the bound is hard-coded to 0.01: use the clip argument (here {clip:g})",
                 dict(clip=0.01)),
            ]
            base = dict(loss="wgan", scale=1.0, clip=clip)
            known = next((msg for msg, kw in variants if _matches_update(
                got_params, _d_update, C0, L, real_ab, fake, lr, seed + 5, **{**base, **kw})),
                None)
            chk.fail(known or "the critic's weights after the step differ from the reference",
                     expected="one SGD step on mean(C(fake)) - mean(C(real)), then clipping",
                     got=f"parameters off by up to {_fmt(_max_param_diff(got_params, ref_params))}")
        value = _scalar(chk, ret, "the returned loss")
        if not math.isclose(value, float(out["d_loss"]), rel_tol=1e-4, abs_tol=1e-6):
            chk.fail("the returned loss is wrong: return the critic loss computed in this step",
                     expected=_fmt(float(out["d_loss"])), got=_fmt(value))
    chk.passed()


def gradient_penalty_reference(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                               eps: Tensor) -> Tensor:
    """The answer key of exercise 5.3: WGAN-GP's penalty with an explicit ``eps`` ``(B,1,1,1)``.

    ``xhat = eps * real + (1 - eps) * fake``; ``mean_b (||grad_xhat sum C(xhat)||_2 - 1)^2`` with
    the gradient flattened per sample, built with ``create_graph=True`` (unweighted: the caller
    multiplies by ``LAMBDA_GP`` = 10). Equals :func:`colorlab.losses.gradient_penalty` for the
    same ``eps``.
    """
    xhat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(xhat).sum(), xhat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def _gp_variant(critic: nn.Module, real: Tensor, fake: Tensor, eps: Tensor, *, swap: bool = False,
                batch_norm: bool = False, squared: bool = False, absolute: bool = False,
                reduce: str = "mean", score: str = "sum", one_sided: bool = False,
                weight: float = 1.0) -> Tensor:
    a, b = (fake, real) if swap else (real, fake)
    xhat = (eps * a + (1 - eps) * b).requires_grad_(True)
    out = critic(xhat)
    (grad,) = torch.autograd.grad(out.sum() if score == "sum" else out.mean(), xhat)
    flat = grad.flatten(1)
    if batch_norm:
        norm = flat.norm(2)
        return weight * (norm - 1) ** 2
    norm = flat.pow(2).sum(1) if squared else flat.norm(2, dim=1)
    dev = norm - 1
    if one_sided:
        dev = dev.clamp(min=0)
    pen = dev.abs() if absolute else dev**2
    return weight * (pen.sum() if reduce == "sum" else pen.mean())


@_isolated
def check_gradient_penalty(gradient_penalty: Callable[..., Tensor]) -> None:
    """Check ``gradient_penalty(critic, real, fake, eps) -> scalar tensor`` (WGAN-GP), value and
    gradient with respect to the critic's weights (the penalty must be trainable)."""
    cases = [(1, 2, 6, 1.0), (2, 3, 8, 1.0), (3, 4, 5, 0.05)]
    chk = _Check(
        "gradient_penalty",
        "xhat = (eps * real + (1 - eps) * fake).requires_grad_(True); grad, = torch.autograd."
        "grad(critic(xhat).sum(), xhat, create_graph=True); return ((grad.flatten(1).norm(2, "
        "dim=1) - 1) ** 2).mean()",
        len(cases),
    )
    for i, (seed, b, s, scale) in enumerate(cases, 1):
        chk.start(i, f"batch {b}, {s}x{s} px" + (", a critic with small gradients" if scale < 1
                                                   else ""))
        critic = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2),
                               nn.Conv2d(4, 1, 3, stride=2, padding=1))
        _seeded_init(critic, 600 + seed, 0.4 * scale)
        g = _gen(610 + seed)
        real = torch.randn(b, 3, s, s, generator=g)
        fake = torch.randn(b, 3, s, s, generator=g)
        eps = torch.rand(b, 1, 1, 1, generator=g)
        got = chk.call(gradient_penalty, critic, real.clone(), fake.clone(), eps.clone())
        expected = gradient_penalty_reference(critic, real, fake, eps)
        if not isinstance(got, Tensor):
            chk.fail("return the penalty as a tensor (it is added to the critic's loss and "
                     "backpropagated)", expected="a 0-dim tensor", got=_shape(got))
        if got.numel() != 1:
            chk.fail("the penalty must be a scalar: average over the batch",
                     expected="a 0-dim tensor", got=f"shape {tuple(got.shape)}")
        variants = [
            ("the norm must be per sample: flatten the gradient to (B, -1), take .norm(2, dim=1), "
             "then average (||g_b|| - 1)^2 over the batch", dict(batch_norm=True)),
            ("use the norm ||g||_2 (the square root of the sum of squares), not its square",
             dict(squared=True)),
            ("square the deviation: (||g|| - 1) ** 2, not |(||g|| - 1)|", dict(absolute=True)),
            ("the interpolation is reversed: xhat = eps * real + (1 - eps) * fake", dict(swap=True)),
            ("average over the batch (mean), not the sum", dict(reduce="sum")),
            ("differentiate the *sum* of the critic's scores (or pass grad_outputs=torch."
             "ones_like(score)): the mean divides every gradient by the number of scores",
             dict(score="mean")),
            ("return the unweighted penalty: the caller multiplies it by LAMBDA_GP = 10",
             dict(weight=10.0)),
            ("this is the one-sided penalty max(0, ||g|| - 1)^2: WGAN-GP penalises both sides, "
             "(||g|| - 1)^2", dict(one_sided=True)),
        ]
        _compare(chk, got.detach().reshape(()), expected.detach(), atol=1e-6, rtol=1e-4,
                 variants=[(m, functools.partial(_gp_variant, critic, real, fake, eps, **kw))
                           for m, kw in variants],
                 what="the penalty")
        if got.grad_fn is None:
            chk.fail("the penalty is not connected to the critic's weights: compute the gradient "
                     "with torch.autograd.grad(..., create_graph=True) so it can be trained on")
        params = list(critic.parameters())
        grads = torch.autograd.grad(got.reshape(()), params, allow_unused=True)
        ref_grads = torch.autograd.grad(expected, params, allow_unused=True)
        for p, gr, er in zip(params, grads, ref_grads):
            gr = torch.zeros_like(p) if gr is None else gr
            er = torch.zeros_like(p) if er is None else er
            if not torch.allclose(gr, er, atol=1e-6, rtol=1e-3):
                chk.fail("the value is right but its gradient with respect to the critic's "
                         "weights is wrong: use create_graph=True in torch.autograd.grad and "
                         "do not detach the gradient")
    chk.passed()


# ==============================================================================================
# Exercise 6: metrics and colorizing any size
# ==============================================================================================


def _images(seed: int, h: int, w: int, tint: tuple[float, float, float]) -> np.ndarray:
    """A smooth, tinted random uint8 image with some texture (H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(3 * xx + k) * 60 + 128 for k in range(3)], axis=-1)
    img = base + rng.normal(0, 25, (h, w, 3)) + np.array(tint) + yy[..., None] * 40
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _psnr_variant(pred: np.ndarray, target: np.ndarray, *, peak: float = 255.0,
                  wrap: bool = False, scale: float = 1.0, square_peak: bool = True,
                  rmse: bool = False) -> float:
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
    from colorlab import metrics

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
        expected = float(metrics.psnr(pred, target))
        value = _scalar(chk, got, "the PSNR")
        if math.isinf(expected):
            if not (math.isinf(value) and value > 0):
                chk.fail("identical images have an infinite PSNR (mse = 0): return float('inf')",
                         expected="inf", got=_fmt(value))
            continue
        if math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-6):
            continue
        offset = 20 * math.log10(255.0)
        variants = [
            (f"your PSNR is {offset:.2f} dB = 20 log10(255) too high: the images were scaled to "
             f"[0, 1] but the peak stayed 255; use the peak of the data range, 255 for 0-255 "
             f"images", dict(scale=1 / 255)),
            (f"your PSNR is {offset:.2f} dB = 20 log10(255) too low: the peak value is 255 for "
             f"0-255 images, not 1 (PSNR on [0, 1] instead of 0-255)", dict(peak=1.0)),
            ("uint8 arithmetic wrapped around (3 - 5 = 254): convert to float before "
             "subtracting", dict(wrap=True)),
            ("square the peak: 10 log10(255^2 / MSE)", dict(square_peak=False)),
            ("use the mean squared error, not its square root, inside 10 log10(255^2 / MSE)",
             dict(rmse=True)),
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


def _colorfulness_variant(img: np.ndarray, *, wrap: bool = False, absolute: bool = False,
                          w_sigma: float = 1.0, w_mu: float = 0.3, variance: bool = False,
                          add_std: bool = False) -> float:
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
    from colorlab import metrics

    gray = np.repeat(_images(4, 10, 12, (0, 0, 0))[..., :1], 3, axis=2)
    cases = [
        ("a reddish uint8 image (20, 30, 3)", _images(5, 20, 30, (40, -30, -30))),
        ("a bluish uint8 image (16, 16, 3)", _images(6, 16, 16, (-30, -10, 50))),
        ("a gray uint8 image (R = G = B): colourfulness 0", gray),
        ("a float64 image in 0-255 (18, 14, 3)", _images(7, 18, 14, (10, 30, -40)).astype(np.float64)),
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
        expected = float(metrics.colorfulness_hasler(img))
        # rtol 1e-3 also accepts the sample standard deviation (ddof=1) of torch.std
        if math.isclose(value, expected, rel_tol=1e-3, abs_tol=1e-6):
            continue
        variants = [
            ("the weight 0.3 belongs to the mean term: sigma + 0.3 * mu (you weighted sigma)",
             dict(w_sigma=0.3, w_mu=1.0)),
            ("the mean term is weighted by 0.3: sigma + 0.3 * mu", dict(w_mu=1.0)),
            ("the mean term 0.3 * mu_rgyb is missing", dict(w_mu=0.0)),
            ("you used the absolute differences |R - G| (seed 000's variant): Hasler & "
             "Suesstrunk use the signed rg = R - G and yb = (R + G) / 2 - B", dict(absolute=True)),
            ("uint8 arithmetic wrapped around (R - G < 0 becomes R - G + 256): convert to float "
             "first", dict(wrap=True)),
            ("sigma is the square root of the summed variances: sqrt(std_rg^2 + std_yb^2)",
             dict(variance=True)),
            ("sigma is sqrt(std_rg^2 + std_yb^2), not std_rg + std_yb", dict(add_std=True)),
        ]
        known = next((msg for msg, kw in variants if math.isclose(
            value, _colorfulness_variant(img, **kw), rel_tol=1e-3, abs_tol=1e-6)), None)
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
    from colorlab.inference import colorize as reference

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
        expected = reference(model, rgb, size=size, device="cpu")
        if isinstance(got, Tensor):
            chk.fail("return a numpy array (H, W, 3) of uint8, not a tensor",
                     expected=f"(H, W, 3) = {(h, w, 3)} uint8", got=f"a tensor {tuple(got.shape)}")
        if not isinstance(got, np.ndarray):
            chk.fail("return a numpy array (H, W, 3) of uint8", got=_shape(got))
        if got.shape != (h, w, 3):
            problem = "the output must have the input's size"
            if got.shape[:2] == (size, size):
                problem = ("you returned the working size: upsample ab to the input's size and "
                           "combine it with the full-resolution L")
            elif got.shape == (3, h, w):
                problem = "the output is channels-first: return (H, W, 3)"
            chk.fail(problem, expected=str((h, w, 3)), got=str(got.shape))
        if got.dtype != np.uint8:
            chk.fail("the output must be uint8 in 0-255 (multiply by 255, round, .astype(np.uint8))",
                     expected="dtype uint8", got=f"dtype {got.dtype}")
        if not calls:
            chk.fail("the model was never called")
        for shape, lo, hi in calls:
            if len(shape) != 4 or shape[1] != 1 or shape[2:] != (size, size):
                chk.fail(f"the generator must see (B, 1, {size}, {size}) lightness batches: "
                         f"resize L to the working size first",
                         expected=f"(1, 1, {size}, {size})", got=str(shape))
            if hi > 1.0 + 1e-4 or lo < -1.0 - 1e-4:
                chk.fail("the generator must get the normalised L in [-1, 1] (rgb_to_L_ab), "
                         "not L in [0, 100]", expected="values in [-1, 1]",
                         got=f"values in [{_fmt(lo)}, {_fmt(hi)}]")
        lab_in, lab_got, lab_ref = _lab_of(rgb), _lab_of(got), _lab_of(expected)
        dl_got = float((lab_got[0] - lab_in[0]).abs().mean())
        dl_ref = float((lab_ref[0] - lab_in[0]).abs().mean())
        if dl_got > dl_ref + 1.0:
            chk.fail("the output lost the input's detail: keep the input's full-resolution L and "
                     "only upsample ab (resizing the colorized RGB, or L, blurs the lightness)",
                     expected=f"mean |L_out - L_in| <= {dl_ref + 1.0:.2f}",
                     got=f"mean |L_out - L_in| = {dl_got:.2f}")
        dab = float((lab_got[1:] - lab_ref[1:]).abs().mean())
        if dab > 2.0:
            chk.fail("the colours differ from the reference: predict ab at the working size, "
                     "upsample it (bilinear) to the input size and combine it with L "
                     "(L_ab_to_rgb works on the normalised L and ab)",
                     expected="mean |ab_out - ab_reference| <= 2 Lab units",
                     got=f"{dab:.2f} Lab units")
    chk.passed()


#: Every check, by the name of the exercise it checks (the student's function or class).
CHECKS: dict[str, Callable[[Any], None]] = {
    "srgb_to_linear": check_srgb_to_linear,
    "rgb_to_lab": check_rgb_to_lab,
    "DownBlock": check_down_block,
    "UpBlock": check_up_block,
    "unet_forward": check_unet_forward,
    "receptive_field": check_receptive_field,
    "d_loss_vanilla": check_d_loss_vanilla,
    "g_loss_saturating": check_g_loss_saturating,
    "g_loss_non_saturating": check_g_loss_non_saturating,
    "d_loss_lsgan": check_d_loss_lsgan,
    "g_loss_lsgan": check_g_loss_lsgan,
    "d_step": check_d_step,
    "g_step": check_g_step,
    "clip_weights": check_clip_weights,
    "critic_step": check_critic_step,
    "gradient_penalty": check_gradient_penalty,
    "psnr": check_psnr,
    "colorfulness": check_colorfulness,
    "colorize_any_size": check_colorize_any_size,
}
