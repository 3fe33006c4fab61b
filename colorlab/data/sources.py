"""The large sets: Imagenette, fastai's COCO sample (seed 002) and CIFAR-10 (seed 003).

Each is looked for where fastai and torchvision keep it (fastai's data folder, ``~/.fastai/data``,
or ``$COLORLAB_DATA``; or the folder passed in) and, when absent, downloaded there on demand by
:func:`colorlab.download.download` (progress bar, size and hash checks, atomic extraction).
With ``COLORLAB_OFFLINE=1``, or ``download=False``, a missing set raises
:class:`DatasetOfflineError` / :class:`~colorlab.data.DatasetUnavailableError` saying what to
download, from where, and where to put it (``data/README.md`` gives licences and sizes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colorlab.data.datasets import LabDataset
from colorlab.data.errors import DatasetUnavailableError
from colorlab.download import SOURCES, DownloadError, OfflineError, data_root
from colorlab.download import download as download_source
from colorlab.io import PathLike, find_images

__all__ = [
    "IMAGENETTE_URL",
    "COCO_SAMPLE_URL",
    "CIFAR10_URL",
    "DatasetOfflineError",
    "DatasetDownloadError",
    "imagenette",
    "coco_sample",
    "cifar10",
]

#: fastai's ``URLs.IMAGENETTE_160``: 10 ImageNet classes, ``train/`` (9,469) and ``val/`` (3,925)
#: folders of class folders (WordNet ids), shorter side 160 px (the .tgz is 99,003,388 bytes).
IMAGENETTE_URL = SOURCES["imagenette"].url
#: fastai's ``URLs.COCO_SAMPLE``: COCO images showing a chair, couch, tv, remote, book or vase
#: (about 22,000 images in ``coco_sample/train_sample/``; the .tgz is 3,245,877,008 bytes).
COCO_SAMPLE_URL = SOURCES["coco_sample"].url
_COCO_SAMPLE_BYTES = SOURCES["coco_sample"].size  # size of the complete archive
#: The CIFAR-10 python archive torchvision downloads (170,498,071 bytes).
CIFAR10_URL = SOURCES["cifar10"].url
_CIFAR10_FILES = SOURCES["cifar10"].members


class DatasetOfflineError(OfflineError, DatasetUnavailableError):
    """A dataset is missing and ``COLORLAB_OFFLINE=1`` forbids downloading it."""


class DatasetDownloadError(DownloadError, DatasetUnavailableError):
    """A dataset is missing and its download failed (the message says what failed)."""


def _fetch(name: str, parent: Path, help_text: str) -> Path:
    """``download(name, dest=parent)`` with its errors as :class:`DatasetUnavailableError` s."""
    try:
        return download_source(name, dest=parent)
    except OfflineError as err:
        raise DatasetOfflineError(f"{err} {help_text}", url=err.url, target=err.target) from err
    except DownloadError as err:
        raise DatasetDownloadError(f"{err} {help_text}", url=err.url, target=err.target) from err


def _parent(data_dir: PathLike | None, folder: str) -> Path:
    """The folder a set goes into: ``data_dir`` (its parent if it is named ``folder``) or the
    default data root."""
    if data_dir is None:
        return data_root()
    base = Path(data_dir).expanduser()
    return base.parent if base.name == folder else base


# --------------------------------------------------------------------------------------------
# Imagenette
# --------------------------------------------------------------------------------------------
def _imagenette_help(where: Path) -> str:
    return (
        f"Imagenette 160 px is {IMAGENETTE_URL} (99 MB): 'colorlab data get imagenette' (or "
        "fastai's untar_data(URLs.IMAGENETTE_160)) downloads and extracts it, so that "
        f"{where / 'imagenette2-160'} holds train/ and val/. See data/README.md."
    )


def imagenette(data_dir: PathLike | None = None, *, download: bool = True) -> Path:
    """The Imagenette 160 px folder (``train/`` and ``val/``, one folder per class), downloaded
    on demand.

    ``data_dir`` may be that folder itself or the folder holding ``imagenette2-160/``; default:
    fastai's data folder (``~/.fastai/data``, where ``untar_data(URLs.IMAGENETTE_160)`` puts it)
    or ``$COLORLAB_DATA``. A missing set is downloaded there unless ``download=False``.

    Raises:
        DatasetUnavailableError: not on disk and not downloaded (:class:`DatasetOfflineError`
            under ``COLORLAB_OFFLINE=1``, :class:`DatasetDownloadError` if the download failed).
    """
    source = SOURCES["imagenette"]
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        for candidate in (base, base / source.folder):
            if all((candidate / m).is_dir() for m in source.members):
                return candidate
    parent = _parent(data_dir, source.folder)
    if not download:
        raise DatasetUnavailableError(
            f"Imagenette not found in {parent / source.folder}. " + _imagenette_help(parent)
        )
    return _fetch("imagenette", parent, _imagenette_help(parent))


# --------------------------------------------------------------------------------------------
# COCO sample
# --------------------------------------------------------------------------------------------
def _coco_help(where: str) -> str:
    return (
        f"fastai's COCO sample is {COCO_SAMPLE_URL} (3.2 GB): 'colorlab data get coco_sample' "
        "(or `from fastai.data.external import untar_data, URLs; untar_data(URLs.COCO_SAMPLE)`) "
        "downloads and extracts it, so that the images lie in "
        f"{where}/coco_sample/train_sample/*.jpg (or pass coco_sample(data_dir=...) pointing at "
        "the folder holding coco_sample/). See data/README.md."
    )


def _locate_coco_sample(data_dir: PathLike | None, download: bool) -> Path:
    """The folder of COCO sample images, downloaded on demand (unless ``download=False``)."""
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        for candidate in (
            base / "coco_sample" / "train_sample",
            base / "train_sample",
            base / "coco_sample",
            base,
        ):
            if candidate.is_dir() and find_images(candidate):
                return candidate
    parent = _parent(data_dir, "coco_sample")
    if not download:
        raise DatasetUnavailableError(
            f"COCO sample not found under {parent / 'coco_sample'}. " + _coco_help(str(parent))
        )
    return _fetch("coco_sample", parent, _coco_help(str(parent))) / "train_sample"


def coco_sample(
    n: int = 10000,
    n_train: int = 8000,
    seed: int = 0,
    *,
    data_dir: PathLike | None = None,
    download: bool = True,
) -> tuple[list[Path], list[Path]]:
    """Seed 002's data: ``n`` random images of fastai's COCO sample split ``n_train``/rest.

    Returns ``(train_paths, val_paths)`` (8,000 / 2,000 by default), disjoint, drawn with
    ``numpy.random.default_rng(seed)`` from the sorted file list: deterministic. Feed them to
    ``LabDataset(train_paths, 256, train=True)`` / ``LabDataset(val_paths, 256)`` (seed 002:
    256x256, batch 16). The files are used as they are: COCO holds some grayscale photos;
    filter with :func:`scan_images` if they matter.

    The images are looked for in ``data_dir`` (``data_dir/coco_sample/train_sample``, or
    ``data_dir`` itself) when given, else in fastai's data folder (``~/.fastai/data/coco_sample``,
    moved by ``$FASTAI_HOME`` or fastai's ``config.ini``; or ``$COLORLAB_DATA``). When absent the
    3.2 GB archive is downloaded there (a complete copy in fastai's archive folder is extracted
    instead), unless ``download=False``.

    Raises:
        DatasetUnavailableError: the images are not on disk and were not downloaded (says what
            to download and where; :class:`DatasetOfflineError` under ``COLORLAB_OFFLINE=1``).
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


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
def _cifar_help(root: Path) -> str:
    return (
        f"CIFAR-10 is {CIFAR10_URL} (163 MB), from https://www.cs.toronto.edu/~kriz/cifar.html: "
        f"'colorlab data get cifar10 --dir {root}' downloads and extracts it, so that "
        f"{root / 'cifar-10-batches-py'} holds {', '.join(_CIFAR10_FILES)}. See data/README.md."
    )


def cifar10(
    root: PathLike | None = None,
    train: bool = True,
    download: bool = True,
    *,
    augment: bool | None = None,
    rgb: bool = False,
) -> LabDataset:
    """CIFAR-10 through torchvision as a :class:`LabDataset` of ``(L, ab, label)`` at 32x32.

    Seed 003's data: 50,000 training / 10,000 test images in 10 classes (``.classes`` holds their
    names). ``augment`` (default: ``train``) adds a horizontal flip (p=0.5), no crop. The files
    are read from ``root/cifar-10-batches-py`` (torchvision's layout; ``root`` defaults to
    fastai's data folder or ``$COLORLAB_DATA``) and downloaded there first if missing, unless
    ``download=False``; torchvision itself is never asked to download.

    Raises:
        DatasetUnavailableError: files missing and not downloaded (:class:`DatasetOfflineError`
            under ``COLORLAB_OFFLINE=1``), or failing torchvision's checksum.
    """
    root = data_root() if root is None else Path(root).expanduser()
    base = root / "cifar-10-batches-py"
    missing = [f for f in _CIFAR10_FILES if not (base / f).is_file()]
    if missing and not download:
        raise DatasetUnavailableError(
            f"CIFAR-10 not found: {base} lacks {', '.join(missing)}. " + _cifar_help(root)
        )
    if missing:
        _fetch("cifar10", root, _cifar_help(root))
    from torchvision.datasets import CIFAR10

    try:
        tv = CIFAR10(str(root), train=train, download=False)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise DatasetUnavailableError(
            f"CIFAR-10 files in {base} are missing or corrupted "
            f"(torchvision: {err}). " + _cifar_help(root)
        ) from err
    return LabDataset(
        np.asarray(tv.data, dtype=np.uint8),
        size=32,
        train=train if augment is None else augment,
        labels=list(tv.targets),
        rgb=rgb,
        crop_scale=(1.0, 1.0),
        classes=list(tv.classes),
    )
