"""Optimisers and learning-rate schedules by name (``TrainConfig.optimizer`` / ``.scheduler``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from colorlab.errors import ConfigError

if TYPE_CHECKING:
    from colorlab.config import TrainConfig

__all__ = ["OPTIMIZERS", "SCHEDULERS", "build_optimizer", "build_scheduler"]


def _adam(params: Iterable[nn.Parameter], lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def _sgd(params: Iterable[nn.Parameter], lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _rmsprop(params: Iterable[nn.Parameter], lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, weight_decay=cfg.weight_decay)


#: Optimisers by ``TrainConfig.optimizer``: ``builder(params, lr, cfg)``.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": _adam,
    "sgd": _sgd,
    "rmsprop": _rmsprop,
}


def _cosine(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int) -> Any:
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(1, total_steps), eta_min=cfg.eta_min
    )


#: Learning-rate schedules by ``TrainConfig.scheduler`` (stepped once per generator step):
#: ``builder(optimizer, cfg, total_steps)``; ``None`` = constant.
SCHEDULERS: dict[str | None, Callable[..., Any] | None] = {
    None: None,
    "cosine": _cosine,
}


def build_optimizer(
    params: Iterable[nn.Parameter], lr: float, cfg: TrainConfig
) -> torch.optim.Optimizer:
    """``OPTIMIZERS[cfg.optimizer](params, lr, cfg)``."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[cfg.optimizer](params, lr, cfg)


def build_scheduler(opt: torch.optim.Optimizer | None, cfg: TrainConfig, total_steps: int) -> Any:
    """The per-step learning-rate schedule of ``cfg`` for ``opt``, or ``None``."""
    if cfg.scheduler not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler {cfg.scheduler!r}; valid: {list(SCHEDULERS)}")
    builder = SCHEDULERS[cfg.scheduler]
    return None if builder is None or opt is None else builder(opt, cfg, total_steps)
