"""The dataset of colorization: images in, normalised ``(L, ab)`` pairs out."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from colorlab.color import rgb_to_L_ab
from colorlab.io import PathLike, load_image

__all__ = ["ImageSource", "LabDataset"]

ImageSource = Union[np.ndarray, PathLike]
"""An image given as an ``(H,W,3)`` uint8 array or as the path of a file."""


def _as_uint8_rgb(img: np.ndarray, index: int) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(
            f"image {index}: expected an (H,W,3) uint8 array or a file path, got "
            f"{arr.dtype} array of shape {arr.shape}"
        )
    return arr


class LabDataset(Dataset):
    """Images -> normalised Lab pairs for colorization.

    Args:
        images: a sequence of ``(H,W,3)`` uint8 RGB arrays (``(H,W)`` grayscale arrays are
            accepted), an ``(N,H,W,3)`` uint8 array, or a sequence of file paths (read on access
            with :func:`colorlab.io.load_image`; a bad file raises ``BadImageError`` naming it).
        size: output side ``S``. ``None`` keeps each image's own size (evaluation: untouched;
            training: flip only); images must then share one size to be batched.
        train: training augmentation: a random square crop whose side is ``sqrt(u)`` times the
            image's shorter side, ``u`` uniform in ``crop_scale``, at a random position, resized
            to ``S`` (bicubic), then a horizontal flip with probability ``flip_p``. Otherwise the
            center square resized to ``S`` (deterministic). An image that needs no crop and is
            already ``S`` x ``S`` is not resampled. Randomness comes from torch's generator, so
            DataLoader workers differ and ``torch.manual_seed`` makes runs repeatable.
        labels: optional class index per image.
        rgb: return ``(rgb, label)`` instead of Lab: rgb float32 ``(3,S,S)`` in ``[0, 1]``, label
            ``-1`` without labels; convert a whole batch on the GPU with
            :func:`colorlab.color.rgb_to_L_ab`.
        crop_scale: range of the crop's area as a fraction of the largest square (train only);
            ``(1.0, 1.0)`` gives seed 004's resize + flip.
        flip_p: probability of the horizontal flip (train only; seed 004: 0.5).
        classes: optional class names, kept as ``.classes``.

    Items:
        ``(L, ab)``: float32 ``(1,S,S)`` and ``(2,S,S)`` in ``[-1, 1]``; ``(L, ab, label)`` with
        labels; ``(rgb, label_or_-1)`` with ``rgb=True``.
    """

    def __init__(
        self,
        images: Sequence[ImageSource] | np.ndarray,
        size: int | None = None,
        train: bool = False,
        labels: Sequence[int] | None = None,
        rgb: bool = False,
        *,
        crop_scale: tuple[float, float] = (0.5, 1.0),
        flip_p: float = 0.5,
        classes: Sequence[str] | None = None,
    ) -> None:
        if isinstance(images, np.ndarray):
            if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
                raise ValueError(
                    f"an array of images must be (N,H,W,3) uint8, got {images.dtype} {images.shape}"
                )
            items: list[ImageSource] = list(images)
        else:
            items = [
                Path(x) if isinstance(x, (str, os.PathLike)) else _as_uint8_rgb(x, i)
                for i, x in enumerate(images)
            ]
        if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
            raise ValueError(f"size must be a positive integer or None, got {size!r}")
        if labels is not None:
            labels = [int(v) for v in labels]
            if len(labels) != len(items):
                raise ValueError(f"{len(labels)} labels for {len(items)} images")
        lo, hi = crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {crop_scale}")
        if not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"flip_p must lie in [0, 1], got {flip_p}")
        self.images = items
        self.size = None if size is None else int(size)
        self.train = bool(train)
        self.labels = labels
        self.rgb = bool(rgb)
        self.crop_scale = (float(lo), float(hi))
        self.flip_p = float(flip_p)
        self.classes = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        kind = "paths" if self.images and isinstance(self.images[0], Path) else "arrays"
        return (
            f"LabDataset({len(self)} {kind}, size={self.size}, train={self.train}, "
            f"labels={'yes' if self.labels is not None else 'no'}, rgb={self.rgb})"
        )

    def image(self, index: int) -> np.ndarray:
        """The untransformed ``(H,W,3)`` uint8 image ``index``."""
        item = self.images[index]
        return load_image(item) if isinstance(item, Path) else item

    def _box(self, h: int, w: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the square to resize: random (train) or centered (eval)."""
        short = min(h, w)
        if self.train:
            lo, hi = self.crop_scale
            u = lo + (hi - lo) * float(torch.rand(()))
            side = max(1, min(short, int(round(short * math.sqrt(u)))))
            x0 = int(torch.randint(0, w - side + 1, ()))
            y0 = int(torch.randint(0, h - side + 1, ()))
        else:
            side = short
            x0, y0 = (w - side) // 2, (h - side) // 2
        return x0, y0, x0 + side, y0 + side

    def transform(self, img: np.ndarray) -> np.ndarray:
        """Crop/resize (and flip when training) one ``(H,W,3)`` uint8 image -> ``(S,S,3)``."""
        h, w = img.shape[:2]
        if self.size is not None:
            box = self._box(h, w)
            if box != (0, 0, w, h) or (h, w) != (self.size, self.size):
                img = np.asarray(
                    Image.fromarray(img).resize(
                        (self.size, self.size), Image.Resampling.BICUBIC, box=box
                    ),
                    dtype=np.uint8,
                )
        if self.train and self.flip_p > 0 and float(torch.rand(())) < self.flip_p:
            img = img[:, ::-1]
        return img

    def __getitem__(self, index: int):
        img = self.transform(self.image(index))
        rgb = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)
        label = self.labels[index] if self.labels is not None else -1
        if self.rgb:
            return rgb, label
        L, ab = rgb_to_L_ab(rgb[None])
        if self.labels is None:
            return L[0], ab[0]
        return L[0], ab[0], label
