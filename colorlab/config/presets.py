"""Every experiment of the source material as a named preset, full and quick variants side by side.

The **full** variant holds the source material's settings (256x256 images, tens of epochs, for a
GPU). The **quick** variant, written next to it, is the same recipe sized for a 2-core CPU: the
embedded sample set instead of a data set that cannot be downloaded here (``_CPU``), and smaller
networks where the full ones would take minutes per step. Losses, loss weights, optimisers and
schedules stay as in the full variant. :func:`get_preset` picks the variant from
:func:`colorlab.runtime.profile` (``quick`` without CUDA, ``full`` with it)::

    cfg = get_preset("ls_gan_20")                  # full on a GPU, quick on a CPU
    cfg = get_preset("ls_gan_20", profile="quick")

Numbers that the source material does not state (e.g. seed 000's epochs, seed 003's batch size)
are marked ``not stated`` in the preset's ``description``: they are our choice.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from colorlab.config.schema import TrainConfig
from colorlab.errors import ConfigError
from colorlab.runtime import PROFILES
from colorlab.runtime import profile as current_profile

__all__ = ["Preset", "PRESET_VARIANTS", "PRESETS", "get_preset", "QUICK_TAG"]

QUICK_TAG = "[quick variant: CPU-sized]"

_PIX2PIX_256 = {"num_downs": 8, "ngf": 64}  # pix2pix unet_256 (seed 000 "complex", seed 004)
_PATCHGAN_70 = {"n_layers": 3, "ndf": 64}  # 70x70 PatchGAN, 2,765,633 parameters
_PIX2PIX_32 = {"num_downs": 5, "ngf": 16}  # 5 levels reach 1x1 at 32 px
_PATCHGAN_32 = {"n_layers": 3, "ndf": 32}
# seed 004's classification branch at 32 px (colorlab.models.CLASSIFIER_PRESETS["small"])
_CLASSIFIER_32 = {
    "num_downs": 5,
    "ngf": 16,
    "tap": 1,
    "branch_blocks": 3,
    "branch_channels": 64,
    "fusion_units": [128, 64],
    "head_units": [128, 64],
}
# The sample set's classes: the 7 source photos (the label of a crop is the photo it came from).
_SAMPLE_CLASSES = 7

# Every quick variant: 192 crops of 32 px of the embedded sample set, batch 8, 60 steps, no
# workers, no ImageNet weights (they cannot be downloaded here), checkpoints every 20 steps.
_CPU = dict(
    dataset="sample",
    data_dir=None,
    n_images=192,
    image_size=32,
    batch_size=8,
    epochs=None,
    max_steps=60,
    num_workers=0,
    pretrained=False,
    compile=False,
    checkpoint_every=20,
    log_every=5,
)

# Seed 002: COCO sample 10,000 images (8,000 train / 2,000 val), 256 px, batch 16, Adam
# lr 2e-4 betas (0.5, 0.99) for generator and discriminator; ResNet18-encoder U-Net.
_SEED002 = dict(
    dataset="coco_sample",
    n_images=10_000,
    image_size=256,
    batch_size=16,
    generator="resnet18",
    generator_kwargs={},
    pretrained=True,
    discriminator="patchgan",
    discriminator_kwargs=dict(_PATCHGAN_70),
    optimizer="adam",
    lr_g=2e-4,
    lr_d=2e-4,
    betas=(0.5, 0.99),
    lambda_rec=100.0,
)
_SEED002_QUICK = dict(_CPU, discriminator_kwargs=_PATCHGAN_32, max_steps=30)  # ResNet18 stays

# Seed 004: 10 % of Places205 (205 scene classes), 256 px, pix2pix U-Net (+ classification
# branch), 70x70 PatchGAN, Adam beta1 0.5, 30 epochs.
_SEED004 = dict(
    dataset="class_folder",
    data_dir="data/places205",
    image_size=256,
    batch_size=16,
    split="80/10/10",
    generator="pix2pix",
    generator_kwargs=dict(_PIX2PIX_256),
    discriminator="patchgan",
    discriminator_kwargs=dict(_PATCHGAN_70),
    optimizer="adam",
    betas=(0.5, 0.999),
    epochs=30,
)
_SEED004_QUICK = dict(_CPU, generator_kwargs=_PIX2PIX_32, discriminator_kwargs=_PATCHGAN_32)
_SEED004_CLASS_QUICK = dict(
    _SEED004_QUICK, generator_kwargs=_CLASSIFIER_32, n_classes=_SAMPLE_CLASSES
)

# Seed 000: an ImageNet subset of 20,426 images split 60/20/20, batch 128, 100 batches per
# epoch. The image size is not stated; the linear heads fix it (colorlab.models.
# linear_discriminator): 152 px for the simple discriminator's 140,129 parameters, 42 px for the
# normal one's (44 here: the normal U-Net needs a multiple of 4), 256 px for unet_256.
_SEED000 = dict(
    dataset="folder",
    data_dir="data/imagenet1000",
    split="60/20/20",
    batch_size=128,
    image_size=256,
    lambda_rec=100.0,
    epochs=20,
)

# Seed 003: CIFAR-10 32x32 (50,000 train / 10,000 test), 15 epochs, U-Net vs GAN; the
# discriminator is "like the U-Net's encoder, conv + BatchNorm + LeakyReLU, one output":
# seed 000's simple conv stack with a linear logit fits that description.
_SEED003 = dict(
    dataset="cifar10",
    data_dir="data/cifar10",
    image_size=32,
    batch_size=64,
    epochs=15,
    split="80/10/10",
    discriminator="linear_simple",
    discriminator_kwargs={},
    optimizer="adam",
    lr_g=2e-4,
    lr_d=2e-4,
    betas=(0.5, 0.999),
    lambda_rec=100.0,
)


@dataclass(frozen=True)
class Preset:
    """One experiment: its description, full settings and the quick variant's changes."""

    name: str
    description: str
    full: dict[str, Any]
    quick: dict[str, Any]

    def config(self, profile: str) -> TrainConfig:
        """A fresh :class:`TrainConfig` of the ``"full"`` or ``"quick"`` variant."""
        cfg = TrainConfig(name=self.name, description=self.description, **self.full)
        if profile == "full":
            return TrainConfig.from_dict(cfg.to_dict())
        return TrainConfig.from_dict(
            {**cfg.to_dict(), **self.quick, "description": f"{self.description} {QUICK_TAG}"}
        )


_MAIN_JOB = dict(
    dataset="sample",
    n_images=768,
    image_size=32,
    batch_size=16,
    generator="pix2pix",
    generator_kwargs=_PIX2PIX_32,
    discriminator="patchgan",
    discriminator_kwargs={"n_layers": 2, "ndf": 32},
    gan_mode="vanilla",
    lambda_rec=100.0,
    lambda_adv=0.1,
    label_smoothing=0.1,
    scheduler="cosine",
    eta_min=2e-6,
    epochs=None,
    max_steps=600,
    checkpoint_every=100,
    log_every=10,
)

_ALL = [
    # ---- the main job: CPU-sized already, its quick variant only pins the workers
    Preset(
        "quick",
        "The main job: pix2pix U-Net (5 levels, 16..128 channels) + PatchGAN (2 layers, "
        "34 px receptive field), vanilla GAN + 100 L1 with the adversarial term weighted "
        "0.1, one-sided label smoothing 0.1, Adam 2e-4 (0.5, 0.999) annealed to 2e-6, 600 "
        "steps of 16 crops of 32 px from 768 crops of the embedded sample set. Sized for a "
        "few minutes on a 2-core CPU; the lowered adversarial weight keeps the short run "
        "ahead of the gray and mean-colour baselines in ab L1 (with weight 1 it colours "
        "more boldly and loses to the gray baseline after 600 steps).",
        full=_MAIN_JOB,
        quick={"num_workers": 0},
    ),
    # ---- seed 002
    Preset(
        "unet_30",
        "Seed 002 U-Net_30: ResNet18-encoder DynamicUnet (ImageNet weights), L1 only, "
        "fastai fit_one_cycle, 30 epochs on the COCO sample (8,000 train / 2,000 val). With L1 "
        "alone its weight only scales the loss: lambda_rec = 1.",
        full=dict(_SEED002, lambda_rec=1.0, gan_mode="none", trainer="fastai", epochs=30),
        quick=_SEED002_QUICK,
    ),
    Preset(
        "vanilla_gan_20",
        "Seed 002 Vanilla_GAN_20: U-Net_30 fine-tuned 20 epochs as a pix2pix GAN, "
        "BCE (vanilla) adversarial loss + 100 L1.",
        full=dict(_SEED002, gan_mode="vanilla", epochs=20, init_from="unet_30"),
        quick=_SEED002_QUICK,
    ),
    Preset(
        "ls_gan_20",
        "Seed 002 LS_GAN_20: U-Net_30 fine-tuned 20 epochs with the least-squares (MSE) "
        "adversarial loss + 100 L1.",
        full=dict(_SEED002, gan_mode="lsgan", epochs=20, init_from="unet_30"),
        quick=_SEED002_QUICK,
    ),
    Preset(
        "ls_gan_30",
        "Seed 002 LS_GAN_30: LS_GAN_20 trained 10 more epochs (generator and "
        "discriminator continue from ls_gan_20's checkpoint).",
        full=dict(_SEED002, gan_mode="lsgan", epochs=10, init_from="ls_gan_20"),
        quick=dict(_SEED002_QUICK, max_steps=15),
    ),
    Preset(
        "vanilla_low_lambda_20",
        "Seed 002 VANILLA_LOW_LAMBDA_20: as Vanilla_GAN_20 with lambda_rec (pix2pix's "
        "lambda_L1) = 50 instead of 100, to give the adversarial loss more weight.",
        full=dict(_SEED002, lambda_rec=50.0, gan_mode="vanilla", epochs=20, init_from="unet_30"),
        quick=_SEED002_QUICK,
    ),
    # ---- seed 004
    Preset(
        "gan_l1",
        "Seed 004 GAN + L1: L = L_cGAN + 100 L_L1; one-sided label smoothing 0.1; Adam "
        "2e-4, cosine annealing to 2e-6; 30 epochs on 10% of Places205. Batch size and the "
        "80/10/10 split: not stated (seed 004 used ~85/5/10).",
        full=dict(
            _SEED004,
            gan_mode="vanilla",
            lambda_rec=100.0,
            label_smoothing=0.1,
            lr_g=2e-4,
            lr_d=2e-4,
            scheduler="cosine",
            eta_min=2e-6,
        ),
        quick=_SEED004_QUICK,
    ),
    Preset(
        "gan_l1_class",
        "Seed 004 GAN + L1 + Class: L = L_cGAN + 100 L_L1 + 0.003 L_CE on the 205 scene "
        "classes (ChromaGAN-style classification branch); otherwise as gan_l1.",
        full=dict(
            _SEED004,
            generator="unet_classifier",
            n_classes=205,
            gan_mode="vanilla",
            lambda_rec=100.0,
            lambda_class=0.003,
            label_smoothing=0.1,
            lr_g=2e-4,
            lr_d=2e-4,
            scheduler="cosine",
            eta_min=2e-6,
        ),
        quick=_SEED004_CLASS_QUICK,
    ),
    Preset(
        "wgan_gp_l2_class",
        "Seed 004 WGAN-GP + L2 + Class: L = 0.1 L_WGAN-GP + L_L2 + 0.003 L_CE; critic "
        "without BatchNorm, 5 critic steps per generator step, gradient penalty 10; "
        "constant lr 2e-5.",
        full=dict(
            _SEED004,
            generator="unet_classifier",
            discriminator="critic",
            n_classes=205,
            gan_mode="wgan-gp",
            rec_kind="l2",
            lambda_rec=1.0,
            lambda_adv=0.1,
            lambda_class=0.003,
            n_critic=5,
            lambda_gp=10.0,
            lr_g=2e-5,
            lr_d=2e-5,
            scheduler=None,
        ),
        quick=dict(_SEED004_CLASS_QUICK, max_steps=20),
    ),
    # ---- seed 000 (the quick variants keep its small networks)
    Preset(
        "simple_adam",
        "Seed 000 optimizer comparison, Adam: simple U-Net (570,825 parameters in seed 000, "
        "570,534 in colorlab's reading of its table) against the simple linear-head "
        "discriminator (140,129 for 4 input channels; L+ab is 3), 152 px. Epochs: not "
        "stated (20 chosen).",
        full=dict(
            _SEED000,
            image_size=152,
            generator="unet_simple",
            discriminator="linear_simple",
            gan_mode="vanilla",
            optimizer="adam",
            lr_g=2e-4,
            lr_d=2e-4,
            betas=(0.5, 0.999),
        ),
        quick=_CPU,
    ),
    Preset(
        "simple_sgd",
        "Seed 000 optimizer comparison, SGD: as simple_adam with SGD (lr 0.01, momentum "
        "0.9: not stated, chosen).",
        full=dict(
            _SEED000,
            image_size=152,
            generator="unet_simple",
            discriminator="linear_simple",
            gan_mode="vanilla",
            optimizer="sgd",
            lr_g=1e-2,
            lr_d=1e-2,
            momentum=0.9,
        ),
        quick=_CPU,
    ),
    Preset(
        "normal_adam",
        "Seed 000 normal architecture: normal U-Net (2,327,558 parameters) against the "
        "normal linear-head discriminator (1,431,841 at 42 px; 44 px here), Adam.",
        full=dict(
            _SEED000,
            image_size=44,
            generator="unet_normal",
            discriminator="linear_normal",
            gan_mode="vanilla",
            optimizer="adam",
            lr_g=2e-4,
            lr_d=2e-4,
            betas=(0.5, 0.999),
        ),
        # five full-resolution 3x3 convs of up to 256 channels: 16 px keeps them in seconds
        quick=dict(_CPU, image_size=16),
    ),
    Preset(
        "complex_adam",
        "Seed 000 best model: complex U-Net (pix2pix unet_256, 54,409,858 parameters) "
        "against the 70x70 PatchGAN (2,765,633), Adam, lambda_rec 100.",
        full=dict(
            _SEED000,
            generator="unet_complex",
            discriminator="patchgan",
            discriminator_kwargs=dict(_PATCHGAN_70),
            gan_mode="vanilla",
            optimizer="adam",
            lr_g=2e-4,
            lr_d=2e-4,
            betas=(0.5, 0.999),
        ),
        # unet_256 needs 256 px: its 5-level pix2pix sibling
        quick=dict(
            _CPU,
            generator="pix2pix",
            generator_kwargs=_PIX2PIX_32,
            discriminator_kwargs=_PATCHGAN_32,
        ),
    ),
    Preset(
        "wgan_rmsprop",
        "Seed 000 WGAN run: Wasserstein critic with weight clipping (c = 0.01) and RMSprop "
        "(lr 5e-5, 5 critic steps per generator step, as in the WGAN paper) on the normal "
        "U-Net and the normal linear-head critic, 44 px.",
        full=dict(
            _SEED000,
            image_size=44,
            generator="unet_normal",
            discriminator="linear_normal",
            gan_mode="wgan",
            optimizer="rmsprop",
            lr_g=5e-5,
            lr_d=5e-5,
            clip_value=0.01,
            n_critic=5,
        ),
        quick=dict(_CPU, image_size=16, max_steps=20),
    ),
    # ---- seed 003 (32 px already)
    Preset(
        "cifar_unet",
        "Seed 003 CNN (U-Net) on CIFAR-10 32x32: 5-level U-Net with ReLU and no "
        "BatchNorm, L1 only, 15 epochs. Batch size 64 and Adam 2e-4: not stated, chosen. "
        "The GAN variants' discriminator (conv + BatchNorm + LeakyReLU, one output) is "
        "seed 000's simple conv stack with a linear logit.",
        full=dict(_SEED003, generator="unet_cifar_plain", gan_mode="none"),
        quick=_CPU,
    ),
    Preset(
        "cifar_unet_lrelu_bn",
        "Seed 003 CNN (U-Net) with LeakyReLU + BatchNorm on CIFAR-10, L1 only, 15 epochs.",
        full=dict(_SEED003, generator="unet_cifar_leaky_bn", gan_mode="none"),
        quick=_CPU,
    ),
    Preset(
        "cifar_gan",
        "Seed 003 GAN (U-Net generator, ReLU, no BatchNorm) on CIFAR-10: vanilla GAN + "
        "100 L1, 15 epochs.",
        full=dict(_SEED003, generator="unet_cifar_plain", gan_mode="vanilla"),
        quick=_CPU,
    ),
    Preset(
        "cifar_gan_lrelu_bn",
        "Seed 003 GAN with LeakyReLU + BatchNorm on CIFAR-10: vanilla GAN + 100 L1, 15 epochs.",
        full=dict(_SEED003, generator="unet_cifar_leaky_bn", gan_mode="vanilla"),
        quick=_CPU,
    ),
    # ---- Imagenette 160 px (fastai URLs.IMAGENETTE_160, downloaded on demand): train/ trains,
    # val/ is halved into val and test (colorlab.data.loaders); quick variants: the sample set
    Preset(
        "imagenette",
        "The main job's recipe on real photos: Imagenette 160 px (fastai's 10-class ImageNet "
        "subset, 99 MB, downloaded on first use into fastai's data folder), 6-level pix2pix "
        "U-Net (32..256 channels) + PatchGAN (3 layers, 32..256 channels), vanilla GAN + 100 "
        "L1 with the adversarial term weighted 0.1, label smoothing 0.1, Adam 2e-4 (0.5, "
        "0.999) annealed to 2e-6, 6,000 steps (about 10 epochs) of 16 random crops of 64 "
        "px. Sized for about an hour on a laptop CPU (0.5 s a step on one core of the "
        "2-core course machine): there run it with --profile full (a CPU picks the quick "
        "variant otherwise).",
        full=dict(
            _MAIN_JOB,
            dataset="imagenette",
            data_dir=None,
            n_images=None,
            image_size=64,
            generator_kwargs={"num_downs": 6, "ngf": 32},
            discriminator_kwargs={"n_layers": 3, "ndf": 32},
            max_steps=6000,
            checkpoint_every=500,
            log_every=25,
        ),
        quick=dict(_CPU, generator_kwargs=_PIX2PIX_32, discriminator_kwargs=_PATCHGAN_32),
    ),
    Preset(
        "imagenette_gpu",
        "As imagenette at 128 px for one GPU: 7-level pix2pix U-Net (64..512 channels) + "
        "70x70 PatchGAN (64..512 channels), batch 32, 4,000 steps (about 14 epochs of "
        "Imagenette's 9,469 training images): minutes on a current GPU.",
        full=dict(
            _MAIN_JOB,
            dataset="imagenette",
            data_dir=None,
            n_images=None,
            image_size=128,
            batch_size=32,
            generator_kwargs={"num_downs": 7, "ngf": 64},
            discriminator_kwargs=dict(_PATCHGAN_70),
            max_steps=4000,
            checkpoint_every=1000,
            log_every=50,
        ),
        quick=dict(_CPU, generator_kwargs=_PIX2PIX_32, discriminator_kwargs=_PATCHGAN_32),
    ),
]

#: Every preset by name, with both variants.
PRESET_VARIANTS: dict[str, Preset] = {p.name: p for p in _ALL}

#: The full variant of every preset (fresh copies come from :func:`get_preset`).
PRESETS: dict[str, TrainConfig] = {name: p.config("full") for name, p in PRESET_VARIANTS.items()}


def get_preset(name: str, profile: str | None = None) -> TrainConfig:
    """A fresh copy of preset ``name``: full size for ``profile="full"``, CPU-sized for ``"quick"``.

    ``profile=None`` asks :func:`colorlab.runtime.profile` (``$COLORLAB_PROFILE``, else full on
    CUDA, quick otherwise). An unknown name raises :class:`ConfigError` listing the presets.
    """
    if name not in PRESET_VARIANTS:
        close = difflib.get_close_matches(name, sorted(PRESET_VARIANTS), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(
            f"unknown preset {name!r}; {hint}presets: {', '.join(sorted(PRESET_VARIANTS))}"
        )
    profile = current_profile() if profile is None else profile
    if profile not in PROFILES:
        raise ConfigError(f"profile must be 'quick' or 'full', got {profile!r}")
    return PRESET_VARIANTS[name].config(profile)
