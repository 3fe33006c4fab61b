"""Colorize your own photo: upload it, pick a checkpoint, see gray | colorized | original
(:class:`ColorizeYourOwn`; the checks on the file are in :mod:`colorlab.widgets.upload`)."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image
from torch import nn

from colorlab.checkpoint import SHIPPED, CheckpointError
from colorlab.config import ConfigError, get_preset
from colorlab.inference import LoadedModel, colorize, gray_baseline, load_colorizer
from colorlab.models import build_generator
from colorlab.widgets._view import _ERROR_COLOR, _OK_COLOR, _View, png_bytes
from colorlab.widgets.upload import UploadError, read_upload

#: Option value of :class:`ColorizeYourOwn`'s checkpoint picker for the untrained generator.
UNTRAINED: str = "untrained"


@dataclass
class Colorized:
    """One colorized upload: three ``(H,W,3)`` uint8 images of the same size.

    ``original`` is the photo as uploaded (shrunk to ``max_side`` if larger), ``gray`` its
    lightness alone (what the generator sees), ``colorized`` the generator's colours on that
    lightness. ``upload_size`` is the file's ``(width, height)``.
    """

    name: str
    model: str
    original: np.ndarray
    gray: np.ndarray
    colorized: np.ndarray
    upload_size: tuple[int, int]


def find_checkpoints(
    roots: str | os.PathLike | Iterable[str | os.PathLike] = "runs", pattern: str = "**/*.pt"
) -> list[Path]:
    """Checkpoint files under ``roots`` matching ``pattern``, newest first (missing roots: none)."""
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    found: dict[Path, float] = {}
    for root in roots:
        root = Path(root)
        if root.is_dir():
            for path in root.glob(pattern):
                if path.is_file():
                    found[path] = path.stat().st_mtime
    return sorted(found, key=lambda p: (-found[p], str(p)))


class ColorizeYourOwn(_View):
    """Upload a photo, pick a model, see gray | colorized | original side by side.

    Attributes (widgets):
        upload: ``FileUpload`` (one image file).
        checkpoint: ``Dropdown`` over the checkpoints found under ``roots`` (newest first,
            :func:`find_checkpoints`), plus :data:`UNTRAINED`, the quick preset's generator with
            random weights (so the widget works before any training: it colours at random).
        rescan: ``Button`` that looks for new checkpoints.
        status: ``HTML``, what happened (an error in red, never a traceback).
        gray_image, colorized_image, original_image: ``Image`` s of the last good upload.
        widget: the root ``VBox``.

    Attributes (state): ``result`` (the last :class:`Colorized`, or ``None``), ``message``
    (the status as plain text), ``ok`` (whether the last upload worked).

    Limits: ``max_bytes`` per upload (an upload travels in one websocket message, and the
    Jupyter server, through tornado, accepts at most 10 MiB per message), ``max_pixels``
    declared in the header, and photos larger than ``max_side`` on their longer side are shrunk
    before colorizing. ``extra_models`` adds generators by name (``{"my generator": G}``) to the
    picker.
    """

    def __init__(
        self,
        roots: str | os.PathLike | Iterable[str | os.PathLike] = "runs",
        pattern: str = "**/*.pt",
        max_bytes: int = 8_000_000,
        max_pixels: int = 40_000_000,
        max_side: int = 512,
        display_width: int = 220,
        extra_models: Mapping[str, nn.Module] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
        self.pattern = pattern
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.max_side = max_side
        self.device = torch.device(device)
        self.extra_models = dict(extra_models or {})
        self._models: dict[str, LoadedModel] = {}
        self._last_upload: tuple[bytes, str] | None = None
        self._refreshing = False
        self.result: Colorized | None = None
        self.message = ""
        self.ok = False

        self.upload = widgets.FileUpload(
            accept="image/*", multiple=False, description="Upload photo"
        )
        self.checkpoint = widgets.Dropdown(
            description="model", layout=widgets.Layout(width="520px")
        )
        self.rescan = widgets.Button(
            description="Rescan checkpoints", layout=widgets.Layout(width="auto")
        )
        self.status = widgets.HTML()
        self.status.add_class("colorlab-upload-status")
        self.gray_image = widgets.Image(format="png", width=display_width)
        self.colorized_image = widgets.Image(format="png", width=display_width)
        self.original_image = widgets.Image(format="png", width=display_width)
        columns = [
            widgets.VBox([widgets.HTML(f"<b>{title}</b>"), image])
            for title, image in (
                ("gray (the input)", self.gray_image),
                ("colorized", self.colorized_image),
                ("original", self.original_image),
            )
        ]
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.upload, self.rescan]),
                self.checkpoint,
                self.status,
                widgets.HBox(columns),
            ]
        )
        self.widget.add_class("colorlab-colorize")
        self.refresh_checkpoints()
        self._show("upload a photo (JPEG, PNG, ...) to colorize it", ok=True)
        self.upload.observe(self._on_upload, "value")
        self.checkpoint.observe(self._on_model, "value")
        self.rescan.on_click(lambda _: self.refresh_checkpoints())

    # -- the model ---------------------------------------------------------------------------
    def checkpoint_options(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs: the shipped checkpoints (the teacher first: the default),
        checkpoints under ``roots`` newest first, extra models, the untrained one."""
        options = [
            (f"{name} (shipped with colorlab)", name)
            for name, path in SHIPPED.items()
            if path.is_file()
        ]
        options += [(str(p), str(p)) for p in find_checkpoints(self.roots, self.pattern)]
        options += [(name, name) for name in self.extra_models]
        options.append(("untrained quick generator (random weights)", UNTRAINED))
        return options

    def refresh_checkpoints(self) -> None:
        """Rescan ``roots``; keep the selection if it still exists, else take the newest."""
        options = self.checkpoint_options()
        values = [v for _, v in options]
        before = self.checkpoint.value
        keep = before if before in values else values[0]
        self._refreshing = True
        try:
            self.checkpoint.options = options
            self.checkpoint.value = keep
        finally:
            self._refreshing = False
        if keep != before and before is not None:
            self._on_model({"new": keep})

    def model(self, value: str | None = None) -> LoadedModel:
        """The :class:`~colorlab.inference.LoadedModel` of a picker value (default: selected).

        Loaded once and cached (a checkpoint file rewritten since is loaded again). Raises
        :class:`UploadError` when a checkpoint cannot be used.
        """
        value = self.checkpoint.value if value is None else value
        key = value
        if value != UNTRAINED and value not in self.extra_models and Path(value).is_file():
            key = f"{value}@{Path(value).stat().st_mtime_ns}"  # a rewritten last.pt is reloaded
        if key not in self._models:
            try:
                if value == UNTRAINED:
                    self._models[key] = self._untrained()
                elif value in self.extra_models:
                    self._models[key] = load_colorizer(self.extra_models[value], device=self.device)
                else:
                    self._models[key] = load_colorizer(value, device=self.device)
            except (OSError, CheckpointError, ConfigError) as err:
                raise UploadError(f"model {value}: {err}") from None
        return self._models[key]

    def _untrained(self) -> LoadedModel:
        cfg = get_preset("quick", profile="quick")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            G = build_generator(cfg, pretrained=False)
        return load_colorizer(G, size=cfg.image_size, device=self.device)

    def model_label(self, value: str | None = None) -> str:
        value = self.checkpoint.value if value is None else value
        return dict((v, label) for label, v in self.checkpoint.options).get(value, str(value))

    # -- an upload -----------------------------------------------------------------------------
    def colorize_bytes(self, data: bytes, name: str) -> Colorized:
        """Check, decode, shrink and colorize one file (pure: the widgets are not touched).

        Raises :class:`UploadError` with the message to show.
        """
        rgb = read_upload(data, name, max_bytes=self.max_bytes, max_pixels=self.max_pixels)
        upload_size = (rgb.shape[1], rgb.shape[0])
        if max(rgb.shape[:2]) > self.max_side:
            scale = self.max_side / max(rgb.shape[:2])
            size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
            rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
        lm = self.model()
        return Colorized(
            name=name,
            model=self.model_label(),
            original=rgb,
            gray=gray_baseline(rgb),
            colorized=colorize(lm.module, rgb, size=lm.size, device=lm.device),
            upload_size=upload_size,
        )

    def load_bytes(self, data: bytes, name: str) -> Colorized | None:
        """Colorize ``data`` (the bytes of file ``name``) and show it; ``None`` on a bad file.

        What the upload button calls; also handy from code. Never raises for a bad file: the
        message goes to ``status`` (and ``message``), the three images are cleared.
        """
        self._last_upload = (bytes(data), name)
        try:
            result = self.colorize_bytes(data, name)
        except UploadError as err:
            self._fail(str(err))
            return None
        except Exception as err:  # noqa: BLE001 - a widget callback must not die silently
            self._fail(f"{name}: could not be colorized ({type(err).__name__}: {err})")
            return None
        self.result = result
        self.gray_image.value = png_bytes(result.gray)
        self.colorized_image.value = png_bytes(result.colorized)
        self.original_image.value = png_bytes(result.original)
        h, w = result.original.shape[:2]
        size = f"{w}x{h} pixels"
        if (w, h) != result.upload_size:
            size += f" (shrunk from {result.upload_size[0]}x{result.upload_size[1]})"
        self._show(f"{name}: {size}, colorized with {result.model}", ok=True)
        return result

    def summary(self) -> str:
        return f"ColorizeYourOwn: {self.message}"

    def _fail(self, message: str) -> None:
        self.result = None
        for image in (self.gray_image, self.colorized_image, self.original_image):
            image.value = b""
        self._show(message, ok=False)

    def _show(self, message: str, ok: bool) -> None:
        self.message, self.ok = message, ok
        color = _OK_COLOR if ok else _ERROR_COLOR
        icon = "" if ok else "⚠ "
        self.status.value = f"<span style='color:{color}'>{icon}{html.escape(message)}</span>"

    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        first = files[0]
        self.load_bytes(bytes(first["content"]), str(first.get("name", "upload")))
        self.upload.value = ()  # free the bytes; the same file can be chosen again

    def _on_model(self, change: Mapping[str, Any]) -> None:
        if self._last_upload is not None and not self._refreshing:
            self.load_bytes(*self._last_upload)
