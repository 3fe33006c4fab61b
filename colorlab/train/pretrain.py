"""Generator pretraining with fastai (seed 002's ``U-Net_30``), before GAN fine-tuning from it.

Seed 002 first trains its ResNet18-encoder U-Net alone with an L1 loss, and only then adds the
discriminator. This module runs that first stage the fastai way::

    learn = Learner(DataLoaders(train_dl, valid_dl), G, loss_func=objective)  # torch loaders
    learn.fit_one_cycle(epochs, lr_max)                                      # warm-up, annealing

with the run's :class:`colorlab.losses.Objective` as the loss (``lambda_rec`` times the L1 or L2
distance; with no adversarial term that is all of it), and writes a checkpoint in colorlab's
format, so the GAN presets (``init_from="unet_30"``) start from it. ``fit_one_cycle``: the
learning rate rises from ``lr_max/25`` to ``lr_max = cfg.lr_g`` over the first 25 % of the steps
and anneals to ~0; Adam's beta1 cycles 0.95 -> 0.85 -> 0.95, beta2 is ``cfg.betas[1]``.

The history has the GAN loop's keys where they apply: per step ``step``, ``epoch``, ``g_rec``
(unweighted), ``g_loss`` (weighted) and ``lr_g``; per epoch ``val_step``, ``val_epoch``,
``val_ab_l1``. fastai's progress bars and metric tables appear only in a notebook or terminal.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import fastai.callback.schedule  # noqa: F401  (adds fit_one_cycle and lr_find to Learner)
import torch
from fastai import optimizer as fastai_optimizer
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from torch import Tensor, nn

from colorlab.checkpoint import load_checkpoint, save_checkpoint, training_state
from colorlab.config import ConfigError, TrainConfig
from colorlab.data import Loaders, make_datasets, make_loaders
from colorlab.losses import Objective
from colorlab.models import build_generator
from colorlab.runtime import Runtime, resolve_runtime, seed_everything, want_progress
from colorlab.train.history import RunLog, TrainState, fire, record
from colorlab.train.resume import init_from, total_steps
from colorlab.train.steps import prepare_batch, validate

__all__ = ["pretrain_generator", "make_learner", "lr_find", "FASTAI_OPTIMIZERS"]

#: fastai optimiser functions by ``TrainConfig.optimizer``.
FASTAI_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSProp"}


class EpochSlice:
    """A training loader cut into fastai epochs of ``n_batches`` (so ``max_steps`` is honoured).

    Each fastai epoch draws ``n_batches`` batches from the loader's passes, continuing where the
    previous one stopped (each pass has its own seeded order).
    """

    def __init__(self, loaders: Loaders, n_batches: int) -> None:
        self.loaders, self.n_batches = loaders, n_batches
        self.dataset = loaders.train.dataset
        self._epoch, self._it = 0, None

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator:
        for _ in range(self.n_batches):
            if self._it is None:
                self._it = self.loaders.start_epoch(self._epoch)
            try:
                yield next(self._it)
            except StopIteration:
                self._epoch += 1
                self._it = self.loaders.start_epoch(self._epoch)
                yield next(self._it)


class LabBatch(Callback):
    """Turn each batch into ``xb=(L,), yb=(ab,)`` on the device (batched Lab if RGB)."""

    order = -50

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def before_batch(self) -> None:
        L, ab, _ = prepare_batch(tuple(self.learn.xb) + tuple(self.learn.yb), self.rt)
        self.learn.xb, self.learn.yb = (L,), (ab,)


class Record(Callback):
    """colorlab's history, callbacks, validation and checkpoints inside a fastai fit."""

    order = 60

    def __init__(self, run: _Run) -> None:
        self.run = run

    def before_validate(self) -> None:  # our own validation in after_epoch (Lab units)
        raise CancelValidException()

    def after_batch(self) -> None:
        if not self.training:
            return
        run, state = self.run, self.run.state
        step = len(run.history.get("step", [])) + 1
        rec = run.objective.rec(self.learn.pred.detach().float(), self.learn.yb[0].float())
        parts = {"g_rec": rec, "g_loss": self.learn.loss.detach()}
        row = record(run.history, parts, step, int(self.epoch), {"lr_g": self.opt.hypers[-1]["lr"]})
        run.log.write(step=step, epoch=int(self.epoch), **row)
        state.step, state.epoch, state.opt_g = step, int(self.epoch), self.opt
        state.batch = (
            self.learn.xb[0].detach(),
            self.learn.pred.detach(),
            self.learn.yb[0].detach(),
        )
        fire(run.callbacks, "on_step", step, run.history, state)
        if state.should_stop:
            raise CancelFitException()

    def after_epoch(self) -> None:
        run = self.run
        step = len(run.history.get("step", []))
        value = validate(run.G, run.loaders.val, run.rt)
        for key, v in (("val_step", step), ("val_epoch", int(self.epoch)), ("val_ab_l1", value)):
            run.history.setdefault(key, []).append(v)
        run.log.write(step=step, epoch=int(self.epoch), val_ab_l1=value)
        fire(run.callbacks, "on_epoch_end", int(self.epoch), run.history, run.state)
        run.save(step, int(self.epoch), complete=False)


class _Run:
    """What one pretraining holds: config, runtime, generator, loaders, history, outputs."""

    def __init__(
        self, cfg: TrainConfig, out_dir: Path | None, callbacks: tuple, steps: int | None
    ) -> None:
        _check(cfg)
        self.cfg, self.out_dir, self.callbacks = cfg, out_dir, callbacks
        self.rt = resolve_runtime(cfg)
        seed_everything(cfg.seed)
        self.G = build_generator(cfg, pretrained=cfg.pretrained and not cfg.init_from)
        self.init_note = init_from(cfg, self.G, None, out_dir) if cfg.init_from else ""
        self.G.to(self.rt.device, memory_format=self.rt.memory_format)
        self.objective = Objective.from_config(cfg)
        self.loaders = make_loaders(
            cfg,
            make_datasets(cfg, rgb=self.rt.batched_lab),
            num_workers=self.rt.num_workers,
            pin_memory=self.rt.pin_memory,
        )
        total = steps if steps is not None else total_steps(cfg, len(self.loaders.train))
        self.n_epoch = max(1, math.ceil(total / len(self.loaders.train)))
        self.steps_per_epoch = math.ceil(total / self.n_epoch)
        self.history: dict[str, list] = {}
        self.state = TrainState(
            cfg=cfg,
            runtime=self.rt,
            G=self.G,
            D=None,
            opt_g=None,
            opt_d=None,
            history=self.history,
            total_steps=self.n_epoch * self.steps_per_epoch,
            steps_per_epoch=self.steps_per_epoch,
            out_dir=out_dir,
            val_loader=self.loaders.val,
        )
        self.log = RunLog(None)

    def loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """The objective's generator loss without D: ``lambda_rec * rec(pred, target)``."""
        total, _ = self.objective.g_loss(None, pred, target.float(), pred.float())
        return total

    def learner(self) -> Learner:
        cfg = self.cfg
        opt_func = partial(
            getattr(fastai_optimizer, FASTAI_OPTIMIZERS[cfg.optimizer]), wd=cfg.weight_decay
        )
        if cfg.optimizer == "adam":
            opt_func = partial(opt_func, sqr_mom=cfg.betas[1])
        dls = DataLoaders(EpochSlice(self.loaders, self.steps_per_epoch), self.loaders.val)
        learn = Learner(
            dls,
            self.G,
            loss_func=self.loss,
            opt_func=opt_func,
            cbs=[LabBatch(self.rt), Record(self)],
            path=self.out_dir if self.out_dir is not None else Path("."),
        )
        if self.rt.amp_dtype is torch.float16:
            learn.to_fp16()
        elif self.rt.amp_dtype is torch.bfloat16:
            learn.to_bf16()
        return learn

    def save(self, step: int, epoch: int, complete: bool, model: nn.Module | None = None) -> None:
        if self.out_dir is None:
            return
        save_checkpoint(
            self.out_dir / "last.pt",
            training_state(
                self.cfg,
                model if model is not None else self.G,
                step=step,
                steps_per_epoch=self.steps_per_epoch,
                total_steps=self.n_epoch * self.steps_per_epoch,
                complete=complete,
                history=self.history,
                epoch=epoch,
                trainer="fastai",
            ),
        )


def _check(cfg: TrainConfig) -> None:
    if cfg.uses_discriminator:
        raise ConfigError("fastai pretraining trains the generator alone: set gan_mode='none'")
    if cfg.lambda_class:
        raise ConfigError("fastai pretraining has no classification loss: set lambda_class=0")
    if cfg.optimizer not in FASTAI_OPTIMIZERS:
        raise ConfigError(
            f"optimizer {cfg.optimizer!r} has no fastai counterpart; use one of "
            f"{', '.join(FASTAI_OPTIMIZERS)}"
        )


def make_learner(
    cfg: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    callbacks: Iterable = (),
    steps: int | None = None,
) -> tuple[Learner, int, dict[str, Any]]:
    """Build ``(learn, n_epoch, context)`` for ``cfg``: a fastai ``Learner`` on torch loaders.

    ``learn.model`` is the generator of ``cfg`` (``init_from`` applied), on the run's device;
    its loss is the run's objective. ``n_epoch`` fastai epochs give ``steps`` (default: the
    config's total) generator steps. ``context`` holds the runtime, loaders, history and state.
    """
    run = _Run(cfg, Path(out_dir) if out_dir is not None else None, tuple(callbacks), steps)
    context = {
        "runtime": run.rt,
        "loaders": run.loaders,
        "history": run.history,
        "state": run.state,
        "init": run.init_note,
        "steps_per_epoch": run.steps_per_epoch,
        "run": run,
    }
    return run.learner(), run.n_epoch, context


def _quiet(learn: Learner, show: bool) -> contextlib.ExitStack:
    """fastai's progress bar and metric table only when they are wanted."""
    stack = contextlib.ExitStack()
    if not show:
        stack.enter_context(learn.no_bar())
        stack.enter_context(learn.no_logging())
    return stack


def pretrain_generator(
    cfg: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    callbacks: Iterable = (),
    progress: bool | None = None,
) -> dict[str, list]:
    """Pretrain ``cfg``'s generator with its objective and fastai's ``fit_one_cycle``.

    Writes ``out_dir/last.pt`` (colorlab's checkpoint format, no discriminator) after every
    epoch and at the end, plus ``config.json`` and ``log.jsonl``. Returns the history.
    ``resume=True``: a *complete* checkpoint in ``out_dir`` is returned as is; an incomplete one
    cannot be continued mid-schedule, so training restarts with a warning.
    """
    cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is not None and (out / "last.pt").is_file():
        state = load_checkpoint(out / "last.pt", cfg)
        if state.get("complete"):
            return {k: list(v) for k, v in state["history"].items()}
        warnings.warn(
            f"{out / 'last.pt'}: fastai's one-cycle schedule cannot be resumed "
            f"mid-run; restarting the pretraining from the beginning",
            stacklevel=2,
        )
    learn, n_epoch, ctx = make_learner(cfg, out, callbacks=callbacks)
    run: _Run = ctx["run"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        cfg.to_json(out / "config.json")
    run.log = RunLog(out / "log.jsonl" if out is not None else None)
    run.log.write(event="fastai", runtime=run.rt.describe(), init=run.init_note, epochs=n_epoch)
    fire(run.callbacks, "on_train_begin", run.state)
    show, _ = want_progress(progress)
    try:
        with _quiet(learn, show):
            learn.fit_one_cycle(n_epoch, lr_max=cfg.lr_g)
        step = len(run.history.get("step", []))
        run.save(step, n_epoch - 1, complete=not run.state.should_stop, model=learn.model)
    finally:
        run.log.close()
    fire(run.callbacks, "on_train_end", run.history, run.state)
    return run.history


def lr_find(
    cfg: TrainConfig,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    show_plot: bool = True,
    progress: bool | None = None,
) -> Any:
    """fastai's learning-rate finder on ``cfg``'s generator and data (notebook 6).

    Trains briefly with an exponentially growing learning rate (the weights are restored after)
    and returns fastai's suggestion (``valley``), with the loss-vs-lr plot when ``show_plot``.
    """
    cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
    learn, _, _ = make_learner(cfg, None, steps=max(num_it, 1))
    show, _ = want_progress(progress)
    with tempfile.TemporaryDirectory() as tmp, _quiet(learn, show):
        learn.path = Path(tmp)  # fastai parks the weights in path/models/_tmp.pth meanwhile
        return learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=num_it, show_plot=show_plot)
