"""The errors of the data loaders (the image reader's own live in :mod:`colorlab.io`)."""

from __future__ import annotations

__all__ = ["DatasetUnavailableError", "NoImagesError"]


class DatasetUnavailableError(RuntimeError):
    """A dataset is not on disk (and may not be downloaded); the message says how to get it."""


class NoImagesError(ValueError):
    """A folder (or list of files) holds no usable image; the message names the folder."""
