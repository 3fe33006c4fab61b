"""One pix2pix iteration on tiny networks, shared by the GAN (exercise 4) and WGAN (exercise 5)
checks: a tiny G and D, seeded batches, stale gradients, and :func:`_d_update`, D's parameters
after one (possibly wrong) update, against which a student's step is matched.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorlab.checks._core import _gen, _params, _seeded_init


def _bce(x: Tensor, target: float) -> Tensor:
    """BCE-with-logits of ``x`` against the constant label ``target``."""
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))


def _tiny_gd(seed: int, critic_init: float | None = None) -> tuple[nn.Module, nn.Module]:
    """A tiny generator ``(B,1,S,S) -> (B,2,S,S)`` and a PatchGAN-like D
    ``(B,3,S,S) -> (B,1,S/2,S/2)``."""
    G = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(3, 6, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(6, 1, 3, padding=1)
    )
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


def _d_update(
    D0: nn.Module,
    L: Tensor,
    real_ab: Tensor,
    fake_ab: Tensor,
    lr: float,
    seed: int,
    *,
    loss: str = "vanilla",
    scale: float = 0.5,
    sign: float = 1.0,
    swap: bool = False,
    zero_grad: bool = True,
    cat_ab_first: bool = False,
    clip: float = 0.0,
    clip_first: bool = False,
) -> list[Tensor]:
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


def _step_setup(
    seed: int, b: int, s: int, critic_init: float | None = None
) -> tuple[nn.Module, nn.Module, Tensor, Tensor]:
    """The starting G and D (or critic) of a step check and its batch ``(L, real_ab)``."""
    G0, D0 = _tiny_gd(seed, critic_init)
    L, real_ab = _batch(seed + 100, b, s)
    return G0, D0, L, real_ab
