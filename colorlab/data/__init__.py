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
* **Imagenette 160 px** (fastai's 10-class ImageNet subset: the ``imagenette`` presets) --
  :func:`imagenette` (its folder) and ``TrainConfig(dataset="imagenette")``.

The large sets are downloaded on demand (:mod:`colorlab.download`: progress bar, checked, into
fastai's data folder or ``$COLORLAB_DATA``). With ``COLORLAB_OFFLINE=1`` (or ``download=False``)
a missing set raises :class:`DatasetOfflineError` (a :class:`DatasetUnavailableError`) saying
what to download, from where, and where to put it.

Every dataset is a :class:`LabDataset`. An item is ``(L, ab)``: float32 ``(1,S,S)`` and
``(2,S,S)`` in ``[-1, 1]`` (the scaling of :mod:`colorlab.color`), ``(L, ab, label)`` when labels
are given, or ``(rgb, label_or_-1)`` with ``rgb=True`` (float32 ``(3,S,S)`` in ``[0, 1]``, for a
batched Lab conversion on the GPU). Training items get a random square crop (position and scale)
resized to ``S`` and a horizontal flip with p=0.5 (seed 004); evaluation items a deterministic
center crop resized to ``S``.

Splits are deterministic (:func:`split_indices`) with the seeds' presets in :data:`SPLITS`.
:func:`make_datasets` and :func:`make_loaders` assemble the sets and loaders of a training run
from its config (:data:`DATASETS`).

The modules: ``sample`` (the sample set), ``folders``, ``sources`` (Imagenette, COCO, CIFAR-10),
``splits``, ``datasets`` (:class:`LabDataset`) and ``loaders``. Image files are read by
:mod:`colorlab.io` (:func:`load_image`, :func:`find_images`, :class:`BadImageError`),
re-exported here.
"""

from __future__ import annotations

from colorlab.data.corpus import build_corpus as build_corpus
from colorlab.data.corpus import corpus_photos as corpus_photos
from colorlab.data.datasets import ImageSource, LabDataset
from colorlab.data.errors import DatasetUnavailableError, NoImagesError
from colorlab.data.folders import (
    FolderReport,
    class_folder,
    drop_grayscale,
    image_folder,
    is_grayscale,
    scan_images,
)
from colorlab.data.loaders import DATASETS, Loaders, ResumableSampler, make_datasets, make_loaders
from colorlab.data.sample import (
    SAMPLE_PARTS,
    SOURCE_PHOTOS,
    PhotoSource,
    build_sample_folder,
    sample_images,
    source_photos,
)
from colorlab.data.sources import (
    CIFAR10_URL,
    COCO_SAMPLE_URL,
    IMAGENETTE_URL,
    DatasetDownloadError,
    DatasetOfflineError,
    cifar10,
    coco_sample,
    imagenette,
)
from colorlab.data.splits import SPLITS, split_counts, split_indices
from colorlab.io import IMAGE_EXTENSIONS, BadImageError, DataWarning, find_images, load_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "SAMPLE_PARTS",
    "SOURCE_PHOTOS",
    "COCO_SAMPLE_URL",
    "CIFAR10_URL",
    "IMAGENETTE_URL",
    "DATASETS",
    "BadImageError",
    "DatasetUnavailableError",
    "DatasetOfflineError",
    "DatasetDownloadError",
    "NoImagesError",
    "DataWarning",
    "PhotoSource",
    "FolderReport",
    "ImageSource",
    "LabDataset",
    "Loaders",
    "ResumableSampler",
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
    "imagenette",
    "make_datasets",
    "make_loaders",
]
