"""The machinery every check shares: :class:`CheckFailed`, the :class:`_Check` run, comparisons.

A check builds a :class:`_Check` (name, default hint, number of cases), calls the student's code
through :meth:`_Check.call` (any exception becomes a :class:`CheckFailed`), compares results with
:func:`_compare` / :func:`_scalar` / :func:`_same_params`, and ends with :meth:`_Check.passed`.
:func:`_isolated` runs it on a private seeded RNG and one CPU thread.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np
import torch
from torch import Tensor, nn

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

    def call(
        self, fn: Callable[..., Any], *args: Any, error_hint: str | None = None, **kwargs: Any
    ) -> Any:
        """Run the student's ``fn``; convert any exception into a :class:`CheckFailed`."""
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as err:
            self.stub(err)
        except CheckFailed:
            raise
        except Exception as err:  # the student's code failed: report it as a failed case
            self.fail(
                f"your code raised {type(err).__name__}: {_one_line(err)}",
                hint=error_hint,
                cause=err,
            )

    def stub(self, err: NotImplementedError) -> NoReturn:
        """The student's code is still the exercise's stub."""
        msg = str(err) or "no hint"
        raise CheckFailed(
            f"{self.name} is not implemented yet: it raised NotImplementedError({msg!r}).\n"
            f"  Replace the line `raise NotImplementedError(...)` under `# YOUR CODE HERE` "
            f"with your code, run that cell again, then this check."
        ) from err

    def fail(
        self,
        problem: str,
        *,
        expected: str | None = None,
        got: str | None = None,
        hint: str | None = None,
        cause: BaseException | None = None,
    ) -> NoReturn:
        lines = [
            f"{self.name} failed on case {self.case} of {self.n} ({self.desc}):",
            f"  problem:  {problem}",
        ]
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


def _first_match(
    got: Any, variants: Sequence[tuple[str, Callable[[], Any]]], atol: float, rtol: float
) -> str | None:
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
    return (
        f"largest difference {_fmt(float(diff.reshape(-1)[flat]))}{where}: expected "
        f"{_fmt(float(expected.reshape(-1)[flat]))}, got {_fmt(float(got.reshape(-1)[flat]))}"
    )


def _compare(
    chk: _Check,
    got: Any,
    expected: Tensor,
    *,
    atol: float,
    rtol: float,
    variants: Sequence[tuple[str, Callable[[], Any]]] = (),
    names: Sequence[str] | None = None,
    what: str = "the result",
) -> None:
    """Fail unless ``got`` is a tensor/array of ``expected``'s shape and values."""
    g = _as_tensor(got)
    if g is None:
        chk.fail(
            f"{what} must be a tensor",
            expected=f"a tensor of shape {tuple(expected.shape)}",
            got=_shape(got),
        )
    e = expected.detach().to(torch.float64)
    if g.shape != e.shape:
        chk.fail(
            f"{what} has the wrong shape", expected=str(tuple(e.shape)), got=str(tuple(g.shape))
        )
    if not bool(torch.isfinite(g).all()) and bool(torch.isfinite(e).all()):
        chk.fail(f"{what} contains nan or inf", hint=chk.hint)
    if torch.allclose(g, e, atol=atol, rtol=rtol):
        return
    known = _first_match(g, variants, atol, rtol)
    chk.fail(
        known or f"{what} has the right shape but wrong values",
        expected=f"values within {_fmt(atol)} of the reference",
        got=_worst(g, e, names),
    )


def _scalar(chk: _Check, value: Any, what: str) -> float:
    """A returned loss (float, 0-dim tensor or numpy scalar) as a Python float."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            chk.fail(
                f"{what} must be a single number",
                expected="a float (e.g. loss.item())",
                got=f"a tensor of shape {tuple(value.shape)}",
            )
        return float(value.detach())
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    chk.fail(
        f"{what} must be a number",
        expected="a float (e.g. loss.item())",
        got=_shape(value) if value is not None else "None (did you forget `return`?)",
    )


@torch.no_grad()
def _seeded_init(module: nn.Module, seed: int, scale: float = 0.3) -> nn.Module:
    """Overwrite every parameter of ``module`` with seeded N(0, scale^2) values (independent of
    the global RNG)."""
    g = _gen(seed)
    for p in module.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module


def _params(module: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _same_params(
    a: Sequence[Tensor], b: Sequence[Tensor], atol: float = 1e-5, rtol: float = 1e-4
) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and torch.allclose(x, y, atol=atol, rtol=rtol) for x, y in zip(a, b)
    )


def _matches_update(
    got: Sequence[Tensor], update: Callable[..., list[Tensor]], *args: Any, **kwargs: Any
) -> bool:
    """Whether ``got`` equals the parameters a mistake variant's update produces (False if the
    variant itself cannot be computed)."""
    try:
        return _same_params(got, update(*args, **kwargs))
    except Exception:
        return False


def _max_param_diff(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))
