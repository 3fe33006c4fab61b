"""Datasets for colorization: images in, normalised ``(L, ab)`` pairs out.

Sources (``data/README.md`` gives licences, sizes and download instructions):

* **The embedded offline sample set** -- :func:`sample_images`: deterministic random crops of the
  colour photographs that our own dependencies ship (:func:`source_photos`: scikit-image,
  scikit-learn and matplotlib sample images). Needs no network; tests, quick presets and the main
  job use it by default. :func:`build_sample_folder` writes it as PNG files for folder-based code.
* **Any folder of images** -- :func:`image_folder` (recursive; jpg/jpeg/png/webp/bmp/tif/tiff).
  Bad files are skipped with a warning naming each file, grayscale images are dropped with a
  count, and a folder with no usable image is a clear error.
* **Class-per-folder sets** (Places205, ImageNet subsets; labels for seed 004's classification
  loss) -- :func:`class_folder`, or ``image_folder(..., labels=True)``.
* **fastai's COCO sample** (seed 002: 10,000 images split 8,000/2,000) -- :func:`coco_sample`.
* **CIFAR-10** via torchvision (seed 003, 32x32, 10 classes) -- :func:`cifar10`.

Large sets are never downloaded behind your back: when the files are not on disk the loaders raise
:class:`DatasetUnavailableError` saying what to download, from where, and where to put it.

Every dataset is a :class:`LabDataset`. An item is ``(L, ab)``: float32 ``(1,S,S)`` and
``(2,S,S)`` in ``[-1, 1]`` (the scaling of :mod:`colorlab.color`), ``(L, ab, label)`` when labels
are given, or ``(rgb, label_or_-1)`` with ``rgb=True`` (float32 ``(3,S,S)`` in ``[0, 1]``, for a
batched Lab conversion on the GPU). Training items get a random square crop (position and scale)
resized to ``S`` and a horizontal flip with p=0.5 (seed 004); evaluation items a deterministic
center crop resized to ``S``.

Splits are deterministic (:func:`split_indices`) with the seeds' presets in :data:`SPLITS`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from colorlab.color import rgb_to_L_ab

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "SAMPLE_PARTS",
    "SOURCE_PHOTOS",
    "COCO_SAMPLE_URL",
    "CIFAR10_URL",
    "BadImageError",
    "DatasetUnavailableError",
    "NoImagesError",
    "DataWarning",
    "PhotoSource",
    "FolderReport",
    "LabDataset",
    "source_photos",
    "sample_images",
    "build_sample_folder",
    "find_images",
    "load_image",
    "is_grayscale",
    "drop_grayscale",
    "scan_images",
    "image_folder",
    "class_folder",
    "split_counts",
    "split_indices",
    "coco_sample",
    "cifar10",
]

PathLike = Union[str, os.PathLike]
ImageSource = Union[np.ndarray, PathLike]

#: File name endings :func:`find_images` collects (compared case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

#: Split presets of the source material: seed 000 (ImageNet subset, first table) and seed 004
#: (Places205) use 80/10/10; seed 000's second table is labelled 60/20/20.
SPLITS: dict[str, tuple[float, float, float]] = {
    "80/10/10": (0.8, 0.1, 0.1),
    "60/20/20": (0.6, 0.2, 0.2),
}

#: Where in each source photo the crops of a held-out part of the sample set come from, as a
#: ``(start, stop)`` fraction of the photo's longer axis. The bands do not overlap, so no pixel
#: of a "val" or "test" crop is ever seen in a "train" crop.
SAMPLE_PARTS: dict[str, tuple[float, float]] = {
    "train": (0.0, 0.7),
    "val": (0.7, 0.85),
    "test": (0.85, 1.0),
}

#: fastai's ``URLs.COCO_SAMPLE``: COCO images showing a chair, couch, tv, remote, book or vase
#: (about 22,000 images in ``coco_sample/train_sample/``; the .tgz is 3,245,877,008 bytes).
COCO_SAMPLE_URL = "https://s3.amazonaws.com/fast-ai-coco/coco_sample.tgz"
_COCO_SAMPLE_BYTES = 3_245_877_008  # size of the complete archive (fastai's download checks)
#: The CIFAR-10 python archive torchvision downloads (about 163 MB).
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR10_FILES = (
    "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
    "test_batch", "batches.meta",
)


# --------------------------------------------------------------------------------------------
# Errors and warnings
# --------------------------------------------------------------------------------------------
class BadImageError(ValueError):
    """A file that cannot be used as an image. ``str(err)`` is ``"<path>: <problem>"``."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DatasetUnavailableError(RuntimeError):
    """A dataset is not on disk (and may not be downloaded); the message says how to get it."""


class NoImagesError(ValueError):
    """A folder (or list of files) holds no usable image; the message names the folder."""


class DataWarning(UserWarning):
    """A file was skipped or converted (named in the message), or images were dropped."""


# --------------------------------------------------------------------------------------------
# Reading one image
# --------------------------------------------------------------------------------------------
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
               IndexError, TypeError, KeyError, Image.DecompressionBombError)


def _gray_to_uint8(arr: np.ndarray, mode: str, path: PathLike) -> np.ndarray:
    """Scale one high-bit-depth gray channel to uint8 (0-255).

    ``I;16*`` (16-bit PNG/TIFF) maps 0-65535 onto 0-255 (value / 257, rounded). ``I`` (32-bit int)
    and ``F`` (float) carry no declared range, so it is read from the data: floats within
    ``[0, 1]`` are scaled by 255; values within 0-255 are kept; within 0-65535 they are treated as
    16-bit. Anything else is refused.
    """
    a = arr.astype(np.float64)
    if mode in _SIXTEEN_BIT_MODES:
        scale = 1.0 / 257.0
    else:
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0:
            raise BadImageError(path, f"mode {mode} image with values outside 0-65535 "
                                      f"(min {lo}, max {hi}): no known intensity range")
        if mode == "F" and hi <= 1.0:
            scale = 255.0
        elif hi <= 255.0:
            scale = 1.0
        elif hi <= 65535.0:
            scale = 1.0 / 257.0
        else:
            raise BadImageError(path, f"mode {mode} image with values up to {hi}: "
                                      "no known intensity range")
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)


def _pil_to_rgb(im: Image.Image, path: PathLike) -> np.ndarray:
    """Convert a loaded PIL image of any supported mode to an ``(H,W,3)`` uint8 RGB array.

    * RGB: as is. 16-bit-per-channel RGB(A) PNG/TIFF files are already reduced to 8 bits by Pillow
      (it keeps the high byte).
    * L / 1 (grayscale, bilevel): the gray value copied to R, G and B.
    * I;16 / I / F (16-bit or 32-bit gray): scaled to 0-255 by :func:`_gray_to_uint8`.
    * RGBA / LA / PA / palette with transparency: **composited on white** (alpha-weighted mean of
      the colour and 255), so transparent areas become white as viewers usually show them;
      opaque pixels are unchanged (for a fully opaque image this is just dropping alpha).
    * P (palette): expanded through the palette.
    * CMYK / YCbCr / LAB / HSV: Pillow's conversion (CMYK is converted naively, without the ICC
      profile: colours of print-oriented CMYK files can be slightly off).
    """
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8)
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        gray = _gray_to_uint8(np.asarray(im), mode, path)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("L", "1"):
        gray = np.asarray(im.convert("L"), dtype=np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:4] / 255.0
        rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    try:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as err:
        raise BadImageError(path, f"unsupported image mode {mode!r} ({err})") from err


def _read_image(path: PathLike, draft: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Read ``path`` as RGB uint8; returns ``(image, (width, height))`` of the full-size file.

    ``draft`` lets JPEG decoding shrink by a power of two as long as both sides stay at least
    ``draft`` pixels (fast scanning); the returned size is always that of the file.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise BadImageError(path, "not a regular file")
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            full_size = im.size
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", (draft, draft))
            im.load()
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # a damaged EXIF block does not spoil the pixels
                orientation = 1
            if orientation in (2, 3, 4, 5, 6, 7, 8):  # EXIF orientation: show the photo upright
                im = ImageOps.exif_transpose(im)
                if orientation >= 5:  # rotated by 90 degrees
                    full_size = (full_size[1], full_size[0])
            rgb = _pil_to_rgb(im, path)
    except BadImageError:
        raise
    except UnidentifiedImageError as err:
        raise BadImageError(path, "not an image file (no image format recognises its bytes)") \
            from err
    except Image.DecompressionBombError as err:
        raise BadImageError(path, f"image too large ({err})") from err
    except _PIL_ERRORS as err:
        raise BadImageError(path, f"truncated or corrupt image data ({type(err).__name__}: "
                                  f"{err})") from err
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise BadImageError(path, f"decoded to an unusable array of shape {rgb.shape}")
    return np.ascontiguousarray(rgb), full_size


def load_image(path: PathLike) -> np.ndarray:
    """Read an image file as an ``(H,W,3)`` uint8 RGB array.

    Converts grayscale, palette, CMYK, 16-bit and alpha images to RGB (alpha is composited on
    white; see :func:`_pil_to_rgb` for each mode) and applies the EXIF orientation.

    Raises:
        BadImageError: (a ``ValueError``) naming the file and the problem, for files that are
            corrupt, truncated, not an image at all, or of an unsupported kind.
        FileNotFoundError: if ``path`` does not exist.
    """
    return _read_image(path)[0]


def find_images(root: PathLike) -> list[Path]:
    """All image files under ``root`` (recursive), sorted by their path relative to ``root``.

    Collects the endings in :data:`IMAGE_EXTENSIONS`, case-insensitively. Hidden files and folders
    (names starting with ``.``: ``.ipynb_checkpoints``, macOS ``._photo.jpg`` resource forks) are
    skipped. Symlinked folders are followed once. The order is deterministic across platforms.

    Raises:
        FileNotFoundError / NotADirectoryError: naming ``root`` if it is missing or not a folder.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop or a folder linked twice
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = Path(dirpath) / name
            found.append((path.relative_to(root).as_posix(), path))
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]


# --------------------------------------------------------------------------------------------
# Grayscale detection
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# The embedded offline sample set
# --------------------------------------------------------------------------------------------
def _package_dir(package: str) -> Path:
    """The installed folder of a top-level package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


_SAMPLE_DIRS = {
    "scikit-image": lambda: _package_dir("skimage") / "data",
    "scikit-learn": lambda: _package_dir("sklearn") / "datasets" / "images",
    "matplotlib": lambda: _package_dir("matplotlib") / "mpl-data" / "sample_data",
}


@dataclass(frozen=True)
class PhotoSource:
    """One colour photograph shipped inside a dependency, with its licence (see data/README.md)."""

    name: str
    package: str  # a key of _SAMPLE_DIRS
    filename: str
    licence: str

    def path(self) -> Path:
        """Where the installed package keeps the file (it may be missing)."""
        return _SAMPLE_DIRS[self.package]() / self.filename


#: The photographs the sample set is cut from: natural colour photos only (scikit-image's
#: microscopy, retina, Hubble and synthetic images and the Middlebury stereo pair are left out).
SOURCE_PHOTOS: tuple[PhotoSource, ...] = (
    PhotoSource("astronaut", "scikit-image", "astronaut.png", "public domain (NASA)"),
    PhotoSource("coffee", "scikit-image", "coffee.png", "CC0 (Rachel Michetti)"),
    PhotoSource("chelsea", "scikit-image", "chelsea.png", "CC0 (Stefan van der Walt)"),
    PhotoSource("rocket", "scikit-image", "rocket.jpg", "public domain (SpaceX)"),
    PhotoSource("china", "scikit-learn", "china.jpg", "CC BY 2.0 (danielbuechele, Flickr)"),
    PhotoSource("flower", "scikit-learn", "flower.jpg", "CC BY 2.0 (vultilion, Flickr)"),
    PhotoSource("grace_hopper", "matplotlib", "grace_hopper.jpg",
                "public domain (U.S. Navy photograph)"),
)


@functools.lru_cache(maxsize=1)
def _source_photos_cached() -> tuple[tuple[str, np.ndarray], ...]:
    photos = []
    for src in SOURCE_PHOTOS:
        try:
            path = src.path()
            img = load_image(path)
        except (ModuleNotFoundError, FileNotFoundError, BadImageError) as err:
            warnings.warn(f"sample photo {src.name!r} from {src.package} is unavailable and "
                          f"left out of the sample set: {err}", DataWarning, stacklevel=3)
            continue
        img.flags.writeable = False
        photos.append((src.name, img))
    if not photos:
        raise DatasetUnavailableError(
            "none of the sample photographs shipped by scikit-image, scikit-learn and matplotlib "
            "was found; reinstall them (pip install -e '.[dev]') to get the offline sample set")
    return tuple(photos)


def source_photos() -> list[tuple[str, np.ndarray]]:
    """The colour photographs our dependencies ship, as ``(name, (H,W,3) uint8)`` pairs.

    Seven photos (see :data:`SOURCE_PHOTOS`): astronaut, coffee, chelsea, rocket (scikit-image),
    china, flower (scikit-learn), grace_hopper (matplotlib); 1.8 megapixels together. Read from
    the installed packages without any network access. A photo whose file is missing is left out
    with a :class:`DataWarning` naming it (issued on the first call); if none is found,
    :class:`DatasetUnavailableError`. Loaded once per process; callers get copies.
    """
    return [(name, img.copy()) for name, img in _source_photos_cached()]


def _part_region(shape: tuple[int, ...], part: str | None) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` of the band of a photo that crops of ``part`` come from."""
    h, w = shape[:2]
    if part is None:
        return 0, 0, w, h
    lo, hi = SAMPLE_PARTS[part]
    if w >= h:
        return int(round(lo * w)), 0, int(round(hi * w)), h
    return 0, int(round(lo * h)), w, int(round(hi * h))


@functools.lru_cache(maxsize=8)
def _sample_crops(n: int, size: int, seed: int, part: str | None
                  ) -> tuple[tuple[str, tuple[int, int, int, int], np.ndarray], ...]:
    """``n`` crops as ``(photo name, (x0, y0, x1, y1) box in the photo, (size,size,3) uint8)``."""
    photos = _source_photos_cached()
    part_id = 0 if part is None else 1 + list(SAMPLE_PARTS).index(part)
    rng = np.random.default_rng([seed, part_id])
    crops: list[tuple[str, tuple[int, int, int, int], np.ndarray]] = []
    order: list[int] = []
    rejected = 0
    while len(crops) < n:
        if not order:  # every photo once per round, in a random order: balanced crops
            order = [int(k) for k in rng.permutation(len(photos))]
        name, img = photos[order.pop()]
        x0, y0, x1, y1 = _part_region(img.shape, part)
        longest = min(x1 - x0, y1 - y0)  # the largest square that fits the band
        side_lo = min(longest, max(size, longest // 4))
        side = int(rng.integers(side_lo, longest + 1))
        cx = x0 + int(rng.integers(0, x1 - x0 - side + 1))
        cy = y0 + int(rng.integers(0, y1 - y0 - side + 1))
        box = (cx, cy, cx + side, cy + side)
        crop = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC,
                                                      box=box), dtype=np.uint8)
        if is_grayscale(crop):  # e.g. a patch of white space suit: no colour to learn
            rejected += 1
            if rejected > 10 * n + 100:
                raise RuntimeError("the sample photos yield only grayscale crops")
            continue
        crop.flags.writeable = False
        crops.append((name, box, crop))
    return tuple(crops)


def _check_sample_args(n: int, size: int, part: str | None) -> None:
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if part is not None and part not in SAMPLE_PARTS:
        raise ValueError(f"part must be None or one of {sorted(SAMPLE_PARTS)}, got {part!r}")


def sample_images(n: int = 256, size: int = 64, seed: int = 0, *,
                  part: str | None = None) -> list[np.ndarray]:
    """The embedded offline sample set: ``n`` colour crops, each ``(size, size, 3)`` uint8.

    Each crop is a random square of a random source photo (:func:`source_photos`; the photos take
    turns in a shuffled order), of random position and side (from ``max(size, m/4)`` up to ``m``,
    the shorter side of the region it is cut from), resized to ``size`` x ``size`` (bicubic,
    antialiased). Crops that come out grayscale are redrawn. The same arguments always give the
    same crops; results are cached in memory, so repeated calls are cheap (callers get copies).

    Args:
        part: ``None`` cuts crops anywhere in the photos. ``"train"``, ``"val"`` or ``"test"`` cut
            them only from that part's band of every photo (:data:`SAMPLE_PARTS`: 70/15/15 % of
            the longer axis), so the three parts never share a pixel: a real held-out set. The
            narrow val/test bands (68-96 px) mean crops there are upsampled for ``size`` above
            the band width.
    """
    _check_sample_args(n, size, part)
    return [crop.copy() for _, _, crop in _sample_crops(int(n), int(size), int(seed), part)]


def _atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder + os.replace."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _png_bytes(img: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def build_sample_folder(root: PathLike, n: int = 256, size: int = 64, seed: int = 0, *,
                        part: str | None = None) -> Path:
    """Write the sample set as PNG files; returns the folder holding them.

    The folder is ``root / "sample-n{n}-s{size}-seed{seed}[-{part}]"``, so different arguments
    never mix. Files are ``0000_<photo>.png`` ... plus ``manifest.json`` recording the arguments
    and, per file, the source photo and crop box. Idempotent: a folder whose manifest matches and
    whose files all exist is returned untouched. Every file (the manifest last) is written
    atomically (temporary file, then ``os.replace``), so an interrupted build is completed by the
    next call and a reader never sees half a file.
    """
    _check_sample_args(n, size, part)
    name = f"sample-n{n}-s{size}-seed{seed}" + (f"-{part}" if part else "")
    folder = Path(root) / name
    manifest_path = folder / "manifest.json"
    crops = None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = None
    if (isinstance(manifest, dict) and manifest.get("args") ==
            {"n": n, "size": size, "seed": seed, "part": part}
            and all((folder / entry["file"]).is_file() for entry in manifest.get("files", []))
            and len(manifest.get("files", [])) == n):
        return folder
    crops = _sample_crops(int(n), int(size), int(seed), part)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (photo, box, crop) in enumerate(crops):
        filename = f"{i:04d}_{photo}.png"
        _atomic_write_bytes(folder / filename, _png_bytes(crop))
        entries.append({"file": filename, "photo": photo, "box": list(box)})
    manifest = {"args": {"n": n, "size": size, "seed": seed, "part": part}, "files": entries}
    _atomic_write_bytes(manifest_path, json.dumps(manifest, indent=1).encode())
    return folder


# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------
def _as_uint8_rgb(img: np.ndarray, index: int) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image {index}: expected an (H,W,3) uint8 array or a file path, got "
                         f"{arr.dtype} array of shape {arr.shape}")
    return arr


class LabDataset(Dataset):
    """Images -> normalised Lab pairs for colorization.

    Args:
        images: a sequence of ``(H,W,3)`` uint8 RGB arrays (``(H,W)`` grayscale arrays are
            accepted), an ``(N,H,W,3)`` uint8 array, or a sequence of file paths (read on access
            with :func:`load_image`; a bad file raises :class:`BadImageError` naming it).
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

    def __init__(self, images: Sequence[ImageSource] | np.ndarray, size: int | None = None,
                 train: bool = False, labels: Sequence[int] | None = None, rgb: bool = False, *,
                 crop_scale: tuple[float, float] = (0.5, 1.0), flip_p: float = 0.5,
                 classes: Sequence[str] | None = None) -> None:
        if isinstance(images, np.ndarray):
            if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
                raise ValueError("an array of images must be (N,H,W,3) uint8, got "
                                 f"{images.dtype} {images.shape}")
            items: list[ImageSource] = list(images)
        else:
            items = [Path(x) if isinstance(x, (str, os.PathLike)) else _as_uint8_rgb(x, i)
                     for i, x in enumerate(images)]
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
        return (f"LabDataset({len(self)} {kind}, size={self.size}, train={self.train}, "
                f"labels={'yes' if self.labels is not None else 'no'}, rgb={self.rgb})")

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
                img = np.asarray(Image.fromarray(img).resize(
                    (self.size, self.size), Image.Resampling.BICUBIC, box=box), dtype=np.uint8)
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


# --------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------
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
        return (f"{self.found} images in {self.root}: {len(self.kept)} kept, {len(self.bad)} "
                f"unreadable, {len(self.too_small)} too small, {len(self.grayscale)} grayscale "
                "dropped")

    __str__ = summary


def scan_images(paths: Sequence[PathLike], *, min_size: int = 0, drop_gray: bool = True,
                where: str = "the given files") -> FolderReport:
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
            img, (w, h) = _read_image(p, draft=probe)
        except (BadImageError, FileNotFoundError) as err:
            report.bad.append((p, str(err)))
            warnings.warn(f"skipping {err}", DataWarning, stacklevel=3)
            continue
        if min(w, h) < min_size:
            report.too_small.append((p, (w, h)))
            warnings.warn(f"skipping {p}: {w}x{h} is smaller than the {min_size}px crop",
                          DataWarning, stacklevel=3)
            continue
        if drop_gray and is_grayscale(img):
            report.grayscale.append(p)
            continue
        report.kept.append(p)
        report.kept_index.append(i)
    if report.grayscale:
        warnings.warn(f"dropped {len(report.grayscale)} grayscale images of {report.found} "
                      f"from {where}", DataWarning, stacklevel=3)
    return report


def _no_usable_images(root: PathLike, report: FolderReport, min_size: int) -> NoImagesError:
    if report.found == 0:
        return NoImagesError(f"no image files under {root} (looked recursively for "
                             f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files)")
    return NoImagesError(
        f"no usable image in {root}: of {report.found} image files, {len(report.bad)} are "
        f"unreadable, {len(report.too_small)} smaller than {min_size}px and "
        f"{len(report.grayscale)} grayscale (see the warnings for each file)")


def image_folder(root: PathLike, size: int = 256, *, train: bool = False, labels: bool = False,
                 rgb: bool = False, drop_gray: bool = True, min_size: int | None = None,
                 crop_scale: tuple[float, float] = (0.5, 1.0), flip_p: float = 0.5,
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
    ds = LabDataset(report.kept, size=size, train=train, labels=kept_labels, rgb=rgb,
                    crop_scale=crop_scale, flip_p=flip_p, classes=classes)
    return ds, report


_CLASS_SETS_HELP = (
    "Class-per-folder sets are not downloaded automatically. Places205 (seed 004): request the "
    "256x256 images at http://places.csail.mit.edu/downloadData.html and extract them so that "
    "each scene class is a folder (e.g. <root>/a/abbey/*.jpg). ImageNet (seed 000): download "
    "ILSVRC2012 from https://image-net.org (registration required) and point at the train folder "
    "(<root>/n01440764/*.JPEG ...). See data/README.md.")


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
        raise DatasetUnavailableError(f"class-per-folder dataset not found at {root}. "
                                      + _CLASS_SETS_HELP)
    paths = find_images(root)
    if not paths:
        raise NoImagesError(f"no image files under {root}; expected one folder per class")
    names = [p.parent.relative_to(root).as_posix() for p in paths]
    loose = [p for p, c in zip(paths, names) if c == "."]
    if loose:
        raise ValueError(f"{len(loose)} images lie directly in {root} (e.g. {loose[0].name}); "
                         "a class-per-folder set keeps every image in its class folder")
    classes = sorted(set(names))
    index = {c: i for i, c in enumerate(classes)}
    return paths, [index[c] for c in names], classes


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------
def split_counts(n: int, split: str | Sequence[float] = "80/10/10") -> tuple[int, int, int]:
    """Sizes ``(train, val, test)`` of a split of ``n`` items.

    ``split`` is a preset of :data:`SPLITS`, a string of percentages (``"70/15/15"``,
    ``"80/20"``), a tuple of fractions summing to 1, or a tuple of integer counts summing to ``n``
    (to reproduce a published table exactly). Two parts mean no test set.

    Rounding: every part but the last gets ``floor(fraction * n)``, the last the remainder. This
    reproduces seed 000's 80/10/10 table exactly (20426 -> 16340/2042/2044). No rounding of
    fractions reproduces seed 000's "60/20/20" table (12739/3842/3845 is 62.4/18.8/18.8 %):
    pass those counts. Seed 004's Places205 split (237974 -> 202278/11899/23797, 85/5/10)
    rounds to nearest instead: pass its counts too.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(split, str):
        if split in SPLITS:
            parts: tuple = SPLITS[split]
        else:
            try:
                pct = [float(x) for x in split.split("/")]
            except ValueError:
                raise ValueError(f"split {split!r} is neither a preset {sorted(SPLITS)} nor "
                                 "percentages like '70/15/15'") from None
            if abs(sum(pct) - 100.0) > 1e-6:
                raise ValueError(f"split {split!r}: percentages sum to {sum(pct)}, not 100")
            parts = tuple(p / 100.0 for p in pct)
    else:
        parts = tuple(split)
    if len(parts) not in (2, 3) or any(p < 0 for p in parts):
        raise ValueError(f"split needs 2 or 3 non-negative parts, got {split!r}")
    if all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in parts):
        if sum(parts) != n:
            raise ValueError(f"split counts {tuple(parts)} sum to {sum(parts)}, not n={n}")
        counts = [int(p) for p in parts]
    else:
        if abs(sum(parts) - 1.0) > 1e-6:
            raise ValueError(f"split fractions {tuple(parts)} sum to {sum(parts)}, not 1")
        counts = [int(math.floor(p * n + 1e-9)) for p in parts[:-1]]
        counts.append(n - sum(counts))
    if len(counts) == 2:
        counts.append(0)
    return counts[0], counts[1], counts[2]


def split_indices(n: int, split: str | Sequence[float] = "80/10/10", seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic disjoint ``(train, val, test)`` index arrays covering ``range(n)``.

    A permutation from ``numpy.random.default_rng(seed)`` cut into the sizes of
    :func:`split_counts` (see there for ``split`` and the rounding); each part is returned sorted
    (int64). The same ``(n, split, seed)`` always gives the same split.
    """
    counts = split_counts(n, split)
    perm = np.random.default_rng(seed).permutation(int(n))
    a, b = counts[0], counts[0] + counts[1]
    return np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:])


# --------------------------------------------------------------------------------------------
# Large sets: COCO sample (fastai), CIFAR-10 (torchvision)
# --------------------------------------------------------------------------------------------
def _coco_help(where: str) -> str:
    return (
        f"Download fastai's COCO sample ({COCO_SAMPLE_URL}, 3.2 GB) on a machine "
        "with internet, either with `from fastai.data.external import untar_data, URLs; "
        "untar_data(URLs.COCO_SAMPLE)` or by hand, and extract it so that the images lie in "
        f"{where}/coco_sample/train_sample/*.jpg (or pass coco_sample(data_dir=...) pointing at "
        "the folder holding coco_sample/); coco_sample(download=True) downloads it where the "
        "network allows. See data/README.md.")


def _locate_coco_sample(data_dir: PathLike | None, download: bool) -> Path:
    """The folder of COCO sample images, or DatasetUnavailableError (no network unless asked)."""
    if data_dir is not None:
        base = Path(data_dir)
        for candidate in (base / "coco_sample" / "train_sample", base / "train_sample",
                          base / "coco_sample", base):
            if candidate.is_dir() and find_images(candidate):
                return candidate
        raise DatasetUnavailableError(f"COCO sample not found under {base}. "
                                      + _coco_help(str(base)))
    from fastai.data.external import URLs, fastai_cfg, untar_data  # slow import: only here

    cfg = fastai_cfg()
    extracted = cfg.path("data") / "coco_sample"
    archive = cfg.path("archive") / "coco_sample.tgz"
    if not (extracted.is_dir() or download):
        expected = _COCO_SAMPLE_BYTES
        if archive.is_file() and archive.stat().st_size != expected:
            raise DatasetUnavailableError(
                f"COCO sample archive {archive} is incomplete ({archive.stat().st_size:,} of "
                f"{expected:,} bytes); delete it and download again. "
                + _coco_help(str(cfg.path("data"))))
        if not archive.is_file():
            raise DatasetUnavailableError(
                f"COCO sample not found: neither {extracted} nor {archive} exists. "
                + _coco_help(str(cfg.path("data"))))
    try:
        path = Path(untar_data(URLs.COCO_SAMPLE))
    except Exception as err:  # network and extraction failures alike
        raise DatasetUnavailableError(f"could not get the COCO sample ({type(err).__name__}: "
                                      f"{err}). " + _coco_help(str(cfg.path("data")))) from err
    return path / "train_sample" if (path / "train_sample").is_dir() else path


def coco_sample(n: int = 10000, n_train: int = 8000, seed: int = 0, *,
                data_dir: PathLike | None = None, download: bool = False
                ) -> tuple[list[Path], list[Path]]:
    """Seed 002's data: ``n`` random images of fastai's COCO sample split ``n_train``/rest.

    Returns ``(train_paths, val_paths)`` (8,000 / 2,000 by default), disjoint, drawn with
    ``numpy.random.default_rng(seed)`` from the sorted file list: deterministic. Feed them to
    ``LabDataset(train_paths, 256, train=True)`` / ``LabDataset(val_paths, 256)`` (seed 002:
    256x256, batch 16). The files are used as they are: COCO holds some grayscale photos;
    filter with :func:`scan_images` if they matter.

    The images are looked for in ``data_dir`` (``data_dir/coco_sample/train_sample``, or
    ``data_dir`` itself) when given, else in fastai's data folder (``~/.fastai/data/coco_sample``,
    moved by ``$FASTAI_HOME`` or fastai's ``config.ini``); there ``untar_data(URLs.COCO_SAMPLE)``
    is called only when the data or its complete archive is already on disk, or ``download=True``.

    Raises:
        DatasetUnavailableError: the images are not on disk (says what to download and where).
        ValueError: fewer than ``n`` images, or ``n_train > n``.
    """
    if not 0 <= n_train <= n:
        raise ValueError(f"need 0 <= n_train <= n, got n={n}, n_train={n_train}")
    folder = _locate_coco_sample(data_dir, download)
    paths = find_images(folder)
    if len(paths) < n:
        raise ValueError(f"COCO sample at {folder} holds {len(paths)} images; {n} were asked for")
    chosen = np.random.default_rng(seed).choice(len(paths), size=n, replace=False)
    return [paths[i] for i in chosen[:n_train]], [paths[i] for i in chosen[n_train:]]


def _cifar_help(root: Path) -> str:
    return (f"Download CIFAR-10 ({CIFAR10_URL}, 163 MB) on a machine with internet and extract it "
            f"into {root}, so that {root / 'cifar-10-batches-py'} holds "
            f"{', '.join(_CIFAR10_FILES)}; or call cifar10(root, download=True) where the network "
            "allows. See data/README.md.")


def cifar10(root: PathLike, train: bool = True, download: bool = False, *,
            augment: bool | None = None, rgb: bool = False) -> LabDataset:
    """CIFAR-10 through torchvision as a :class:`LabDataset` of ``(L, ab, label)`` at 32x32.

    Seed 003's data: 50,000 training / 10,000 test images in 10 classes (``.classes`` holds their
    names). ``augment`` (default: ``train``) adds a horizontal flip (p=0.5), no crop.

    Raises:
        DatasetUnavailableError: files missing with ``download=False`` (checked before torchvision
            is asked, so no network is tried), failing torchvision's checksum, or a failed download.
    """
    root = Path(root)
    base = root / "cifar-10-batches-py"
    missing = [f for f in _CIFAR10_FILES if not (base / f).is_file()]
    if missing and not download:
        raise DatasetUnavailableError(f"CIFAR-10 not found: {base} lacks {', '.join(missing)}. "
                                      + _cifar_help(root))
    from torchvision.datasets import CIFAR10

    try:
        tv = CIFAR10(str(root), train=train, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise DatasetUnavailableError(f"CIFAR-10 files in {base} are missing or corrupted "
                                      f"(torchvision: {err}). " + _cifar_help(root)) from err
    except OSError as err:  # network errors of download=True
        raise DatasetUnavailableError(f"could not download CIFAR-10 ({err}). "
                                      + _cifar_help(root)) from err
    return LabDataset(np.asarray(tv.data, dtype=np.uint8), size=32,
                      train=train if augment is None else augment, labels=list(tv.targets),
                      rgb=rgb, crop_scale=(1.0, 1.0), classes=list(tv.classes))
