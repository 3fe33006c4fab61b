"""The training configuration: one dataclass, its validation and ``KEY=VALUE`` overrides.

A :class:`TrainConfig` says everything :func:`colorlab.train.train` needs: the data, the two
networks, the losses and their weights, the optimisers and the run-time options. It is plain data
(JSON-able through :meth:`TrainConfig.to_dict`), saved as ``config.json`` beside every checkpoint
and inside it. The named presets are in :mod:`colorlab.config.presets`.
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

from colorlab import models, optim, tasks
from colorlab.data import DATASETS
from colorlab.errors import ConfigError
from colorlab.losses import ADVERSARIAL_MODES, RECONSTRUCTION_KINDS, AdversarialMode

__all__ = ["TRAINERS", "TrainConfig", "apply_overrides", "ConfigError"]

#: The two training loops: colorlab's GAN trainer and the fastai generator pretraining.
TRAINERS: tuple[str, ...] = ("gan", "fastai")


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
        gan_mode: a key of :data:`colorlab.losses.ADVERSARIAL_MODES`: ``none``
            (reconstruction only), ``vanilla``,
            ``lsgan``, ``wgan`` (weight clipping), ``wgan-gp`` (gradient penalty), ``hinge``.
        rec_kind: ``"l1"`` or ``"l2"``.
        lambda_rec: weight of the reconstruction (L1 or L2) loss: pix2pix's lambda (100; 50
            for seed 002's low-lambda run; 1 for seed 004's WGAN-GP + L2).
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
        optimizer: a key of :data:`colorlab.optim.OPTIMIZERS`: ``adam``, ``sgd``, ``rmsprop``.
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
        """The :class:`colorlab.losses.AdversarialMode` of :attr:`gan_mode`."""
        try:
            return ADVERSARIAL_MODES[self.gan_mode]
        except KeyError:
            raise ConfigError(
                f"unknown gan_mode {self.gan_mode!r}; valid: {', '.join(ADVERSARIAL_MODES)}"
            ) from None

    @property
    def uses_discriminator(self) -> bool:
        """Whether this run trains a discriminator (every gan_mode except ``none``)."""
        return self.adversarial.loss is not None

    def validate(self) -> TrainConfig:
        """Check every name and range; raise :class:`ConfigError` naming the field. Returns self."""
        choices = {
            "dataset": tuple(DATASETS),
            "task": tuple(tasks.TASKS),
            "gan_mode": tuple(ADVERSARIAL_MODES),
            "rec_kind": tuple(RECONSTRUCTION_KINDS),
            "trainer": TRAINERS,
            "optimizer": tuple(optim.OPTIMIZERS),
            "scheduler": tuple(optim.SCHEDULERS),
            "generator": tuple(models.GENERATORS),
            "discriminator": tuple(models.DISCRIMINATORS),
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
        for key in (
            "lambda_rec",
            "lambda_adv",
            "lambda_class",
            "lambda_gp",
            "lr_g",
            "lr_d",
            "weight_decay",
            "eta_min",
            "checkpoint_every",
        ):
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
            raise ConfigError(f'{key} expects a JSON object like {{"ngf": 32}}, got {text!r}')
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
