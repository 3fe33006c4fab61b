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


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a notebook or test reruns identically."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_notebook(seed: int = 0) -> tuple[str, torch.device]:
    """The fixed first cell of every notebook: seeds, modest figure defaults, one status line.

    Returns ``(profile, device)`` so the notebook can size its work with the one switch.
    """
    import matplotlib as mpl

    seed_everything(seed)
    mpl.rcParams.update({"figure.figsize": (8, 3), "figure.dpi": 80, "savefig.dpi": 80,
                         "image.interpolation": "nearest", "axes.grid": False})
    prof, device = profile(), default_device()
    from colorlab import __version__

    print(f"colorlab {__version__} | profile: {prof} | device: {device} | seed: {seed}")
    return prof, device
