"""How a run uses its machine: the profile switch, the device, precision, seeding, progress.

Every notebook, preset and benchmark asks :func:`profile` which scale to run at:

* ``"quick"``: small images and few steps, sized for a 2-core laptop CPU (the default without CUDA).
* ``"full"``: the settings of the source material (256x256, batch 16, tens of epochs), for a GPU.

Set the environment variable ``COLORLAB_PROFILE`` to ``quick`` or ``full`` to override the
automatic choice (``auto``, the default, picks ``full`` when CUDA is available).
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm
from tqdm.auto import tqdm as notebook_tqdm

from colorlab import __version__, tasks
from colorlab.errors import ConfigError

if TYPE_CHECKING:
    from colorlab.config import TrainConfig

__all__ = [
    "PROFILES",
    "ENV_VAR",
    "profile",
    "default_device",
    "seed_everything",
    "setup_notebook",
    "Precision",
    "Runtime",
    "resolve_runtime",
    "env_int",
    "want_progress",
    "progress_bar",
]

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
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_notebook(seed: int = 0) -> tuple[str, torch.device]:
    """The fixed first cell of every notebook: seeds, modest figure defaults, one status line.

    Returns ``(profile, device)`` so the notebook can size its work with the one switch.
    """
    seed_everything(seed)
    mpl.rcParams.update(
        {
            "figure.figsize": (8, 3),
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "image.interpolation": "nearest",
            "axes.grid": False,
        }
    )
    prof, device = profile(), default_device()
    print(f"colorlab {__version__} | profile: {prof} | device: {device} | seed: {seed}")
    return prof, device


# ------------------------------------------------------------------------------ precision


@dataclass
class Precision:
    """Mixed precision for one network: an autocast context and a loss-scaled optimiser step.

    ``dtype=None`` is plain fp32 (the default for notebooks: ``Precision()``). With
    ``torch.float16`` pass a ``GradScaler``; bf16 needs none.
    """

    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def fp32(self) -> contextlib.AbstractContextManager:
        """A region computed in fp32 even inside :meth:`autocast` (the gradient penalty)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, enabled=False)

    def step(self, loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``loss.backward(); optimizer.step()`` through the grad scaler when there is one."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            optimizer.step()


# -------------------------------------------------------------------------------- runtime


@dataclass
class Runtime:
    """How a run uses its machine (resolved from the config and the environment)."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    grad_scaler: bool = False
    channels_last: bool = False
    batched_lab: bool = False
    num_workers: int = 0
    pin_memory: bool = False
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and shows progress (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def precision(self) -> Precision:
        """A fresh :class:`Precision` (with its own grad scaler when fp16 needs one)."""
        scaler = torch.amp.GradScaler(self.device.type) if self.grad_scaler else None
        return Precision(self.device.type, self.amp_dtype, scaler)

    def describe(self) -> str:
        amp = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]
        parts = [str(self.device), amp]
        if self.channels_last:
            parts.append("channels_last")
        parts.append("batched Lab" if self.batched_lab else "per-image Lab")
        if self.distributed:
            parts.append(f"rank {self.rank}/{self.world_size}")
        return ", ".join(parts)


def env_int(name: str, default: int) -> int:
    """An integer environment variable (torchrun's ``RANK``, ``WORLD_SIZE``...), or ``default``."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(cfg.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={cfg.device!r} but CUDA is not available; use device=auto")
    return device


def resolve_runtime(cfg: TrainConfig) -> Runtime:
    """Pick the device and the speed features for ``cfg`` (reads torchrun's env variables)."""
    world, rank, local_rank = env_int("WORLD_SIZE", 1), env_int("RANK", 0), env_int("LOCAL_RANK", 0)
    device = _device(cfg, local_rank)
    cuda = device.type == "cuda"
    amp_dtype = None
    if cuda and cfg.optimized and cfg.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    workers = cfg.num_workers
    if workers is None:
        workers = min(8, max(1, (os.cpu_count() or 2) // max(1, world) - 1)) if cuda else 0
    return Runtime(
        device=device,
        amp_dtype=amp_dtype,
        grad_scaler=amp_dtype is torch.float16,
        channels_last=cuda and cfg.optimized and cfg.channels_last,
        batched_lab=cfg.optimized and isinstance(tasks.get_task(cfg.task), tasks.Colorization),
        num_workers=workers,
        pin_memory=cuda,
        rank=rank,
        world_size=world,
        local_rank=local_rank,
    )


# ------------------------------------------------------------------------------- progress


def want_progress(progress: bool | None) -> tuple[bool, bool]:
    """``(show, notebook)``: on in a notebook kernel or when stderr is a terminal."""
    notebook = False
    if "IPython" in sys.modules:
        try:
            ip = sys.modules["IPython"].get_ipython()
            notebook = ip is not None and "IPKernelApp" in getattr(ip, "config", {})
        except Exception:  # noqa: BLE001
            notebook = False
    if progress is not None:
        return bool(progress), notebook
    return notebook or bool(getattr(sys.stderr, "isatty", lambda: False)()), notebook


def progress_bar(total: int, initial: int, show: bool, notebook: bool, desc: str) -> Any:
    """A tqdm bar (the notebook widget in a kernel), or ``None`` when ``show`` is false."""
    if not show:
        return None
    bar = notebook_tqdm if notebook else tqdm
    return bar(total=total, initial=initial, desc=desc, dynamic_ncols=True, leave=True)
