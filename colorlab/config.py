"""Training configurations: one dataclass, and the named presets of the source material.

A :class:`TrainConfig` says everything :func:`colorlab.train.train` needs: the data, the two
networks, the losses and their weights, the optimisers and the run-time options. It is plain data
(JSON-able through :meth:`TrainConfig.to_dict`), saved as ``config.json`` beside every checkpoint
and inside it.

Presets
-------
:data:`PRESETS` holds the **full-size** settings of every experiment of the source material
(256x256 images, tens of epochs, for a GPU), named after what they reproduce:

========================  ==================================================================
seed 002 (COCO sample)    ``unet_30`` (ResNet18 U-Net, L1 only, fastai, 30 epochs), then GAN
                          fine-tuning from it: ``vanilla_gan_20``, ``ls_gan_20``,
                          ``ls_gan_30`` (10 more epochs of ``ls_gan_20``),
                          ``vanilla_low_lambda_20`` (lambda_L1 = 50)
seed 004 (Places205)      ``gan_l1``, ``gan_l1_class``, ``wgan_gp_l2_class``
seed 000 (ImageNet subset) ``simple_adam``, ``simple_sgd``, ``normal_adam``, ``complex_adam``,
                          ``wgan_rmsprop``
seed 003 (CIFAR-10)       ``cifar_unet``, ``cifar_unet_lrelu_bn``, ``cifar_gan``,
                          ``cifar_gan_lrelu_bn``
the main job              ``quick``: pix2pix U-Net + PatchGAN, vanilla + L1, embedded sample set
========================  ==================================================================

Every preset also has a **quick** variant sized for a 2-core CPU (32 px images, a small
generator and discriminator, a few dozen steps, the embedded sample set instead of a data set
that cannot be downloaded here): :meth:`TrainConfig.quick` applies the generic shrink and
:data:`QUICK_OVERRIDES` the few per-preset exceptions. :func:`get_preset` picks the variant from
:func:`colorlab.runtime.profile` (``quick`` without CUDA, ``full`` with it)::

    cfg = get_preset("ls_gan_20")                  # full on a GPU, quick on a CPU
    cfg = get_preset("ls_gan_20", profile="quick")
    cfg = apply_overrides(cfg, ["lr_g=1e-4", "generator_kwargs.ngf=32"])

Numbers that the source material does not state (e.g. seed 000's epochs, seed 003's batch size)
are marked ``not stated`` in the preset's ``description``: they are our choice.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "AdversarialMode",
    "GAN_MODES",
    "DATASETS",
    "TrainConfig",
    "PRESETS",
    "QUICK_OVERRIDES",
    "get_preset",
    "apply_overrides",
    "ConfigError",
]


class ConfigError(ValueError):
    """A configuration value, override or preset name that cannot be used."""


@dataclass(frozen=True)
class AdversarialMode:
    """What a ``gan_mode`` means for the trainer.

    Attributes:
        loss: the :class:`colorlab.losses.GANLoss` mode, or ``None`` for no adversarial term
            (reconstruction only: the U-Net baselines, no discriminator is built).
        clip_weights: clamp the critic's weights to ``[-clip_value, clip_value]`` after every
            critic step (original WGAN).
        gradient_penalty: add ``lambda_gp * gradient_penalty(D, real, fake)`` to the critic loss
            (WGAN-GP).
        critic_norm: whether the discriminator may use BatchNorm; ``False`` for WGAN-GP, whose
            per-sample gradient norm BatchNorm would mix up.
    """

    loss: str | None
    clip_weights: bool = False
    gradient_penalty: bool = False
    critic_norm: bool = True


#: The adversarial settings by ``TrainConfig.gan_mode``.
GAN_MODES: dict[str, AdversarialMode] = {
    "none": AdversarialMode(loss=None),
    "vanilla": AdversarialMode(loss="vanilla"),
    "lsgan": AdversarialMode(loss="lsgan"),
    "wgan": AdversarialMode(loss="wgan", clip_weights=True),
    "wgan-gp": AdversarialMode(loss="wgan", gradient_penalty=True, critic_norm=False),
    "hinge": AdversarialMode(loss="hinge"),
}

#: Data set kinds (see :func:`colorlab.train.make_datasets`).
DATASETS: tuple[str, ...] = ("sample", "folder", "coco_sample", "cifar10", "class_folder")


@dataclass
class TrainConfig:
    """Everything one training run needs. All fields are JSON-able.

    **Data**

    Attributes:
        dataset: ``"sample"`` (the embedded offline sample set), ``"folder"`` (every image under
            ``data_dir``), ``"coco_sample"`` (fastai's COCO sample, seed 002), ``"cifar10"``
            (torchvision, seed 003) or ``"class_folder"`` (one sub-folder per class, e.g.
            Places205, seed 004: gives class labels).
        data_dir: root folder for ``folder``/``cifar10``/``class_folder`` (and where fastai
            keeps COCO, if set).
        image_size: side of the square training crops, pixels.
        n_images: how many images to use (sample set: how many crops to cut; other sets: a
            cap; ``None`` = all).
        split: train/val/test split: a preset of :data:`colorlab.data.SPLITS` or percentages
            like ``"70/15/15"`` (``coco_sample`` has its own 8000/2000 train/val split, its val
            set doubles as test set).
        batch_size: images per step *per process* (per GPU under torchrun).
        num_workers: DataLoader worker processes; ``None`` = automatic (0 on CPU, up to 8 on
            CUDA).
        task: the paired task, a key of :data:`colorlab.tasks.TASKS`: ``"colorization"`` (L ->
            ab, the default and every preset), or another pix2pix experiment built from the
            same photos: ``"edges2photo"`` (Canny edges -> RGB), ``"inpainting"`` (photo with a
            square hole -> RGB). It sets the generator's and discriminator's channel counts.

    **Models**

    Attributes:
        generator: a key of :data:`colorlab.models.GENERATORS` (``pix2pix``, ``unet_complex``,
            ``unet_simple``, ``resnet18``, ``unet_classifier``, ...); ``generator_kwargs`` its
            arguments (the run adds the image size, classes and ``pretrained`` where needed).
        discriminator: a key of :data:`colorlab.models.DISCRIMINATORS` (``patchgan``,
            ``critic``, ``pixelgan``, ``linear_simple``, ``linear_normal``);
            ``discriminator_kwargs`` its arguments (unused when ``gan_mode="none"``).
        pretrained: load ImageNet weights into a pretrained encoder (ResNet18 U-Net); an error,
            never random weights, when they are not available offline.
        n_classes: number of classes of the classification branch (0 = none).

    **Losses** (generator: ``lambda_adv L_adv + lambda_rec L_rec + lambda_class L_class``)

    Attributes:
        gan_mode: a key of :data:`GAN_MODES`: ``none`` (reconstruction only), ``vanilla``,
            ``lsgan``, ``wgan`` (weight clipping), ``wgan-gp`` (gradient penalty), ``hinge``.
        rec_kind: ``"l1"`` or ``"l2"``.
        lambda_rec: weight of the reconstruction loss (100 in pix2pix; 50 for seed 002's
            low-lambda run; 1 for seed 004's WGAN-GP + L2).
        lambda_adv: weight of the adversarial loss (0.1 for seed 004's WGAN-GP).
        lambda_class: weight of the classification loss (0.003 in seed 004; 0 = off).
        label_smoothing: one-sided label smoothing of D's real target (0.1 in seed 004).
        n_critic: discriminator updates per generator update (5 for WGAN(-GP)); each uses its
            own batch, so one step consumes ``n_critic`` batches.
        lambda_gp: gradient penalty weight (WGAN-GP: 10).
        clip_value: weight clipping bound (WGAN: 0.01).

    **Optimisation**

    Attributes:
        trainer: ``"gan"`` (colorlab's own loop) or ``"fastai"`` (generator L1 pretraining
            with a fastai ``Learner`` and ``fit_one_cycle``, seed 002's ``unet_30``).
        optimizer: a key of :data:`colorlab.train.OPTIMIZERS`: ``adam``, ``sgd``, ``rmsprop``.
        lr_g, lr_d: learning rates of generator and discriminator.
        betas: Adam's (beta1, beta2): (0.5, 0.999) in pix2pix, (0.5, 0.99) in seed 002.
        momentum: SGD momentum.
        weight_decay: L2 weight decay of the optimisers.
        scheduler: ``None`` (constant) or ``"cosine"`` (annealing per step to ``eta_min``).
        eta_min: the final learning rate of the cosine schedule (2e-6 in seed 004).
        epochs: passes over the training set (``None``: only ``max_steps`` counts).
        max_steps: stop after this many generator steps (``None``: only ``epochs`` counts).
        init_from: start the generator (and the discriminator, if the source has a matching one)
            from a checkpoint: a path, a run folder, or the name of the preset whose run is in
            a sibling folder of the output folder (``runs/unet_30/last.pt`` for
            ``runs/vanilla_gan_20``). Optimisers and schedulers start fresh.

    **Run time**

    Attributes:
        seed: seed of every random generator (python, numpy, torch, data order).
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        optimized: use the fast path: on CUDA mixed precision, channels_last,
            ``cudnn.benchmark``; everywhere Lab conversion of whole batches (RGB batches from
            the loader) instead of per image in the dataset. ``False`` = the plain path (fp32,
            default memory format, per-image Lab conversion), kept for the benchmarks.
        amp: allow mixed precision on CUDA (bf16 where supported, else fp16 + GradScaler).
        channels_last: allow the channels_last memory format on CUDA.
        compile: wrap the networks in ``torch.compile`` (off by default: minutes of compile).
        checkpoint_every: also write ``last.pt`` every this many steps (0 = only at the end of
            each epoch and of the run).
        log_every: update the progress bar and ``log.jsonl`` every this many steps.
        name: the preset this configuration came from ("" if none).
        description: what the configuration reproduces, and the choices it makes.
    """

    # data
    dataset: str = "sample"
    data_dir: str | None = None
    image_size: int = 256
    n_images: int | None = None
    split: str = "80/10/10"
    batch_size: int = 16
    num_workers: int | None = None
    task: str = "colorization"
    # models
    generator: str = "pix2pix"
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    discriminator: str = "patchgan"
    discriminator_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = False
    n_classes: int = 0
    # losses
    gan_mode: str = "vanilla"
    rec_kind: str = "l1"
    lambda_rec: float = 100.0
    lambda_adv: float = 1.0
    lambda_class: float = 0.0
    label_smoothing: float = 0.0
    n_critic: int = 1
    lambda_gp: float = 10.0
    clip_value: float = 0.01
    # optimisation
    trainer: str = "gan"
    optimizer: str = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str | None = None
    eta_min: float = 2e-6
    epochs: int | None = 1
    max_steps: int | None = None
    init_from: str | None = None
    # run time
    seed: int = 0
    device: str = "auto"
    optimized: bool = True
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    checkpoint_every: int = 0
    log_every: int = 10
    name: str = ""
    description: str = ""

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field (tuples become lists in JSON, restored on load)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_dict` output. Unknown keys are an error."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; " + _suggest(unknown[0], names))
        values = dict(data)
        if values.get("betas") is not None:
            values["betas"] = tuple(float(b) for b in values["betas"])
        for key in ("generator_kwargs", "discriminator_kwargs"):
            if key in values:
                values[key] = dict(values[key] or {})
        return cls(**values)

    def to_json(self, path: str | Path) -> Path:
        """Write the config as pretty JSON to ``path``; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        """Read a config written by :meth:`to_json`; errors name the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read a config: {exc}") from exc
        try:
            return cls.from_dict(data)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (deep-copying the kwargs dicts)."""
        new = TrainConfig.from_dict(self.to_dict())
        for key, value in changes.items():
            if not hasattr(new, key):
                raise ConfigError(f"unknown config key {key!r}; " + _suggest(key, _field_names()))
            setattr(new, key, value)
        return new

    # ------------------------------------------------------------------ derived values
    @property
    def adversarial(self) -> AdversarialMode:
        """The :class:`AdversarialMode` of :attr:`gan_mode`."""
        try:
            return GAN_MODES[self.gan_mode]
        except KeyError:
            raise ConfigError(
                f"unknown gan_mode {self.gan_mode!r}; valid: {', '.join(GAN_MODES)}"
            ) from None

    @property
    def uses_discriminator(self) -> bool:
        """Whether this run trains a discriminator (every gan_mode except ``none``)."""
        return self.adversarial.loss is not None

    def validate(self) -> TrainConfig:
        """Check every name and range; raise :class:`ConfigError` naming the field. Returns self."""
        from colorlab import tasks as _tasks
        from colorlab import train as _train  # the registries live with the code that uses them

        choices = {
            "dataset": DATASETS,
            "task": tuple(_tasks.TASKS),
            "gan_mode": tuple(GAN_MODES),
            "rec_kind": ("l1", "l2"),
            "trainer": tuple(_train.TRAINERS),
            "optimizer": tuple(_train.OPTIMIZERS),
            "scheduler": tuple(_train.SCHEDULERS),
            "generator": tuple(_train.GENERATORS),
            "discriminator": tuple(_train.DISCRIMINATORS),
        }
        for key, valid in choices.items():
            value = getattr(self, key)
            if value not in valid:
                raise ConfigError(
                    f"{key}={value!r} is not valid; choose one of: "
                    + ", ".join(repr(v) for v in valid)
                )
        positive = ("image_size", "batch_size", "n_critic", "log_every")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("lambda_rec", "lambda_adv", "lambda_class", "lambda_gp", "lr_g", "lr_d",
                    "weight_decay", "eta_min", "checkpoint_every"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.label_smoothing and self.gan_mode not in ("vanilla", "lsgan"):
            raise ConfigError(
                f"label_smoothing={self.label_smoothing} only applies to gan_mode vanilla or "
                f"lsgan, not {self.gan_mode!r}"
            )
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.epochs is None and self.max_steps is None:
            raise ConfigError("set epochs, max_steps or both (both are None)")
        for key in ("epochs", "max_steps", "n_images"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"{key} must be >= 1 or None, got {value}")
        if self.lambda_class and self.n_classes < 2:
            raise ConfigError(
                f"lambda_class={self.lambda_class} needs a classification branch: set n_classes "
                f">= 2 (got {self.n_classes})"
            )
        if self.trainer == "fastai" and self.uses_discriminator:
            raise ConfigError(
                "trainer='fastai' pretrains the generator with L1 only: set gan_mode='none'"
            )
        if self.trainer == "fastai" and self.task != "colorization":
            raise ConfigError(
                f"trainer='fastai' pretrains colorization generators only; task={self.task!r} "
                f"needs trainer='gan'"
            )
        return self

    # ------------------------------------------------------------------ the quick variant
    def quick(self) -> TrainConfig:
        """The CPU-sized variant of this configuration (the ``quick`` profile).

        The generic shrink: the embedded sample set instead of any data set that needs a
        download (``folder``/``coco_sample``/``cifar10``/``class_folder`` -> ``sample``, 192
        crops of 32x32), batch 8, 60 steps, the pix2pix U-Nets cut to 5 levels of 16..128
        channels (a 32 px input reaches 1x1 at the bottleneck; ``unet_complex``, which needs
        256 px, becomes that 5-level ``pix2pix``), the PatchGAN/critic to 32..128 channels, the
        seed 000 and seed 003 U-Nets and the ResNet18 U-Net kept (the latter built for 32 px,
        never with ImageNet weights: they cannot be downloaded here), the classes of a
        classification run = the sample set's source photos (the label of a crop is the photo
        it was cut from), no workers, checkpoints every 20 steps. Losses, loss weights,
        optimisers and schedules stay as in the full preset: the quick variant trains the same
        recipe, only smaller and shorter. Per-preset exceptions: :data:`QUICK_OVERRIDES`.
        """
        q = TrainConfig.from_dict(self.to_dict())
        if q.dataset != "sample":
            q.dataset, q.data_dir = "sample", None
        q.n_images = 192 if q.n_images is None else min(q.n_images, 192)
        q.image_size = min(q.image_size, 32)
        q.batch_size = min(q.batch_size, 8)
        q.epochs, q.max_steps = None, 60
        q.num_workers = 0
        q.pretrained = False
        q.compile = False
        q.checkpoint_every = 20
        q.log_every = 5
        gk = dict(q.generator_kwargs)
        if q.generator == "unet_complex":  # unet_256 needs 256 px: its 5-level pix2pix sibling
            q.generator, gk = "pix2pix", {}
        if q.generator in ("pix2pix", "encoder_decoder", "unet_classifier"):
            gk["num_downs"] = min(gk.get("num_downs", 8), 5)
            gk["ngf"] = min(gk.get("ngf", 64), 16)
        q.generator_kwargs = gk
        dk = dict(q.discriminator_kwargs)
        if q.discriminator in ("patchgan", "critic", "pixelgan"):
            dk["ndf"] = min(dk.get("ndf", 64), 32)
        q.discriminator_kwargs = dk
        if q.n_classes:  # the sample set's classes: the source photo of each crop
            from colorlab.data import SOURCE_PHOTOS

            q.n_classes = len(SOURCE_PHOTOS)
        overrides = QUICK_OVERRIDES.get(q.name, {})
        for key, value in overrides.items():
            setattr(q, key, json.loads(json.dumps(value)) if isinstance(value, dict) else value)
        tag = "[quick variant: CPU-sized]"
        if tag not in q.description:
            q.description = f"{q.description} {tag}".strip()
        return q


# ---------------------------------------------------------------------------- overrides


def _field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


def _suggest(key: str, names: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(names), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return hint + "valid keys: " + ", ".join(sorted(names))


_NONE_WORDS = {"none", "null", "~"}
_TRUE_WORDS = {"true", "yes", "on", "1"}
_FALSE_WORDS = {"false", "no", "off", "0"}


def _literal(text: str) -> Any:
    """Parse a value typed on a command line: JSON, then a Python literal, else the string."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, json.JSONDecodeError):
            pass
    return text


def _parse_as(text: str, tp: Any, key: str) -> Any:
    """Convert ``text`` to the type annotation ``tp`` of field ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in _NONE_WORDS:
            return None
        inner = [a for a in args if a is not type(None)]
        return _parse_as(text, inner[0], key)
    if tp is bool:
        word = text.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise ConfigError(f"{key} expects true/false, got {text!r}")
    if tp in (int, float, str):
        if tp is str:
            return text
        try:
            number = float(text) if tp is float else int(text)
        except ValueError:
            if tp is int:
                try:  # allow 1e3 for ints when it is integral
                    value = float(text)
                    if value.is_integer():
                        return int(value)
                except ValueError:
                    pass
            raise ConfigError(f"{key} expects {tp.__name__}, got {text!r}") from None
        return number
    if origin is tuple:
        value = _literal(text.strip())
        if isinstance(value, (int, float)):
            value = [value]
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        try:
            items = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} expects numbers like 0.5,0.999, got {text!r}") from None
        if len(args) == 2 and args[1] is not Ellipsis and len(items) != len(args):
            raise ConfigError(f"{key} expects {len(args)} numbers, got {text!r}")
        return items
    if origin is dict or tp is dict:
        value = _literal(text)
        if not isinstance(value, dict):
            raise ConfigError(f"{key} expects a JSON object like {{\"ngf\": 32}}, got {text!r}")
        return value
    return _literal(text)


def apply_overrides(cfg: TrainConfig, overrides: typing.Iterable[str]) -> TrainConfig:
    """Return a copy of ``cfg`` with ``KEY=VALUE`` overrides applied, then validated.

    Values are parsed according to the field's type: ``lr_g=1e-4``, ``betas=0.5,0.99``,
    ``scheduler=none``, ``amp=false``, ``generator_kwargs={"ngf": 32}``; a dotted key sets one
    entry of a dict field, its value parsed as JSON / a Python literal (else kept as a string):
    ``generator_kwargs.ngf=32``, ``discriminator_kwargs.norm=false``. Unknown keys and values
    that do not parse raise :class:`ConfigError` with the valid keys / expected type.
    """
    new = TrainConfig.from_dict(cfg.to_dict())
    hints = typing.get_type_hints(TrainConfig)
    names = _field_names()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like KEY=VALUE (e.g. lr_g=1e-4)")
        key, text = (s.strip() for s in item.split("=", 1))
        base, _, sub = key.partition(".")
        if base not in names:
            raise ConfigError(f"unknown config key {base!r} in {item!r}; " + _suggest(base, names))
        if sub:
            current = getattr(new, base)
            if not isinstance(current, dict):
                raise ConfigError(f"{base} is not a dict field: {item!r} cannot set {sub!r}")
            value = _literal(text)
            if isinstance(value, str) and value.strip().lower() in _NONE_WORDS:
                value = None
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                value = value.strip().lower() == "true"
            current[sub] = value
        else:
            setattr(new, base, _parse_as(text, hints[base], base))
    return new.validate()


# ---------------------------------------------------------------------------- presets

_PIX2PIX_256 = {"num_downs": 8, "ngf": 64}  # pix2pix unet_256 (seed 000 "complex", seed 004)
_PATCHGAN_70 = {"n_layers": 3, "ndf": 64}  # 70x70 PatchGAN, 2,765,633 parameters

# Seed 002: COCO sample 10,000 images (8,000 train / 2,000 val), 256 px, batch 16, Adam
# lr 2e-4 betas (0.5, 0.99) for generator and discriminator; ResNet18-encoder U-Net.
_SEED002 = dict(
    dataset="coco_sample", n_images=10_000, image_size=256, batch_size=16,
    generator="resnet18", generator_kwargs={}, pretrained=True,
    discriminator="patchgan", discriminator_kwargs=dict(_PATCHGAN_70),
    optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.99), lambda_rec=100.0,
)

# Seed 004: 10 % of Places205 (205 scene classes), 256 px, pix2pix U-Net (+ classification
# branch), 70x70 PatchGAN, Adam beta1 0.5, 30 epochs.
_SEED004 = dict(
    dataset="class_folder", data_dir="data/places205", image_size=256, batch_size=16,
    split="80/10/10", generator="pix2pix", generator_kwargs=dict(_PIX2PIX_256),
    discriminator="patchgan", discriminator_kwargs=dict(_PATCHGAN_70),
    optimizer="adam", betas=(0.5, 0.999), epochs=30,
)

# Seed 000: an ImageNet subset of 20,426 images split 60/20/20, batch 128, 100 batches per
# epoch; simple / normal / complex U-Nets against linear-head or PatchGAN discriminators. The
# image size is not stated; the linear heads fix it (colorlab.models.linear_discriminator): the
# simple discriminator's 140,129 parameters read as 152 px, the normal one's as 42 px (44 here:
# the normal U-Net needs a multiple of 4), the complex U-Net (unet_256) needs 256 px.
_SEED000 = dict(
    dataset="folder", data_dir="data/imagenet1000", split="60/20/20", batch_size=128,
    image_size=256, lambda_rec=100.0, epochs=20,
)

# Seed 003: CIFAR-10 32x32 (50,000 train / 10,000 test), 15 epochs, U-Net vs GAN; the
# discriminator is "like the U-Net's encoder, conv + BatchNorm + LeakyReLU, one output":
# seed 000's simple conv stack with a linear logit fits that description.
_SEED003 = dict(
    dataset="cifar10", data_dir="data/cifar10", image_size=32, batch_size=64, epochs=15,
    split="80/10/10", discriminator="linear_simple", discriminator_kwargs={}, optimizer="adam",
    lr_g=2e-4, lr_d=2e-4,
    betas=(0.5, 0.999), lambda_rec=100.0,
)


def _preset(name: str, description: str, **values: Any) -> TrainConfig:
    return TrainConfig(name=name, description=description, **values)


PRESETS: dict[str, TrainConfig] = {
    p.name: p
    for p in [
        # ---- the main job
        _preset(
            "quick",
            "The main job: pix2pix U-Net (5 levels, 16..128 channels) + PatchGAN (2 layers, "
            "34 px receptive field), vanilla GAN + 100 L1 with the adversarial term weighted "
            "0.1, one-sided label smoothing 0.1, Adam 2e-4 (0.5, 0.999) annealed to 2e-6, 600 "
            "steps of 16 crops of 32 px from 768 crops of the embedded sample set. Sized for a "
            "few minutes on a 2-core CPU; the lowered adversarial weight keeps the short run "
            "ahead of the gray and mean-colour baselines in ab L1 (with weight 1 it colours "
            "more boldly and loses to the gray baseline after 600 steps).",
            dataset="sample", n_images=768, image_size=32, batch_size=16,
            generator="pix2pix", generator_kwargs={"num_downs": 5, "ngf": 16},
            discriminator="patchgan", discriminator_kwargs={"n_layers": 2, "ndf": 32},
            gan_mode="vanilla", lambda_rec=100.0, lambda_adv=0.1, label_smoothing=0.1,
            scheduler="cosine", eta_min=2e-6, epochs=None, max_steps=600,
            checkpoint_every=100, log_every=10,
        ),
        # ---- seed 002
        _preset(
            "unet_30",
            "Seed 002 U-Net_30: ResNet18-encoder DynamicUnet (ImageNet weights), L1 only, "
            "fastai fit_one_cycle, 30 epochs on the COCO sample (8,000 train / 2,000 val).",
            **_SEED002, gan_mode="none", trainer="fastai", epochs=30,
        ),
        _preset(
            "vanilla_gan_20",
            "Seed 002 Vanilla_GAN_20: U-Net_30 fine-tuned 20 epochs as a pix2pix GAN, "
            "BCE (vanilla) adversarial loss + 100 L1.",
            **_SEED002, gan_mode="vanilla", epochs=20, init_from="unet_30",
        ),
        _preset(
            "ls_gan_20",
            "Seed 002 LS_GAN_20: U-Net_30 fine-tuned 20 epochs with the least-squares (MSE) "
            "adversarial loss + 100 L1.",
            **_SEED002, gan_mode="lsgan", epochs=20, init_from="unet_30",
        ),
        _preset(
            "ls_gan_30",
            "Seed 002 LS_GAN_30: LS_GAN_20 trained 10 more epochs (generator and "
            "discriminator continue from ls_gan_20's checkpoint).",
            **_SEED002, gan_mode="lsgan", epochs=10, init_from="ls_gan_20",
        ),
        _preset(
            "vanilla_low_lambda_20",
            "Seed 002 VANILLA_LOW_LAMBDA_20: as Vanilla_GAN_20 with lambda_L1 = 50 instead of "
            "100, to give the adversarial loss more weight.",
            **{**_SEED002, "lambda_rec": 50.0}, gan_mode="vanilla", epochs=20,
            init_from="unet_30",
        ),
        # ---- seed 004
        _preset(
            "gan_l1",
            "Seed 004 GAN + L1: L = L_cGAN + 100 L_L1; one-sided label smoothing 0.1; Adam "
            "2e-4, cosine annealing to 2e-6; 30 epochs on 10% of Places205. Batch size and the "
            "80/10/10 split: not stated (seed 004 used ~85/5/10).",
            **_SEED004, gan_mode="vanilla", lambda_rec=100.0, label_smoothing=0.1,
            lr_g=2e-4, lr_d=2e-4, scheduler="cosine", eta_min=2e-6,
        ),
        _preset(
            "gan_l1_class",
            "Seed 004 GAN + L1 + Class: L = L_cGAN + 100 L_L1 + 0.003 L_CE on the 205 scene "
            "classes (ChromaGAN-style classification branch); otherwise as gan_l1.",
            **{**_SEED004, "generator": "unet_classifier"}, n_classes=205,
            gan_mode="vanilla", lambda_rec=100.0, lambda_class=0.003, label_smoothing=0.1,
            lr_g=2e-4, lr_d=2e-4, scheduler="cosine", eta_min=2e-6,
        ),
        _preset(
            "wgan_gp_l2_class",
            "Seed 004 WGAN-GP + L2 + Class: L = 0.1 L_WGAN-GP + L_L2 + 0.003 L_CE; critic "
            "without BatchNorm, 5 critic steps per generator step, gradient penalty 10; "
            "constant lr 2e-5.",
            **{**_SEED004, "generator": "unet_classifier", "discriminator": "critic"},
            n_classes=205, gan_mode="wgan-gp", rec_kind="l2", lambda_rec=1.0, lambda_adv=0.1,
            lambda_class=0.003, n_critic=5, lambda_gp=10.0, lr_g=2e-5, lr_d=2e-5,
            scheduler=None,
        ),
        # ---- seed 000
        _preset(
            "simple_adam",
            "Seed 000 optimizer comparison, Adam: simple U-Net (570,825 parameters in seed 000, "
            "570,534 in colorlab's reading of its table) against the simple linear-head "
            "discriminator (140,129 for 4 input channels; L+ab is 3), 152 px. Epochs: not "
            "stated (20 chosen).",
            **{**_SEED000, "image_size": 152},
            generator="unet_simple", discriminator="linear_simple", gan_mode="vanilla",
            optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
        ),
        _preset(
            "simple_sgd",
            "Seed 000 optimizer comparison, SGD: as simple_adam with SGD (lr 0.01, momentum "
            "0.9: not stated, chosen).",
            **{**_SEED000, "image_size": 152},
            generator="unet_simple", discriminator="linear_simple", gan_mode="vanilla",
            optimizer="sgd", lr_g=1e-2, lr_d=1e-2, momentum=0.9,
        ),
        _preset(
            "normal_adam",
            "Seed 000 normal architecture: normal U-Net (2,327,558 parameters) against the "
            "normal linear-head discriminator (1,431,841 at 42 px; 44 px here), Adam.",
            **{**_SEED000, "image_size": 44},
            generator="unet_normal", discriminator="linear_normal", gan_mode="vanilla",
            optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
        ),
        _preset(
            "complex_adam",
            "Seed 000 best model: complex U-Net (pix2pix unet_256, 54,409,858 parameters) "
            "against the 70x70 PatchGAN (2,765,633), Adam, lambda_L1 100.",
            **_SEED000, generator="unet_complex", discriminator="patchgan",
            discriminator_kwargs=dict(_PATCHGAN_70), gan_mode="vanilla",
            optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
        ),
        _preset(
            "wgan_rmsprop",
            "Seed 000 WGAN run: Wasserstein critic with weight clipping (c = 0.01) and RMSprop "
            "(lr 5e-5, 5 critic steps per generator step, as in the WGAN paper) on the normal "
            "U-Net and the normal linear-head critic, 44 px.",
            **{**_SEED000, "image_size": 44},
            generator="unet_normal", discriminator="linear_normal", gan_mode="wgan",
            optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, clip_value=0.01, n_critic=5,
        ),
        # ---- seed 003
        _preset(
            "cifar_unet",
            "Seed 003 CNN (U-Net) on CIFAR-10 32x32: 5-level U-Net with ReLU and no "
            "BatchNorm, L1 only, 15 epochs. Batch size 64 and Adam 2e-4: not stated, chosen. "
            "The GAN variants' discriminator (conv + BatchNorm + LeakyReLU, one output) is "
            "seed 000's simple conv stack with a linear logit.",
            **_SEED003, generator="unet_cifar_plain", gan_mode="none",
        ),
        _preset(
            "cifar_unet_lrelu_bn",
            "Seed 003 CNN (U-Net) with LeakyReLU + BatchNorm on CIFAR-10, L1 only, 15 epochs.",
            **_SEED003, generator="unet_cifar_leaky_bn", gan_mode="none",
        ),
        _preset(
            "cifar_gan",
            "Seed 003 GAN (U-Net generator, ReLU, no BatchNorm) on CIFAR-10: vanilla GAN + "
            "100 L1, 15 epochs.",
            **_SEED003, generator="unet_cifar_plain", gan_mode="vanilla",
        ),
        _preset(
            "cifar_gan_lrelu_bn",
            "Seed 003 GAN with LeakyReLU + BatchNorm on CIFAR-10: vanilla GAN + 100 L1, "
            "15 epochs.",
            **_SEED003, generator="unet_cifar_leaky_bn", gan_mode="vanilla",
        ),
    ]
}

#: Per-preset exceptions to the generic :meth:`TrainConfig.quick` shrink.
QUICK_OVERRIDES: dict[str, dict[str, Any]] = {
    # GAN fine-tuning of the ResNet18 U-Net: the ResNet18 U-Net stays; 30 steps keep it short.
    "unet_30": {"max_steps": 30},
    "vanilla_gan_20": {"max_steps": 30},
    "ls_gan_20": {"max_steps": 30},
    "ls_gan_30": {"max_steps": 15},
    "vanilla_low_lambda_20": {"max_steps": 30},
    # Seed 004's classification branch at 32 px: colorlab.models.CLASSIFIER_PRESETS["small"].
    "gan_l1_class": {"generator_kwargs": {
        "num_downs": 5, "ngf": 16, "tap": 1, "branch_blocks": 3, "branch_channels": 64,
        "fusion_units": [128, 64], "head_units": [128, 64]}},
    "wgan_gp_l2_class": {"max_steps": 20, "generator_kwargs": {
        "num_downs": 5, "ngf": 16, "tap": 1, "branch_blocks": 3, "branch_channels": 64,
        "fusion_units": [128, 64], "head_units": [128, 64]}},
    # Seed 000's normal discriminator keeps full resolution through five 3x3 convs of up to 256
    # channels (and WGAN runs 5 of its steps per generator step): 16 px keeps them in seconds.
    "normal_adam": {"image_size": 16},
    "wgan_rmsprop": {"image_size": 16, "max_steps": 20},
}


# The main job is CPU-sized already: its quick variant is itself.
QUICK_OVERRIDES["quick"] = {
    key: getattr(PRESETS["quick"], key)
    for key in ("n_images", "image_size", "batch_size", "max_steps", "generator_kwargs",
                "discriminator_kwargs", "checkpoint_every", "log_every")
}


def get_preset(name: str, profile: str | None = None) -> TrainConfig:
    """A fresh copy of preset ``name``: full size for ``profile="full"``, CPU-sized for ``"quick"``.

    ``profile=None`` asks :func:`colorlab.runtime.profile` (``$COLORLAB_PROFILE``, else full on
    CUDA, quick otherwise). An unknown name raises :class:`ConfigError` listing the presets.
    """
    if name not in PRESETS:
        raise ConfigError(
            f"unknown preset {name!r}; " + _suggest(name, PRESETS).replace("valid keys", "presets")
        )
    if profile is None:
        from colorlab.runtime import profile as _profile

        profile = _profile()
    if profile not in ("quick", "full"):
        raise ConfigError(f"profile must be 'quick' or 'full', got {profile!r}")
    cfg = TrainConfig.from_dict(PRESETS[name].to_dict())
    return cfg.quick() if profile == "quick" else cfg
