"""The one switch between the CPU-sized course and the full settings of the source material.

Every notebook, preset and benchmark asks :func:`profile` which scale to run at:

* ``"quick"``: small images and few steps, sized for a 2-core laptop CPU (the default without CUDA).
* ``"full"``: the settings of the source material (256x256, batch 16, tens of epochs), for a GPU.

Set the environment variable ``COLORLAB_PROFILE`` to ``quick`` or ``full`` to override the
automatic choice (``auto``, the default, picks ``full`` when CUDA is available).
"""

from __future__ import annotations

import os

import torch

PROFILES = ("quick", "full")
ENV_VAR = "COLORLAB_PROFILE"


def profile() -> str:
    """Return ``"quick"`` or ``"full"``: ``$COLORLAB_PROFILE`` if set, else ``full`` on CUDA."""
    value = os.environ.get(ENV_VAR, "auto").strip().lower()
    if value == "auto":
        return "full" if torch.cuda.is_available() else "quick"
    if value not in PROFILES:
        raise ValueError(f"{ENV_VAR}={value!r} is not one of {PROFILES + ('auto',)}")
    return value


def default_device() -> torch.device:
    """The device training and inference use by default: CUDA if available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
