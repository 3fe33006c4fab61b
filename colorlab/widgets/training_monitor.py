"""The live training monitor: loss curves and samples redrawn while a notebook cell trains
(:class:`TrainingMonitor`, a :func:`colorlab.train.train` callback)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import torch

from colorlab.color import L_ab_to_rgb
from colorlab.plotting import plot_history, results_grid
from colorlab.widgets._view import _View, figure_png, show_png


class TrainingMonitor(_View):
    """A :func:`colorlab.train.train` callback that shows the run live in a notebook.

    Every ``every`` generator steps (and at the end) it redraws the loss curves
    (:func:`colorlab.plotting.plot_history`) and a gray | generated | real grid of ``n_samples``
    fixed validation images (``state.sample()``, :func:`colorlab.plotting.results_grid`), and
    updates a status line. Redrawing costs a few tenths of a second, hence the throttle.

    Attributes (widgets): status (``HTML``), curves and samples (``Image``), widget (``VBox``).
    Attributes (counters): n_updates (redraws so far), last_step (the step last drawn).

    >>> monitor = TrainingMonitor(every=10)
    >>> monitor                                                  # doctest: +SKIP
    >>> history = train(cfg, out_dir, callbacks=[monitor])      # doctest: +SKIP
    """

    def __init__(self, every: int = 10, n_samples: int = 4, dpi: int = 60) -> None:
        if every < 1:
            raise ValueError(f"TrainingMonitor: every must be >= 1 step, got {every}")
        if n_samples < 0:
            raise ValueError(f"TrainingMonitor: n_samples must be >= 0, got {n_samples}")
        self.every = int(every)
        self.n_samples = int(n_samples)
        self.dpi = dpi
        self.total_steps: int | None = None
        self.n_updates = 0
        self.last_step: int | None = None
        self.status = widgets.HTML("waiting for training to start")
        self.curves = widgets.Image(format="png")
        self.samples = widgets.Image(format="png")
        self.widget = widgets.VBox(
            [
                self.status,
                widgets.HBox(
                    [self.curves, self.samples],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"),
                ),
            ]
        )
        self.widget.add_class("colorlab-training-monitor")

    # -- the training hooks (see colorlab.train.train) -----------------------------------------
    def on_train_begin(self, state: Any) -> None:
        self.total_steps = getattr(state, "total_steps", None)
        self.status.value = html.escape(
            f"training: step {getattr(state, 'step', 0)} of {self.total_steps}"
        )

    def on_step(self, step: int, history: Mapping[str, Sequence[float]], state: Any) -> None:
        if step % self.every == 0:
            self.update(history, state)

    def on_train_end(self, history: Mapping[str, Sequence[float]], state: Any) -> None:
        steps = history.get("step") or []
        if steps and steps[-1] != self.last_step:
            self.update(history, state)
        self.status.value = html.escape("finished: " + self.status_text(history))

    # -- what is shown -------------------------------------------------------------------------
    def status_text(self, history: Mapping[str, Sequence[float]]) -> str:
        """``"step 20 of 40 | G L1 0.152 | D 0.693 | val ab L1 12.3"`` (the parts present)."""
        steps = history.get("step") or []
        parts = [f"step {steps[-1] if steps else 0} of {self.total_steps or '?'}"]
        for key, label in (
            ("g_rec", "G L1"),
            ("g_adv", "G adv"),
            ("d_loss", "D"),
            ("val_ab_l1", "val ab L1"),
        ):
            values = history.get(key) or []
            if values:
                parts.append(f"{label} {values[-1]:.3g}")
        return " | ".join(parts)

    def sample_images(self, state: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(gray, generated, real)`` RGB ``(n,3,S,S)`` in [0,1] from ``state.sample()``."""
        sample = getattr(state, "sample", None)
        if sample is None or self.n_samples == 0:
            return None
        L, fake_ab, real_ab = sample(self.n_samples)
        gray = L_ab_to_rgb(L, torch.zeros_like(real_ab))
        return gray, L_ab_to_rgb(L, fake_ab), L_ab_to_rgb(L, real_ab)

    def update(self, history: Mapping[str, Sequence[float]], state: Any = None) -> None:
        """Redraw the curves (and the samples, given a training state) now."""
        show_png(self.curves, figure_png(plot_history(history), dpi=self.dpi))
        images = self.sample_images(state)
        if images is not None:
            show_png(
                self.samples,
                figure_png(results_grid(*images, max_rows=self.n_samples), dpi=self.dpi),
            )
        self.status.value = html.escape(self.status_text(history))
        steps = history.get("step") or []
        self.last_step = steps[-1] if steps else None
        self.n_updates += 1

    def summary(self) -> str:
        return f"TrainingMonitor(every={self.every}): {self.status.value}"
