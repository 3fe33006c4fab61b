"""Paired image-to-image tasks for the pix2pix trainer: colorization is one of them.

pix2pix (seed 001) is a *general-purpose* recipe: the same U-Net generator, PatchGAN and
``L_cGAN + lambda L1`` objective learn any mapping from an input image ``x`` to an output image
``y`` given aligned pairs ``(x, y)``. The paper's list of experiments includes
*BW -> color photos*, *edges -> photo* and *photo with missing pixels -> inpainted photo*. Each of
those is a :class:`Task` here: it builds ``(input, target)`` tensor pairs from RGB images (so any
colour photo collection, e.g. the embedded sample set, becomes training data) and turns the
network's output back into an RGB image to look at.

========================  =======  ========  ==============================================
task (``TASKS`` key)      input    target    what the network learns
========================  =======  ========  ==============================================
``"colorization"``        1 (L)    2 (ab)    the chroma of a photo from its lightness (Lab)
``"edges2photo"``         1        3 (RGB)   a photo from its Canny edge map
``"inpainting"``          4        3 (RGB)   a photo from a copy with a square hole (RGB with
                                             the hole blanked + the hole's mask)
========================  =======  ========  ==============================================

Conventions (the trainer's): inputs and targets are float ``(B,C,H,W)`` in ``[-1, 1]``;
``Task.pair`` takes RGB ``(B,3,H,W)`` or ``(3,H,W)`` in ``[0, 1]``; ``Task.to_rgb`` and
``Task.input_to_rgb`` return ``(B,3,H,W)`` in ``[0, 1]``. The discriminator sees ``input`` and
``target`` (or the generator's output) concatenated: ``in_channels + out_channels`` channels.

:class:`TaskDataset` wraps any dataset of ``(rgb, label)`` items (``LabDataset(rgb=True)``) into
``(input, target)`` items (``(input, target, label)`` when the dataset has labels);
``TrainConfig(task=...)`` makes :func:`colorlab.train.train` do that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from skimage.feature import canny
from torch import Tensor
from torch.utils.data import Dataset

from colorlab.color import AB_SCALE, L_MAX, L_ab_to_rgb, rgb_to_L_ab, rgb_to_lab

__all__ = [
    "Task",
    "Colorization",
    "EdgesToPhoto",
    "Inpainting",
    "TASKS",
    "get_task",
    "TaskDataset",
    "RGB_SCALE",
]

#: Half the 0-255 range: an error ``e`` on RGB in ``[-1, 1]`` is ``e * RGB_SCALE`` in 0-255 units.
RGB_SCALE: float = 127.5


def _rgb_batch(rgb: Tensor, where: str) -> Tensor:
    """Check an RGB input: ``(B,3,H,W)`` or ``(3,H,W)`` float in [0,1] -> ``(B,3,H,W)``."""
    if not isinstance(rgb, Tensor):
        raise TypeError(
            f"{where}: expected a torch tensor (B,3,H,W) in [0,1], got {type(rgb).__name__}"
        )
    if rgb.dim() == 3:
        rgb = rgb[None]
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(
            f"{where}: expected RGB of shape (B,3,H,W) or (3,H,W), got {tuple(rgb.shape)}"
        )
    if not rgb.is_floating_point():
        raise TypeError(
            f"{where}: expected a float tensor in [0,1], got {rgb.dtype} "
            f"(divide uint8 images by 255)"
        )
    return rgb


def _to_signed(x01: Tensor) -> Tensor:
    return x01 * 2.0 - 1.0


def _to_unit(x: Tensor) -> Tensor:
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


class Task:
    """One paired image-to-image task.

    Class attributes: ``name`` (its :data:`TASKS` key), ``in_channels`` and ``out_channels`` of the
    generator, and how the trainer reports the validation error: ``val_key`` (the history key)
    and ``val_scale`` (mean absolute error in [-1,1] units times this = the reported value).
    """

    name: ClassVar[str] = ""
    in_channels: ClassVar[int] = 0
    out_channels: ClassVar[int] = 0
    val_key: ClassVar[str] = "val_l1"
    val_scale: ClassVar[float] = RGB_SCALE
    description: ClassVar[str] = ""

    @property
    def d_channels(self) -> int:
        """Channels the conditional discriminator sees: input and output concatenated."""
        return self.in_channels + self.out_channels

    def pair(self, rgb: Tensor, train: bool = False) -> tuple[Tensor, Tensor]:
        """RGB ``(B,3,H,W)`` in [0,1] -> ``(input (B,in,H,W), target (B,out,H,W))`` in [-1,1].

        ``train=True`` may randomise the corruption (e.g. where the hole goes), drawing from
        torch's global generator; ``False`` is deterministic.
        """
        raise NotImplementedError

    def to_rgb(self, inp: Tensor, out: Tensor) -> Tensor:
        """The RGB image ``(B,3,H,W)`` in [0,1] that the output ``out`` (or a target) stands for,
        given the input ``inp`` it was produced from."""
        raise NotImplementedError

    def input_to_rgb(self, inp: Tensor) -> Tensor:
        """The input drawn as an RGB image ``(B,3,H,W)`` in [0,1]."""
        raise NotImplementedError


@dataclass
class Colorization(Task):
    """BW -> colour: ``L (B,1,H,W) -> ab (B,2,H,W)``, the Lab scaling of :mod:`colorlab.color`."""

    name: ClassVar[str] = "colorization"
    in_channels: ClassVar[int] = 1
    out_channels: ClassVar[int] = 2
    val_key: ClassVar[str] = "val_ab_l1"  # Lab units
    val_scale: ClassVar[float] = AB_SCALE
    description: ClassVar[str] = "BW -> colour photo: the ab channels of Lab from L"

    def pair(self, rgb: Tensor, train: bool = False) -> tuple[Tensor, Tensor]:
        return rgb_to_L_ab(_rgb_batch(rgb, "Colorization.pair"))

    def to_rgb(self, inp: Tensor, out: Tensor) -> Tensor:
        return L_ab_to_rgb(inp, out)

    def input_to_rgb(self, inp: Tensor) -> Tensor:
        return _to_unit(inp).expand(-1, 3, -1, -1)


@dataclass
class EdgesToPhoto(Task):
    """Edges -> photo: the Canny edge map of the lightness ``(B,1,H,W)`` (edge +1, background
    -1) -> the RGB photo ``(B,3,H,W)`` in [-1,1].

    Args:
        sigma: standard deviation of the Gaussian smoothing before the gradient
            (``skimage.feature.canny``); larger = fewer, longer edges. pix2pix used HED edges at
            256 px; 1.0 suits the 32-64 px crops of the quick presets.
        low_threshold, high_threshold: hysteresis thresholds on the gradient magnitude of the
            lightness in [0, 1] (``None``: scikit-image's defaults, 0.1 and 0.2).
    """

    sigma: float = 1.0
    low_threshold: float | None = None
    high_threshold: float | None = None

    name: ClassVar[str] = "edges2photo"
    in_channels: ClassVar[int] = 1
    out_channels: ClassVar[int] = 3
    description: ClassVar[str] = "edges -> photo: RGB from the Canny edges of the lightness"

    def __post_init__(self) -> None:
        if self.sigma <= 0:
            raise ValueError(f"EdgesToPhoto: sigma must be > 0, got {self.sigma}")

    def edges(self, rgb: Tensor) -> Tensor:
        """RGB ``(B,3,H,W)`` in [0,1] -> boolean edge maps ``(B,1,H,W)`` (on ``rgb``'s device).

        Canny runs per image on the CPU, on the CIE lightness ``L / 100`` (computed in float64).
        """
        rgb = _rgb_batch(rgb, "EdgesToPhoto.edges")
        lightness = (rgb_to_lab(rgb.detach().to("cpu", torch.float64))[:, 0] / L_MAX).numpy()
        maps = np.stack(
            [
                canny(
                    img,
                    sigma=self.sigma,
                    low_threshold=self.low_threshold,
                    high_threshold=self.high_threshold,
                )
                for img in lightness
            ]
        )
        return torch.from_numpy(maps)[:, None].to(rgb.device)

    def pair(self, rgb: Tensor, train: bool = False) -> tuple[Tensor, Tensor]:
        rgb = _rgb_batch(rgb, "EdgesToPhoto.pair")
        edge = self.edges(rgb).to(rgb.dtype)
        return _to_signed(edge), _to_signed(rgb)

    def to_rgb(self, inp: Tensor, out: Tensor) -> Tensor:
        return _to_unit(out)

    def input_to_rgb(self, inp: Tensor) -> Tensor:
        """Black edges on white, as in pix2pix's edges2shoes figures."""
        return (1.0 - _to_unit(inp)).expand(-1, 3, -1, -1)


@dataclass
class Inpainting(Task):
    """Photo with missing pixels -> inpainted photo: a square hole is blanked out.

    Input ``(B,4,H,W)``: the RGB photo in [-1,1] with the hole set to 0 (mid-gray) and a mask
    channel (+1 inside the hole, -1 outside); target: the whole photo ``(B,3,H,W)`` in [-1,1]
    (the generator must copy the known pixels and invent the missing ones). As in pix2pix's
    Paris StreetView experiment (after Pathak et al.'s context encoders) the hole is a square;
    it is centred for evaluation and placed at random for training.

    Args:
        hole: side of the square hole as a fraction of the image side (0.5: a quarter of the area).
    """

    hole: float = 0.5

    name: ClassVar[str] = "inpainting"
    in_channels: ClassVar[int] = 4
    out_channels: ClassVar[int] = 3
    description: ClassVar[str] = "photo with missing pixels -> inpainted photo (square hole)"

    def __post_init__(self) -> None:
        if not 0.0 < self.hole < 1.0:
            raise ValueError(f"Inpainting: hole must be in (0, 1), got {self.hole}")

    def mask(
        self,
        batch: int,
        height: int,
        width: int,
        train: bool = False,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Boolean ``(B,1,H,W)``, True in the missing square (centred; random with ``train``)."""
        side_h = max(1, int(round(self.hole * height)))
        side_w = max(1, int(round(self.hole * width)))
        if train:
            y0 = torch.randint(0, height - side_h + 1, (batch,))
            x0 = torch.randint(0, width - side_w + 1, (batch,))
        else:
            y0 = torch.full((batch,), (height - side_h) // 2)
            x0 = torch.full((batch,), (width - side_w) // 2)
        rows = torch.arange(height)[None, :, None]
        cols = torch.arange(width)[None, None, :]
        inside = (
            (rows >= y0[:, None, None])
            & (rows < (y0 + side_h)[:, None, None])
            & (cols >= x0[:, None, None])
            & (cols < (x0 + side_w)[:, None, None])
        )
        return inside[:, None].to(device)

    def pair(self, rgb: Tensor, train: bool = False) -> tuple[Tensor, Tensor]:
        rgb = _rgb_batch(rgb, "Inpainting.pair")
        b, _, h, w = rgb.shape
        target = _to_signed(rgb)
        hole = self.mask(b, h, w, train, rgb.device)
        known = target.masked_fill(hole, 0.0)
        return torch.cat([known, _to_signed(hole.to(rgb.dtype))], dim=1), target

    def to_rgb(self, inp: Tensor, out: Tensor) -> Tensor:
        """The known pixels from the input, the hole filled with the output."""
        hole = inp[:, 3:4] > 0
        return _to_unit(torch.where(hole, out, inp[:, :3]))

    def input_to_rgb(self, inp: Tensor) -> Tensor:
        """The photo with its hole (mid-gray)."""
        return _to_unit(inp[:, :3])


#: The tasks by name (``TrainConfig.task``); each class builds with its default parameters.
TASKS: dict[str, Callable[..., Task]] = {
    Colorization.name: Colorization,
    EdgesToPhoto.name: EdgesToPhoto,
    Inpainting.name: Inpainting,
}


def get_task(name: str | Task, **kwargs: Any) -> Task:
    """A :class:`Task` by its :data:`TASKS` name (``kwargs``: its parameters).

    A :class:`Task` instance is returned as it is. An unknown name raises ``ValueError`` listing
    the tasks.
    """
    if isinstance(name, Task):
        if kwargs:
            raise TypeError("get_task: parameters are only accepted with a task name")
        return name
    try:
        factory = TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None
    return factory(**kwargs)


class TaskDataset(Dataset):
    """``(rgb, label)`` items -> ``(input, target)`` items of a task (``(input, target, label)``
    when the wrapped dataset has labels).

    Args:
        base: a dataset whose items are ``(rgb (3,S,S) float in [0,1], label)``, e.g.
            ``LabDataset(images, size, train, labels, rgb=True)`` (its augmentation applies to
            the photo before the pair is made, so input and target stay aligned).
        task: a :class:`Task` or its name.
        train: passed to :meth:`Task.pair` (random holes for inpainting).
    """

    def __init__(self, base: Dataset, task: Task | str, train: bool = False) -> None:
        self.base = base
        self.task = get_task(task)
        self.train = bool(train)
        self.labels = getattr(base, "labels", None)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"TaskDataset({self.task.name}, {len(self)} items, train={self.train})"

    def __getitem__(self, index: int):
        item = self.base[index]
        if not (
            isinstance(item, (tuple, list))
            and len(item) == 2
            and isinstance(item[0], Tensor)
            and item[0].dim() == 3
            and item[0].shape[0] == 3
        ):
            raise TypeError(
                f"TaskDataset: item {index} of the wrapped dataset is not (rgb (3,S,S), label); "
                f"build it with rgb=True (e.g. LabDataset(..., rgb=True))"
            )
        rgb, label = item
        inp, target = self.task.pair(rgb[None], train=self.train)
        if self.labels is None:
            return inp[0], target[0]
        return inp[0], target[0], label
