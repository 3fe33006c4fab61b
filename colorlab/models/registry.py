"""The one registry of models: every generator and discriminator the trainer can build by name.

Every factory takes the same leading arguments ``(in_channels, out_channels, image_size)``, then
its own keywords (``TrainConfig.generator_kwargs`` / ``discriminator_kwargs``). Adding a model is
one file with its ``nn.Module`` plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from torch import nn

from colorlab.errors import ConfigError
from colorlab.models.classifier import ColorizerWithClassifier
from colorlab.models.linear_discriminator import LinearDiscriminator
from colorlab.models.patchgan import PatchGAN
from colorlab.models.resnet_unet import resnet18_unet
from colorlab.models.unet import EncoderDecoder, UNet
from colorlab.models.utils import init_weights
from colorlab.tasks import get_task

if TYPE_CHECKING:
    from colorlab.config import TrainConfig

__all__ = ["ModelSpec", "GENERATORS", "DISCRIMINATORS", "build_generator", "build_discriminator"]


@dataclass(frozen=True)
class ModelSpec:
    """A named model: its factory and what the trainer must know to build it.

    Calling the spec calls the factory: ``GENERATORS["pix2pix"](num_downs=5, ngf=8)``.

    Attributes:
        factory: ``factory(in_channels, out_channels, image_size, **kwargs) -> nn.Module``.
        own_init: keeps its own initialisation (fastai's, ImageNet weights) instead of
            pix2pix's N(0, 0.02) (:func:`colorlab.models.init_weights`).
        pretrained: accepts ``pretrained=True`` (ImageNet weights for the encoder).
        classes: takes ``n_classes`` (a classification branch; returns ``(ab, logits)``).
    """

    factory: Callable[..., nn.Module]
    own_init: bool = False
    pretrained: bool = False
    classes: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> nn.Module:
        return self.factory(*args, **kwargs)


#: Generators by ``TrainConfig.generator``: ``(B,in,S,S) in [-1,1] -> (B,out,S,S) in [-1,1]``.
GENERATORS: dict[str, ModelSpec] = {
    "unet_simple": ModelSpec(partial(UNet.preset, "simple")),  # seed 000, 570,534 params
    "unet_normal": ModelSpec(partial(UNet.preset, "normal")),  # seed 000, 2,327,558
    "unet_complex": ModelSpec(partial(UNet.preset, "complex")),  # unet_256, 54,409,858
    "unet_cifar_plain": ModelSpec(partial(UNet.preset, "cifar_plain")),  # seed 003
    "unet_cifar_leaky_bn": ModelSpec(partial(UNet.preset, "cifar_leaky_bn")),  # seed 003
    "pix2pix": ModelSpec(UNet.pix2pix),
    "encoder_decoder": ModelSpec(EncoderDecoder.pix2pix),
    "resnet18": ModelSpec(resnet18_unet, own_init=True, pretrained=True),  # seed 002
    "unet_classifier": ModelSpec(ColorizerWithClassifier.pix2pix, classes=True),  # seed 004
}

#: Discriminators by ``TrainConfig.discriminator``: ``(B,in,S,S)`` (condition and output
#: concatenated) -> raw scores ``(B,1,h,w)`` (PatchGAN) or ``(B,1)`` (linear heads). Every one
#: takes ``norm=False`` (no BatchNorm: the WGAN-GP critic).
DISCRIMINATORS: dict[str, ModelSpec] = {
    "patchgan": ModelSpec(PatchGAN),  # 70x70, 2,765,633 params
    "critic": ModelSpec(partial(PatchGAN, norm=False)),
    "pixelgan": ModelSpec(partial(PatchGAN, n_layers=0)),
    "linear_simple": ModelSpec(partial(LinearDiscriminator.preset, "simple")),  # 140,129
    "linear_normal": ModelSpec(partial(LinearDiscriminator.preset, "normal")),  # 1,431,841
}


def _spec(registry: Mapping[str, ModelSpec], name: str, what: str) -> ModelSpec:
    if name not in registry:
        raise ConfigError(f"unknown {what} {name!r}; valid: {', '.join(registry)}")
    return registry[name]


def _build(
    spec: ModelSpec,
    what: str,
    name: str,
    channels: tuple[int, int],
    image_size: int,
    kwargs: dict[str, Any],
    user_kwargs: dict[str, Any],
) -> nn.Module:
    try:
        return spec(*channels, image_size, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{what} {name!r}: bad {what}_kwargs {user_kwargs}: {exc}") from exc


def build_generator(cfg: TrainConfig, pretrained: bool | None = None) -> nn.Module:
    """The generator of ``cfg`` (on the CPU, train mode, freshly initialised).

    The task (``cfg.task``) sets the channels, ``cfg.image_size`` the size; ``pretrained``
    overrides ``cfg.pretrained`` (loading a checkpoint passes ``False``: its weights replace
    ImageNet's anyway).
    """
    spec = _spec(GENERATORS, cfg.generator, "generator")
    use_pretrained = bool(cfg.pretrained if pretrained is None else pretrained)
    if use_pretrained and not spec.pretrained:
        raise ConfigError(
            f"pretrained=True: generator {cfg.generator!r} has no pretrained "
            f"weights (only {[n for n, s in GENERATORS.items() if s.pretrained]})"
        )
    kwargs = dict(cfg.generator_kwargs)
    if spec.pretrained:
        kwargs["pretrained"] = use_pretrained
    if spec.classes:
        kwargs["n_classes"] = cfg.n_classes
    task = get_task(cfg.task)
    G = _build(
        spec,
        "generator",
        cfg.generator,
        (task.in_channels, task.out_channels),
        cfg.image_size,
        kwargs,
        cfg.generator_kwargs,
    )
    return G if spec.own_init else init_weights(G)


def build_discriminator(cfg: TrainConfig) -> nn.Module | None:
    """The discriminator (critic) of ``cfg``, pix2pix-initialised; ``None`` without an
    adversarial term (``gan_mode="none"``). Modes whose critic must not mix samples (WGAN-GP,
    ``cfg.adversarial.critic_norm`` false) get it without BatchNorm."""
    if not cfg.uses_discriminator:
        return None
    spec = _spec(DISCRIMINATORS, cfg.discriminator, "discriminator")
    kwargs = dict(cfg.discriminator_kwargs)
    if not cfg.adversarial.critic_norm:
        kwargs["norm"] = False
    D = _build(
        spec,
        "discriminator",
        cfg.discriminator,
        (get_task(cfg.task).d_channels, 1),
        cfg.image_size,
        kwargs,
        cfg.discriminator_kwargs,
    )
    return init_weights(D)
