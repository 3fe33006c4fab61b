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
:func:`colorlab.models.geometry.receptive_field`, :class:`colorlab.losses.GANLoss`,
:func:`colorlab.train.d_step` / :func:`colorlab.train.g_step` (also with ``clip_value`` for the
WGAN critic), :func:`colorlab.losses.clip_weights`, :func:`colorlab.metrics.psnr` and
:func:`colorlab.metrics.colorfulness_hasler`, :func:`colorlab.inference.colorize`. The U-Net
blocks of exercise 2 (:class:`DownBlockReference`, :class:`UpBlockReference`,
:func:`unet_forward_reference`) and the gradient penalty with an explicit ``eps``
(:func:`gradient_penalty_reference`) are defined here.

Modules
-------
One per exercise notebook: :mod:`~colorlab.checks.lab` (01), :mod:`~colorlab.checks.unet` (02),
:mod:`~colorlab.checks.receptive_field` (03), :mod:`~colorlab.checks.gan` (04),
:mod:`~colorlab.checks.wasserstein` (05), :mod:`~colorlab.checks.metrics` (06); the shared
machinery is in :mod:`~colorlab.checks._core` and the tiny pix2pix networks of the step checks
in :mod:`~colorlab.checks._steps`. Everything public is re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from colorlab.checks._core import PASS_MARK, CheckFailed
from colorlab.checks.gan import (
    check_d_loss_lsgan,
    check_d_loss_vanilla,
    check_d_step,
    check_g_loss_lsgan,
    check_g_loss_non_saturating,
    check_g_loss_saturating,
    check_g_step,
)
from colorlab.checks.lab import check_rgb_to_lab, check_srgb_to_linear
from colorlab.checks.metrics import check_colorfulness, check_colorize_any_size, check_psnr
from colorlab.checks.receptive_field import PATCHGAN_LAYERS, check_receptive_field
from colorlab.checks.unet import (
    DownBlockReference,
    UpBlockReference,
    check_down_block,
    check_unet_forward,
    check_up_block,
    unet_forward_reference,
)
from colorlab.checks.wasserstein import (
    check_clip_weights,
    check_critic_step,
    check_gradient_penalty,
    gradient_penalty_reference,
)

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
