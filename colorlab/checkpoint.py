"""Checkpoints: the full training state in one file, written atomically, loaded safely.

A checkpoint is a ``dict`` saved with ``torch.save`` holding only what
``torch.load(weights_only=True)`` accepts (tensors, numbers, strings, lists, tuples, dicts), so
loading never runs pickled code:

===================  ==================================================================
``format``           :data:`FORMAT` (``"colorlab-checkpoint"``), ``version`` :data:`VERSION`
``config``           :meth:`colorlab.config.TrainConfig.to_dict` (plain JSON-able data)
``step``, ``epoch``  generator steps done, epochs started (``step_in_epoch`` steps into it)
``generator``        ``state_dict`` of G (unwrapped: no ``module.``/``_orig_mod.`` prefixes)
``discriminator``    ``state_dict`` of D, or ``None`` (L1-only runs)
``opt_g``/``opt_d``  optimiser ``state_dict`` s (or ``None``)
``sched_g``/...      scheduler ``state_dict`` s (or ``None``)
``scaler_g``/...     ``GradScaler`` ``state_dict`` s (or ``None``)
``history``          the run's history, ``dict[str, list[float]]``
``rng``              python / numpy / torch / CUDA random states, as tensors and lists
``complete``         whether the run finished
===================  ==================================================================

:func:`save_checkpoint` writes through :func:`colorlab.io.atomic_open`: a crash mid-write leaves
the previous checkpoint intact.
:func:`load_checkpoint` turns every way a file can be bad (missing, truncated, not a checkpoint,
another architecture) into a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from colorlab.config import ConfigError, TrainConfig
from colorlab.io import atomic_open
from colorlab.models import build_generator

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "ArchitectureMismatchError",
    "save_checkpoint",
    "training_state",
    "load_checkpoint",
    "load_generator",
    "SHIPPED",
    "resolve_checkpoint",
    "export_checkpoint",
    "config_of",
    "load_state",
    "architecture",
    "check_architecture",
    "capture_rng",
    "restore_rng",
    "unwrap",
]

FORMAT = "colorlab-checkpoint"
VERSION = 1

#: Config fields that define the networks' shapes: a checkpoint only fits a config that agrees.
_ARCH_FIELDS_G = ("generator", "generator_kwargs", "n_classes", "task")
_ARCH_FIELDS_D = ("discriminator", "discriminator_kwargs")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or used; the message names the file."""


class ArchitectureMismatchError(CheckpointError):
    """A checkpoint written for other networks than the ones asked for."""


# ----------------------------------------------------------------------------------- helpers


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside ``torch.compile`` and ``DistributedDataParallel`` wrappers."""
    while True:
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif isinstance(module, nn.parallel.DistributedDataParallel | nn.DataParallel):
            module = module.module
        else:
            return module


def capture_rng() -> dict[str, Any]:
    """The state of every random generator, as tensors and lists (``weights_only``-loadable)."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt), gauss],
        "numpy": [
            name,
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Restore the random generators from :func:`capture_rng` output."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def architecture(cfg: TrainConfig | dict[str, Any]) -> dict[str, Any]:
    """The config fields that fix the networks' shapes (plus the image size they were built for)."""
    # Fields a checkpoint predates count as their defaults.
    data = cfg.to_dict() if isinstance(cfg, TrainConfig) else {**TrainConfig().to_dict(), **cfg}
    keys = _ARCH_FIELDS_G + _ARCH_FIELDS_D
    return {k: data.get(k) for k in keys}


def _describe(arch: dict[str, Any], keys: tuple[str, ...]) -> str:
    return ", ".join(f"{k}={arch.get(k)!r}" for k in keys)


def check_architecture(
    saved: dict[str, Any],
    wanted: TrainConfig | dict[str, Any],
    path: str | os.PathLike,
    discriminator: bool = True,
) -> None:
    """Raise :class:`ArchitectureMismatchError` if ``saved`` (a config dict) builds other networks.

    Compares generator name/kwargs/n_classes, and with ``discriminator=True`` also the
    discriminator name/kwargs (only if both runs train one).
    """
    a, b = architecture(saved), architecture(wanted)
    groups = [("generator", _ARCH_FIELDS_G)]
    wanted_dict = wanted.to_dict() if isinstance(wanted, TrainConfig) else wanted
    both_adversarial = (
        saved.get("gan_mode", "none") != "none" and wanted_dict.get("gan_mode", "none") != "none"
    )
    if discriminator and both_adversarial:
        groups.append(("discriminator", _ARCH_FIELDS_D))
    for what, keys in groups:
        if any(a.get(k) != b.get(k) for k in keys):
            raise ArchitectureMismatchError(
                f"{path}: this checkpoint holds a {what} for another architecture.\n"
                f"  checkpoint: {_describe(a, keys)}\n"
                f"  asked for:  {_describe(b, keys)}\n"
                f"Use the preset/overrides the checkpoint was trained with, or another output "
                f"folder (or init_from) for a new architecture."
            )


def load_state(
    module: nn.Module, state: dict[str, Any], path: str | os.PathLike, what: str = "generator"
) -> None:
    """``module.load_state_dict(state)`` with a readable error for mismatched shapes/keys."""
    try:
        unwrap(module).load_state_dict(state)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = "; ".join(lines[1:4]) if len(lines) > 1 else str(exc)
        raise ArchitectureMismatchError(
            f"{path}: the {what} weights in this checkpoint do not fit the {what} that was built "
            f"({type(unwrap(module)).__name__}): it was saved for another architecture or other "
            f"settings. Details: {detail}"
        ) from exc


# ------------------------------------------------------------------------------ save / load


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (:func:`colorlab.io.atomic_open`).

    ``state`` is a checkpoint dict (see the module docstring); ``format``/``version`` are added.
    Everything must be ``weights_only``-loadable: a value that is not (e.g. a numpy array or a
    dataclass) raises ``TypeError`` before anything is replaced. Returns the path.
    """
    payload = {"format": FORMAT, "version": VERSION, **state}
    _check_plain(payload, "state")
    with atomic_open(path, "wb") as fh:
        torch.save(payload, fh)
    return Path(path)


def _state_dict(obj: Any) -> dict[str, Any] | None:
    return obj.state_dict() if obj is not None else None


def training_state(
    cfg: TrainConfig,
    G: nn.Module,
    *,
    step: int,
    steps_per_epoch: int,
    total_steps: int,
    complete: bool,
    history: dict[str, list],
    D: nn.Module | None = None,
    optimizers: tuple[Any, Any] = (None, None),
    schedulers: tuple[Any, Any] = (None, None),
    scalers: tuple[Any, Any] = (None, None),
    **extra: Any,
) -> dict[str, Any]:
    """The checkpoint dict of a run (see the module docstring), ready for :func:`save_checkpoint`.

    ``optimizers``, ``schedulers`` and ``scalers`` are ``(for G, for D)`` pairs (``None`` where
    a run has none); ``G`` and ``D`` are saved unwrapped.
    """
    return {
        "config": cfg.to_dict(),
        "step": step,
        "epoch": step // max(1, steps_per_epoch),
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "complete": complete,
        "generator": unwrap(G).state_dict(),
        "discriminator": unwrap(D).state_dict() if D is not None else None,
        "opt_g": _state_dict(optimizers[0]),
        "opt_d": _state_dict(optimizers[1]),
        "sched_g": _state_dict(schedulers[0]),
        "sched_d": _state_dict(schedulers[1]),
        "scaler_g": _state_dict(scalers[0]),
        "scaler_d": _state_dict(scalers[1]),
        "history": history,
        "rng": capture_rng(),
        **extra,
    }


_PLAIN = (torch.Tensor, str, int, float, bool, type(None), torch.Size)


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"cannot checkpoint {where} of type {type(value).__module__}.{type(value).__qualname__}: "
        f"only tensors, numbers, "
        f"strings, lists and dicts load with torch.load(weights_only=True)"
    )


def load_checkpoint(
    path: str | os.PathLike, config: TrainConfig | None = None, map_location: Any = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)`` and check it.

    Raises ``FileNotFoundError`` for a missing file, :class:`CheckpointError` (naming the file)
    for a truncated, corrupt or foreign file, and :class:`ArchitectureMismatchError` when
    ``config`` is given and builds other networks than the checkpoint's. Returns the dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure mode of a bad file
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(
                f"{path}: refusing to load: the file contains Python objects that "
                f"torch.load(weights_only=True) does not allow (not a colorlab checkpoint, or "
                f"one from an untrusted source). ({message})"
            ) from exc
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated, corrupt or not a torch file; was it "
            f"copied completely?): {type(exc).__name__}: {message}"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a colorlab checkpoint (no 'format': {FORMAT!r} entry); colorlab "
            f"writes checkpoints with colorlab.train.train"
        )
    if state.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {state.get('version')} is newer than this "
            f"colorlab ({VERSION}); update colorlab"
        )
    if not isinstance(state.get("config"), dict) or "generator" not in state:
        raise CheckpointError(f"{path}: checkpoint lacks its config or generator weights")
    if config is not None:
        check_architecture(state["config"], config, path)
    return state


#: Checkpoints shipped inside the package, loadable by name wherever a checkpoint is accepted.
SHIPPED: dict[str, Path] = {
    "teacher": Path(__file__).parent / "checkpoints" / "teacher.pt",
    "teacher_l1": Path(__file__).parent / "checkpoints" / "teacher_l1.pt",
}


def resolve_checkpoint(spec: str | os.PathLike) -> Path:
    """The checkpoint file ``spec`` names: a file, a run folder (its ``last.pt``) or the name of
    a shipped checkpoint (:data:`SHIPPED`, e.g. ``"teacher"``). ``FileNotFoundError`` otherwise."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.is_dir():
        if (path / "last.pt").is_file():
            return path / "last.pt"
        raise FileNotFoundError(f"checkpoint not found: {path} is a folder without last.pt")
    name = str(spec)
    if name in SHIPPED:
        if not SHIPPED[name].is_file():
            raise FileNotFoundError(
                f"checkpoint {name!r} is not shipped with this installation of colorlab "
                f"(expected {SHIPPED[name]}); reinstall colorlab or give a checkpoint path"
            )
        return SHIPPED[name]
    if path.suffix or len(path.parts) > 1:
        raise FileNotFoundError(f"checkpoint not found: {path}")
    raise FileNotFoundError(
        f"checkpoint not found: {path} (not a file, a run folder with last.pt, or one of the "
        f"shipped checkpoints: {', '.join(SHIPPED)})"
    )


def export_checkpoint(
    src: str | os.PathLike, dst: str | os.PathLike, *, half: bool = True, **info: Any
) -> Path:
    """Write the generator of checkpoint ``src`` alone (fp16 floats with ``half``) to ``dst``:
    what a shipped checkpoint holds. ``info`` (plain data) is stored under ``"info"``."""
    state = load_checkpoint(src)
    weights = {
        k: v.half() if half and v.is_floating_point() else v for k, v in state["generator"].items()
    }
    keep = ("config", "step", "epoch", "steps_per_epoch", "total_steps", "complete", "history")
    return save_checkpoint(
        dst,
        {
            **{k: state[k] for k in keep if k in state},
            "generator": weights,
            "discriminator": None,
            "info": info,
        },
    )


def config_of(state: dict[str, Any], path: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` stored in a loaded checkpoint (error naming ``path``)."""
    try:
        return TrainConfig.from_dict(state["config"])
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: the stored config is not valid: {exc}") from exc


def load_generator(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """Build the generator a checkpoint was trained with and load its weights.

    Returns ``(G, cfg)``: ``G`` on ``device`` in eval mode (``(B,1,S,S) in [-1,1] ->
    (B,2,S,S) in [-1,1]``, or ``(ab, class_logits)`` for a generator with a classification
    branch), ``cfg`` the run's :class:`TrainConfig` (``cfg.image_size`` is the training size).
    ImageNet weights are never fetched: the checkpoint's weights replace them anyway.
    ``G.image_size`` is set to the training size, the working size :mod:`colorlab.inference`
    uses for a bare module.
    """
    state = load_checkpoint(path)
    cfg = config_of(state, path)
    G = build_generator(cfg, pretrained=False)
    load_state(G, state["generator"], path, "generator")
    G.image_size = cfg.image_size
    G.to(device).eval()
    return G, cfg
