"""Interactive widgets of the course (ipywidgets 8): explore, train, colorize your own photo.

Four small classes. Each keeps its widget tree as attributes (``.widget`` is the root box) and
computes what it shows in plain methods, so the logic runs and is tested without a browser:

* :class:`LabExplorer`: sliders for L, a and b, the colour they make (flagged when it lies
  outside the sRGB gamut and has to be clipped), the a-b plane at that lightness, and the
  L/a/b channels of a photo.
* :class:`ReceptiveFieldExplorer`: a slider for the PatchGAN depth ``n_layers`` (0..5) draws the
  receptive field of one output cell and the lattice of the output map on a photo, and prints
  ``"n_layers=3: receptive field 70x70, output map 30x30 for 256x256"``.
* :class:`TrainingMonitor`: a callback for :func:`colorlab.train.train` that redraws the loss
  curves and a sample grid every ``every`` steps while a notebook cell trains.
* :class:`ColorizeYourOwn`: upload a photo, pick a checkpoint (``runs/**/*.pt``, or an untrained
  generator so that the widget works before any training), see gray | colorized | original.
  Uploads are checked before they are decoded (byte size, then the pixel count the header
  declares: a decompression bomb is a small file that declares gigapixels); a bad file shows a
  message in the widget, never a traceback.

An object shows as its widget when it is the value of a cell (or with ``display(obj)``)::

    rf = ReceptiveFieldExplorer()
    rf                                   # the interactive view (needs a live kernel)
    rf.depth.value = 5                   # the same from code
    print(rf.info.value)                 # n_layers=5: receptive field 286x286, output map 6x6 ...

Its plain-text form (what nbval compares and what a terminal shows) is a one-line summary.

One module per widget (:mod:`~colorlab.widgets.lab_explorer`,
:mod:`~colorlab.widgets.receptive_field`, :mod:`~colorlab.widgets.training_monitor`,
:mod:`~colorlab.widgets.colorize` with its upload guard :mod:`~colorlab.widgets.upload`), the
shared view and PNG helpers in :mod:`~colorlab.widgets._view`; everything public is re-exported
here.
"""

from colorlab.widgets._view import figure_png, png_bytes, show_png
from colorlab.widgets.colorize import UNTRAINED, Colorized, ColorizeYourOwn, find_checkpoints
from colorlab.widgets.lab_explorer import (
    GAMUT_TOLERANCE,
    LabExplorer,
    Swatch,
    ab_plane,
    lab_swatch,
)
from colorlab.widgets.receptive_field import (
    PatchGeometry,
    ReceptiveFieldExplorer,
    patch_geometry,
)
from colorlab.widgets.training_monitor import TrainingMonitor
from colorlab.widgets.upload import UploadError, decompression_bomb_png, read_upload

__all__ = [
    "GAMUT_TOLERANCE",
    "UNTRAINED",
    "Swatch",
    "lab_swatch",
    "ab_plane",
    "LabExplorer",
    "PatchGeometry",
    "patch_geometry",
    "ReceptiveFieldExplorer",
    "TrainingMonitor",
    "UploadError",
    "Colorized",
    "read_upload",
    "find_checkpoints",
    "decompression_bomb_png",
    "ColorizeYourOwn",
    "png_bytes",
    "figure_png",
    "show_png",
]
