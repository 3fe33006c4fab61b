"""Files: the one writer, the one image reader and the one weights-file loader of colorlab.

* **Writing**: every file colorlab writes goes through :func:`atomic_open`. A file is written to a
  temporary file in the same folder, flushed, fsynced and renamed over the target, so a crash
  mid-write leaves the previous file intact. Unlike :func:`tempfile.mkstemp` (which creates 0600
  files) the result gets the permissions of a plain ``open`` (0666 minus the umask: 0644 under
  umask 022), so a teaching assistant can read a student's checkpoints.
* **Reading images**: :func:`load_image` reads any common image file as ``(H,W,3)`` uint8 RGB
  (every mode converted, EXIF orientation applied) or raises :class:`BadImageError` naming the
  file; :func:`find_images` lists the images of a folder and :func:`read_images` reads a list of
  them, skipping unreadable files with a :class:`DataWarning`.
* **Weights files**: a :class:`WeightsFile` is a standard pretrained-weights file (torchvision,
  LPIPS) looked for in the torch hub cache and loaded with ``torch.load(weights_only=True)``.
  A file missing there is downloaded on demand by :func:`colorlab.download.download` (size and
  hash checked); when that fails or ``COLORLAB_OFFLINE=1`` forbids it, a
  :class:`WeightsUnavailableError` (:class:`WeightsOfflineError`, :class:`WeightsDownloadError`)
  says what to put where. A path given explicitly is never downloaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import uuid
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from colorlab.download import (
    SOURCES,
    DownloadError,
    OfflineError,
    Source,
    download,
    weights_source,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "PathLike",
    "BadImageError",
    "DataWarning",
    "WeightsUnavailableError",
    "WeightsOfflineError",
    "WeightsDownloadError",
    "WeightsFile",
    "atomic_open",
    "atomic_write",
    "write_json",
    "load_image",
    "read_image_and_size",
    "find_images",
    "read_images",
]

PathLike = Union[str, os.PathLike]

#: File name endings :func:`find_images` collects (compared case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; it replaces ``path`` on success.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8, ``"\\n"`` line endings on every platform). The
    parent folder is created. On an exception the temporary file is removed and ``path`` is left
    as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_umask())
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **text) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write(path: PathLike, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w" if isinstance(data, str) else "wb") as fh:
        fh.write(data)
    return Path(path)


def write_json(path: PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON (final newline) atomically; returns the path."""
    return atomic_write(path, json.dumps(data, indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# Reading images
# --------------------------------------------------------------------------------------------
class BadImageError(ValueError):
    """A file that cannot be used as an image. ``str(err)`` is ``"<path>: <problem>"``."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DataWarning(UserWarning):
    """A file was skipped or converted (named in the message), or images were dropped."""


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_PIL_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    TypeError,
    KeyError,
    Image.DecompressionBombError,
)


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
            raise BadImageError(
                path,
                f"mode {mode} image with values outside 0-65535 "
                f"(min {lo}, max {hi}): no known intensity range",
            )
        if mode == "F" and hi <= 1.0:
            scale = 255.0
        elif hi <= 255.0:
            scale = 1.0
        elif hi <= 65535.0:
            scale = 1.0 / 257.0
        else:
            raise BadImageError(
                path, f"mode {mode} image with values up to {hi}: no known intensity range"
            )
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


def _decode(path: Path, draft: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode ``path`` upright (EXIF orientation); PIL's errors pass through."""
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
        return _pil_to_rgb(im, path), full_size


def read_image_and_size(
    path: PathLike, draft: int | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """Read ``path`` as RGB uint8; returns ``(image, (width, height))`` of the full-size file.

    ``draft`` lets JPEG decoding shrink by a power of two as long as both sides stay at least
    ``draft`` pixels (fast scanning); the returned size is always that of the file. Raises as
    :func:`load_image`.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise BadImageError(path, "not a regular file")
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        rgb, full_size = _decode(path, draft)
    except BadImageError:
        raise
    except UnidentifiedImageError as err:
        raise BadImageError(
            path, "not an image file (no image format recognises its bytes)"
        ) from err
    except Image.DecompressionBombError as err:
        raise BadImageError(path, f"image too large ({err})") from err
    except _PIL_ERRORS as err:
        raise BadImageError(
            path, f"truncated or corrupt image data ({type(err).__name__}: {err})"
        ) from err
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
    return read_image_and_size(path)[0]


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


def read_images(paths: Iterable[PathLike]) -> Iterator[tuple[Path, np.ndarray]]:
    """``(path, (H,W,3) uint8)`` for each readable file of ``paths``, in order.

    A file that cannot be read (:class:`BadImageError`, or gone) is skipped with a
    :class:`DataWarning` ``"skipping <path>: <problem>"``.
    """
    for p in paths:
        try:
            image = load_image(p)
        except (BadImageError, FileNotFoundError) as err:
            warnings.warn(f"skipping {err}", DataWarning, stacklevel=2)
            continue
        yield Path(p), image


# --------------------------------------------------------------------------------------------
# Weights files
# --------------------------------------------------------------------------------------------
class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights are not on this machine (and could not be downloaded) or unreadable."""


class WeightsOfflineError(WeightsUnavailableError, OfflineError):
    """Weights are missing and ``COLORLAB_OFFLINE=1`` forbids downloading them."""


class WeightsDownloadError(WeightsUnavailableError, DownloadError):
    """Weights are missing and downloading them failed (the message says what failed)."""


@dataclass(frozen=True)
class WeightsFile:
    """A standard weights file: where it comes from and the name it has in the torch hub cache.

    :meth:`load` reads it (:meth:`fetch` downloads it first if it is not in the cache);
    :meth:`missing`, :meth:`not_downloaded` and :meth:`unusable` build its errors (a subclass may
    word them for its own users).
    """

    filename: str
    url: str
    description: str

    def default_path(self) -> Path:
        """``torch.hub.get_dir()/checkpoints/<filename>``, where torchvision caches it."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename

    def source(self) -> Source:
        """What :func:`colorlab.download.download` fetches (hash checked where known)."""
        return weights_source(self.filename, self.url, self.description)

    def _how_to(self, argument: str) -> str:
        name = self.source().name
        get = (
            f"On a machine with internet this does it: colorlab data get {name}\n"
            if name in SOURCES
            else ""
        )
        return (
            f"Download {self.url}\nand save it as {self.default_path()} "
            f"(or anywhere, and pass {argument}='<path to {self.filename}>').\n{get}"
            "Use pretrained=False only to test the plumbing: random weights give meaningless "
            "values."
        )

    def missing(self, file: Path, source: str, argument: str) -> Exception:
        """The error for a file that is not there (``source``: where it was looked for)."""
        return WeightsUnavailableError(
            f"{self.description} weights not found: {file} does not exist "
            f"(looked in {source}).\n" + self._how_to(argument)
        )

    def not_downloaded(self, file: Path, err: DownloadError, argument: str) -> Exception:
        """The error for a file missing from the cache that :meth:`fetch` could not download
        (a :class:`WeightsOfflineError` when ``err`` is an :class:`OfflineError`)."""
        kind = WeightsOfflineError if isinstance(err, OfflineError) else WeightsDownloadError
        return kind(
            f"{self.description} weights not found: {file} does not exist and was not "
            f"downloaded: {err}\n" + self._how_to(argument)
        )

    def unusable(self, file: Path, err: BaseException) -> Exception:
        """The error for a file that exists but holds no usable state dict (``err`` says why)."""
        return WeightsUnavailableError(
            f"{file} could not be read as {self.description} weights ({err}). "
            f"Download it again from {self.url}"
        )

    def fetch(self, progress: bool = True, argument: str = "path") -> Path:
        """The file in the hub cache, downloaded first if absent; raises :meth:`not_downloaded`."""
        file = self.default_path()
        try:
            return download(self.source(), dest=file.parent, progress=progress)
        except DownloadError as err:
            raise self.not_downloaded(file, err, argument) from err

    def load(self, path: PathLike | None = None, argument: str = "path") -> dict[str, torch.Tensor]:
        """The state dict in ``path`` (default: the hub cache, downloading the file if absent),
        read with ``weights_only=True``.

        ``argument`` is the name under which the caller's user passes ``path`` (for the message).
        Raises :meth:`missing` (an explicit ``path`` that does not exist), :meth:`not_downloaded`
        or :meth:`unusable` (by default :class:`WeightsUnavailableError` s).
        """
        if path is None:
            file = self.fetch(argument=argument)
        else:
            file = Path(path).expanduser()
            if not file.is_file():
                raise self.missing(file, f"{argument}={str(path)!r}", argument)
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as err:  # corrupt, truncated, not a PyTorch file
            raise self.unusable(file, err) from err
        if not isinstance(state, dict):
            raise self.unusable(
                file, TypeError(f"it holds a {type(state).__name__}, not a state dict")
            )
        return state
