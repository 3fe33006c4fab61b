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

The registry (:mod:`colorlab.models.registry`) names every model the trainer can build:
``GENERATORS[name]`` / ``DISCRIMINATORS[name]`` are :class:`ModelSpec` s whose factories all take
``(in_channels, out_channels, image_size, **kwargs)``; :func:`build_generator` and
:func:`build_discriminator` build the ones a :class:`colorlab.config.TrainConfig` names.
"""

from __future__ import annotations

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
from colorlab.models.registry import (
    DISCRIMINATORS,
    GENERATORS,
    ModelSpec,
    build_discriminator,
    build_generator,
)
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
    "ModelSpec",
    "build_generator",
    "build_discriminator",
]
