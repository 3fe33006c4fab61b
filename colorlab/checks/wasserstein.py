"""Checks of exercise 5 (``05_wasserstein``): weight clipping, the WGAN critic step, WGAN-GP.

References: :func:`colorlab.losses.clip_weights`, :func:`colorlab.train.d_step` with
``Objective("wgan", clip_value=...)``, and :func:`gradient_penalty_reference` (defined here: the
penalty with an explicit ``eps``, equal to :func:`colorlab.losses.gradient_penalty`).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from colorlab.checks._core import (
    _Check,
    _compare,
    _fmt,
    _gen,
    _isolated,
    _matches_update,
    _max_param_diff,
    _params,
    _same_params,
    _scalar,
    _seeded_init,
    _shape,
)
from colorlab.checks._steps import _d_update, _has_grad, _junk_grads, _step_setup
from colorlab.losses import Objective
from colorlab.losses import clip_weights as reference_clip_weights
from colorlab.train import d_step as reference_d_step


def _clip_module(seed: int) -> nn.Module:
    """A small critic with BatchNorm whose running statistics are not 0/1 (so clipping shows)."""
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
        reference_clip_weights(ref, clip)
        before = list(m.parameters())
        before_vals = _params(m)
        before_buffers = [b.clone() for b in m.buffers()]
        chk.call(clip_weights, m, clip)
        after = list(m.parameters())
        if len(after) != len(before) or any(a is not b for a, b in zip(after, before)):
            chk.fail(
                "the Parameter objects were replaced: clamp them in place (p.clamp_ under "
                "torch.no_grad(), or p.data.clamp_); the optimiser keeps references to the "
                "original ones"
            )
        if not all(p.requires_grad for p in after):
            chk.fail(
                "some parameters no longer require gradients: clamp in place without "
                "changing requires_grad"
            )
        if any(not torch.equal(b, b0) for b, b0 in zip(m.buffers(), before_buffers)):
            chk.fail(
                "you also clipped the buffers (BatchNorm running statistics): clip "
                "module.parameters() only, not module.state_dict()"
            )
        got, expected = _params(m), _params(ref)
        if _same_params(got, expected, atol=0, rtol=0):
            continue
        if _same_params(got, before_vals, atol=0, rtol=0):
            chk.fail(
                "the weights did not change: p.clamp(...) returns a new tensor; clamp in "
                "place with p.clamp_(-clip, clip)"
            )
        clipped_w = [e if p.dim() > 1 else b0 for p, e, b0 in zip(after, expected, before_vals)]
        if _same_params(got, clipped_w, atol=0, rtol=0):
            chk.fail(
                "only the weight matrices were clipped: the biases and BatchNorm scales are "
                "parameters too, clip every p in module.parameters()"
            )
        if _same_params(got, [b0.clamp(-0.01, 0.01) for b0 in before_vals], atol=0, rtol=0):
            chk.fail(f"the bound is hard-coded to 0.01: use the clip argument (here {clip:g})")
        k = next(j for j, (g, e) in enumerate(zip(got, expected)) if not torch.equal(g, e))
        chk.fail(
            f"parameter {k} is not clamped to [-clip, clip]",
            expected=f"values in [{-clip:g}, {clip:g}], unchanged inside",
            got=f"min {_fmt(float(got[k].min()))}, max {_fmt(float(got[k].max()))}",
        )
    chk.passed()


_CRITIC_HINT = (
    "with torch.no_grad(): fake_ab = G(L); loss = critic(torch.cat([L, fake_ab], 1))"
    ".mean() - critic(torch.cat([L, real_ab], 1)).mean(); opt_c.zero_grad(); "
    "loss.backward(); opt_c.step(); clip_weights(critic, clip); return loss.item()"
)


def _check_generator_untouched(chk: _Check, Gs: nn.Module, G0: nn.Module, clip: float) -> None:
    """Fail if the critic step changed the generator's weights or gave it gradients."""
    g_now, g_start = _params(Gs), _params(G0)
    if not _same_params(g_now, g_start, atol=0, rtol=0):
        if _same_params(g_now, [p.clamp(-clip, clip) for p in g_start], atol=0, rtol=0):
            chk.fail(
                "you clipped the generator's weights instead of the critic's: the "
                "Lipschitz constraint is on the critic, clip_weights(critic, clip)"
            )
        chk.fail("the generator's weights changed: the critic step must update the critic only")
    if _has_grad(Gs):
        chk.fail(
            "the generator received gradients: compute the fake under torch.no_grad() "
            "(or detach it); the critic step trains the critic only"
        )


def _check_critic_clipped(
    chk: _Check,
    got_params: list[Tensor],
    C0: nn.Module,
    L: Tensor,
    real_ab: Tensor,
    fake: Tensor,
    lr: float,
    seed: int,
    clip: float,
) -> None:
    """Fail if a critic weight lies outside [-clip, clip], naming clipping before the step."""
    if any(float(p.abs().max()) > clip * (1 + 1e-6) for p in got_params):
        if _matches_update(
            got_params,
            _d_update,
            C0,
            L,
            real_ab,
            fake,
            lr,
            seed,
            loss="wgan",
            scale=1.0,
            clip=clip,
            clip_first=True,
        ):
            chk.fail(
                "you clipped before the update: opt_c.step() moves the weights out of "
                "[-clip, clip] again; clip right after opt_c.step()"
            )
        chk.fail(
            f"the critic's weights are outside [-clip, clip] = [{-clip:g}, {clip:g}]: "
            f"clip every critic parameter after the step",
            got=f"largest |weight| {_fmt(max(float(p.abs().max()) for p in got_params))}",
        )


def _known_critic_mistake(
    got_params: list[Tensor],
    C0: nn.Module,
    L: Tensor,
    real_ab: Tensor,
    fake: Tensor,
    lr: float,
    seed: int,
    clip: float,
) -> str | None:
    """The message of the first known critic-step mistake whose update gives ``got_params``."""
    variants = [
        (
            "wrong sign: the critic minimises mean(C(fake)) - mean(C(real)) (it scores "
            "real "
            "samples high)",
            dict(sign=-1.0),
        ),
        (
            "the Wasserstein critic loss is not halved (it estimates a distance, it is not "
            "a classifier loss)",
            dict(scale=0.5),
        ),
        (
            "this is the vanilla BCE loss: the WGAN critic minimises mean(C(fake)) - "
            "mean(C(real)) on raw scores",
            dict(loss="vanilla"),
        ),
        (
            "the stale gradients were not cleared: call opt_c.zero_grad() before loss.backward()",
            dict(zero_grad=False),
        ),
        (
            f"the bound is hard-coded to 0.01: use the clip argument (here {clip:g})",
            dict(clip=0.01),
        ),
    ]
    base = dict(loss="wgan", scale=1.0, clip=clip)
    return next(
        (
            msg
            for msg, kw in variants
            if _matches_update(
                got_params, _d_update, C0, L, real_ab, fake, lr, seed, **{**base, **kw}
            )
        ),
        None,
    )


@_isolated
def check_critic_step(critic_step: Callable[..., float]) -> None:
    """Check ``critic_step(critic, G, opt_c, L, real_ab, clip=0.01) -> float``: one WGAN critic
    update with weight clipping, against :func:`colorlab.train.d_step` with
    ``Objective("wgan", clip_value=clip)``. The generator must stay untouched."""
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
        out = reference_d_step(Cr, opt_r, Objective("wgan", clip_value=clip), L, real_ab, fake)
        _check_generator_untouched(chk, Gs, G0, clip)
        got_params, ref_params = _params(Cs), _params(Cr)
        if _same_params(got_params, _params(C0), atol=0, rtol=0):
            chk.fail(
                "the critic's weights did not change: call opt_c.zero_grad(), "
                "loss.backward(), opt_c.step(), then clip"
            )
        _check_critic_clipped(chk, got_params, C0, L, real_ab, fake, lr, seed + 5, clip)
        if not _same_params(got_params, ref_params):
            chk.fail(
                _known_critic_mistake(got_params, C0, L, real_ab, fake, lr, seed + 5, clip)
                or "the critic's weights after the step differ from the reference",
                expected="one SGD step on mean(C(fake)) - mean(C(real)), then clipping",
                got=f"parameters off by up to {_fmt(_max_param_diff(got_params, ref_params))}",
            )
        value = _scalar(chk, ret, "the returned loss")
        if not math.isclose(value, float(out["d_loss"]), rel_tol=1e-4, abs_tol=1e-6):
            chk.fail(
                "the returned loss is wrong: return the critic loss computed in this step",
                expected=_fmt(float(out["d_loss"])),
                got=_fmt(value),
            )
    chk.passed()


def gradient_penalty_reference(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, eps: Tensor
) -> Tensor:
    """The answer key of exercise 5.3: WGAN-GP's penalty with an explicit ``eps`` ``(B,1,1,1)``.

    ``xhat = eps * real + (1 - eps) * fake``; ``mean_b (||grad_xhat sum C(xhat)||_2 - 1)^2`` with
    the gradient flattened per sample, built with ``create_graph=True`` (unweighted: the caller
    multiplies by ``LAMBDA_GP`` = 10). Equals :func:`colorlab.losses.gradient_penalty` for the
    same ``eps``.
    """
    xhat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(xhat).sum(), xhat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def _gp_variant(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    eps: Tensor,
    *,
    swap: bool = False,
    batch_norm: bool = False,
    squared: bool = False,
    absolute: bool = False,
    reduce: str = "mean",
    score: str = "sum",
    one_sided: bool = False,
    weight: float = 1.0,
) -> Tensor:
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


_GP_HINT = (
    "xhat = (eps * real + (1 - eps) * fake).requires_grad_(True); grad, = torch.autograd."
    "grad(critic(xhat).sum(), xhat, create_graph=True); return ((grad.flatten(1).norm(2, "
    "dim=1) - 1) ** 2).mean()"
)

#: The known penalty mistakes, in the order they are tried: (message, :func:`_gp_variant` keywords).
_GP_MISTAKES: list[tuple[str, dict[str, Any]]] = [
    (
        "the norm must be per sample: flatten the gradient to (B, -1), take "
        ".norm(2, dim=1), "
        "then average (||g_b|| - 1)^2 over the batch",
        dict(batch_norm=True),
    ),
    (
        "use the norm ||g||_2 (the square root of the sum of squares), not its square",
        dict(squared=True),
    ),
    ("square the deviation: (||g|| - 1) ** 2, not |(||g|| - 1)|", dict(absolute=True)),
    (
        "the interpolation is reversed: xhat = eps * real + (1 - eps) * fake",
        dict(swap=True),
    ),
    ("average over the batch (mean), not the sum", dict(reduce="sum")),
    (
        "differentiate the *sum* of the critic's scores (or pass grad_outputs=torch."
        "ones_like(score)): the mean divides every gradient by the number of scores",
        dict(score="mean"),
    ),
    (
        "return the unweighted penalty: the caller multiplies it by LAMBDA_GP = 10",
        dict(weight=10.0),
    ),
    (
        "this is the one-sided penalty max(0, ||g|| - 1)^2: WGAN-GP penalises both sides, "
        "(||g|| - 1)^2",
        dict(one_sided=True),
    ),
]


def _gp_inputs(seed: int, b: int, s: int, scale: float) -> tuple[nn.Module, Tensor, Tensor, Tensor]:
    """A seeded small critic (weights ``0.4 * scale``) and seeded ``real``, ``fake``, ``eps``."""
    critic = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(4, 1, 3, stride=2, padding=1),
    )
    _seeded_init(critic, 600 + seed, 0.4 * scale)
    g = _gen(610 + seed)
    real = torch.randn(b, 3, s, s, generator=g)
    fake = torch.randn(b, 3, s, s, generator=g)
    eps = torch.rand(b, 1, 1, 1, generator=g)
    return critic, real, fake, eps


def _check_gp_gradient(chk: _Check, got: Tensor, expected: Tensor, critic: nn.Module) -> None:
    """Fail if the penalty has no graph or its gradient w.r.t. the critic's weights is wrong."""
    if got.grad_fn is None:
        chk.fail(
            "the penalty is not connected to the critic's weights: compute the gradient "
            "with torch.autograd.grad(..., create_graph=True) so it can be trained on"
        )
    params = list(critic.parameters())
    grads = torch.autograd.grad(got.reshape(()), params, allow_unused=True)
    ref_grads = torch.autograd.grad(expected, params, allow_unused=True)
    for p, gr, er in zip(params, grads, ref_grads):
        gr = torch.zeros_like(p) if gr is None else gr
        er = torch.zeros_like(p) if er is None else er
        if not torch.allclose(gr, er, atol=1e-6, rtol=1e-3):
            chk.fail(
                "the value is right but its gradient with respect to the critic's "
                "weights is wrong: use create_graph=True in torch.autograd.grad and "
                "do not detach the gradient"
            )


@_isolated
def check_gradient_penalty(gradient_penalty: Callable[..., Tensor]) -> None:
    """Check ``gradient_penalty(critic, real, fake, eps) -> scalar tensor`` (WGAN-GP), value and
    gradient with respect to the critic's weights (the penalty must be trainable)."""
    cases = [(1, 2, 6, 1.0), (2, 3, 8, 1.0), (3, 4, 5, 0.05)]
    chk = _Check("gradient_penalty", _GP_HINT, len(cases))
    for i, (seed, b, s, scale) in enumerate(cases, 1):
        chk.start(
            i, f"batch {b}, {s}x{s} px" + (", a critic with small gradients" if scale < 1 else "")
        )
        critic, real, fake, eps = _gp_inputs(seed, b, s, scale)
        got = chk.call(gradient_penalty, critic, real.clone(), fake.clone(), eps.clone())
        expected = gradient_penalty_reference(critic, real, fake, eps)
        if not isinstance(got, Tensor):
            chk.fail(
                "return the penalty as a tensor (it is added to the critic's loss and "
                "backpropagated)",
                expected="a 0-dim tensor",
                got=_shape(got),
            )
        if got.numel() != 1:
            chk.fail(
                "the penalty must be a scalar: average over the batch",
                expected="a 0-dim tensor",
                got=f"shape {tuple(got.shape)}",
            )
        _compare(
            chk,
            got.detach().reshape(()),
            expected.detach(),
            atol=1e-6,
            rtol=1e-4,
            variants=[
                (m, functools.partial(_gp_variant, critic, real, fake, eps, **kw))
                for m, kw in _GP_MISTAKES
            ],
            what="the penalty",
        )
        _check_gp_gradient(chk, got, expected, critic)
    chk.passed()
