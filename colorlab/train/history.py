"""What a run records: the history returned to the caller, the events fired to callbacks, and
``log.jsonl`` beside the checkpoint."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from colorlab.config import TrainConfig
from colorlab.runtime import Runtime
from colorlab.train.steps import generate, prepare_batch

__all__ = ["TrainingDiverged", "TrainState", "record", "fire", "RunLog", "LOSS_KEYS"]

#: The per-step losses in the order they are logged (those a run has).
LOSS_KEYS = ("d_real", "d_fake", "d_loss", "gp", "g_adv", "g_rec", "g_class", "g_loss")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; ``loss``, ``step`` and ``value`` say which, when, what."""

    def __init__(self, loss: str, step: int, value: float) -> None:
        self.loss, self.step, self.value = loss, step, value
        super().__init__(
            f"training diverged: loss {loss!r} became {value} at step {step}. The last "
            f"checkpoint (if any) holds the state before it; lower the learning rates "
            f"(lr_g/lr_d) or the loss weights, or set amp=false, and train again"
        )


def record(
    history: dict[str, list],
    parts: dict[str, Tensor | float],
    step: int,
    epoch: int,
    lrs: dict[str, float],
) -> dict[str, float]:
    """Append one step's losses (and learning rates) to ``history``; returns them as floats.

    Raises :class:`TrainingDiverged` for a non-finite loss. One device sync per step.
    """
    keys = [k for k in LOSS_KEYS if k in parts]
    values = torch.stack([torch.as_tensor(parts[k]).float() for k in keys]).tolist()
    row = dict(zip(keys, values))
    for key, value in row.items():
        if not math.isfinite(value):
            raise TrainingDiverged(key, step, value)
    row.update({k: float(v) for k, v in lrs.items()})
    history.setdefault("step", []).append(step)
    history.setdefault("epoch", []).append(epoch)
    for key, value in row.items():
        history.setdefault(key, []).append(value)
    return row


def fire(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    """Call ``hook(*args)`` on every callback that has it."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


@dataclass
class TrainState:
    """What callbacks see: the run's objects and the latest batch.

    Attributes:
        cfg, step (generator steps done), epoch, total_steps, steps_per_epoch, out_dir,
        G, D (unwrapped modules), opt_g, opt_d, runtime, history.
        batch: the latest training batch ``(L, fake_ab, real_ab)``, detached, on the device.
    Methods: :meth:`sample` (a fixed validation batch through G in eval mode) and :meth:`stop`.
    """

    cfg: TrainConfig
    runtime: Runtime
    G: nn.Module
    D: nn.Module | None
    opt_g: Any
    opt_d: Any
    history: dict[str, list]
    total_steps: int
    steps_per_epoch: int
    out_dir: Path | None
    val_loader: DataLoader | None = None
    step: int = 0
    epoch: int = 0
    batch: tuple[Tensor, Tensor, Tensor] | None = None
    should_stop: bool = False
    _sample_batch: tuple[Tensor, Tensor] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Ask the loop to stop after this step (a checkpoint is written)."""
        self.should_stop = True

    @torch.no_grad()
    def sample(self, n: int = 8) -> tuple[Tensor, Tensor, Tensor]:
        """``(L, fake_ab, real_ab)`` on the CPU for the first ``n`` validation images, with G
        in eval mode (restored after): the same images every call, for a live monitor."""
        if self._sample_batch is None:
            if self.val_loader is None:
                raise RuntimeError("no validation loader to draw a sample from")
            L, ab, _ = prepare_batch(next(iter(self.val_loader)), self.runtime)
            self._sample_batch = (L[:n], ab[:n])
        L, ab = self._sample_batch
        was_training = self.G.training
        self.G.eval()
        try:
            fake, _ = generate(self.G, L)
        finally:
            self.G.train(was_training)
        return L[:n].float().cpu(), fake[:n].float().cpu(), ab[:n].float().cpu()


class RunLog:
    """``log.jsonl``: one JSON object per line (events, logged steps, validations).

    ``RunLog(None)`` writes nothing (no output folder, or not rank 0).
    """

    def __init__(self, path: Path | None, append: bool = False) -> None:
        self._fh: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a" if append else "w")  # noqa: SIM115 - closed in close()

    def write(self, **entry: Any) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(entry) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
