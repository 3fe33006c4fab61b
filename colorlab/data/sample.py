"""The embedded offline sample set: crops of the colour photographs our dependencies ship.

:func:`source_photos` reads the photographs (scikit-image, scikit-learn and matplotlib sample
images; see :data:`SOURCE_PHOTOS` and ``data/README.md`` for their licences), :func:`sample_images`
cuts deterministic random crops of them and :func:`build_sample_folder` writes those as PNG files
for folder-based code. Needs no network; tests, quick presets and the main job use it by default.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from colorlab.data.errors import DatasetUnavailableError
from colorlab.data.folders import is_grayscale
from colorlab.io import BadImageError, DataWarning, PathLike, atomic_write, load_image

__all__ = [
    "SAMPLE_PARTS",
    "SOURCE_PHOTOS",
    "PhotoSource",
    "source_photos",
    "sample_images",
    "build_sample_folder",
]

#: Where in each source photo the crops of a held-out part of the sample set come from, as a
#: ``(start, stop)`` fraction of the photo's longer axis. The bands do not overlap, so no pixel
#: of a "val" or "test" crop is ever seen in a "train" crop.
SAMPLE_PARTS: dict[str, tuple[float, float]] = {
    "train": (0.0, 0.7),
    "val": (0.7, 0.85),
    "test": (0.85, 1.0),
}


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
    PhotoSource(
        "grace_hopper", "matplotlib", "grace_hopper.jpg", "public domain (U.S. Navy photograph)"
    ),
)


@functools.lru_cache(maxsize=1)
def _source_photos_cached() -> tuple[tuple[str, np.ndarray], ...]:
    photos = []
    for src in SOURCE_PHOTOS:
        try:
            path = src.path()
            img = load_image(path)
        except (ModuleNotFoundError, FileNotFoundError, BadImageError) as err:
            warnings.warn(
                f"sample photo {src.name!r} from {src.package} is unavailable and "
                f"left out of the sample set: {err}",
                DataWarning,
                stacklevel=3,
            )
            continue
        img.flags.writeable = False
        photos.append((src.name, img))
    if not photos:
        raise DatasetUnavailableError(
            "none of the sample photographs shipped by scikit-image, scikit-learn and matplotlib "
            "was found; reinstall them (pip install -e '.[dev]') to get the offline sample set"
        )
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
def _sample_crops(
    n: int, size: int, seed: int, part: str | None
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
        crop = np.asarray(
            Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC, box=box),
            dtype=np.uint8,
        )
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


def sample_images(
    n: int = 256, size: int = 64, seed: int = 0, *, part: str | None = None
) -> list[np.ndarray]:
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


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def build_sample_folder(
    root: PathLike, n: int = 256, size: int = 64, seed: int = 0, *, part: str | None = None
) -> Path:
    """Write the sample set as PNG files; returns the folder holding them.

    The folder is ``root / "sample-n{n}-s{size}-seed{seed}[-{part}]"``, so different arguments
    never mix. Files are ``0000_<photo>.png`` ... plus ``manifest.json`` recording the arguments
    and, per file, the source photo and crop box. Idempotent: a folder whose manifest matches and
    whose files all exist is returned untouched. Every file (the manifest last) is written
    atomically (:func:`colorlab.io.atomic_write`), so an interrupted build is completed by the
    next call and a reader never sees half a file.
    """
    _check_sample_args(n, size, part)
    name = f"sample-n{n}-s{size}-seed{seed}" + (f"-{part}" if part else "")
    folder = Path(root) / name
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = None
    if (
        isinstance(manifest, dict)
        and manifest.get("args") == {"n": n, "size": size, "seed": seed, "part": part}
        and all((folder / entry["file"]).is_file() for entry in manifest.get("files", []))
        and len(manifest.get("files", [])) == n
    ):
        return folder
    crops = _sample_crops(int(n), int(size), int(seed), part)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (photo, box, crop) in enumerate(crops):
        filename = f"{i:04d}_{photo}.png"
        atomic_write(folder / filename, _png_bytes(crop))
        entries.append({"file": filename, "photo": photo, "box": list(box)})
    manifest = {"args": {"n": n, "size": size, "seed": seed, "part": part}, "files": entries}
    atomic_write(manifest_path, json.dumps(manifest, indent=1))
    return folder
