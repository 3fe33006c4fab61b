"""Generator pretraining with fastai (seed 002's ``U-Net_30``), then GAN fine-tuning from it.

Seed 002 first trains its ResNet18-encoder U-Net alone with an L1 loss (30 epochs), and only
then adds the discriminator: the GAN starts from a generator that already colours plausibly, so
the adversarial phase refines rather than fights a random network. This module runs that first
stage the fastai way::

    learn = Learner(DataLoaders(train_dl, valid_dl), G, loss_func=L1)   # plain torch loaders
    learn.fit_one_cycle(epochs, lr_max)                                 # warm-up then annealing

and writes a checkpoint in colorlab's format (:mod:`colorlab.checkpoint`), so the GAN presets
``vanilla_gan_20``, ``ls_gan_20``, ... (``init_from="unet_30"``) start from it and
:func:`colorlab.checkpoint.load_generator` / the CLI load it like any other run.

* ``fit_one_cycle`` (Smith's one-cycle policy): the learning rate rises from ``lr_max/25`` to
  ``lr_max = cfg.lr_g`` over the first 25 % of the steps and anneals to ~0 (cosine); Adam's
  beta1 cycles inversely 0.95 -> 0.85 -> 0.95 (fastai's default ``moms``); beta2 is
  ``cfg.betas[1]`` (0.99 in seed 002) and the weight decay ``cfg.weight_decay`` (decoupled).
* The batches are ``(L, ab)`` pairs from :func:`colorlab.train.make_loaders`; on the optimized
  path the loader yields RGB and a small fastai callback converts each batch to Lab on the
  device (the same :func:`colorlab.train.prepare_batch` as the GAN loop).
* :func:`lr_find` runs fastai's learning-rate finder for notebook 6.
* fastai is imported lazily (``import fastai`` takes seconds); its progress bars and metric
  tables appear only in a notebook or terminal (``progress=None``), never in logs.

The history has the GAN loop's keys where they apply: per step ``step``, ``epoch``, ``g_rec``
(the L1 loss), ``g_loss`` (the same: there is no other term) and ``lr_g``; per epoch
``val_step``, ``val_epoch``, ``val_ab_l1`` (Lab units).
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from colorlab import losses
from colorlab.checkpoint import capture_rng, load_checkpoint, save_checkpoint
from colorlab.config import ConfigError, TrainConfig

__all__ = ["pretrain_generator", "make_learner", "lr_find", "FASTAI_OPTIMIZERS"]

#: fastai optimiser functions by ``TrainConfig.optimizer``.
FASTAI_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSProp"}


class _EpochSlice:
    """A training loader cut into ``n_epochs`` epochs of ``n_batches`` (for ``max_steps``).

    fastai schedules one-cycle over ``n_epoch * len(train_dl)`` steps; to honour ``max_steps``
    each fastai epoch is ``n_batches`` batches drawn from the underlying loader's passes, which
    continue where the previous fastai epoch stopped (each pass has its own seeded order).
    """

    def __init__(self, loaders: Any, n_batches: int) -> None:
        self.loaders = loaders
        self.n_batches = n_batches
        self.dataset = loaders.train.dataset
        self._epoch = 0
        self._it: Iterator | None = None

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


def _fastai():
    """The fastai pieces used here (imported on first use: the import takes seconds)."""
    import fastai.callback.schedule  # noqa: F401  (adds fit_one_cycle and lr_find to Learner)
    from fastai import optimizer as fopt
    from fastai.callback.core import Callback, CancelValidException
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner

    return Learner, DataLoaders, Callback, CancelValidException, fopt


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


def make_learner(cfg: TrainConfig, out_dir: str | Path | None = None, *, callbacks: Iterable = (),
                 history: dict[str, list] | None = None, steps: int | None = None):
    """Build ``(learn, n_epoch, context)`` for ``cfg``: a fastai ``Learner`` on torch loaders.

    ``learn.model`` is the generator of ``cfg`` (``init_from`` applied), on the run's device.
    ``n_epoch`` is the number of fastai epochs that gives ``steps`` (default: the config's total)
    generator steps. ``context`` holds the runtime, loaders and the recorded history.
    """
    from colorlab.train import (
        TrainState,
        _init_from,
        _total_steps,
        build_generator,
        make_datasets,
        make_loaders,
        prepare_batch,
        resolve_runtime,
        seed_everything,
        validate,
    )

    _check(cfg)
    rt = resolve_runtime(cfg)
    seed_everything(cfg.seed)
    out_dir = Path(out_dir) if out_dir is not None else None
    G = build_generator(cfg, pretrained=cfg.pretrained and not cfg.init_from)  # fails fast
    Learner, DataLoaders, Callback, CancelValidException, fopt = _fastai()
    init_note = _init_from(cfg, G, None, out_dir) if cfg.init_from else ""
    G.to(rt.device, memory_format=rt.memory_format)

    loaders = make_loaders(cfg, make_datasets(cfg, rgb=rt.batched_lab),
                           num_workers=rt.num_workers, pin_memory=rt.pin_memory)
    steps_per_epoch = len(loaders.train)
    total = steps if steps is not None else _total_steps(cfg, steps_per_epoch)
    n_epoch = max(1, math.ceil(total / steps_per_epoch))
    per_epoch = math.ceil(total / n_epoch)
    dls = DataLoaders(_EpochSlice(loaders, per_epoch), loaders.val)

    history = history if history is not None else {}
    user_callbacks = tuple(callbacks)
    state = TrainState(cfg=cfg, runtime=rt, G=G, D=None, opt_g=None, opt_d=None,
                       history=history, total_steps=n_epoch * per_epoch,
                       steps_per_epoch=per_epoch, out_dir=out_dir, val_loader=loaders.val)

    class LabBatch(Callback):
        """Turn each batch into ``xb=(L,), yb=(ab,)`` on the device (batched Lab if RGB)."""

        order = -50

        def before_batch(self) -> None:
            L, ab, _ = prepare_batch(tuple(self.learn.xb) + tuple(self.learn.yb), rt)
            self.learn.xb, self.learn.yb = (L,), (ab,)

    class Record(Callback):
        """Record colorlab's history, call colorlab callbacks, validate and checkpoint."""

        order = 60

        def before_validate(self) -> None:  # our own validation in after_epoch (Lab units)
            raise CancelValidException()

        def after_batch(self) -> None:
            if not self.training:
                return
            loss = float(self.learn.loss.detach())
            step = len(history.get("step", [])) + 1
            if not math.isfinite(loss):
                from colorlab.train import TrainingDiverged

                raise TrainingDiverged("g_rec", step, loss)
            for key, value in (("step", step), ("epoch", int(self.epoch)), ("g_rec", loss),
                               ("g_loss", loss), ("lr_g", float(self.opt.hypers[-1]["lr"]))):
                history.setdefault(key, []).append(value)
            state.step, state.epoch, state.opt_g = step, int(self.epoch), self.opt
            state.batch = (self.learn.xb[0].detach(), self.learn.pred.detach(),
                           self.learn.yb[0].detach())
            for cb in user_callbacks:
                if hasattr(cb, "on_step"):
                    cb.on_step(step, history, state)
            if state.should_stop:
                from fastai.callback.core import CancelFitException

                raise CancelFitException()

        def after_epoch(self) -> None:
            step = len(history.get("step", []))
            value = validate(G, loaders.val, rt)
            history.setdefault("val_step", []).append(step)
            history.setdefault("val_epoch", []).append(int(self.epoch))
            history.setdefault("val_ab_l1", []).append(value)
            for cb in user_callbacks:
                if hasattr(cb, "on_epoch_end"):
                    cb.on_epoch_end(int(self.epoch), history, state)
            if out_dir is not None:
                _save(out_dir, cfg, G, history, step, int(self.epoch), per_epoch,
                      n_epoch * per_epoch, complete=False)

    opt_func = partial(getattr(fopt, FASTAI_OPTIMIZERS[cfg.optimizer]), wd=cfg.weight_decay)
    if cfg.optimizer == "adam":
        opt_func = partial(opt_func, sqr_mom=cfg.betas[1])
    rec = losses.ReconstructionLoss(cfg.rec_kind, weight=1.0)
    learn = Learner(dls, G, loss_func=lambda pred, target: rec(pred.float(), target.float()),
                    opt_func=opt_func, cbs=[LabBatch(), Record()],
                    path=out_dir if out_dir is not None else Path("."))
    if rt.amp_dtype is torch.float16:
        learn.to_fp16()
    elif rt.amp_dtype is torch.bfloat16:
        learn.to_bf16()
    context = {"runtime": rt, "loaders": loaders, "history": history, "state": state,
               "init": init_note, "steps_per_epoch": per_epoch}
    return learn, n_epoch, context


def _save(out_dir: Path, cfg: TrainConfig, G: nn.Module, history: dict, step: int, epoch: int,
          steps_per_epoch: int, total: int, complete: bool) -> None:
    save_checkpoint(out_dir / "last.pt", {
        "config": cfg.to_dict(), "step": step, "epoch": epoch, "steps_per_epoch": steps_per_epoch,
        "total_steps": total, "complete": complete, "generator": G.state_dict(),
        "discriminator": None, "opt_g": None, "opt_d": None, "sched_g": None, "sched_d": None,
        "scaler_g": None, "scaler_d": None, "history": history, "rng": capture_rng(),
        "trainer": "fastai",
    })


def _quiet(learn, show: bool):
    """fastai's progress bar and metric table only when they are wanted."""
    from contextlib import ExitStack

    stack = ExitStack()
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
    """Pretrain ``cfg``'s generator with a reconstruction loss and fastai's ``fit_one_cycle``.

    Writes ``out_dir/last.pt`` (colorlab's checkpoint format, no discriminator) after every
    epoch and at the end, plus ``config.json`` and ``log.jsonl``. Returns the history.

    ``resume=True``: a *complete* checkpoint in ``out_dir`` is returned as is (nothing is
    trained); an incomplete one cannot be continued mid-schedule (fit_one_cycle's schedule
    spans the whole run), so training restarts from the beginning with a warning.
    """
    from colorlab.train import _want_progress

    cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is not None and (out / "last.pt").is_file():
        state = load_checkpoint(out / "last.pt", cfg)
        if state.get("complete"):
            return {k: list(v) for k, v in state["history"].items()}
        warnings.warn(f"{out / 'last.pt'}: fastai's one-cycle schedule cannot be resumed "
                      f"mid-run; restarting the pretraining from the beginning", stacklevel=2)
    learn, n_epoch, ctx = make_learner(cfg, out, callbacks=callbacks)
    history = ctx["history"]
    show, _ = _want_progress(progress)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        cfg.to_json(out / "config.json")
    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(ctx["state"])
    with _quiet(learn, show):
        learn.fit_one_cycle(n_epoch, lr_max=cfg.lr_g)
    step = len(history.get("step", []))
    if out is not None:
        _save(out, cfg, learn.model, history, step, n_epoch - 1, ctx["steps_per_epoch"],
              n_epoch * ctx["steps_per_epoch"], complete=not ctx["state"].should_stop)
        with open(out / "log.jsonl", "w") as fh:
            fh.write(json.dumps({"event": "fastai", "runtime": ctx["runtime"].describe(),
                                 "init": ctx["init"], "epochs": n_epoch}) + "\n")
            for i, s in enumerate(history.get("step", [])):
                fh.write(json.dumps({k: history[k][i] for k in
                                     ("step", "epoch", "g_rec", "lr_g")}) + "\n")
            for s, v in zip(history.get("val_step", []), history.get("val_ab_l1", [])):
                fh.write(json.dumps({"step": s, "val_ab_l1": v}) + "\n")
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(history, ctx["state"])
    return history


def lr_find(cfg: TrainConfig, *, start_lr: float = 1e-7, end_lr: float = 10.0,
            num_it: int = 100, show_plot: bool = True, progress: bool | None = None):
    """fastai's learning-rate finder on ``cfg``'s generator and data (notebook 6).

    Trains briefly with an exponentially growing learning rate (the weights are restored after)
    and returns fastai's suggestion (``SuggestionMethod.Valley``: a rate on the steepest stretch
    of the loss curve), with the loss-vs-lr plot when ``show_plot``.
    """
    from colorlab.train import _want_progress

    cfg = TrainConfig.from_dict(cfg.to_dict()).validate()
    learn, _, _ = make_learner(cfg, None, steps=max(num_it, 1))
    show, _ = _want_progress(progress)
    with tempfile.TemporaryDirectory() as tmp, _quiet(learn, show):
        learn.path = Path(tmp)  # fastai parks the weights in path/models/_tmp.pth meanwhile
        return learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=num_it,
                             show_plot=show_plot)
