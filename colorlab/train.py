"""One trainer for every recipe of the source material: pix2pix and its variants, CPU and GPU.

:func:`train` runs a :class:`colorlab.config.TrainConfig` and returns its history. The pix2pix
loop alternates one discriminator step and one generator step per batch (``n_critic`` critic
steps, each on its own batch, for the Wasserstein modes)::

    fake_ab = G(L)                                  # dropout is the noise source (pix2pix)
    d_step: D learns real (L, ab) vs fake (L, fake_ab.detach())   # detach: D's loss trains D only
    g_step: G minimises lambda_adv L_adv(D(L, fake_ab)) + lambda_rec |fake_ab - ab|
                                                     + lambda_class CE(class_logits, label)

:func:`d_step` and :func:`g_step` are small functions a notebook can call on its own networks.

The loop also handles what a real run needs:

* **Device and speed**: ``device="auto"`` picks CUDA when present. The optimized path
  (``cfg.optimized``) converts whole RGB batches to Lab on the device
  (:func:`colorlab.color.rgb_to_L_ab`) instead of per image in the data workers and, on CUDA,
  adds mixed precision (bf16 where supported, else fp16 with a ``GradScaler``), channels_last,
  ``cudnn.benchmark`` and pinned-memory workers; ``cfg.compile`` wraps the networks in
  ``torch.compile``. ``optimized=False`` is the plain path (fp32, default memory format,
  per-image Lab conversion) the benchmarks compare against.
* **Several GPUs**: under ``torchrun --nproc_per_node=N -m colorlab.train ...`` each process
  trains on its share of every epoch (``DistributedSampler``) with both networks wrapped in
  ``DistributedDataParallel`` (NCCL on CUDA, gloo on CPU); only rank 0 writes files.
* **Checkpoints**: ``out_dir/last.pt`` (full state, atomic; see :mod:`colorlab.checkpoint`) at
  every epoch end, every ``checkpoint_every`` steps and at the end, plus ``config.json`` and
  ``log.jsonl``. ``resume=True`` continues from ``last.pt`` to the same result as an
  uninterrupted run (exactly on CPU with ``num_workers=0``).
* **Divergence**: a NaN or infinite loss stops the run with :class:`TrainingDiverged`, naming the
  loss and the step (the last good checkpoint stays).
* **Progress**: a tqdm bar with the live losses when attached to a terminal or a notebook, and
  nothing when not (``progress=True/False`` forces it).

The history holds one value per generator step for ``step``, ``epoch``, ``lr_g``, ``g_rec``
(the unweighted reconstruction loss), ``g_loss`` (the weighted total), and where used ``d_real``,
``d_fake``, ``d_loss``, ``lr_d``, ``g_adv`` (unweighted), ``g_class`` (unweighted), ``gp``;
and one value per validation (each epoch end and the end of the run) for ``val_step``,
``val_epoch`` and ``val_ab_l1`` (mean absolute ab error on the validation split, Lab units).

**Other paired tasks** (``cfg.task``, :mod:`colorlab.tasks`): the same loop trains pix2pix on
edges -> photo or inpainting pairs made from the same photos. The datasets then yield
``(input, target)`` pairs (``TaskDataset``), the generator gets the task's channel counts, the
discriminator ``in_channels + out_channels``, and the validation error is recorded under the
task's ``val_key`` (``val_l1``: mean absolute RGB error in 0-255 units). In the loop below
``L``/``ab`` then stand for input/target.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from colorlab import losses, models, tasks
from colorlab.checkpoint import (
    capture_rng,
    check_architecture,
    config_of,
    load_checkpoint,
    load_state,
    restore_rng,
    save_checkpoint,
    unwrap,
)
from colorlab.color import AB_SCALE, rgb_to_L_ab
from colorlab.config import PRESETS, ConfigError, TrainConfig, apply_overrides, get_preset
from colorlab.runtime import seed_everything

__all__ = [
    "train",
    "d_step",
    "g_step",
    "generate",
    "prepare_batch",
    "validate",
    "frozen",
    "build_generator",
    "build_discriminator",
    "build_optimizer",
    "build_scheduler",
    "make_datasets",
    "make_loaders",
    "resolve_runtime",
    "Runtime",
    "Precision",
    "TrainState",
    "TrainingDiverged",
    "GENERATORS",
    "DISCRIMINATORS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "TRAINERS",
    "RUN_KWARGS_G",
    "RUN_KWARGS_D",
    "OWN_INIT",
    "RESUME_MUTABLE",
    "Loaders",
    "ResumableSampler",
    "resolve_init_from",
    "seed_everything",
    "main",
]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; ``loss``, ``step`` and ``value`` say which, when, what."""

    def __init__(self, loss: str, step: int, value: float) -> None:
        self.loss, self.step, self.value = loss, step, value
        super().__init__(
            f"training diverged: loss {loss!r} became {value} at step {step}. The last "
            f"checkpoint (if any) holds the state before it; lower the learning rates "
            f"(lr_g/lr_d) or the loss weights, or set amp=false, and train again"
        )


# =============================================================================== registries


def _resnet18_kwargs(cfg: TrainConfig, pretrained: bool) -> dict[str, Any]:
    return {"size": cfg.image_size, "pretrained": pretrained}


def _classifier_kwargs(cfg: TrainConfig, pretrained: bool) -> dict[str, Any]:
    return {"n_classes": cfg.n_classes, "image_size": cfg.image_size}


#: Generators by ``TrainConfig.generator``: :data:`colorlab.models.GENERATORS` (the same dict),
#: each called with ``cfg.generator_kwargs`` plus what the run fixes (:data:`RUN_KWARGS_G`).
#: They map ``(B,1,S,S)`` L in [-1,1] to ``(B,2,S,S)`` ab in [-1,1] (or ``(ab, class_logits)``).
GENERATORS: dict[str, Callable[..., nn.Module]] = models.GENERATORS

#: Arguments the run supplies to a generator: ``name -> fn(cfg, pretrained) -> kwargs``.
RUN_KWARGS_G: dict[str, Callable[[TrainConfig, bool], dict[str, Any]]] = {
    "resnet18": _resnet18_kwargs,
    "unet_classifier": _classifier_kwargs,
}

#: Names of a generator's channel arguments, where they are not ``in_channels``/``out_channels``.
#: The run passes the task's channel counts for every task but colorization (whose 1 -> 2 are the
#: generators' defaults).
CHANNEL_KWARGS: dict[str, tuple[str, str]] = {"resnet18": ("n_in", "n_out")}

#: Generators that keep their own initialisation (fastai's, or ImageNet weights); every other
#: network gets pix2pix's N(0, 0.02) initialisation (:func:`colorlab.models.init_weights`).
OWN_INIT: frozenset[str] = frozenset({"resnet18"})

#: Discriminators by ``TrainConfig.discriminator``: :data:`colorlab.models.DISCRIMINATORS`
#: (the same dict), fed ``(B,3,S,S)`` = L and ab concatenated, returning raw scores
#: ``(B,1,h,w)`` (PatchGAN) or ``(B,1)`` (linear heads).
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = models.DISCRIMINATORS


def _d_channels(cfg: TrainConfig) -> int:
    """Channels D sees: the task's input and output concatenated (L + ab = 3 for colorization)."""
    return tasks.get_task(cfg.task).d_channels


def _linear_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    return {"in_channels": _d_channels(cfg), "image_size": cfg.image_size}


#: Arguments the run supplies to a discriminator: ``name -> fn(cfg) -> kwargs``.
RUN_KWARGS_D: dict[str, Callable[[TrainConfig], dict[str, Any]]] = {
    "patchgan": lambda cfg: {"in_channels": _d_channels(cfg)},
    "critic": lambda cfg: {"in_channels": _d_channels(cfg)},
    "pixelgan": lambda cfg: {"in_channels": _d_channels(cfg)},
    "linear_simple": _linear_kwargs,
    "linear_normal": _linear_kwargs,
}


def _critic_without_norm(cfg: TrainConfig, kwargs: dict[str, Any]) -> nn.Module:
    """A discriminator of ``cfg`` with every BatchNorm removed (the WGAN-GP critic)."""
    name = cfg.discriminator
    if name in ("patchgan", "critic", "pixelgan"):
        return DISCRIMINATORS[name](**{**kwargs, "norm": False})
    if name.startswith("linear_"):
        table = models.LINEAR_PRESETS[name.removeprefix("linear_")]
        table = dataclasses.replace(table, norms=(False,) * len(table.norms))
        return models.LinearDiscriminator.from_config(
            table, kwargs.get("in_channels"), kwargs.get("image_size"))
    raise ConfigError(
        f"gan_mode={cfg.gan_mode!r} needs a critic without BatchNorm, and colorlab does not know "
        f"how to remove it from discriminator {name!r}; use discriminator='critic'"
    )


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


def _cosine(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(1, total_steps), eta_min=cfg.eta_min
    )


#: Learning-rate schedules by ``TrainConfig.scheduler`` (stepped once per generator step):
#: ``builder(optimizer, cfg, total_steps)``; ``None`` = constant.
SCHEDULERS: dict[str | None, Callable[..., Any] | None] = {
    None: None,
    "cosine": _cosine,
}


def build_generator(cfg: TrainConfig, pretrained: bool | None = None) -> nn.Module:
    """The generator of ``cfg`` (on the CPU, train mode, freshly initialised).

    ``GENERATORS[cfg.generator](**cfg.generator_kwargs, **run kwargs)``, then pix2pix's
    N(0, 0.02) initialisation unless the network keeps its own (:data:`OWN_INIT`).
    ``pretrained`` overrides ``cfg.pretrained`` (``load_generator`` and ``init_from`` pass
    ``False``: their weights replace ImageNet's anyway).
    """
    if cfg.generator not in GENERATORS:
        raise ConfigError(f"unknown generator {cfg.generator!r}; valid: {', '.join(GENERATORS)}")
    use_pretrained = bool(cfg.pretrained if pretrained is None else pretrained)
    if use_pretrained and cfg.generator not in OWN_INIT:
        raise ConfigError(f"pretrained=True: generator {cfg.generator!r} has no pretrained "
                          f"weights (only 'resnet18' has)")
    extra = RUN_KWARGS_G.get(cfg.generator, lambda c, p: {})(cfg, use_pretrained)
    task = tasks.get_task(cfg.task)
    if not isinstance(task, tasks.Colorization):
        n_in, n_out = CHANNEL_KWARGS.get(cfg.generator, ("in_channels", "out_channels"))
        extra = {**extra, n_in: task.in_channels, n_out: task.out_channels}
    try:
        G = GENERATORS[cfg.generator](**{**cfg.generator_kwargs, **extra})
    except TypeError as exc:
        raise ConfigError(f"generator {cfg.generator!r}: bad generator_kwargs "
                          f"{cfg.generator_kwargs}: {exc}") from exc
    return G if cfg.generator in OWN_INIT else models.init_weights(G)


def build_discriminator(cfg: TrainConfig) -> nn.Module | None:
    """The discriminator (critic) of ``cfg``, or ``None`` when ``gan_mode="none"``.

    For WGAN-GP (``cfg.adversarial.critic_norm`` false) every BatchNorm is left out.
    """
    if not cfg.uses_discriminator:
        return None
    if cfg.discriminator not in DISCRIMINATORS:
        raise ConfigError(
            f"unknown discriminator {cfg.discriminator!r}; valid: {', '.join(DISCRIMINATORS)}"
        )
    kwargs = {**RUN_KWARGS_D.get(cfg.discriminator, lambda c: {})(cfg), **cfg.discriminator_kwargs}
    try:
        if cfg.adversarial.critic_norm:
            D = DISCRIMINATORS[cfg.discriminator](**kwargs)
        else:
            D = _critic_without_norm(cfg, kwargs)
    except TypeError as exc:
        raise ConfigError(f"discriminator {cfg.discriminator!r}: bad discriminator_kwargs "
                          f"{cfg.discriminator_kwargs}: {exc}") from exc
    return models.init_weights(D)


def build_optimizer(params: Iterable[nn.Parameter], lr: float,
                    cfg: TrainConfig) -> torch.optim.Optimizer:
    """``OPTIMIZERS[cfg.optimizer](params, lr, cfg)``."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[cfg.optimizer](params, lr, cfg)


def build_scheduler(opt: torch.optim.Optimizer | None, cfg: TrainConfig, total_steps: int):
    """The per-step learning-rate schedule of ``cfg`` for ``opt``, or ``None``."""
    if cfg.scheduler not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler {cfg.scheduler!r}; valid: {list(SCHEDULERS)}")
    builder = SCHEDULERS[cfg.scheduler]
    return None if builder is None or opt is None else builder(opt, cfg, total_steps)


# ===================================================================================== data


def _sample_labels(n: int, size: int, seed: int, part: str) -> list[int]:
    """Class labels of sample-set crops: the index of the source photo each crop was cut from."""
    from colorlab import data

    names = [p.name for p in data.SOURCE_PHOTOS]
    return [names.index(name) for name, _, _ in data._sample_crops(n, size, seed, part)]


def make_datasets(cfg: TrainConfig, rgb: bool = False) -> tuple[Dataset, Dataset, Dataset]:
    """``(train, val, test)`` :class:`colorlab.data.LabDataset` s for ``cfg``.

    Items are ``(L, ab)`` (``(L, ab, label)`` for class-labelled sets when ``cfg.n_classes``),
    or ``(rgb, label_or_-1)`` with ``rgb=True`` (the trainer's batched-Lab path). Only the
    training set augments (random crop/resize, flip).

    * ``sample``: ``n_images`` (default 256) crops of the embedded sample set, split by
      ``cfg.split`` into disjoint bands of the source photos (a true held-out set); with
      ``n_classes`` the label is the source photo.
    * ``folder`` / ``class_folder``: every usable image under ``data_dir`` (bad files skipped
      with a warning, grayscale dropped), capped at ``n_images``, split by ``cfg.split``.
    * ``coco_sample``: seed 002's 8,000 / 2,000 COCO images (the 2,000 are val and test).
    * ``cifar10``: torchvision's 50,000 training images split into train/val by ``cfg.split``'s
      proportions, and the 10,000 test images.

    For a task other than colorization (``cfg.task``) every set is a
    :class:`colorlab.tasks.TaskDataset` of ``(input, target)`` (``+ label``) items, whatever
    ``rgb`` says; the training set places inpainting holes at random.
    """
    task = tasks.get_task(cfg.task)
    if isinstance(task, tasks.Colorization):
        return _DATASETS[cfg.dataset](cfg, rgb)
    sets = _DATASETS[cfg.dataset](cfg, True)
    return tuple(tasks.TaskDataset(s, task, train=i == 0) for i, s in enumerate(sets))


def _sample_sets(cfg: TrainConfig, rgb: bool):
    from colorlab import data

    n = cfg.n_images or 256
    counts = data.split_counts(n, cfg.split)
    size = cfg.image_size
    sets = []
    for part, count, train in zip(("train", "val", "test"), counts, (True, False, False)):
        images = data.sample_images(count, size=size, seed=cfg.seed, part=part)
        labels = _sample_labels(count, size, cfg.seed, part) if cfg.n_classes else None
        sets.append(data.LabDataset(images, size=size, train=train, labels=labels, rgb=rgb))
    return tuple(sets)


def _need_data_dir(cfg: TrainConfig) -> Path:
    if not cfg.data_dir:
        raise ConfigError(
            f"dataset {cfg.dataset!r} needs data_dir (set data_dir=/path/to/images); "
            f"see data/README.md for how to get the data"
        )
    return Path(cfg.data_dir)


def _subset(items: Sequence, idx: np.ndarray) -> list:
    return [items[int(i)] for i in idx]


def _folder_sets(cfg: TrainConfig, rgb: bool):
    from colorlab import data

    root = _need_data_dir(cfg)
    labelled = cfg.dataset == "class_folder"
    if labelled:
        paths, labels, classes = data.class_folder(root)
    else:
        if not root.is_dir():
            raise data.DatasetUnavailableError(
                f"image folder {root} does not exist; put the training images there (any "
                f"layout, searched recursively) or set data_dir. See data/README.md."
            )
        paths, labels, classes = data.find_images(root), None, None
    report = data.scan_images(paths, min_size=cfg.image_size, where=str(root))
    if not report.kept:
        raise data.NoImagesError(f"no usable image under {root}: {report.summary()}")
    kept = report.kept
    kept_labels = [labels[i] for i in report.kept_index] if labels is not None else None
    if cfg.n_images is not None and cfg.n_images < len(kept):
        rng = np.random.default_rng(cfg.seed)
        pick = np.sort(rng.choice(len(kept), cfg.n_images, replace=False))
        kept = _subset(kept, pick)
        kept_labels = _subset(kept_labels, pick) if kept_labels is not None else None
    if labelled and cfg.n_classes and len(classes) > cfg.n_classes:
        raise ConfigError(
            f"{root} holds {len(classes)} classes but n_classes={cfg.n_classes}; set n_classes"
        )
    parts = data.split_indices(len(kept), cfg.split, seed=cfg.seed)
    use_labels = kept_labels if cfg.n_classes else None
    return tuple(
        data.LabDataset(_subset(kept, idx), size=cfg.image_size, train=train,
                        labels=_subset(use_labels, idx) if use_labels is not None else None,
                        rgb=rgb, classes=classes)
        for idx, train in zip(parts, (True, False, False))
    )


def _coco_sets(cfg: TrainConfig, rgb: bool):
    from colorlab import data

    n = cfg.n_images or 10_000
    train_paths, val_paths = data.coco_sample(n=n, n_train=int(round(0.8 * n)), seed=cfg.seed,
                                              data_dir=cfg.data_dir)
    train = data.LabDataset(train_paths, size=cfg.image_size, train=True, rgb=rgb)
    val = data.LabDataset(val_paths, size=cfg.image_size, train=False, rgb=rgb)
    return train, val, val


def _cifar_sets(cfg: TrainConfig, rgb: bool):
    from colorlab import data

    root = _need_data_dir(cfg)
    full = data.cifar10(root, train=True, rgb=rgb)
    test = data.cifar10(root, train=False, rgb=rgb)
    n = len(full) if cfg.n_images is None else min(cfg.n_images, len(full))
    tr, va, te = data.split_counts(n, cfg.split)
    train_idx, val_idx, _ = data.split_indices(n, (tr, va + te, 0), seed=cfg.seed)
    labels = full.labels if cfg.n_classes else None

    def part(idx: np.ndarray, train: bool) -> Dataset:
        return data.LabDataset(np.stack(_subset(full.images, idx)), size=32, train=train,
                               labels=_subset(labels, idx) if labels else None, rgb=rgb,
                               crop_scale=(1.0, 1.0), classes=full.classes)

    if not cfg.n_classes:
        test.labels = None
    return part(train_idx, True), part(val_idx, False), test


_DATASETS: dict[str, Callable[[TrainConfig, bool], tuple[Dataset, Dataset, Dataset]]] = {
    "sample": _sample_sets,
    "folder": _folder_sets,
    "class_folder": _folder_sets,
    "coco_sample": _coco_sets,
    "cifar10": _cifar_sets,
}


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can start an epoch part-way (for an exact resume).

    Each epoch's order depends only on ``(seed, epoch)`` (``set_epoch``); ``skip(n)`` drops the
    first ``n`` indices of the next pass over this rank's share. Works without a process
    group when ``num_replicas``/``rank`` are given (a single process is rank 0 of 1).
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed,
                         drop_last=True)
        self._skip = 0

    def skip(self, n: int) -> None:
        self._skip = int(n)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        skip, self._skip = self._skip, 0
        return iter(indices[skip:])

    def __len__(self) -> int:
        return self.num_samples - self._skip


@dataclass
class Loaders:
    """The training and validation loaders of a run, with what an exact resume needs."""

    train: DataLoader
    val: DataLoader
    sampler: ResumableSampler
    generator: torch.Generator
    seed: int

    def start_epoch(self, epoch: int, skip_samples: int = 0) -> Iterator:
        """An iterator over epoch ``epoch`` of the training loader, ``skip_samples`` in."""
        self.sampler.set_epoch(epoch)
        self.sampler.skip(skip_samples)
        self.generator.manual_seed(self.seed * 100_003 + epoch)  # worker seeds of this epoch
        return iter(self.train)


def make_loaders(
    cfg: TrainConfig,
    datasets: tuple[Dataset, Dataset, Dataset] | None = None,
    *,
    rgb: bool = False,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Loaders:
    """Training and validation ``DataLoader`` s (the test split is left to evaluation).

    The training loader draws its order from a :class:`ResumableSampler` (this rank's share
    under torchrun) and drops the last incomplete batch; the validation loader is sequential.
    Both take their worker seeds from their own ``torch.Generator``, never from the global
    random state, so a resumed run sees the same batches as an uninterrupted one.
    """
    train_ds, val_ds, _ = datasets if datasets is not None else make_datasets(cfg, rgb=rgb)
    if len(train_ds) < cfg.batch_size * world_size:
        raise ConfigError(
            f"the training split has {len(train_ds)} images, fewer than one batch "
            f"(batch_size={cfg.batch_size} x {world_size} processes); use more images "
            f"(n_images) or a smaller batch_size"
        )
    sampler = ResumableSampler(train_ds, num_replicas=world_size, rank=rank, seed=cfg.seed)
    gen = torch.Generator()
    common = dict(num_workers=num_workers, pin_memory=pin_memory,
                  persistent_workers=num_workers > 0)
    train = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                       generator=gen, **common)
    val_gen = torch.Generator().manual_seed(cfg.seed)
    val = DataLoader(val_ds, batch_size=cfg.batch_size, shuffle=False, generator=val_gen,
                     num_workers=0, pin_memory=pin_memory)
    return Loaders(train=train, val=val, sampler=sampler, generator=gen, seed=cfg.seed)


# ================================================================================= run time


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


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def resolve_runtime(cfg: TrainConfig) -> Runtime:
    """Pick the device and the speed features for ``cfg`` (reads torchrun's env variables)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if cfg.device == "auto":
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device(f"cuda:{local_rank}")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device={cfg.device!r} but CUDA is not available; use device=auto")
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


# ============================================================================ the two steps


def prepare_batch(batch: Sequence[Tensor], rt: Runtime) -> tuple[Tensor, Tensor, Tensor | None]:
    """A loader batch -> ``(L, ab, labels or None)`` on the run's device.

    Batched-Lab batches ``(rgb, label)`` are converted here on the device; plain ones are
    ``(L, ab)`` or ``(L, ab, label)``. Labels of ``-1`` mean "unlabelled".
    """
    nb = rt.pin_memory
    if rt.batched_lab:
        rgb, labels = batch[0], batch[1]
        rgb = rgb.to(rt.device, non_blocking=nb)
        L, ab = rgb_to_L_ab(rgb)
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


@contextlib.contextmanager
def frozen(module: nn.Module | None) -> Iterator[None]:
    """Temporarily stop gradients into ``module``'s parameters (D during the G step)."""
    if module is None:
        yield
        return
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def d_step(
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    gan_loss: losses.GANLoss,
    L: Tensor,
    real_ab: Tensor,
    fake_ab: Tensor,
    *,
    lambda_gp: float = 0.0,
    clip_value: float = 0.0,
    precision: Precision | None = None,
) -> dict[str, Tensor]:
    """One discriminator (critic) update on a batch; returns detached scalar losses.

    ``D`` scores ``(B,3,S,S)`` = L ``(B,1,S,S)`` and ab ``(B,2,S,S)`` concatenated (all in
    [-1,1]). ``fake_ab`` is **detached** first, so this step puts no gradient into the generator.
    The loss is ``gan_loss.d_loss`` (halved for vanilla/lsgan/hinge, with one-sided label smoothing
    if the ``GANLoss`` has it) plus ``lambda_gp * gradient_penalty`` (WGAN-GP, computed in fp32);
    with ``clip_value > 0`` the critic's weights are clamped to ``[-clip_value, clip_value]``
    after the update (WGAN).

    Returns ``{"d_real", "d_fake", "d_loss"}`` (+ ``"gp"``).
    """
    precision = precision or Precision(L.device.type)
    fake_ab = fake_ab.detach()
    real = torch.cat([L, real_ab], dim=1)
    fake = torch.cat([L, fake_ab], dim=1)
    with precision.autocast():
        loss, parts = gan_loss.d_loss(D(real), D(fake))
    out = {"d_real": parts["d_real"].float(), "d_fake": parts["d_fake"].float()}
    loss = loss.float()
    if lambda_gp:
        with precision.fp32():
            gp = losses.gradient_penalty(D, real.float(), fake.float())
        loss = loss + lambda_gp * gp
        out["gp"] = gp.detach()
    opt_d.zero_grad(set_to_none=True)
    precision.step(loss, opt_d)
    if clip_value:
        losses.clip_weights(unwrap(D), clip_value)
    out["d_loss"] = loss.detach()
    return out


def g_step(
    D: nn.Module | None,
    opt_g: torch.optim.Optimizer,
    L: Tensor,
    real_ab: Tensor,
    fake_ab: Tensor,
    *,
    gan_loss: losses.GANLoss | None = None,
    rec_loss: losses.ReconstructionLoss | None = None,
    lambda_rec: float = 100.0,
    lambda_adv: float = 1.0,
    class_logits: Tensor | None = None,
    labels: Tensor | None = None,
    class_loss: losses.ClassificationLoss | None = None,
    lambda_class: float = 0.0,
    precision: Precision | None = None,
) -> dict[str, Tensor]:
    """One generator update; returns detached scalar losses.

    ``fake_ab = G(L)`` must still carry its graph. The loss is
    ``lambda_adv * gan_loss.g_loss(D(L, fake_ab)) + lambda_rec * rec(fake_ab, real_ab)
    + lambda_class * CE(class_logits, labels)``; the adversarial term is skipped when ``D`` or
    ``gan_loss`` is ``None`` (reconstruction-only training), the class term when there are no
    logits, labels or weight. D's parameters are frozen during the step (its gradients stay
    untouched); pass the *unwrapped* D under DistributedDataParallel.

    Returns ``{"g_rec", "g_loss"}`` (+ ``"g_adv"``, ``"g_class"``), the parts unweighted.
    """
    precision = precision or Precision(L.device.type)
    rec_loss = rec_loss or losses.ReconstructionLoss("l1", weight=1.0)
    out: dict[str, Tensor] = {}
    with precision.autocast():
        g_rec = rec_loss.unweighted(fake_ab.float(), real_ab.float())
        total = lambda_rec * g_rec
        if D is not None and gan_loss is not None:
            with frozen(D):
                g_adv = gan_loss.g_loss(D(torch.cat([L, fake_ab], dim=1))).float()
            total = total + lambda_adv * g_adv
            out["g_adv"] = g_adv.detach()
        if class_logits is not None and labels is not None and lambda_class:
            class_loss = class_loss or losses.ClassificationLoss(weight=1.0)
            g_class = class_loss.unweighted(class_logits.float(), labels)
            total = total + lambda_class * g_class
            out["g_class"] = g_class.detach()
    opt_g.zero_grad(set_to_none=True)
    precision.step(total, opt_g)
    out["g_rec"] = g_rec.detach()
    out["g_loss"] = total.detach()
    return out


# ============================================================================ training state


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
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
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


def _call(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


# ================================================================================ the loop


def _want_progress(progress: bool | None) -> tuple[bool, bool]:
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


def _progress_bar(total: int, initial: int, show: bool, notebook: bool, desc: str):
    if not show:
        return None
    if notebook:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, leave=True)


def resolve_init_from(init_from: str, out_dir: Path | None) -> Path:
    """The checkpoint ``init_from`` names: a file, a run folder, or a preset's sibling run.

    A preset name ``P`` is looked for in ``out_dir/../P/last.pt`` and ``runs/P/last.pt``.
    """
    path = Path(init_from)
    if path.is_file():
        return path
    if path.is_dir() and (path / "last.pt").is_file():
        return path / "last.pt"
    candidates = []
    if init_from in PRESETS:
        if out_dir is not None:
            candidates.append(Path(out_dir).parent / init_from / "last.pt")
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
    raise FileNotFoundError(
        f"init_from={init_from!r}: no such checkpoint file, run folder with last.pt, or preset"
    )


def _init_from(cfg: TrainConfig, G: nn.Module, D: nn.Module | None, out_dir: Path | None) -> str:
    path = resolve_init_from(cfg.init_from, out_dir)
    state = load_checkpoint(path)
    check_architecture(state["config"], cfg, path, discriminator=False)
    load_state(G, state["generator"], path, "generator")
    loaded = "generator"
    src = config_of(state, path)
    if (D is not None and state.get("discriminator") is not None and src.uses_discriminator
            and (src.discriminator, src.discriminator_kwargs, src.adversarial.critic_norm)
            == (cfg.discriminator, cfg.discriminator_kwargs, cfg.adversarial.critic_norm)):
        load_state(D, state["discriminator"], path, "discriminator")
        loaded += " and discriminator"
    return f"{loaded} from {path}"


#: Config fields a resumed run may change (the others must equal the checkpoint's).
RESUME_MUTABLE = frozenset({
    "epochs", "max_steps", "device", "num_workers", "checkpoint_every", "log_every", "compile",
    "data_dir", "description", "name", "amp", "optimized", "channels_last", "init_from",
    "pretrained",
})


def _check_resume(saved: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    now = cfg.to_dict()
    # A field the checkpoint predates counts as its default value.
    saved = {**TrainConfig().to_dict(), **saved}
    diff = [k for k in now if k not in RESUME_MUTABLE and saved.get(k) != now[k]]
    if diff:
        details = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {now[k]!r}" for k in diff)
        raise ConfigError(
            f"{path}: cannot resume with a different configuration ({details}). Resume with the "
            f"checkpoint's settings (its config.json), or start a new run in another folder."
        )


def _total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    limits = []
    if cfg.epochs is not None:
        limits.append(cfg.epochs * steps_per_epoch)
    if cfg.max_steps is not None:
        limits.append(cfg.max_steps)
    return min(limits)


@torch.no_grad()
def validate(G: nn.Module, loader: DataLoader, rt: Runtime, precision: Precision | None = None,
             scale: float = AB_SCALE) -> float:
    """Mean absolute ab error of ``G`` (eval mode, restored after) over ``loader``, Lab units
    (NaN for an empty loader). Other tasks: the mean absolute target error times ``scale``
    (the task's ``val_scale``)."""
    was_training = G.training
    G.eval()
    total, count = 0.0, 0
    try:
        for batch in loader:
            L, ab, _ = prepare_batch(batch, rt)
            with (precision.autocast() if precision else contextlib.nullcontext()):
                fake, _ = generate(G, L)
            total += float((fake.float() - ab.float()).abs().sum()) * scale
            count += ab.numel()
    finally:
        G.train(was_training)
    return total / count if count else float("nan")


def train(
    cfg: TrainConfig,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    callbacks: Iterable[Any] = (),
    progress: bool | None = None,
) -> dict[str, list]:
    """Train ``cfg``; returns the history (``dict[str, list]``, see the module docstring).

    Args:
        cfg: the configuration (validated; not modified).
        out_dir: where ``last.pt``, ``config.json`` and ``log.jsonl`` go (rank 0 only);
            ``None`` writes nothing.
        resume: continue from ``out_dir/last.pt`` when it exists (a warning and a fresh start
            when it does not). The configuration must match the checkpoint's except for
            :data:`RESUME_MUTABLE` fields (e.g. raise ``max_steps`` to train longer).
        callbacks: objects with any of ``on_train_begin(state)``, ``on_step(step, history,
            state)``, ``on_epoch_end(epoch, history, state)``, ``on_train_end(history, state)``;
            ``state`` is a :class:`TrainState` (``state.batch``, ``state.sample()``,
            ``state.stop()``).
        progress: ``None`` = a progress bar only in a terminal or notebook; ``True``/``False``
            forces it.

    Raises:
        TrainingDiverged: a loss became NaN/inf. ConfigError: an invalid configuration.
        CheckpointError / ArchitectureMismatchError: an unusable checkpoint to resume from.
    """
    cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
    out = Path(out_dir) if out_dir is not None else None
    return TRAINERS[cfg.trainer](cfg, out, resume, tuple(callbacks), progress)


def _train_fastai(cfg: TrainConfig, out_dir: Path | None, resume: bool,
                  callbacks: tuple, progress: bool | None) -> dict[str, list]:
    from colorlab.pretrain import pretrain_generator

    if _env_int("WORLD_SIZE", 1) > 1:
        raise ConfigError("the fastai pretraining (trainer='fastai') runs in one process only")
    return pretrain_generator(cfg, out_dir, resume=resume, callbacks=callbacks,
                              progress=progress)


def _train_gan(cfg: TrainConfig, out_dir: Path | None, resume: bool,
               callbacks: tuple, progress: bool | None) -> dict[str, list]:
    rt = resolve_runtime(cfg)
    own_group = False
    if rt.distributed and not torch_dist.is_initialized():
        if rt.device.type == "cuda":
            torch.cuda.set_device(rt.device)
        torch_dist.init_process_group("nccl" if rt.device.type == "cuda" else "gloo")
        own_group = True
    try:
        return _run_gan(cfg, out_dir, resume, callbacks, progress, rt)
    finally:
        if own_group and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


#: Trainers by ``TrainConfig.trainer``.
TRAINERS: dict[str, Callable[..., dict[str, list]]] = {
    "gan": _train_gan,
    "fastai": _train_fastai,
}


def _run_gan(cfg: TrainConfig, out_dir: Path | None, resume: bool, callbacks: tuple,
             progress: bool | None, rt: Runtime) -> dict[str, list]:
    device = rt.device
    if device.type == "cuda" and cfg.optimized:
        torch.backends.cudnn.benchmark = True
    writes = rt.is_main and out_dir is not None
    ckpt_path = out_dir / "last.pt" if out_dir is not None else None

    state: dict[str, Any] | None = None
    if resume:
        if ckpt_path is not None and ckpt_path.is_file():
            state = load_checkpoint(ckpt_path, cfg)
            _check_resume(state["config"], cfg, ckpt_path)
        else:
            warnings.warn(f"resume=True but there is no checkpoint at {ckpt_path}: starting a "
                          f"new run", stacklevel=3)

    seed_everything(cfg.seed)
    fresh = state is None
    G = build_generator(cfg, pretrained=cfg.pretrained and fresh and not cfg.init_from)
    D = build_discriminator(cfg)
    init_note = ""
    if fresh and cfg.init_from:
        init_note = _init_from(cfg, G, D, out_dir)
    G.to(device, memory_format=rt.memory_format)
    if D is not None:
        D.to(device, memory_format=rt.memory_format)

    adv = cfg.adversarial
    gan_loss = losses.GANLoss(adv.loss, smoothing=cfg.label_smoothing) if adv.loss else None
    rec_loss = losses.ReconstructionLoss(cfg.rec_kind, weight=1.0)
    class_loss = losses.ClassificationLoss(weight=1.0) if cfg.lambda_class else None
    n_critic = cfg.n_critic if D is not None else 1

    loaders = make_loaders(cfg, make_datasets(cfg, rgb=rt.batched_lab), rank=rt.rank,
                           world_size=rt.world_size, num_workers=rt.num_workers,
                           pin_memory=rt.pin_memory)
    steps_per_epoch = len(loaders.train) // n_critic
    if steps_per_epoch < 1:
        raise ConfigError(
            f"one step needs n_critic={n_critic} batches of {cfg.batch_size} but an epoch has "
            f"only {len(loaders.train)}: use more images or a smaller batch_size/n_critic"
        )
    total = _total_steps(cfg, steps_per_epoch)

    opt_g = build_optimizer(G.parameters(), cfg.lr_g, cfg)
    opt_d = build_optimizer(D.parameters(), cfg.lr_d, cfg) if D is not None else None
    sched_g = build_scheduler(opt_g, cfg, total)
    sched_d = build_scheduler(opt_d, cfg, total)
    prec_g, prec_d = rt.precision(), rt.precision()

    history: dict[str, list] = {}
    start = 0
    if state is not None:
        load_state(G, state["generator"], ckpt_path, "generator")
        if D is not None:
            load_state(D, state["discriminator"], ckpt_path, "discriminator")
        _load_opt(opt_g, state.get("opt_g"))
        _load_opt(opt_d, state.get("opt_d"))
        for obj, key in ((sched_g, "sched_g"), (sched_d, "sched_d"),
                         (prec_g.scaler, "scaler_g"), (prec_d.scaler, "scaler_d")):
            if obj is not None and state.get(key) is not None:
                obj.load_state_dict(state[key])
        for sched in (sched_g, sched_d):  # a run extended with max_steps anneals to its new end
            if sched is not None and hasattr(sched, "T_max"):
                sched.T_max = max(1, total)
        history = {k: list(v) for k, v in state["history"].items()}
        start = int(state["step"])
        restore_rng(state["rng"])
    if rt.distributed:  # different dropout masks per rank; identical initial weights (above)
        torch.manual_seed(cfg.seed + 7919 * rt.rank + start)

    G_train: nn.Module = G
    D_train: nn.Module | None = D
    if rt.distributed:
        ids = [device.index] if device.type == "cuda" else None
        G_train = nn.parallel.DistributedDataParallel(G, device_ids=ids)
        if D is not None:
            D_train = nn.parallel.DistributedDataParallel(D, device_ids=ids)
    if cfg.compile:
        G_train = torch.compile(G_train)
        if D_train is not None:
            D_train = torch.compile(D_train)

    tstate = TrainState(cfg=cfg, runtime=rt, G=G, D=D, opt_g=opt_g, opt_d=opt_d,
                        history=history, total_steps=total, steps_per_epoch=steps_per_epoch,
                        out_dir=out_dir, val_loader=loaders.val, step=start,
                        epoch=start // steps_per_epoch)

    def checkpoint(step: int, complete: bool = False) -> None:
        if not writes:
            return
        save_checkpoint(ckpt_path, {
            "config": cfg.to_dict(), "step": step, "epoch": step // steps_per_epoch,
            "steps_per_epoch": steps_per_epoch, "total_steps": total, "complete": complete,
            "generator": G.state_dict(),
            "discriminator": D.state_dict() if D is not None else None,
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict() if opt_d else None,
            "sched_g": sched_g.state_dict() if sched_g else None,
            "sched_d": sched_d.state_dict() if sched_d else None,
            "scaler_g": prec_g.scaler.state_dict() if prec_g.scaler else None,
            "scaler_d": prec_d.scaler.state_dict() if prec_d.scaler else None,
            "history": history, "rng": capture_rng(),
        })

    log_file = None
    if writes:
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg.to_json(out_dir / "config.json")
        log_file = open(out_dir / "log.jsonl", "a" if state is not None else "w")  # noqa: SIM115
        log_file.write(json.dumps({"event": "resume" if state else "start", "step": start,
                                   "runtime": rt.describe(), "init": init_note}) + "\n")

    show, notebook = _want_progress(progress)
    bar = _progress_bar(total, start, show and rt.is_main, notebook, cfg.name or "train")
    _call(callbacks, "on_train_begin", tstate)

    task = tasks.get_task(cfg.task)

    def run_validation(step: int, epoch: int) -> None:
        if not rt.is_main:
            return
        value = validate(G, loaders.val, rt, prec_g, scale=task.val_scale)
        history.setdefault("val_step", []).append(step)
        history.setdefault("val_epoch", []).append(epoch)
        history.setdefault(task.val_key, []).append(value)
        if log_file:
            log_file.write(json.dumps({"step": step, "epoch": epoch, task.val_key: value}) + "\n")
            log_file.flush()

    try:
        step = start
        it: Iterator | None = None
        G_train.train()
        if D_train is not None:
            D_train.train()
        while step < total and not tstate.should_stop:
            epoch, pos = divmod(step, steps_per_epoch)
            if it is None:
                it = loaders.start_epoch(epoch, pos * n_critic * cfg.batch_size)
            parts = _one_step(
                it, n_critic, rt, G_train, D_train, D, opt_g, opt_d, gan_loss, rec_loss,
                class_loss, cfg, prec_g, prec_d, tstate)
            step += 1
            for sched in (sched_g, sched_d):
                if sched is not None:
                    sched.step()
            record = _record(history, parts, step, epoch, opt_g, opt_d)
            tstate.step, tstate.epoch = step, epoch
            end_of_epoch = step % steps_per_epoch == 0
            if end_of_epoch:
                it = None
            _call(callbacks, "on_step", step, history, tstate)
            if bar is not None:
                bar.update(1)
                if step % cfg.log_every == 0 or step == total:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in record.items()
                                     if k in ("d_loss", "g_adv", "g_rec", "gp")}, refresh=False)
            if log_file and (step % cfg.log_every == 0 or step == total):
                log_file.write(json.dumps({"step": step, "epoch": epoch, **record}) + "\n")
                log_file.flush()
            if end_of_epoch or step == total:
                run_validation(step, epoch)
            if end_of_epoch:
                _call(callbacks, "on_epoch_end", epoch, history, tstate)
            if step < total and (end_of_epoch or (cfg.checkpoint_every
                                                  and step % cfg.checkpoint_every == 0)):
                checkpoint(step)
        if tstate.should_stop and step < total and step % steps_per_epoch:
            run_validation(step, step // steps_per_epoch)
        checkpoint(step, complete=step >= total)
        _call(callbacks, "on_train_end", history, tstate)
        if rt.distributed:
            torch_dist.barrier()  # every rank leaves after rank 0 has written the checkpoint
    finally:
        if bar is not None:
            bar.close()
        if log_file:
            log_file.close()
    return history


def _load_opt(opt: torch.optim.Optimizer | None, state: dict | None) -> None:
    if opt is not None and state is not None:
        opt.load_state_dict(state)


def _one_step(it, n_critic, rt, G_train, D_train, D_raw, opt_g, opt_d, gan_loss, rec_loss,
              class_loss, cfg, prec_g, prec_d, tstate) -> dict[str, Tensor]:
    """``n_critic`` discriminator updates (one batch each), then one generator update."""
    adv = cfg.adversarial
    d_parts: list[dict[str, Tensor]] = []
    for i in range(n_critic):
        L, ab, labels = prepare_batch(next(it), rt)
        last = i == n_critic - 1
        if last:
            with prec_g.autocast():
                fake_ab, logits = generate(G_train, L)
        else:
            with torch.no_grad(), prec_g.autocast():
                fake_ab, logits = generate(G_train, L)
        if D_train is not None:
            d_parts.append(d_step(
                D_train, opt_d, gan_loss, L, ab, fake_ab,
                lambda_gp=cfg.lambda_gp if adv.gradient_penalty else 0.0,
                clip_value=cfg.clip_value if adv.clip_weights else 0.0, precision=prec_d))
    parts = g_step(
        D_raw, opt_g, L, ab, fake_ab, gan_loss=gan_loss, rec_loss=rec_loss,
        lambda_rec=cfg.lambda_rec, lambda_adv=cfg.lambda_adv, class_logits=logits,
        labels=labels, class_loss=class_loss, lambda_class=cfg.lambda_class, precision=prec_g)
    for key in (d_parts[0] if d_parts else {}):
        parts[key] = torch.stack([p[key] for p in d_parts]).mean()
    tstate.batch = (L.detach(), fake_ab.detach(), ab.detach())
    return parts


_ORDER = ("d_real", "d_fake", "d_loss", "gp", "g_adv", "g_rec", "g_class", "g_loss")


def _record(history: dict[str, list], parts: dict[str, Tensor], step: int, epoch: int,
            opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer | None) -> dict[str, float]:
    keys = [k for k in _ORDER if k in parts]
    values = torch.stack([parts[k].float() for k in keys]).tolist()  # one device sync per step
    record = dict(zip(keys, values))
    for key, value in record.items():
        if not math.isfinite(value):
            raise TrainingDiverged(key, step, value)
    record["lr_g"] = opt_g.param_groups[0]["lr"]
    if opt_d is not None:
        record["lr_d"] = opt_d.param_groups[0]["lr"]
    history.setdefault("step", []).append(step)
    history.setdefault("epoch", []).append(epoch)
    for key, value in record.items():
        history.setdefault(key, []).append(value)
    return record


# ===================================================================================== main


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m colorlab.train --preset NAME --out DIR [--set KEY=VALUE ...] [--resume]``.

    A minimal entry point (also what ``torchrun --nproc_per_node=N -m colorlab.train`` runs);
    the student-facing command line is ``colorlab train``.
    """
    parser = argparse.ArgumentParser(prog="python -m colorlab.train",
                                     description="Train a colorization GAN from a preset.")
    parser.add_argument("--preset", default="quick", help=f"one of: {', '.join(PRESETS)}")
    parser.add_argument("--profile", choices=("quick", "full"), default=None,
                        help="preset size (default: $COLORLAB_PROFILE, else full on CUDA)")
    parser.add_argument("--out", default=None, help="output folder (default runs/PRESET)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set lr_g=1e-4 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--progress", choices=("auto", "on", "off"), default="auto")
    args = parser.parse_args(argv)
    try:
        cfg = apply_overrides(get_preset(args.preset, args.profile), args.set)
    except ConfigError as exc:
        parser.error(str(exc))
    out = Path(args.out) if args.out else Path("runs") / args.preset
    t0 = time.perf_counter()
    history = train(cfg, out, resume=args.resume,
                    progress={"auto": None, "on": True, "off": False}[args.progress])
    if _env_int("RANK", 0) == 0:
        steps = history.get("step", [])
        key = tasks.get_task(cfg.task).val_key
        last = history.get(key, [float("nan")])[-1]
        label = "val ab L1" if key == "val_ab_l1" else key.replace("_", " ")
        print(f"{cfg.name or 'run'}: {steps[-1] if steps else 0} steps in "
              f"{time.perf_counter() - t0:.1f} s; {label} {last:.2f}; wrote {out / 'last.pt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
