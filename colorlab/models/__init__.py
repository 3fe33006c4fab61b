"""Generators and discriminators of the course, with the registries the trainer builds from.

Generators map ``L (B,1,H,W) in [-1,1] -> ab (B,2,H,W) in [-1,1]``:

* :class:`UNet` / :class:`EncoderDecoder` (``.preset("simple"|"normal"|"complex"|
  "cifar_plain"|"cifar_leaky_bn")``, ``.pix2pix(...)``), :mod:`colorlab.models.unet`;
* :func:`resnet18_unet`: fastai ``DynamicUnet`` on a ResNet18 body
  (:mod:`colorlab.models.resnet_unet`);
* :class:`ColorizerWithClassifier`: U-Net + scene-class branch, returns ``(ab, logits)``.

Discriminators return raw logits: :class:`PatchGAN` ``(B,3,H,W) -> (B,1,h,w)`` (``norm=False`` =
WGAN-GP critic, ``n_layers=0`` = PixelGAN) and :class:`LinearDiscriminator`
``(B,4,S,S) -> (B,1)``.

Registries (plain dicts; ``GENERATORS[name](**kwargs)``):

=================  =======================================================================
generator          kwargs
=================  =======================================================================
unet_simple        in_channels=1, out_channels=2 (seed 000, 570,534 params)
unet_normal        in_channels=1, out_channels=2 (seed 000, 2,327,558)
unet_complex       in_channels=1, out_channels=2 (pix2pix unet_256, 54,409,858)
unet_cifar_plain   in_channels=1, out_channels=2 (3 = RGB as seed 003); 32 px
unet_cifar_leaky_bn  same, with LeakyReLU + BatchNorm
pix2pix            in_channels, out_channels, num_downs=8, ngf=64, norm=True, dropout=0.5,
                   n_dropout=3, leaky=True, final_1x1=False  (:meth:`UNet.pix2pix`)
encoder_decoder    the same kwargs, no skip connections (:meth:`EncoderDecoder.pix2pix`)
resnet18           n_in=1, n_out=2, size=256, pretrained=False, self_attention, blur
unet_classifier    n_classes=205, in_channels, out_channels, num_downs=8, ngf=64,
                   image_size=256, tap=2, branch_blocks=3, branch_channels=512,
                   fusion_units=(1024, 512), head_units=(2048, 1024), dropout=0.5
=================  =======================================================================

=================  =======================================================================
discriminator      kwargs
=================  =======================================================================
patchgan           in_channels=3, n_layers=3, ndf=64, norm=True (70x70, 2,765,633 params)
critic             in_channels=3, n_layers=3, ndf=64 (PatchGAN without BatchNorm)
pixelgan           in_channels=3, ndf=64, norm=True (PatchGAN n_layers=0)
linear_simple      in_channels=4, image_size=152 (seed 000, 140,129 params)
linear_normal      in_channels=4, image_size=42 (seed 000, 1,431,841 params)
=================  =======================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from colorlab.models.classifier import (
    CLASSIFIER_PRESETS,
    ClassifierConfig,
    ColorizerWithClassifier,
)
from colorlab.models.linear_discriminator import (
    LINEAR_PRESETS,
    LinearDiscriminator,
    LinearDiscriminatorConfig,
)
from colorlab.models.patchgan import PatchGAN, output_size, receptive_field
from colorlab.models.resnet_unet import (
    RESNET18_WEIGHTS_FILE,
    RESNET18_WEIGHTS_URL,
    PretrainedWeightsMissing,
    ResNetUNet,
    resnet18_unet,
    resnet18_weights_path,
)
from colorlab.models.unet import UNET_PRESETS, ConvAutoencoder, EncoderDecoder, UNet
from colorlab.models.utils import count_parameters, init_weights

__all__ = [
    "UNet",
    "EncoderDecoder",
    "ConvAutoencoder",
    "UNET_PRESETS",
    "resnet18_unet",
    "ResNetUNet",
    "PretrainedWeightsMissing",
    "RESNET18_WEIGHTS_FILE",
    "RESNET18_WEIGHTS_URL",
    "resnet18_weights_path",
    "ColorizerWithClassifier",
    "ClassifierConfig",
    "CLASSIFIER_PRESETS",
    "PatchGAN",
    "receptive_field",
    "output_size",
    "LinearDiscriminator",
    "LinearDiscriminatorConfig",
    "LINEAR_PRESETS",
    "count_parameters",
    "init_weights",
    "GENERATORS",
    "DISCRIMINATORS",
]

GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "unet_simple": partial(UNet.preset, "simple"),
    "unet_normal": partial(UNet.preset, "normal"),
    "unet_complex": partial(UNet.preset, "complex"),
    "unet_cifar_plain": partial(UNet.preset, "cifar_plain"),
    "unet_cifar_leaky_bn": partial(UNet.preset, "cifar_leaky_bn"),
    "pix2pix": UNet.pix2pix,
    "encoder_decoder": EncoderDecoder.pix2pix,
    "resnet18": resnet18_unet,
    "unet_classifier": ColorizerWithClassifier.pix2pix,
}
"""Generator factories by name; see the module docstring for the kwargs each accepts."""

DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "patchgan": PatchGAN,
    "critic": partial(PatchGAN, norm=False),
    "pixelgan": partial(PatchGAN, n_layers=0),
    "linear_simple": partial(LinearDiscriminator.preset, "simple"),
    "linear_normal": partial(LinearDiscriminator.preset, "normal"),
}
"""Discriminator factories by name; see the module docstring for the kwargs each accepts."""
