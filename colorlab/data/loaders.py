"""The datasets and data loaders of a training run, assembled from its config.

:func:`make_datasets` builds the ``(train, val, test)`` sets a config names (:data:`DATASETS`:
the embedded sample set, a folder, a class-per-folder set, the COCO sample, CIFAR-10,
Imagenette);
:func:`make_loaders` wraps them in ``DataLoader`` s whose order survives a resume
(:class:`ResumableSampler`). The config is a :class:`colorlab.config.TrainConfig`, read through
its attributes only (this package does not import :mod:`colorlab.config`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from colorlab import tasks
from colorlab.data.datasets import LabDataset
from colorlab.data.errors import DatasetUnavailableError, NoImagesError
from colorlab.data.folders import class_folder, scan_images
from colorlab.data.sample import SOURCE_PHOTOS, _sample_crops, sample_images
from colorlab.data.sources import cifar10, coco_sample, imagenette
from colorlab.data.splits import split_counts, split_indices
from colorlab.errors import ConfigError
from colorlab.io import find_images

if TYPE_CHECKING:
    from colorlab.config import TrainConfig

__all__ = ["DATASETS", "make_datasets", "make_loaders", "Loaders", "ResumableSampler"]

Sets = tuple[Dataset, Dataset, Dataset]


def _sample_labels(n: int, size: int, seed: int, part: str) -> list[int]:
    """Class labels of sample-set crops: the index of the source photo each crop was cut from."""
    names = [p.name for p in SOURCE_PHOTOS]
    return [names.index(name) for name, _, _ in _sample_crops(n, size, seed, part)]


def make_datasets(cfg: TrainConfig, rgb: bool = False) -> Sets:
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
    * ``imagenette``: Imagenette 160 px's ``train/`` (9,469 images, capped at ``n_images``) and
      its ``val/`` (3,925) halved, seeded, into val and test; grayscale images dropped; labels
      (10 classes) with ``n_classes``. Downloaded on demand when ``data_dir`` is ``None``.

    ``coco_sample``, ``cifar10`` and ``imagenette`` are downloaded on demand
    (:mod:`colorlab.download`) into ``data_dir`` or, when it is ``None``, the default cache.

    For a task other than colorization (``cfg.task``) every set is a
    :class:`colorlab.tasks.TaskDataset` of ``(input, target)`` (``+ label``) items, whatever
    ``rgb`` says; the training set places inpainting holes at random.
    """
    task = tasks.get_task(cfg.task)
    if isinstance(task, tasks.Colorization):
        return DATASETS[cfg.dataset](cfg, rgb)
    sets = DATASETS[cfg.dataset](cfg, True)
    return tuple(tasks.TaskDataset(s, task, train=i == 0) for i, s in enumerate(sets))


def _sample_sets(cfg: TrainConfig, rgb: bool) -> Sets:
    n = cfg.n_images or 256
    counts = split_counts(n, cfg.split)
    size = cfg.image_size
    sets = []
    for part, count, train in zip(("train", "val", "test"), counts, (True, False, False)):
        images = sample_images(count, size=size, seed=cfg.seed, part=part)
        labels = _sample_labels(count, size, cfg.seed, part) if cfg.n_classes else None
        sets.append(LabDataset(images, size=size, train=train, labels=labels, rgb=rgb))
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


def _folder_sets(cfg: TrainConfig, rgb: bool) -> Sets:
    root = _need_data_dir(cfg)
    labelled = cfg.dataset == "class_folder"
    if labelled:
        paths, labels, classes = class_folder(root)
    else:
        if not root.is_dir():
            raise DatasetUnavailableError(
                f"image folder {root} does not exist; put the training images there (any "
                f"layout, searched recursively) or set data_dir. See data/README.md."
            )
        paths, labels, classes = find_images(root), None, None
    report = scan_images(paths, min_size=cfg.image_size, where=str(root))
    if not report.kept:
        raise NoImagesError(f"no usable image under {root}: {report.summary()}")
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
    parts = split_indices(len(kept), cfg.split, seed=cfg.seed)
    use_labels = kept_labels if cfg.n_classes else None
    return tuple(
        LabDataset(
            _subset(kept, idx),
            size=cfg.image_size,
            train=train,
            labels=_subset(use_labels, idx) if use_labels is not None else None,
            rgb=rgb,
            classes=classes,
        )
        for idx, train in zip(parts, (True, False, False))
    )


def _coco_sets(cfg: TrainConfig, rgb: bool) -> Sets:
    n = cfg.n_images or 10_000
    train_paths, val_paths = coco_sample(
        n=n, n_train=int(round(0.8 * n)), seed=cfg.seed, data_dir=cfg.data_dir
    )
    train = LabDataset(train_paths, size=cfg.image_size, train=True, rgb=rgb)
    val = LabDataset(val_paths, size=cfg.image_size, train=False, rgb=rgb)
    return train, val, val


def _usable(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """The colour images of a class-per-folder ``root`` (grayscale and bad files dropped)."""
    paths, labels, classes = class_folder(root)
    report = scan_images(paths, where=str(root))  # any size: smaller crops are upsampled
    if not report.kept:
        raise NoImagesError(f"no usable image under {root}: {report.summary()}")
    return report.kept, [labels[i] for i in report.kept_index], classes


def _imagenette_sets(cfg: TrainConfig, rgb: bool) -> Sets:
    """Imagenette: ``train/`` trains (capped at ``n_images``, seeded); ``val/`` is halved (seeded,
    disjoint) into the validation and the test set. ``data_dir=None``: downloaded on demand."""
    root = imagenette(cfg.data_dir)
    train_paths, train_labels, classes = _usable(root / "train")
    val_paths, val_labels, val_classes = _usable(root / "val")
    if val_classes != classes:
        raise DatasetUnavailableError(
            f"{root}: train/ and val/ hold different classes ({len(classes)} and "
            f"{len(val_classes)} folders); extract the archive again"
        )
    if cfg.n_classes and len(classes) > cfg.n_classes:
        raise ConfigError(f"Imagenette has {len(classes)} classes but n_classes={cfg.n_classes}")
    if cfg.n_images is not None and cfg.n_images < len(train_paths):
        pick = np.sort(
            np.random.default_rng(cfg.seed).choice(len(train_paths), cfg.n_images, replace=False)
        )
        train_paths, train_labels = _subset(train_paths, pick), _subset(train_labels, pick)
    half = len(val_paths) // 2
    val_idx, test_idx, _ = split_indices(len(val_paths), (half, len(val_paths) - half, 0), cfg.seed)

    def part(paths: list, labels: list, idx: np.ndarray | None, train: bool) -> Dataset:
        if idx is not None:
            paths, labels = _subset(paths, idx), _subset(labels, idx)
        return LabDataset(
            paths,
            size=cfg.image_size,
            train=train,
            labels=labels if cfg.n_classes else None,
            rgb=rgb,
            classes=classes,
        )

    return (
        part(train_paths, train_labels, None, True),
        part(val_paths, val_labels, val_idx, False),
        part(val_paths, val_labels, test_idx, False),
    )


def _cifar_sets(cfg: TrainConfig, rgb: bool) -> Sets:
    root = Path(cfg.data_dir) if cfg.data_dir else None  # None: the default cache, on demand
    full = cifar10(root, train=True, rgb=rgb)
    test = cifar10(root, train=False, rgb=rgb)
    n = len(full) if cfg.n_images is None else min(cfg.n_images, len(full))
    tr, va, te = split_counts(n, cfg.split)
    train_idx, val_idx, _ = split_indices(n, (tr, va + te, 0), seed=cfg.seed)
    labels = full.labels if cfg.n_classes else None

    def part(idx: np.ndarray, train: bool) -> Dataset:
        return LabDataset(
            np.stack(_subset(full.images, idx)),
            size=32,
            train=train,
            labels=_subset(labels, idx) if labels else None,
            rgb=rgb,
            crop_scale=(1.0, 1.0),
            classes=full.classes,
        )

    if not cfg.n_classes:
        test.labels = None
    return part(train_idx, True), part(val_idx, False), test


#: ``cfg.dataset`` -> the builder of its ``(train, val, test)`` sets, called as
#: ``builder(cfg, rgb)``.
DATASETS: dict[str, Callable[[TrainConfig, bool], Sets]] = {
    "sample": _sample_sets,
    "folder": _folder_sets,
    "class_folder": _folder_sets,
    "coco_sample": _coco_sets,
    "cifar10": _cifar_sets,
    "imagenette": _imagenette_sets,
}


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can start an epoch part-way (for an exact resume).

    Each epoch's order depends only on ``(seed, epoch)`` (``set_epoch``); ``skip(n)`` drops the
    first ``n`` indices of the next pass over this rank's share. Works without a process
    group when ``num_replicas``/``rank`` are given (a single process is rank 0 of 1).
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
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
    datasets: Sets | None = None,
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
    common = dict(
        num_workers=num_workers, pin_memory=pin_memory, persistent_workers=num_workers > 0
    )
    train = DataLoader(
        train_ds,
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=True,
        generator=gen,
        **common,
    )
    val_gen = torch.Generator().manual_seed(cfg.seed)
    val = DataLoader(
        val_ds,
        batch_size=cfg.batch_size,
        shuffle=False,
        generator=val_gen,
        num_workers=0,
        pin_memory=pin_memory,
    )
    return Loaders(train=train, val=val, sampler=sampler, generator=gen, seed=cfg.seed)
