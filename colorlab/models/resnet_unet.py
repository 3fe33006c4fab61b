"""ResNet18-encoder U-Net built with fastai's ``create_body`` + ``DynamicUnet`` (seed 002).

Seed 002 initialised the encoder of its U-Net with ImageNet ResNet18 weights and pre-trained the
whole U-Net with an L1 loss before the GAN phase. :func:`resnet18_unet` builds that network::

    L (B, 1, H, W) in [-1, 1]  ->  ab (B, 2, H, W) in (-1, 1)

fastai's ``create_body(resnet18, n_in=1, cut=-2)`` keeps the ResNet up to (not including) the
average pool and the classifier and replaces the first conv by a 1-channel one; with pretrained
weights that conv's kernel is the **sum** of the three RGB kernels (``weight.sum(dim=1)``), so a
grey image x gives the response the RGB network gives to (x, x, x). ``DynamicUnet`` adds the
decoder (PixelShuffle upsampling, skip connections from every resolution change) and the output
goes through ``y_range=(-1, 1)`` (a scaled sigmoid).

``pretrained=True`` reads torchvision's ``IMAGENET1K_V1`` file from the torch hub cache
(``torch.hub.get_dir()/checkpoints/resnet18-f37072fd.pth``), shared with torchvision, and
downloads it there first if it is absent (:mod:`colorlab.download`, sha256 prefix checked). When
that fails, or ``COLORLAB_OFFLINE=1`` forbids it (:class:`PretrainedWeightsOffline`), a
:class:`PretrainedWeightsMissing` says where to get the file and where to put it. Random weights
are never substituted for pretrained ones.

fastai is imported inside :func:`resnet18_unet` (``import fastai.vision`` takes seconds).
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from colorlab.download import SOURCES, DownloadError, OfflineError
from colorlab.io import (
    WeightsDownloadError,
    WeightsFile,
    WeightsOfflineError,
    WeightsUnavailableError,
)

__all__ = [
    "RESNET18_WEIGHTS_FILE",
    "RESNET18_WEIGHTS_URL",
    "RESNET18_WEIGHTS",
    "PretrainedWeightsMissing",
    "PretrainedWeightsOffline",
    "resnet18_weights_path",
    "resnet18_imagenet",
    "ResNetUNet",
    "resnet18_unet",
]

RESNET18_WEIGHTS_FILE = SOURCES["resnet18"].filename
"""File name torchvision uses for ``ResNet18_Weights.IMAGENET1K_V1`` (``resnet18-f37072fd.pth``)."""
RESNET18_WEIGHTS_URL = SOURCES["resnet18"].url


class PretrainedWeightsMissing(WeightsUnavailableError):
    """Pretrained weights were asked for but are not in the local cache and were not downloaded."""


class PretrainedWeightsOffline(PretrainedWeightsMissing, WeightsOfflineError):
    """Pretrained weights are missing and ``COLORLAB_OFFLINE=1`` forbids downloading them."""


class _PretrainedWeightsNotDownloaded(PretrainedWeightsMissing, WeightsDownloadError):
    """Pretrained weights are missing and their download failed."""


class _ResNet18Weights(WeightsFile):
    """The ImageNet ResNet18 file, with errors worded for ``pretrained=True``."""

    def _help(self, file: Path) -> str:
        return (
            f"Download {self.url} on a machine with internet access ('colorlab data get "
            f"resnet18') and copy it to {file} (the folder is torch.hub.get_dir()/checkpoints; "
            f"set TORCH_HOME to use another cache), or use pretrained=False for random initial "
            f"weights."
        )

    def missing(self, file: Path, source: str, argument: str) -> Exception:
        return PretrainedWeightsMissing(
            f"pretrained=True needs torchvision's ImageNet ResNet18 weights at {file}, which does "
            f"not exist. " + self._help(file)
        )

    def not_downloaded(self, file: Path, err: DownloadError, argument: str) -> Exception:
        kind = (
            PretrainedWeightsOffline
            if isinstance(err, OfflineError)
            else _PretrainedWeightsNotDownloaded
        )
        return kind(
            f"pretrained=True needs torchvision's ImageNet ResNet18 weights at {file}, which does "
            f"not exist and was not downloaded: {err} " + self._help(file)
        )

    def unusable(self, file: Path, err: BaseException) -> Exception:
        return RuntimeError(
            f"{file} is not a usable ResNet18 state dict ({type(err).__name__}: {err}); delete it "
            f"and download {self.url} again"
        )


RESNET18_WEIGHTS: WeightsFile = _ResNet18Weights(
    RESNET18_WEIGHTS_FILE, RESNET18_WEIGHTS_URL, SOURCES["resnet18"].description
)
"""torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` file in the torch hub cache."""


def resnet18_weights_path() -> Path:
    """Where the ImageNet ResNet18 weights are looked for: ``<torch hub dir>/checkpoints/...``.

    The hub directory is ``torch.hub.get_dir()``: ``$TORCH_HOME/hub`` (default
    ``~/.cache/torch/hub``) unless ``torch.hub.set_dir`` changed it.
    """
    return RESNET18_WEIGHTS.default_path()


def resnet18_imagenet(pretrained: bool = True) -> nn.Module:
    """A torchvision ResNet18 (3 input channels, 1000 classes), ImageNet weights if ``pretrained``.

    The weights are loaded from :func:`resnet18_weights_path` (``weights_only=True``), downloaded
    there first if absent (by :mod:`colorlab.download`, never by torchvision). Raises
    :class:`PretrainedWeightsMissing` (:class:`PretrainedWeightsOffline` under
    ``COLORLAB_OFFLINE=1``) if the file is absent and cannot be downloaded, and ``RuntimeError``
    if it is not a ResNet18 state dict.
    """
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    if not pretrained:
        return model
    state = RESNET18_WEIGHTS.load()
    try:
        model.load_state_dict(state)
    except Exception as exc:  # not a ResNet18 state dict
        raise RESNET18_WEIGHTS.unusable(resnet18_weights_path(), exc) from exc
    return model


class ResNetUNet(nn.Module):
    """Wraps fastai's ``DynamicUnet`` so the output is a plain ``torch.Tensor``.

    ``(B, in_channels, H, W)`` in [-1, 1] -> ``(B, out, H, W)`` in (-1, 1). ``H``, ``W`` should be
    multiples of 32 (the ResNet downsamples 32 times; other sizes are resized back by fastai).
    ``body`` is the ResNet encoder (``unet[0]``), e.g. to freeze it.
    """

    def __init__(self, unet: nn.Module, in_channels: int) -> None:
        super().__init__()
        self.unet = unet
        self.in_channels = in_channels

    @property
    def body(self) -> nn.Module:
        """The ResNet encoder produced by ``create_body``."""
        return self.unet[0]

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_channels, H, W)`` in [-1, 1] -> ``(B, out, H, W)`` in (-1, 1)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ResNetUNet expects a (B,{self.in_channels},H,W) tensor, "
                f"got shape {tuple(x.shape)}"
            )
        out = self.unet(x).as_subclass(Tensor)
        # fastai's skip hooks keep the last activations as attributes; drop them so the model
        # holds no tensors between calls (autograd keeps what backward needs) and deepcopy works.
        for hook in getattr(self.unet, "sfs", ()):
            hook.stored = None
        return out


def resnet18_unet(
    in_channels: int = 1,
    out_channels: int = 2,
    image_size: int = 256,
    *,
    pretrained: bool = False,
    self_attention: bool = False,
    blur: bool = False,
) -> ResNetUNet:
    """fastai U-Net on a ResNet18 body: ``(B,in,S,S)`` in [-1,1] -> ``(B,out,S,S)`` in (-1,1).

    Args:
        in_channels: input channels (1 = L). With ``pretrained`` and one input channel the first
            conv is the sum of the ImageNet RGB kernels (fastai's ``create_body``).
        out_channels: output channels (2 = ab).
        image_size: the size ``DynamicUnet`` is built for (it runs a dummy forward at this size
            to find the skip connections); other multiples of 32 work at run time.
        pretrained: load torchvision's ImageNet weights from the torch hub cache
            (:func:`resnet18_weights_path`, downloaded on demand); raises
            :class:`PretrainedWeightsMissing` if absent and not downloadable.
        self_attention, blur: passed to ``DynamicUnet``.

    31,099,672 parameters for 1 -> 2 channels (11,170,240 of them in the ResNet body).
    """
    backbone = resnet18_imagenet(pretrained)  # raises before importing fastai if weights missing
    from fastai.vision.learner import create_body
    from fastai.vision.models.unet import DynamicUnet

    body = create_body(backbone, n_in=in_channels, pretrained=pretrained, cut=-2)
    unet = DynamicUnet(
        body,
        out_channels,
        (image_size, image_size),
        y_range=(-1.0, 1.0),
        self_attention=self_attention,
        blur=blur,
    )
    return ResNetUNet(unet, in_channels)
