"""The GAN trainer: pix2pix's loop for every recipe of the source material, CPU and GPU.

One step is the algorithm (:meth:`GANTrainer.step`)::

    for each of n_critic batches:                   # 1 for pix2pix, 5 for WGAN(-GP)
        fake_ab = G(L)                              # dropout is the noise source (pix2pix)
        d_step: D learns real (L, ab) vs fake (L, fake_ab.detach())
    g_step: G minimises lambda_adv L_adv(D(L, fake_ab)) + lambda_rec |fake_ab - ab|
                                                    + lambda_class CE(class_logits, label)

Everything else is a small helper around it: the device and precision (:mod:`colorlab.runtime`),
several GPUs (:mod:`colorlab.train.distributed`), where the run starts
(:mod:`colorlab.train.resume`), the history, callbacks and ``log.jsonl``
(:mod:`colorlab.train.history`) and the checkpoints (:mod:`colorlab.checkpoint`).

The history holds one value per generator step for ``step``, ``epoch``, ``lr_g``, ``g_rec``
(the unweighted reconstruction loss), ``g_loss`` (the weighted total), and where used
``d_real``, ``d_fake``, ``d_loss``, ``lr_d``, ``g_adv`` (unweighted), ``g_class`` (unweighted),
``gp``; and one value per validation (each epoch end and the end of the run) for ``val_step``,
``val_epoch`` and the task's validation error (``val_ab_l1``: mean absolute ab error, Lab units).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from colorlab import tasks
from colorlab.checkpoint import load_checkpoint, load_state, restore_rng, save_checkpoint
from colorlab.checkpoint import training_state as checkpoint_state
from colorlab.config import ConfigError, TrainConfig
from colorlab.data import make_datasets, make_loaders
from colorlab.losses import Objective
from colorlab.models import build_discriminator, build_generator
from colorlab.optim import build_optimizer, build_scheduler
from colorlab.runtime import (
    env_int,
    progress_bar,
    resolve_runtime,
    seed_everything,
    want_progress,
)
from colorlab.train import distributed
from colorlab.train.history import RunLog, TrainState, fire, record
from colorlab.train.resume import check_resume, init_from, total_steps
from colorlab.train.steps import d_step, g_step, generate, prepare_batch, validate

__all__ = ["GANTrainer", "train", "TRAINERS"]


class GANTrainer:
    """One GAN run of a :class:`TrainConfig`: ``setup()``, then ``step()`` until done; ``run()``
    does both and returns the history. Files go to ``out_dir`` (rank 0 only; ``None``: none)."""

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: str | os.PathLike | None = None,
        *,
        resume: bool = False,
        callbacks: Iterable[Any] = (),
        progress: bool | None = None,
    ) -> None:
        self.cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.resume, self.callbacks, self.progress = resume, tuple(callbacks), progress
        self.rt = resolve_runtime(self.cfg)
        self.objective = Objective.from_config(self.cfg)
        self.history: dict[str, list] = {}
        self.step_count = 0

    # ------------------------------------------------------------------------ the algorithm
    def step(self, batches: Iterator) -> dict[str, Tensor]:
        """One generator step: ``n_critic`` D updates (one batch each), then one G update."""
        d_parts = []
        for i in range(self.n_critic):
            L, ab, labels = prepare_batch(next(batches), self.rt)
            with torch.set_grad_enabled(i == self.n_critic - 1), self.prec_g.autocast():
                fake_ab, logits = generate(self.G_train, L)  # G's graph for the last batch only
            if self.D_train is not None:
                d_parts.append(
                    d_step(self.D_train, self.opt_d, self.objective, L, ab, fake_ab, self.prec_d)
                )
        parts = g_step(
            self.D, self.opt_g, self.objective, L, ab, fake_ab, logits, labels, self.prec_g
        )
        for key in d_parts[0] if d_parts else ():
            parts[key] = torch.stack([p[key] for p in d_parts]).mean()
        self.state.batch = (L.detach(), fake_ab.detach(), ab.detach())
        return parts

    # ------------------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Build the networks, optimisers and loaders; restore a checkpoint or ``init_from``."""
        cfg, rt = self.cfg, self.rt
        if rt.device.type == "cuda" and cfg.optimized:
            torch.backends.cudnn.benchmark = True
        saved = self._saved_state()
        seed_everything(cfg.seed)
        self.G = build_generator(
            cfg, pretrained=cfg.pretrained and saved is None and not cfg.init_from
        )
        self.D = build_discriminator(cfg)
        self.init_note = (
            init_from(cfg, self.G, self.D, self.out_dir)
            if (saved is None and cfg.init_from)
            else ""
        )
        for net in (self.G, self.D):
            if net is not None:
                net.to(rt.device, memory_format=rt.memory_format)
        self.n_critic = cfg.n_critic if self.D is not None else 1
        self.loaders = make_loaders(
            cfg,
            make_datasets(cfg, rgb=rt.batched_lab),
            rank=rt.rank,
            world_size=rt.world_size,
            num_workers=rt.num_workers,
            pin_memory=rt.pin_memory,
        )
        self.steps_per_epoch = len(self.loaders.train) // self.n_critic
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"one step needs n_critic={self.n_critic} batches of {cfg.batch_size} but an "
                f"epoch has only {len(self.loaders.train)}: use more images or a smaller "
                f"batch_size/n_critic"
            )
        self.total = total_steps(cfg, self.steps_per_epoch)
        self.opt_g = build_optimizer(self.G.parameters(), cfg.lr_g, cfg)
        self.opt_d = build_optimizer(self.D.parameters(), cfg.lr_d, cfg) if self.D else None
        self.sched_g = build_scheduler(self.opt_g, cfg, self.total)
        self.sched_d = build_scheduler(self.opt_d, cfg, self.total)
        self.prec_g, self.prec_d = rt.precision(), rt.precision()
        if saved is not None:
            self._restore(saved)
        if rt.distributed:  # different dropout masks per rank; identical initial weights
            torch.manual_seed(cfg.seed + 7919 * rt.rank + self.step_count)
        self.G_train = distributed.wrap(self.G, rt, cfg.compile)
        self.D_train = distributed.wrap(self.D, rt, cfg.compile)
        self.state = TrainState(
            cfg=cfg,
            runtime=rt,
            G=self.G,
            D=self.D,
            opt_g=self.opt_g,
            opt_d=self.opt_d,
            history=self.history,
            total_steps=self.total,
            steps_per_epoch=self.steps_per_epoch,
            out_dir=self.out_dir,
            val_loader=self.loaders.val,
            step=self.step_count,
            epoch=self.step_count // self.steps_per_epoch,
        )

    @property
    def ckpt_path(self) -> Path | None:
        return self.out_dir / "last.pt" if self.out_dir is not None else None

    @property
    def writes(self) -> bool:
        """Whether this process writes files (rank 0 with an output folder)."""
        return self.rt.is_main and self.out_dir is not None

    def _saved_state(self) -> dict[str, Any] | None:
        if not self.resume:
            return None
        if self.ckpt_path is None or not self.ckpt_path.is_file():
            warnings.warn(
                f"resume=True but there is no checkpoint at {self.ckpt_path}: starting a new run",
                stacklevel=4,
            )
            return None
        state = load_checkpoint(self.ckpt_path, self.cfg)
        check_resume(state["config"], self.cfg, self.ckpt_path)
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        load_state(self.G, state["generator"], self.ckpt_path, "generator")
        if self.D is not None:
            load_state(self.D, state["discriminator"], self.ckpt_path, "discriminator")
        pairs = (
            (self.opt_g, "opt_g"),
            (self.opt_d, "opt_d"),
            (self.sched_g, "sched_g"),
            (self.sched_d, "sched_d"),
            (self.prec_g.scaler, "scaler_g"),
            (self.prec_d.scaler, "scaler_d"),
        )
        for obj, key in pairs:
            if obj is not None and state.get(key) is not None:
                obj.load_state_dict(state[key])
        for sched in (self.sched_g, self.sched_d):  # a longer run anneals to its new end
            if sched is not None and hasattr(sched, "T_max"):
                sched.T_max = max(1, self.total)
        self.history.update({k: list(v) for k, v in state["history"].items()})
        self.step_count = int(state["step"])
        restore_rng(state["rng"])

    # ---------------------------------------------------------------- validate, save, run
    def validate(self) -> float:
        """Validation error of G (rank 0), recorded in the history and the log."""
        task = tasks.get_task(self.cfg.task)
        value = validate(self.G, self.loaders.val, self.rt, self.prec_g, scale=task.val_scale)
        epoch = max(0, self.step_count - 1) // self.steps_per_epoch  # of the last step taken
        for key, v in (("val_step", self.step_count), ("val_epoch", epoch), (task.val_key, value)):
            self.history.setdefault(key, []).append(v)
        self.log.write(step=self.step_count, epoch=epoch, **{task.val_key: value})
        return value

    def save(self, complete: bool = False) -> None:
        """Write ``last.pt`` (the full state, atomically) on rank 0."""
        if not self.writes:
            return
        save_checkpoint(
            self.ckpt_path,
            checkpoint_state(
                self.cfg,
                self.G,
                D=self.D,
                step=self.step_count,
                steps_per_epoch=self.steps_per_epoch,
                total_steps=self.total,
                complete=complete,
                history=self.history,
                optimizers=(self.opt_g, self.opt_d),
                schedulers=(self.sched_g, self.sched_d),
                scalers=(self.prec_g.scaler, self.prec_d.scaler),
            ),
        )

    def run(self) -> dict[str, list]:
        """Set up, train to ``total`` steps (or until a callback stops it), save; the history."""
        with distributed.process_group(self.rt):
            self.setup()
            with self._outputs():
                fire(self.callbacks, "on_train_begin", self.state)
                self._loop()
                fire(self.callbacks, "on_train_end", self.history, self.state)
            distributed.barrier(self.rt)
        return self.history

    def _loop(self) -> None:
        cfg, spe, batches = self.cfg, self.steps_per_epoch, None
        self.G_train.train()
        if self.D_train is not None:
            self.D_train.train()
        while self.step_count < self.total and not self.state.should_stop:
            epoch, pos = divmod(self.step_count, spe)
            if batches is None:
                batches = self.loaders.start_epoch(epoch, pos * self.n_critic * cfg.batch_size)
            parts = self.step(batches)
            self.step_count += 1
            self._after_step(parts, epoch)
            end_of_epoch = self.step_count % spe == 0
            if end_of_epoch:
                batches = None
            if (end_of_epoch or self.step_count == self.total) and self.rt.is_main:
                self.validate()
            if end_of_epoch:
                fire(self.callbacks, "on_epoch_end", epoch, self.history, self.state)
            every = cfg.checkpoint_every and self.step_count % cfg.checkpoint_every == 0
            if self.step_count < self.total and (end_of_epoch or every):
                self.save()
        if self.state.should_stop and self.step_count < self.total and self.step_count % spe:
            if self.rt.is_main:
                self.validate()
        self.save(complete=self.step_count >= self.total)

    def _after_step(self, parts: dict[str, Tensor], epoch: int) -> None:
        for sched in (self.sched_g, self.sched_d):
            if sched is not None:
                sched.step()
        lrs = {"lr_g": self.opt_g.param_groups[0]["lr"]}
        if self.opt_d is not None:
            lrs["lr_d"] = self.opt_d.param_groups[0]["lr"]
        row = record(self.history, parts, self.step_count, epoch, lrs)
        self.state.step, self.state.epoch = self.step_count, epoch
        fire(self.callbacks, "on_step", self.step_count, self.history, self.state)
        logged = self.step_count % self.cfg.log_every == 0 or self.step_count == self.total
        if self.bar is not None:
            self.bar.update(1)
            if logged:
                self.bar.set_postfix(
                    {
                        k: f"{v:.3g}"
                        for k, v in row.items()
                        if k in ("d_loss", "g_adv", "g_rec", "gp")
                    },
                    refresh=False,
                )
        if logged:
            self.log.write(step=self.step_count, epoch=epoch, **row)

    @contextlib.contextmanager
    def _outputs(self) -> Iterator[None]:
        """``config.json``, ``log.jsonl`` and the progress bar for the duration of the run."""
        resumed = self.step_count > 0 or bool(self.history)
        if self.writes:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.cfg.to_json(self.out_dir / "config.json")
        self.log = RunLog(self.out_dir / "log.jsonl" if self.writes else None, append=resumed)
        self.log.write(
            event="resume" if resumed else "start",
            step=self.step_count,
            runtime=self.rt.describe(),
            init=self.init_note,
        )
        show, notebook = want_progress(self.progress)
        self.bar = progress_bar(
            self.total,
            self.step_count,
            show and self.rt.is_main,
            notebook,
            self.cfg.name or "train",
        )
        try:
            yield
        finally:
            if self.bar is not None:
                self.bar.close()
            self.log.close()


def _train_gan(
    cfg: TrainConfig, out_dir: Path | None, resume: bool, callbacks: tuple, progress: bool | None
) -> dict[str, list]:
    return GANTrainer(cfg, out_dir, resume=resume, callbacks=callbacks, progress=progress).run()


def _train_fastai(
    cfg: TrainConfig, out_dir: Path | None, resume: bool, callbacks: tuple, progress: bool | None
) -> dict[str, list]:
    if env_int("WORLD_SIZE", 1) > 1:
        raise ConfigError("the fastai pretraining (trainer='fastai') runs in one process only")
    from colorlab.train.pretrain import pretrain_generator  # fastai takes seconds to import

    return pretrain_generator(cfg, out_dir, resume=resume, callbacks=callbacks, progress=progress)


#: The training loops by ``TrainConfig.trainer`` (:data:`colorlab.config.TRAINERS`).
TRAINERS: dict[str, Callable[..., dict[str, list]]] = {"gan": _train_gan, "fastai": _train_fastai}


def train(
    cfg: TrainConfig,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    callbacks: Iterable[Any] = (),
    progress: bool | None = None,
) -> dict[str, list]:
    """Train ``cfg``; returns the history (``dict[str, list]``, see the module docstring).

    Args:
        cfg: the configuration (validated; not modified).
        out_dir: where ``last.pt``, ``config.json`` and ``log.jsonl`` go (rank 0 only);
            ``None`` writes nothing.
        resume: continue from ``out_dir/last.pt`` when it exists (a warning and a fresh start
            when it does not). The configuration must match the checkpoint's except for
            :data:`colorlab.train.resume.RESUME_MUTABLE` fields (e.g. raise ``max_steps``).
        callbacks: objects with any of ``on_train_begin(state)``, ``on_step(step, history,
            state)``, ``on_epoch_end(epoch, history, state)``, ``on_train_end(history, state)``;
            ``state`` is a :class:`TrainState` (``state.batch``, ``state.sample()``,
            ``state.stop()``).
        progress: ``None`` = a progress bar only in a terminal or notebook; ``True``/``False``
            forces it.

    Raises:
        TrainingDiverged: a loss became NaN/inf. ConfigError: an invalid configuration.
        CheckpointError / ArchitectureMismatchError: an unusable checkpoint to resume from.
    """
    cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
    out = Path(out_dir) if out_dir is not None else None
    return TRAINERS[cfg.trainer](cfg, out, resume, tuple(callbacks), progress)
