"""The large sets: fastai's COCO sample (seed 002) and CIFAR-10 through torchvision (seed 003).

They are never downloaded behind your back: when the files are not on disk the loaders raise
:class:`~colorlab.data.DatasetUnavailableError` saying what to download, from where, and where to
put it (``data/README.md`` gives licences and sizes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colorlab.data.datasets import LabDataset
from colorlab.data.errors import DatasetUnavailableError
from colorlab.io import PathLike, find_images

__all__ = ["COCO_SAMPLE_URL", "CIFAR10_URL", "coco_sample", "cifar10"]

#: fastai's ``URLs.COCO_SAMPLE``: COCO images showing a chair, couch, tv, remote, book or vase
#: (about 22,000 images in ``coco_sample/train_sample/``; the .tgz is 3,245,877,008 bytes).
COCO_SAMPLE_URL = "https://s3.amazonaws.com/fast-ai-coco/coco_sample.tgz"
_COCO_SAMPLE_BYTES = 3_245_877_008  # size of the complete archive (fastai's download checks)
#: The CIFAR-10 python archive torchvision downloads (about 163 MB).
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR10_FILES = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
    "batches.meta",
)


def _coco_help(where: str) -> str:
    return (
        f"Download fastai's COCO sample ({COCO_SAMPLE_URL}, 3.2 GB) on a machine "
        "with internet, either with `from fastai.data.external import untar_data, URLs; "
        "untar_data(URLs.COCO_SAMPLE)` or by hand, and extract it so that the images lie in "
        f"{where}/coco_sample/train_sample/*.jpg (or pass coco_sample(data_dir=...) pointing at "
        "the folder holding coco_sample/); coco_sample(download=True) downloads it where the "
        "network allows. See data/README.md."
    )


def _locate_coco_sample(data_dir: PathLike | None, download: bool) -> Path:
    """The folder of COCO sample images, or DatasetUnavailableError (no network unless asked)."""
    if data_dir is not None:
        base = Path(data_dir)
        for candidate in (
            base / "coco_sample" / "train_sample",
            base / "train_sample",
            base / "coco_sample",
            base,
        ):
            if candidate.is_dir() and find_images(candidate):
                return candidate
        raise DatasetUnavailableError(
            f"COCO sample not found under {base}. " + _coco_help(str(base))
        )
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
                + _coco_help(str(cfg.path("data")))
            )
        if not archive.is_file():
            raise DatasetUnavailableError(
                f"COCO sample not found: neither {extracted} nor {archive} exists. "
                + _coco_help(str(cfg.path("data")))
            )
    try:
        path = Path(untar_data(URLs.COCO_SAMPLE))
    except Exception as err:  # network and extraction failures alike
        raise DatasetUnavailableError(
            f"could not get the COCO sample ({type(err).__name__}: "
            f"{err}). " + _coco_help(str(cfg.path("data")))
        ) from err
    return path / "train_sample" if (path / "train_sample").is_dir() else path


def coco_sample(
    n: int = 10000,
    n_train: int = 8000,
    seed: int = 0,
    *,
    data_dir: PathLike | None = None,
    download: bool = False,
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
    return (
        f"Download CIFAR-10 ({CIFAR10_URL}, 163 MB) on a machine with internet and extract it "
        f"into {root}, so that {root / 'cifar-10-batches-py'} holds "
        f"{', '.join(_CIFAR10_FILES)}; or call cifar10(root, download=True) where the network "
        "allows. See data/README.md."
    )


def cifar10(
    root: PathLike,
    train: bool = True,
    download: bool = False,
    *,
    augment: bool | None = None,
    rgb: bool = False,
) -> LabDataset:
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
        raise DatasetUnavailableError(
            f"CIFAR-10 not found: {base} lacks {', '.join(missing)}. " + _cifar_help(root)
        )
    from torchvision.datasets import CIFAR10

    try:
        tv = CIFAR10(str(root), train=train, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise DatasetUnavailableError(
            f"CIFAR-10 files in {base} are missing or corrupted "
            f"(torchvision: {err}). " + _cifar_help(root)
        ) from err
    except OSError as err:  # network errors of download=True
        raise DatasetUnavailableError(
            f"could not download CIFAR-10 ({err}). " + _cifar_help(root)
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
