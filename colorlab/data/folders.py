"""Folders of images: grayscale detection, a checked scan, and the folder datasets.

:func:`image_folder` makes a :class:`~colorlab.data.LabDataset` of every usable image under a
folder (bad files skipped with a warning naming each, grayscale images dropped with a count, a
folder with no usable image a clear error); :func:`class_folder` reads a class-per-folder set
(Places205, ImageNet subsets; labels for seed 004's classification loss).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from colorlab.data.datasets import ImageSource, LabDataset
from colorlab.data.errors import DatasetUnavailableError, NoImagesError
from colorlab.io import (
    IMAGE_EXTENSIONS,
    BadImageError,
    DataWarning,
    PathLike,
    find_images,
    load_image,
    read_image_and_size,
)

__all__ = [
    "FolderReport",
    "is_grayscale",
    "drop_grayscale",
    "scan_images",
    "image_folder",
    "class_folder",
]


def is_grayscale(img: np.ndarray, tol: int = 12, max_fraction: float = 0.002) -> bool:
    """Whether an image carries (next to) no colour.

    A pixel is coloured when its chroma, ``max(R,G,B) - min(R,G,B)``, exceeds ``tol`` levels (of
    255); the image is grayscale when at most ``max_fraction`` of its pixels are coloured. The
    tolerance absorbs the chroma noise of grayscale photos saved as colour JPEGs (a few levels);
    ``max_fraction`` forgives a handful of stray pixels. Sepia or tinted monochrome photos count as
    colour when their tint exceeds ``tol``.

    Args:
        img: ``(H,W,3)`` uint8 RGB (``(H,W)`` or ``(H,W,1)`` arrays are grayscale by definition).
    """
    arr = np.asarray(img)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        return True
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise ValueError(f"is_grayscale expects an (H,W,3) image, got shape {arr.shape}")
    arr = arr[..., :3]
    step = max(1, int(math.sqrt(arr.shape[0] * arr.shape[1] / 262144)))  # <= ~256k pixels
    sub = arr[::step, ::step].astype(np.int16)
    chroma = sub.max(axis=2) - sub.min(axis=2)
    return float(np.mean(chroma > tol)) <= max_fraction


def drop_grayscale(images: Sequence[ImageSource], **kwargs: Any) -> tuple[list, int]:
    """Remove grayscale images: returns ``(kept, n_dropped)`` (order kept).

    ``images`` holds ``(H,W,3)`` arrays or file paths (paths are read with :func:`load_image` and
    returned as paths). ``kwargs`` go to :func:`is_grayscale`.
    """
    kept = []
    for item in images:
        img = load_image(item) if isinstance(item, (str, os.PathLike)) else item
        if not is_grayscale(img, **kwargs):
            kept.append(item)
    return kept, len(images) - len(kept)


@dataclass
class FolderReport:
    """What :func:`scan_images` found: usable files, and what was skipped and why."""

    root: str
    found: int = 0
    kept: list[Path] = field(default_factory=list)
    kept_index: list[int] = field(default_factory=list)
    bad: list[tuple[Path, str]] = field(default_factory=list)
    too_small: list[tuple[Path, tuple[int, int]]] = field(default_factory=list)
    grayscale: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """One line, e.g. ``"120 images in photos/: 115 kept, 1 unreadable, ..."``."""
        return (
            f"{self.found} images in {self.root}: {len(self.kept)} kept, {len(self.bad)} "
            f"unreadable, {len(self.too_small)} too small, {len(self.grayscale)} grayscale "
            "dropped"
        )

    __str__ = summary


def scan_images(
    paths: Sequence[PathLike],
    *,
    min_size: int = 0,
    drop_gray: bool = True,
    where: str = "the given files",
) -> FolderReport:
    """Check image files before training; returns a :class:`FolderReport`.

    Every file is decoded once (JPEGs at reduced resolution, enough to judge colour). Unreadable
    files and files whose shorter side is below ``min_size`` are skipped with a
    :class:`DataWarning` naming each; with ``drop_gray``, grayscale images (:func:`is_grayscale`)
    are dropped and counted in one warning ``"dropped K grayscale images of N from <where>"``.
    Never raises for bad files; the caller decides what an empty result means.
    """
    report = FolderReport(root=str(where), found=len(paths))
    probe = max(64, min_size // 8)
    for i, p in enumerate(paths):
        p = Path(p)
        try:
            img, (w, h) = read_image_and_size(p, draft=probe)
        except (BadImageError, FileNotFoundError) as err:
            report.bad.append((p, str(err)))
            warnings.warn(f"skipping {err}", DataWarning, stacklevel=3)
            continue
        if min(w, h) < min_size:
            report.too_small.append((p, (w, h)))
            warnings.warn(
                f"skipping {p}: {w}x{h} is smaller than the {min_size}px crop",
                DataWarning,
                stacklevel=3,
            )
            continue
        if drop_gray and is_grayscale(img):
            report.grayscale.append(p)
            continue
        report.kept.append(p)
        report.kept_index.append(i)
    if report.grayscale:
        warnings.warn(
            f"dropped {len(report.grayscale)} grayscale images of {report.found} from {where}",
            DataWarning,
            stacklevel=3,
        )
    return report


def _no_usable_images(root: PathLike, report: FolderReport, min_size: int) -> NoImagesError:
    if report.found == 0:
        return NoImagesError(
            f"no image files under {root} (looked recursively for "
            f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files)"
        )
    return NoImagesError(
        f"no usable image in {root}: of {report.found} image files, {len(report.bad)} are "
        f"unreadable, {len(report.too_small)} smaller than {min_size}px and "
        f"{len(report.grayscale)} grayscale (see the warnings for each file)"
    )


def image_folder(
    root: PathLike,
    size: int = 256,
    *,
    train: bool = False,
    labels: bool = False,
    rgb: bool = False,
    drop_gray: bool = True,
    min_size: int | None = None,
    crop_scale: tuple[float, float] = (0.5, 1.0),
    flip_p: float = 0.5,
) -> tuple[LabDataset, FolderReport]:
    """A :class:`LabDataset` over every usable image under ``root``, and the scan report.

    Args:
        root: folder searched recursively (:func:`find_images`).
        size: output side of the items.
        labels: take class labels from class-per-folder layout (:func:`class_folder`); the
            dataset's ``.classes`` holds the class names.
        drop_gray: drop grayscale images (counted in a warning and in ``report.grayscale``).
        min_size: skip images whose shorter side is below this (default: ``size``, the crop).
        train, rgb, crop_scale, flip_p: as in :class:`LabDataset`.

    Raises:
        FileNotFoundError: ``root`` is missing. NoImagesError: no usable image (names ``root``).
    """
    min_size = size if min_size is None else int(min_size)
    if labels:
        paths, label_list, classes = class_folder(root)
    else:
        paths, label_list, classes = find_images(root), None, None
    report = scan_images(paths, min_size=min_size, drop_gray=drop_gray, where=str(root))
    if not report.kept:
        raise _no_usable_images(root, report, min_size)
    kept_labels = [label_list[i] for i in report.kept_index] if label_list is not None else None
    ds = LabDataset(
        report.kept,
        size=size,
        train=train,
        labels=kept_labels,
        rgb=rgb,
        crop_scale=crop_scale,
        flip_p=flip_p,
        classes=classes,
    )
    return ds, report


_CLASS_SETS_HELP = (
    "Class-per-folder sets are not downloaded automatically. Places205 (seed 004): request the "
    "256x256 images at http://places.csail.mit.edu/downloadData.html and extract them so that "
    "each scene class is a folder (e.g. <root>/a/abbey/*.jpg). ImageNet (seed 000): download "
    "ILSVRC2012 from https://image-net.org (registration required) and point at the train folder "
    "(<root>/n01440764/*.JPEG ...). See data/README.md."
)


def class_folder(root: PathLike) -> tuple[list[Path], list[int], list[str]]:
    """A class-per-folder image set (Places205, ImageNet style) -> ``(paths, labels, classes)``.

    An image's class is its folder relative to ``root`` (posix path), so ImageNet's
    ``train/n01440764/x.JPEG`` gives class ``"n01440764"`` and Places205's ``b/bazaar/indoor/x.jpg``
    gives ``"b/bazaar/indoor"``. ``classes`` is sorted; ``labels[i]`` indexes it. Paths are in
    :func:`find_images` order.

    Raises:
        DatasetUnavailableError: ``root`` does not exist (says how to get Places205/ImageNet).
        NoImagesError: no image under ``root``. ValueError: images lying directly in ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetUnavailableError(
            f"class-per-folder dataset not found at {root}. " + _CLASS_SETS_HELP
        )
    paths = find_images(root)
    if not paths:
        raise NoImagesError(f"no image files under {root}; expected one folder per class")
    names = [p.parent.relative_to(root).as_posix() for p in paths]
    loose = [p for p, c in zip(paths, names) if c == "."]
    if loose:
        raise ValueError(
            f"{len(loose)} images lie directly in {root} (e.g. {loose[0].name}); "
            "a class-per-folder set keeps every image in its class folder"
        )
    classes = sorted(set(names))
    index = {c: i for i, c in enumerate(classes)}
    return paths, [index[c] for c in names], classes
