"""Where a run starts: a fresh start, ``init_from`` another run's weights, or ``--resume``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from colorlab.checkpoint import (
    SHIPPED,
    check_architecture,
    config_of,
    load_checkpoint,
    load_state,
    resolve_checkpoint,
)
from colorlab.config import PRESETS, ConfigError, TrainConfig

__all__ = ["RESUME_MUTABLE", "check_resume", "resolve_init_from", "init_from", "total_steps"]

#: Config fields a resumed run may change (the others must equal the checkpoint's).
RESUME_MUTABLE = frozenset(
    {
        "epochs",
        "max_steps",
        "device",
        "num_workers",
        "checkpoint_every",
        "log_every",
        "compile",
        "data_dir",
        "description",
        "name",
        "amp",
        "optimized",
        "channels_last",
        "init_from",
        "pretrained",
    }
)


def check_resume(saved: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    """Refuse to resume ``path`` with a config that changes more than :data:`RESUME_MUTABLE`."""
    now = cfg.to_dict()
    saved = {**TrainConfig().to_dict(), **saved}  # a field the checkpoint predates: its default
    diff = [k for k in now if k not in RESUME_MUTABLE and saved.get(k) != now[k]]
    if diff:
        details = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {now[k]!r}" for k in diff)
        raise ConfigError(
            f"{path}: cannot resume with a different configuration ({details}). Resume with the "
            f"checkpoint's settings (its config.json), or start a new run in another folder."
        )


def resolve_init_from(init_from: str, out_dir: Path | None) -> Path:
    """The checkpoint ``init_from`` names: a file, a run folder, a shipped checkpoint
    (``"teacher"``) or a preset's sibling run.

    A preset name ``P`` is looked for in ``out_dir/../P/last.pt`` and ``runs/P/last.pt``.
    """
    path = Path(init_from)
    if path.is_file():
        return path
    if path.is_dir() and (path / "last.pt").is_file():
        return path / "last.pt"
    if init_from in SHIPPED:
        return resolve_checkpoint(init_from)
    if init_from not in PRESETS:
        raise FileNotFoundError(
            f"init_from={init_from!r}: no such checkpoint file, run folder with last.pt, or preset"
        )
    candidates = [Path(out_dir).parent / init_from / "last.pt"] if out_dir is not None else []
    candidates.append(Path("runs") / init_from / "last.pt")
    for c in candidates:
        if c.is_file():
            return c
    where = " or ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"init_from={init_from!r} starts from the run of preset {init_from!r}, but no "
        f"checkpoint was found at {where}. Train it first (colorlab train --preset "
        f"{init_from} --out {candidates[0].parent}), or set init_from to a checkpoint path "
        f"(or init_from=none to start from scratch)."
    )


def init_from(cfg: TrainConfig, G: nn.Module, D: nn.Module | None, out_dir: Path | None) -> str:
    """Load ``cfg.init_from``'s generator (and its discriminator, if it is the same kind) into
    ``G`` and ``D``; returns what was loaded, for the log."""
    path = resolve_init_from(cfg.init_from, out_dir)
    state = load_checkpoint(path)
    check_architecture(state["config"], cfg, path, discriminator=False)
    load_state(G, state["generator"], path, "generator")
    loaded = "generator"
    src = config_of(state, path)
    if (
        D is not None
        and state.get("discriminator") is not None
        and src.uses_discriminator
        and (src.discriminator, src.discriminator_kwargs, src.adversarial.critic_norm)
        == (cfg.discriminator, cfg.discriminator_kwargs, cfg.adversarial.critic_norm)
    ):
        load_state(D, state["discriminator"], path, "discriminator")
        loaded += " and discriminator"
    return f"{loaded} from {path}"


def total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """Generator steps of the run: the smaller of ``epochs`` and ``max_steps``."""
    limits = []
    if cfg.epochs is not None:
        limits.append(cfg.epochs * steps_per_epoch)
    if cfg.max_steps is not None:
        limits.append(cfg.max_steps)
    return min(limits)
