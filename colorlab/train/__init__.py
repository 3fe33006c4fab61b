"""Training: the GAN trainer (:mod:`~colorlab.train.trainer`), its steps
(:mod:`~colorlab.train.steps`), what a run records (:mod:`~colorlab.train.history`), where it
starts (:mod:`~colorlab.train.resume`), several GPUs (:mod:`~colorlab.train.distributed`) and
the fastai pretraining stage (:mod:`colorlab.train.pretrain`, imported on use: fastai is slow
to import).

``torchrun --nproc_per_node=N -m colorlab.train --preset NAME --out DIR`` trains with
DistributedDataParallel (the same options as ``colorlab train``).
"""

from __future__ import annotations

from colorlab.data import make_datasets, make_loaders
from colorlab.models import build_discriminator, build_generator
from colorlab.optim import build_optimizer, build_scheduler
from colorlab.runtime import Precision, Runtime, resolve_runtime, seed_everything
from colorlab.train.history import TrainingDiverged, TrainState
from colorlab.train.resume import RESUME_MUTABLE, resolve_init_from
from colorlab.train.steps import d_step, frozen, g_step, generate, prepare_batch, validate
from colorlab.train.trainer import TRAINERS, GANTrainer, train

__all__ = [
    "train",
    "GANTrainer",
    "TRAINERS",
    "d_step",
    "g_step",
    "generate",
    "prepare_batch",
    "validate",
    "frozen",
    "build_generator",
    "build_discriminator",
    "build_optimizer",
    "build_scheduler",
    "make_datasets",
    "make_loaders",
    "resolve_runtime",
    "Runtime",
    "Precision",
    "TrainState",
    "TrainingDiverged",
    "RESUME_MUTABLE",
    "resolve_init_from",
    "seed_everything",
]
