"""The building blocks of a training step, small enough for a notebook to call on its own nets.

``d_step`` and ``g_step`` are one discriminator and one generator update; the trainer
(:mod:`colorlab.train.trainer`) alternates them. The loss itself is the run's
:class:`colorlab.losses.Objective`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from colorlab.checkpoint import unwrap
from colorlab.color import AB_SCALE, rgb_to_L_ab
from colorlab.losses import Objective, frozen
from colorlab.runtime import Precision, Runtime

__all__ = ["prepare_batch", "generate", "d_step", "g_step", "validate", "frozen"]


def prepare_batch(batch: Sequence[Tensor], rt: Runtime) -> tuple[Tensor, Tensor, Tensor | None]:
    """A loader batch -> ``(L, ab, labels or None)`` on the run's device.

    Batched-Lab batches ``(rgb, label)`` are converted here on the device; plain ones are
    ``(L, ab)`` or ``(L, ab, label)``. Labels of ``-1`` mean "unlabelled".
    """
    nb = rt.pin_memory
    if rt.batched_lab:
        rgb, labels = batch[0], batch[1]
        L, ab = rgb_to_L_ab(rgb.to(rt.device, non_blocking=nb))
    else:
        L = batch[0].to(rt.device, non_blocking=nb)
        ab = batch[1].to(rt.device, non_blocking=nb)
        labels = batch[2] if len(batch) > 2 else None
    if labels is not None:
        labels = torch.as_tensor(labels).to(rt.device, non_blocking=nb)
        if bool((labels < 0).all()):
            labels = None
    if rt.channels_last:
        L = L.contiguous(memory_format=torch.channels_last)
        ab = ab.contiguous(memory_format=torch.channels_last)
    return L, ab, labels


def generate(G: nn.Module, L: Tensor) -> tuple[Tensor, Tensor | None]:
    """Run the generator: ``L (B,1,S,S) -> (fake_ab (B,2,S,S), class_logits (B,C) or None)``."""
    out = G(L)
    if isinstance(out, (tuple, list)):
        return out[0], out[1]
    return out, None


def d_step(
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    objective: Objective,
    L: Tensor,
    real_ab: Tensor,
    fake_ab: Tensor,
    precision: Precision | None = None,
) -> dict[str, Tensor]:
    """One discriminator (critic) update on a batch; returns detached scalar losses.

    ``D`` scores L ``(B,1,S,S)`` and ab ``(B,2,S,S)`` concatenated (all in [-1,1]). The
    objective detaches ``fake_ab``, so this step puts no gradient into the generator; after the
    update the critic's weights are clipped if the mode asks for it (WGAN). Returns
    ``{"d_real", "d_fake", "d_loss"}`` (+ ``"gp"``).
    """
    precision = precision or Precision(L.device.type)
    loss, parts = objective.d_loss(D, L, real_ab, fake_ab, precision)
    opt_d.zero_grad(set_to_none=True)
    precision.step(loss, opt_d)
    objective.after_d_step(unwrap(D))
    return parts


def g_step(
    D: nn.Module | None,
    opt_g: torch.optim.Optimizer,
    objective: Objective,
    L: Tensor,
    real_ab: Tensor,
    fake_ab: Tensor,
    class_logits: Tensor | None = None,
    labels: Tensor | None = None,
    precision: Precision | None = None,
) -> dict[str, Tensor]:
    """One generator update; ``fake_ab = G(L)`` must still carry its graph.

    D's parameters are frozen during the step (pass the *unwrapped* D under
    DistributedDataParallel; ``None`` = reconstruction only). Returns the detached, unweighted
    ``{"g_rec"}`` (+ ``"g_adv"``, ``"g_class"``) and the weighted total ``"g_loss"``.
    """
    precision = precision or Precision(L.device.type)
    loss, parts = objective.g_loss(D, L, real_ab, fake_ab, class_logits, labels, precision)
    opt_g.zero_grad(set_to_none=True)
    precision.step(loss, opt_g)
    return parts


@torch.no_grad()
def validate(
    G: nn.Module,
    loader: DataLoader,
    rt: Runtime,
    precision: Precision | None = None,
    scale: float = AB_SCALE,
) -> float:
    """Mean absolute ab error of ``G`` (eval mode, restored after) over ``loader``, Lab units
    (NaN for an empty loader). Other tasks: the mean absolute target error times ``scale``
    (the task's ``val_scale``)."""
    was_training = G.training
    G.eval()
    total, count = 0.0, 0
    try:
        for batch in loader:
            L, ab, _ = prepare_batch(batch, rt)
            with precision.autocast() if precision else contextlib.nullcontext():
                fake, _ = generate(G, L)
            total += float((fake.float() - ab.float()).abs().sum()) * scale
            count += ab.numel()
    finally:
        G.train(was_training)
    return total / count if count else float("nan")
