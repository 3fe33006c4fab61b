"""Checks of exercise 4 (``04_gan_losses_and_steps``): the GAN losses and pix2pix's D and G steps.

References: :class:`colorlab.losses.GANLoss` ("vanilla", "lsgan") for the losses,
:func:`colorlab.train.d_step` and :func:`colorlab.train.g_step` for one step of each network on
the tiny networks of :mod:`colorlab.checks._steps`. A wrong step is named by matching the
parameters it produced against known mistakes (no detach, no factor 1/2, no zero_grad, ...).
"""

from __future__ import annotations

import copy
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
    _shape,
)
from colorlab.checks._steps import _bce, _d_update, _has_grad, _junk_grads, _step_setup
from colorlab.losses import GANLoss, Objective
from colorlab.train import d_step as reference_d_step
from colorlab.train import g_step as reference_g_step


def _loss_cases(two: bool) -> list[tuple[str, tuple[Tensor, ...]]]:
    g = _gen(13)
    extreme_r = torch.tensor([[50.0], [-50.0], [30.0], [-30.0]])
    extreme_f = torch.tensor([[-50.0], [50.0], [-30.0], [30.0]])
    cases = [
        (
            "logits of a linear head, shape (8, 1)",
            (torch.randn(8, 1, generator=g) * 2, torch.randn(8, 1, generator=g) * 2),
        ),
        (
            "PatchGAN logit maps, shape (2, 1, 5, 5)",
            (
                torch.randn(2, 1, 5, 5, generator=g) * 3,
                torch.randn(2, 1, 5, 5, generator=g) * 3 - 1,
            ),
        ),
        ("confident logits of +-50 and +-30 (numerical stability)", (extreme_r, extreme_f)),
    ]
    return [(d, t if two else t[1:]) for d, t in cases]


def _check_loss(
    name: str,
    fn: Callable[..., Tensor],
    reference: Callable[..., Tensor],
    variants: Callable[..., list[tuple[str, Callable[[], Tensor]]]],
    two: bool,
    hint: str,
) -> None:
    cases = _loss_cases(two)
    chk = _Check(name, hint, len(cases))
    for i, (desc, inputs) in enumerate(cases, 1):
        chk.start(i, desc)
        args = tuple(t.clone().requires_grad_(True) for t in inputs)
        got = chk.call(fn, *args)
        if not isinstance(got, Tensor):
            chk.fail(
                "the loss must be a torch tensor (a scalar with a graph), so that "
                "loss.backward() works",
                expected="a 0-dim tensor",
                got=_shape(got) if got is not None else "None (did you forget `return`?)",
            )
        if got.numel() != 1:
            chk.fail(
                "the loss must be a scalar: average over all elements with .mean()",
                expected="a 0-dim tensor",
                got=f"shape {tuple(got.shape)}",
            )
        ref_args = tuple(t.clone().requires_grad_(True) for t in inputs)
        expected = reference(*ref_args)
        if not bool(torch.isfinite(got.detach()).all()):
            chk.fail(
                "the loss is not finite (nan or inf) for confident logits: never compute "
                "log(sigmoid(x)) yourself; use F.binary_cross_entropy_with_logits or "
                "F.logsigmoid, which are stable",
                expected=_fmt(float(expected.detach())),
                got=str(float(got.detach())),
            )
        _compare(
            chk,
            got.reshape(()),
            expected,
            atol=1e-5,
            rtol=1e-4,
            variants=variants(*inputs),
            what="the loss value",
        )
        if got.grad_fn is None:
            chk.fail(
                "the loss is not connected to the logits (did you use .item(), .detach() "
                "or torch.tensor(...)?): it must stay differentiable"
            )
        grads = torch.autograd.grad(got.reshape(()), args, allow_unused=True)
        ref_grads = torch.autograd.grad(expected, ref_args)
        for k, (gr, er) in enumerate(zip(grads, ref_grads)):
            if gr is None or not torch.allclose(gr, er, atol=1e-6, rtol=1e-4):
                which = ("pred_real", "pred_fake")[k] if two else "pred_fake"
                chk.fail(
                    f"the value is right but the gradient w.r.t. {which} is wrong (a "
                    f"detached or clamped term?)"
                )
    chk.passed()


@_isolated
def check_d_loss_vanilla(d_loss_vanilla: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``d_loss_vanilla(pred_real, pred_fake) -> loss``: 0.5 (BCE(real, 1) + BCE(fake, 0))
    on logits, against ``GANLoss("vanilla").d_loss``."""
    gan = GANLoss("vanilla")
    _check_loss(
        "d_loss_vanilla",
        d_loss_vanilla,
        lambda r, f: gan.d_loss(r, f)[0],
        lambda r, f: [
            (
                "missing the factor 1/2: pix2pix halves D's loss, 0.5 * (BCE(D(real), 1) + "
                "BCE(D(fake), 0))",
                lambda: _bce(r, 1) + _bce(f, 0),
            ),
            (
                "wrong sign: D minimises the binary cross-entropy (a positive number)",
                lambda: -0.5 * (_bce(r, 1) + _bce(f, 0)),
            ),
            ("wrong sign and missing the factor 1/2", lambda: -(_bce(r, 1) + _bce(f, 0))),
            (
                "the labels are swapped: real -> 1, fake -> 0",
                lambda: 0.5 * (_bce(r, 0) + _bce(f, 1)),
            ),
            (
                "you averaged the logits before the loss: apply BCE to every logit, then average",
                lambda: 0.5 * (_bce(r.mean(), 1) + _bce(f.mean(), 0)),
            ),
            (
                "you applied a sigmoid before BCE-with-logits (it already includes the sigmoid)",
                lambda: 0.5 * (_bce(torch.sigmoid(r), 1) + _bce(torch.sigmoid(f), 0)),
            ),
        ],
        two=True,
        hint="0.5 * (F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real)) + "
        "F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake)))",
    )


@_isolated
def check_g_loss_saturating(g_loss_saturating: Callable[[Tensor], Tensor]) -> None:
    """Check ``g_loss_saturating(pred_fake)``: the original minimax G loss mean(log(1 - D)),
    against ``GANLoss("vanilla").saturating_g_loss``."""
    gan = GANLoss("vanilla")
    _check_loss(
        "g_loss_saturating",
        g_loss_saturating,
        gan.saturating_g_loss,
        lambda f: [
            (
                "wrong sign: the minimax generator *minimises* log(1 - D(G(x))), a negative number",
                lambda: _bce(f, 0),
            ),
            (
                "this is the non-saturating loss -log D(G(x)); here write the original "
                "log(1 - D(G(x)))",
                lambda: _bce(f, 1),
            ),
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
    gan = GANLoss("vanilla")
    _check_loss(
        "g_loss_non_saturating",
        g_loss_non_saturating,
        gan.g_loss,
        lambda f: [
            (
                "wrong sign: G minimises -log D(G(x)) = BCE(D(G(x)), 1), a positive number",
                lambda: -_bce(f, 1),
            ),
            (
                "the target is wrong: G wants D to call its fakes real, so the target is 1",
                lambda: _bce(f, 0),
            ),
            (
                "this is the saturating loss log(1 - D(G(x))); the non-saturating one is "
                "-log D(G(x))",
                lambda: -_bce(f, 0),
            ),
            ("you halved the generator loss: only D's loss is halved", lambda: 0.5 * _bce(f, 1)),
        ],
        two=False,
        hint="F.binary_cross_entropy_with_logits(pred_fake, torch.ones_like(pred_fake))",
    )


@_isolated
def check_d_loss_lsgan(d_loss_lsgan: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``d_loss_lsgan(pred_real, pred_fake)``: 0.5 (mean((r - 1)^2) + mean(f^2)),
    against ``GANLoss("lsgan").d_loss``."""
    gan = GANLoss("lsgan")
    mse = lambda x, t: ((x - t) ** 2).mean()  # noqa: E731
    _check_loss(
        "d_loss_lsgan",
        d_loss_lsgan,
        lambda r, f: gan.d_loss(r, f)[0],
        lambda r, f: [
            (
                "missing the factor 1/2: 0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))",
                lambda: mse(r, 1) + mse(f, 0),
            ),
            (
                "the targets are swapped: real -> 1, fake -> 0",
                lambda: 0.5 * (mse(r, 0) + mse(f, 1)),
            ),
            (
                "this is the vanilla (BCE) loss: LSGAN uses squared errors",
                lambda: 0.5 * (_bce(r, 1) + _bce(f, 0)),
            ),
            (
                "you applied a sigmoid: LSGAN works on the raw outputs",
                lambda: 0.5 * (mse(torch.sigmoid(r), 1) + mse(torch.sigmoid(f), 0)),
            ),
            ("wrong sign: D minimises the squared errors", lambda: -0.5 * (mse(r, 1) + mse(f, 0))),
        ],
        two=True,
        hint="0.5 * (F.mse_loss(pred_real, torch.ones_like(pred_real)) + "
        "F.mse_loss(pred_fake, torch.zeros_like(pred_fake)))",
    )


@_isolated
def check_g_loss_lsgan(g_loss_lsgan: Callable[[Tensor], Tensor]) -> None:
    """Check ``g_loss_lsgan(pred_fake)``: mean((f - 1)^2), against ``GANLoss("lsgan").g_loss``."""
    gan = GANLoss("lsgan")
    mse = lambda x, t: ((x - t) ** 2).mean()  # noqa: E731
    _check_loss(
        "g_loss_lsgan",
        g_loss_lsgan,
        gan.g_loss,
        lambda f: [
            ("the target is wrong: G wants D(fake) close to the *real* label 1", lambda: mse(f, 0)),
            (
                "you halved the generator loss (as in the LSGAN paper); here G minimises "
                "mean((D(G(x)) - 1)^2) as seed 002's nn.MSELoss does, only D's loss is halved",
                lambda: 0.5 * mse(f, 1),
            ),
            ("wrong sign: G minimises the squared error", lambda: -mse(f, 1)),
            (
                "you applied a sigmoid: LSGAN works on the raw outputs",
                lambda: mse(torch.sigmoid(f), 1),
            ),
        ],
        two=False,
        hint="F.mse_loss(pred_fake, torch.ones_like(pred_fake))",
    )


_D_STEP_HINT = (
    "real = torch.cat([L, real_ab], 1); fake = torch.cat([L, fake_ab.detach()], 1); "
    "loss = 0.5 * (BCE(D(real), 1) + BCE(D(fake), 0)); opt_d.zero_grad(); "
    "loss.backward(); opt_d.step(); return loss.item()"
)


@_isolated
def check_d_step(d_step: Callable[..., float]) -> None:
    """Check ``d_step(D, opt_d, L, real_ab, fake_ab) -> float`` (vanilla pix2pix D update).

    ``fake_ab = G(L)`` still carries G's graph: the step must detach it (G gets no gradient),
    update D exactly like :func:`colorlab.train.d_step` with ``GANLoss("vanilla")`` and return
    the loss before the update.
    """
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
        ret = chk.call(
            d_step,
            Ds,
            opt,
            L,
            real_ab,
            fake_s,
            error_hint="D scores (B, 3, H, W) tensors: the condition L and the ab "
            "channels concatenated, torch.cat([L, ab], dim=1)",
        )
        Gr, Dr = copy.deepcopy(G0), copy.deepcopy(D0)
        opt_r = torch.optim.SGD(Dr.parameters(), lr=lr)
        _junk_grads(Dr, seed + 5)
        out = reference_d_step(Dr, opt_r, Objective("vanilla"), L, real_ab, Gr(L))
        if _has_grad(Gs):
            chk.fail(
                "the generator received gradients during the D step: the fake was not "
                "detached. Use fake_ab.detach(): D's loss must train D only (otherwise "
                "G is pushed to make its fakes *easier* to spot)"
            )
        got_params, ref_params, start = _params(Ds), _params(Dr), _params(D0)
        if _same_params(got_params, start, atol=0, rtol=0):
            chk.fail(
                "D's weights did not change: call opt_d.zero_grad(), loss.backward() and "
                "opt_d.step()"
            )
        if not _same_params(got_params, ref_params):
            fake = fake_s.detach()
            variants = [
                (
                    "missing the factor 1/2: pix2pix halves D's loss, 0.5 * (BCE(D(real), 1) + "
                    "BCE(D(fake), 0))",
                    dict(scale=1.0),
                ),
                ("wrong sign: the D step must *minimise* its BCE loss", dict(sign=-1.0)),
                ("wrong sign and missing the factor 1/2", dict(sign=-1.0, scale=1.0)),
                ("the labels are swapped: real -> 1, fake -> 0", dict(swap=True)),
                (
                    "the stale gradients were not cleared: call opt_d.zero_grad() before "
                    "loss.backward()",
                    dict(zero_grad=False),
                ),
                (
                    "the condition must come first: torch.cat([L, ab], dim=1)",
                    dict(cat_ab_first=True),
                ),
                (
                    "this is the LSGAN loss; the D step here uses the vanilla BCE loss",
                    dict(loss="lsgan"),
                ),
            ]
            known = next(
                (
                    msg
                    for msg, kw in variants
                    if _matches_update(
                        got_params, _d_update, D0, L, real_ab, fake, lr, seed + 5, **kw
                    )
                ),
                None,
            )
            chk.fail(
                known or "D's weights after the step differ from the reference",
                expected="the parameters of one SGD step on the halved vanilla D loss",
                got=f"parameters off by up to {_fmt(_max_param_diff(got_params, ref_params))}",
            )
        value = _scalar(chk, ret, "the returned loss")
        if not math.isclose(value, float(out["d_loss"]), rel_tol=1e-4, abs_tol=1e-6):
            chk.fail(
                "the returned loss is wrong: return the D loss computed in this step (loss.item())",
                expected=_fmt(float(out["d_loss"])),
                got=_fmt(value),
            )
    chk.passed()


def _g_update(
    G0: nn.Module,
    D: nn.Module,
    L: Tensor,
    real_ab: Tensor,
    lr: float,
    seed: int,
    lam: float,
    *,
    adv: str = "ns",
    adv_sign: float = 1.0,
    rec: str = "l1",
    rec_weight: float | None = None,
    adv_weight: float = 1.0,
    zero_grad: bool = True,
    detach_adv: bool = False,
    detach_rec: bool = False,
) -> list[Tensor]:
    """G's parameters after one step of a (possibly wrong) G update: the mistake variants."""
    G = copy.deepcopy(G0)
    D = copy.deepcopy(D)
    opt = torch.optim.SGD(G.parameters(), lr=lr)
    _junk_grads(G, seed)
    fake = G(L)
    pred = D(torch.cat([L, fake.detach() if detach_adv else fake], 1))
    adv_term = {
        "ns": lambda: _bce(pred, 1.0),
        "sat": lambda: -_bce(pred, 0.0),
        "fake": lambda: _bce(pred, 0.0),
        "none": lambda: pred.sum() * 0,
    }[adv]()
    f_rec = fake.detach() if detach_rec else fake
    rec_term = {
        "l1": lambda: (f_rec - real_ab).abs().mean(),
        "l2": lambda: ((f_rec - real_ab) ** 2).mean(),
        "none": lambda: f_rec.sum() * 0,
    }[rec]()
    w = lam if rec_weight is None else rec_weight
    total = adv_weight * adv_sign * adv_term + w * rec_term
    if zero_grad:
        opt.zero_grad()
    total.backward()
    opt.step()
    return _params(G)


_NO_ADV = (
    "the adversarial term sends no gradient into G: add BCE(D(torch.cat([L, fake_ab], "
    "1)), 1), with fake_ab not detached"
)

_G_STEP_HINT = (
    "pred = D(torch.cat([L, fake_ab], 1)); loss = BCE(pred, 1) + lambda_rec * "
    "(fake_ab - real_ab).abs().mean(); opt_g.zero_grad(); loss.backward(); "
    "opt_g.step(); return loss.item()"
)


def _g_step_mistakes(lam: float) -> list[tuple[str, dict[str, Any]]]:
    """The known G-step mistakes, in the order they are tried: (message, :func:`_g_update`
    keywords)."""
    return [
        (
            "wrong sign of the adversarial term: G minimises BCE(D(G(x)), 1) = -log D(G(x))",
            dict(adv_sign=-1.0),
        ),
        (
            "this is the saturating loss log(1 - D(G(x))): pix2pix's G uses the "
            "non-saturating BCE(D(G(x)), 1)",
            dict(adv="sat"),
        ),
        (
            "the adversarial target is wrong: G wants D to answer 'real' (1) on its fakes",
            dict(adv="fake"),
        ),
        (
            "the L1 term is missing: add lambda_rec * mean |fake_ab - real_ab|",
            dict(rec="none"),
        ),
        (_NO_ADV, dict(adv="none")),
        ("the L1 term is not weighted: multiply it by lambda_rec", dict(rec_weight=1.0)),
        (
            "you weighted the adversarial term instead of the L1 term: lambda_rec "
            "multiplies "
            "the L1 distance",
            dict(rec_weight=1.0, adv_weight=lam),
        ),
        (
            f"lambda_rec is hard-coded: use the argument (here {lam:g})",
            dict(rec_weight=100.0 if lam != 100.0 else 10.0),
        ),
        (
            "this is an L2 (squared) distance: pix2pix uses L1, mean |fake_ab - real_ab|",
            dict(rec="l2"),
        ),
        ("the fake was detached in the L1 term", dict(detach_rec=True)),
        (
            "the stale gradients were not cleared: call opt_g.zero_grad() before loss.backward()",
            dict(zero_grad=False),
        ),
    ]


def _known_g_mistake(
    got_params: list[Tensor],
    G0: nn.Module,
    D0: nn.Module,
    L: Tensor,
    real_ab: Tensor,
    lr: float,
    seed: int,
    lam: float,
    ret: Any,
    ref_loss: Any,
) -> str | None:
    """The message of the first known mistake whose update gives ``got_params`` (None if none
    does). A right loss value with no adversarial gradient means the fake was detached there."""
    known = next(
        (
            msg
            for msg, kw in _g_step_mistakes(lam)
            if _matches_update(got_params, _g_update, G0, D0, L, real_ab, lr, seed, lam, **kw)
        ),
        None,
    )
    if (
        known == _NO_ADV
        and isinstance(ret, (float, Tensor))
        and math.isclose(float(ret), float(ref_loss), rel_tol=1e-4, abs_tol=1e-6)
    ):
        known = (
            "the fake was detached in the adversarial term (the loss value is "
            "right, but no gradient reaches G through D): in the G step do not "
            "detach fake_ab"
        )
    return known


@_isolated
def check_g_step(g_step: Callable[..., float]) -> None:
    """Check ``g_step(D, opt_g, L, real_ab, fake_ab, lambda_rec=100.0) -> float``.

    The G update of pix2pix: non-saturating BCE on ``D(L, fake_ab)`` plus ``lambda_rec`` times
    the L1 distance to the real ab, compared with :func:`colorlab.train.g_step`; D must not change.
    """
    cases = [(1, 2, 8, 100.0), (2, 3, 12, 10.0)]
    lr = 0.01
    chk = _Check("g_step", _G_STEP_HINT, len(cases))
    for i, (seed, b, s, lam) in enumerate(cases, 1):
        chk.start(i, f"batch {b}, {s}x{s} px, lambda_rec={lam:g}, SGD lr={lr}")
        seed = 300 + 10 * seed
        G0, D0, L, real_ab = _step_setup(seed, b, s)
        Gs, Ds = copy.deepcopy(G0), copy.deepcopy(D0)
        opt = torch.optim.SGD(Gs.parameters(), lr=lr)
        _junk_grads(Gs, seed + 5)
        ret = chk.call(g_step, Ds, opt, L, real_ab, Gs(L), lambda_rec=lam)
        Gr, Dr = copy.deepcopy(G0), copy.deepcopy(D0)
        opt_r = torch.optim.SGD(Gr.parameters(), lr=lr)
        _junk_grads(Gr, seed + 5)
        out = reference_g_step(Dr, opt_r, Objective("vanilla", lambda_rec=lam), L, real_ab, Gr(L))
        if not _same_params(_params(Ds), _params(D0), atol=0, rtol=0):
            chk.fail("D's weights changed during the G step: only opt_g.step() may run here")
        got_params, ref_params, start = _params(Gs), _params(Gr), _params(G0)
        if _same_params(got_params, start, atol=0, rtol=0):
            chk.fail(
                "G's weights did not change: call opt_g.zero_grad(), loss.backward() and "
                "opt_g.step() (and do not detach fake_ab)"
            )
        if not _same_params(got_params, ref_params):
            known = _known_g_mistake(
                got_params, G0, D0, L, real_ab, lr, seed + 5, lam, ret, out["g_loss"]
            )
            chk.fail(
                known or "G's weights after the step differ from the reference",
                expected="the parameters of one SGD step on BCE(D(fake), 1) + lambda_rec * L1",
                got=f"parameters off by up to {_fmt(_max_param_diff(got_params, ref_params))}",
            )
        value = _scalar(chk, ret, "the returned loss")
        if not math.isclose(value, float(out["g_loss"]), rel_tol=1e-4, abs_tol=1e-6):
            chk.fail(
                "the returned loss is wrong: return the total G loss (adversarial + "
                "lambda_rec * L1) as a float",
                expected=_fmt(float(out["g_loss"])),
                got=_fmt(value),
            )
    chk.passed()
