"""Losses of the colorization GANs, and the :class:`Objective` that weighs them.

The pieces: :class:`GANLoss` (``vanilla`` BCE on logits, ``lsgan`` MSE, ``wgan`` the critic loss,
``hinge``), :func:`gradient_penalty` and :func:`clip_weights` (the two ways to keep a WGAN critic
Lipschitz), :class:`ReconstructionLoss` (L1 / L2) and :class:`ClassificationLoss` (cross-entropy
on scene classes). None of them carries a weight: :class:`Objective` holds every weight
(``lambda_rec``, ``lambda_adv``, ``lambda_class``, ``lambda_gp``) and the adversarial mode, and
returns ``(total, parts)`` for D and for G::

    G minimises  lambda_adv L_adv(D(L, G(L))) + lambda_rec |G(L) - ab| + lambda_class CE
    D minimises  0.5 (L_real + L_fake)  [+ lambda_gp GP]  (the critic loss is not halved)

Every adversarial loss takes *raw* discriminator outputs (logits / critic scores) of any shape:
``(B, 1)`` from a linear head or ``(B, 1, h, w)`` from a PatchGAN, averaged over all elements.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LAMBDA_GP",
    "WGAN_CLIP",
    "LAMBDA_CLASS",
    "LABEL_SMOOTHING",
    "GANObjective",
    "Vanilla",
    "LeastSquares",
    "Wasserstein",
    "Hinge",
    "AdversarialMode",
    "ADVERSARIAL_MODES",
    "OBJECTIVES",
    "GANLoss",
    "clip_weights",
    "gradient_penalty",
    "ReconstructionLoss",
    "RECONSTRUCTION_KINDS",
    "ClassificationLoss",
    "frozen",
    "Objective",
]

#: Weight of the gradient penalty in the critic loss (WGAN-GP paper, seed 004: lambda = 10).
LAMBDA_GP: float = 10.0
#: Weight-clipping bound c of the original WGAN (Arjovsky et al. 2017; seed 000's WGAN run).
WGAN_CLIP: float = 0.01
#: Weight of the cross-entropy classification term (seed 004, after ChromaGAN).
LAMBDA_CLASS: float = 0.003
#: One-sided label smoothing: D's real target 1 -> 0.9 (Salimans et al. 2016).
LABEL_SMOOTHING: float = 0.1


# ----------------------------------------------------------------------------------------------
# Adversarial objectives: one small class per mode, kept in a registry
# ----------------------------------------------------------------------------------------------


class GANObjective:
    """One adversarial objective: the terms the discriminator and the generator minimise.

    Subclasses implement :meth:`d_term` (D's loss on one half of the batch, real or fake) and
    :meth:`g_term` (G's loss on D's output for generated images). ``pred`` is always the raw
    discriminator output (logits / critic scores), any shape, reduced by the mean.

    Class attributes:
        d_scale: factor applied to ``d_real + d_fake``; 0.5 halves D's objective as in pix2pix.
        uses_labels: whether real/fake label values (and hence label smoothing) mean anything.
    """

    name: ClassVar[str] = ""
    d_scale: ClassVar[float] = 0.5
    uses_labels: ClassVar[bool] = True

    def d_term(self, pred: Tensor, real: bool, label: float) -> Tensor:
        """D's loss on ``pred`` for a batch that is real (``real=True``) or fake; ``label`` is the
        target value for label-based modes (ignored otherwise)."""
        raise NotImplementedError

    def g_term(self, pred: Tensor, real_label: float) -> Tensor:
        """G's loss given D's output ``pred`` on generated images (``real_label`` = G's target)."""
        raise NotImplementedError


class Vanilla(GANObjective):
    """Binary cross-entropy on logits (``nn.BCEWithLogitsLoss``): the original (c)GAN objective.

    D minimises ``BCE(D(real), 1) + BCE(D(fake), 0)``; G minimises ``BCE(D(fake), 1)`` = maximises
    ``log D(x, G(x))`` (the non-saturating loss of Goodfellow et al., used by pix2pix).
    """

    name = "vanilla"

    def d_term(self, pred: Tensor, real: bool, label: float) -> Tensor:
        return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, label))

    def g_term(self, pred: Tensor, real_label: float) -> Tensor:
        return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, real_label))


class LeastSquares(GANObjective):
    """LSGAN (Mao et al. 2017; seed 002 ``nn.MSELoss``): mean squared error to the label maps.

    D minimises ``(D(real) - 1)^2 + (D(fake) - 0)^2``; G minimises ``(D(fake) - 1)^2``. The
    quadratic penalty keeps pushing fakes that are already on the right side of the boundary but
    far from the real data, which gives G gradients where the sigmoid of BCE would saturate.
    """

    name = "lsgan"

    def d_term(self, pred: Tensor, real: bool, label: float) -> Tensor:
        return F.mse_loss(pred, torch.full_like(pred, label))

    def g_term(self, pred: Tensor, real_label: float) -> Tensor:
        return F.mse_loss(pred, torch.full_like(pred, real_label))


class Wasserstein(GANObjective):
    """Wasserstein critic loss (Arjovsky et al. 2017; seed 000 WGAN run; seed 004 WGAN-GP).

    The critic minimises ``mean(D(fake)) - mean(D(real))`` (an estimate of minus the Wasserstein-1
    distance, valid only if D is 1-Lipschitz: enforce it with :func:`clip_weights` or
    :func:`gradient_penalty`); G minimises ``-mean(D(fake))``. Scores are unbounded, there are no
    labels, and the critic loss is *not* halved (it is a distance estimate, not a classifier loss).
    """

    name = "wgan"
    d_scale = 1.0
    uses_labels = False

    def d_term(self, pred: Tensor, real: bool, label: float) -> Tensor:
        return -pred.mean() if real else pred.mean()

    def g_term(self, pred: Tensor, real_label: float) -> Tensor:
        return -pred.mean()


class Hinge(GANObjective):
    """Hinge loss (Lim & Ye 2017; SAGAN, BigGAN): margins of 1 around the decision boundary.

    D minimises ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``; G minimises
    ``-mean(D(fake))``. D stops being pushed once a sample is beyond its margin.
    """

    name = "hinge"
    uses_labels = False

    def d_term(self, pred: Tensor, real: bool, label: float) -> Tensor:
        return F.relu(1.0 - pred).mean() if real else F.relu(1.0 + pred).mean()

    def g_term(self, pred: Tensor, real_label: float) -> Tensor:
        return -pred.mean()


@dataclass(frozen=True)
class AdversarialMode:
    """What a ``TrainConfig.gan_mode`` means for the trainer.

    Attributes:
        objective: the :class:`GANObjective` class, or ``None`` for no adversarial term
            (reconstruction only: the U-Net baselines; no discriminator is built).
        clip_weights: clamp the critic's weights to ``[-clip_value, clip_value]`` after every
            critic step (original WGAN).
        gradient_penalty: add ``lambda_gp * gradient_penalty(D, real, fake)`` to the critic loss
            (WGAN-GP).
        critic_norm: whether the discriminator may use BatchNorm; ``False`` for WGAN-GP, whose
            per-sample gradient norm BatchNorm would mix up.
    """

    objective: type[GANObjective] | None
    clip_weights: bool = False
    gradient_penalty: bool = False
    critic_norm: bool = True

    @property
    def loss(self) -> str | None:
        """The :class:`GANLoss` mode of this objective (``None``: no adversarial term)."""
        return self.objective.name if self.objective is not None else None


#: The one registry of adversarial modes, by ``TrainConfig.gan_mode``.
ADVERSARIAL_MODES: dict[str, AdversarialMode] = {
    "none": AdversarialMode(None),
    "vanilla": AdversarialMode(Vanilla),
    "lsgan": AdversarialMode(LeastSquares),
    "wgan": AdversarialMode(Wasserstein, clip_weights=True),
    "wgan-gp": AdversarialMode(Wasserstein, gradient_penalty=True, critic_norm=False),
    "hinge": AdversarialMode(Hinge),
}

#: The adversarial objectives :class:`GANLoss` accepts, by name (derived from the modes).
OBJECTIVES: dict[str, type[GANObjective]] = {
    m.objective.name: m.objective for m in ADVERSARIAL_MODES.values() if m.objective is not None
}


class GANLoss(nn.Module):
    """Adversarial loss for the discriminator and the generator, one of :data:`OBJECTIVES`.

    Args:
        mode: ``"vanilla"`` (BCE with logits), ``"lsgan"`` (MSE), ``"wgan"`` (Wasserstein critic;
            add :func:`clip_weights` or :func:`gradient_penalty`) or ``"hinge"``.
        real_label: target value of real samples for the label-based modes (vanilla, lsgan).
        fake_label: target value of fake samples for the label-based modes.
        smoothing: one-sided label smoothing in ``[0, 1)`` (seed 004): the discriminator's real
            target becomes ``real_label - smoothing * (real_label - fake_label)``, i.e. 0.9 for
            ``smoothing=0.1``. Only D's *real* target moves: the fake target stays ``fake_label``
            (smoothing it would reward D for letting fakes through) and the generator keeps
            aiming at ``real_label`` exactly. Only meaningful for vanilla and lsgan.

    Use :meth:`d_loss` in the discriminator step and :meth:`g_loss` in the generator step. All
    methods take raw discriminator outputs of any shape (``(B, 1)`` or PatchGAN ``(B, 1, h, w)``)
    and average over all elements; targets are built with the prediction's shape, dtype and
    device. The module has no parameters or buffers.

    Example (pix2pix, one D step then one G step)::

        gan, rec = GANLoss("vanilla"), ReconstructionLoss("l1")
        ab_fake = G(L)
        real, fake = torch.cat([L, ab_real], 1), torch.cat([L, ab_fake], 1)  # (B,3,H,W)
        loss_d, parts = gan.d_loss(D(real), D(fake.detach()))         # D step
        loss_g = gan.g_loss(D(fake)) + 100 * rec(ab_fake, ab_real)     # G step
    """

    def __init__(
        self,
        mode: str = "vanilla",
        real_label: float = 1.0,
        fake_label: float = 0.0,
        smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if mode not in OBJECTIVES:
            raise ValueError(
                f"unknown GAN loss mode {mode!r}; valid modes: {', '.join(sorted(OBJECTIVES))}"
            )
        if real_label == fake_label:
            raise ValueError(f"real_label and fake_label must differ, both are {real_label}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        objective = OBJECTIVES[mode]()
        if smoothing and not objective.uses_labels:
            raise ValueError(
                f"label smoothing has no meaning for mode {mode!r} (it has no real/fake labels); "
                f"use it with one of: "
                f"{', '.join(sorted(k for k, v in OBJECTIVES.items() if v.uses_labels))}"
            )
        self.mode = mode
        self.objective = objective
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)
        self.smoothing = float(smoothing)

    @property
    def d_real_label(self) -> float:
        """The discriminator's target for real samples, after one-sided label smoothing."""
        return self.real_label - self.smoothing * (self.real_label - self.fake_label)

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode!r}, real_label={self.real_label}, fake_label={self.fake_label}, "
            f"smoothing={self.smoothing}"
        )

    def loss(self, pred: Tensor, target_is_real: bool) -> Tensor:
        """The plain criterion against the *unsmoothed* label (pix2pix's ``criterionGAN``).

        ``pred``: raw D output, any shape -> scalar. For vanilla/lsgan this is BCE/MSE against a
        map of ``real_label`` or ``fake_label``; for wgan ``-mean(pred)`` (real) or ``mean(pred)``
        (fake); for hinge the discriminator's margin terms ``mean(relu(1 -+ pred))``. Label
        smoothing and halving are *not* applied here: prefer :meth:`d_loss` and :meth:`g_loss`.
        """
        label = self.real_label if target_is_real else self.fake_label
        return self.objective.d_term(pred, bool(target_is_real), label)

    forward = loss

    def d_loss(self, pred_real: Tensor, pred_fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Discriminator (critic) loss from D's outputs on real and on generated samples.

        Returns ``(loss, {"d_real": t, "d_fake": t})``: ``loss`` is a differentiable scalar, the
        two parts are detached scalars for logging (each unhalved). For vanilla, lsgan and hinge
        ``loss = 0.5 * (d_real + d_fake)``: pix2pix divides D's objective by 2 to slow down the
        rate at which D learns relative to G (seed 001). That holds for SGD, whose step scales
        with the gradient; Adam normalises the gradient scale away, so there the factor mostly
        changes the logged value (notebook 5 measures both). For wgan
        ``loss = d_real + d_fake = mean(fake) -
        mean(real)`` unhalved (add ``LAMBDA_GP * gradient_penalty(...)`` for WGAN-GP).
        One-sided label smoothing applies to ``d_real`` only.
        """
        d_real = self.objective.d_term(pred_real, True, self.d_real_label)
        d_fake = self.objective.d_term(pred_fake, False, self.fake_label)
        loss = self.objective.d_scale * (d_real + d_fake)
        return loss, {"d_real": d_real.detach(), "d_fake": d_fake.detach()}

    def g_loss(self, pred_fake: Tensor) -> Tensor:
        """Generator adversarial loss, non-saturating: ``pred_fake`` = D(x, G(x)) -> scalar.

        For vanilla, G is trained to *maximise* ``log D(x, G(x))``, i.e. to minimise
        ``BCE(pred_fake, 1)``, rather than to minimise ``log(1 - D(x, G(x)))`` (seed 001): both
        have the same fixed point, but this one gives strong gradients early on, when D rejects
        the fakes confidently. lsgan: ``MSE(pred_fake, 1)``; wgan and hinge: ``-mean(pred_fake)``.
        The target is always ``real_label`` (never smoothed).
        """
        return self.objective.g_term(pred_fake, self.real_label)

    def saturating_g_loss(self, pred_fake: Tensor) -> Tensor:
        """The original minimax generator loss, for comparison only (notebook 5 exercise).

        G minimises minus D's loss on fakes: for vanilla that is ``mean(log(1 - D(x, G(x))))``
        = ``-BCE(pred_fake, 0)``, which *saturates*: when D confidently rejects the fakes
        (logits very negative, sigmoid ~ 0) its gradient w.r.t. the logits is ~ ``sigmoid(pred)``
        ~ 0, so G learns nothing at the start of training. For wgan this equals :meth:`g_loss`.
        """
        return -self.objective.d_term(pred_fake, False, self.fake_label)


# ----------------------------------------------------------------------------------------------
# Lipschitz constraints of the WGAN critic
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def clip_weights(module: nn.Module, clip: float = WGAN_CLIP) -> None:
    """Clamp every parameter of ``module`` to ``[-clip, clip]`` in place (original WGAN).

    Call it after each critic optimiser step (seed 000: RMSprop + clipping; the WGAN paper uses
    c = 0.01). It crudely keeps the critic Lipschitz; WGAN-GP (:func:`gradient_penalty`) replaces
    it because clipping biases the critic towards very simple functions. Only the parameters of
    ``module`` are touched (buffers such as BatchNorm running statistics are not).
    """
    if not clip > 0:
        raise ValueError(f"clip must be positive, got {clip}")
    for p in module.parameters():
        p.clamp_(-clip, clip)


def gradient_penalty(
    D: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP gradient penalty (Gulrajani et al. 2017; seed 004), *unweighted*.

    ``xhat = eps * real + (1 - eps) * fake`` with one ``eps ~ U(0, 1)`` per sample; the penalty
    is ``mean_b (||grad_xhat D(xhat)_b||_2 - 1)^2`` with the gradient flattened per sample.
    The caller multiplies by :data:`LAMBDA_GP` = 10 and adds it to the critic loss::

        loss_d, parts = GANLoss("wgan").d_loss(D(real), D(fake.detach()))
        loss_d = loss_d + LAMBDA_GP * gradient_penalty(D, real, fake)

    Args:
        D: the critic, ``(B, ...) -> (B, ...)`` scores; a PatchGAN map ``(B, 1, h, w)`` works
            (its elements are summed, so the gradient is that of the sum of patch scores). It
            must have no BatchNorm (which couples the samples of a batch): use the critic variant.
        real, fake: ``(B, C, H, W)`` (any ``(B, ...)``) critic inputs of equal shape, e.g. the
            concatenated ``(L, ab)``. Both are detached: the penalty trains D only.
        generator: optional ``torch.Generator`` for reproducible ``eps``.

    Returns a scalar with a graph through D's parameters (``create_graph=True``), so
    ``backward()`` trains D on it. Under mixed precision, call it in fp32 or bf16.
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"gradient_penalty: real and fake must have the same shape, got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if real.dim() < 2:
        raise ValueError(
            f"gradient_penalty: expected (B, ...) inputs, got shape {tuple(real.shape)}"
        )
    if isinstance(D, nn.Module) and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()
    ):
        warnings.warn(
            "gradient_penalty: the critic contains BatchNorm, which mixes the samples of a batch "
            "and invalidates the per-sample gradient norm; use a critic without it "
            "(e.g. PatchGAN(norm=False))",
            stacklevel=2,
        )
    b = real.shape[0]
    eps_shape = (b,) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, generator=generator, dtype=real.dtype, device=real.device)
    xhat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    score = D(xhat)
    (grad,) = torch.autograd.grad(score.sum(), xhat, create_graph=True)
    norm = grad.reshape(b, -1).float().norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


# ----------------------------------------------------------------------------------------------
# Reconstruction and classification
# ----------------------------------------------------------------------------------------------

#: Reconstruction distances by name: mean absolute error (L1) or mean squared error (L2).
RECONSTRUCTION_KINDS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "l1": F.l1_loss,
    "l2": F.mse_loss,
}


class ReconstructionLoss(nn.Module):
    """Pixel reconstruction distance between generated and real ab (or any maps), unweighted.

    ``kind="l1"``: ``mean|y - yhat|`` (pix2pix: L1 blurs less than L2); ``kind="l2"``:
    ``mean (y - yhat)^2``. ``forward(pred, target)``: two tensors of the same shape, e.g.
    ``(B, 2, H, W)`` in [-1, 1] -> scalar. Shapes must match exactly (no silent broadcasting).
    :class:`Objective` multiplies it by ``lambda_rec``.
    """

    def __init__(self, kind: str = "l1") -> None:
        super().__init__()
        if kind not in RECONSTRUCTION_KINDS:
            raise ValueError(
                f"unknown reconstruction kind {kind!r}; valid kinds: "
                f"{', '.join(sorted(RECONSTRUCTION_KINDS))}"
            )
        self.kind = kind
        self._distance = RECONSTRUCTION_KINDS[kind]

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"ReconstructionLoss: pred and target shapes differ: "
                f"{tuple(pred.shape)} vs {tuple(target.shape)}"
            )
        return self._distance(pred, target)


class ClassificationLoss(nn.Module):
    """Auxiliary classification loss on the generator's class logits (seed 004), unweighted.

    ``forward(logits, target)`` with ``logits`` ``(B, C)`` and either

    * integer class labels ``(B,)``: ``cross_entropy(logits, labels)``. Labels equal to
      ``ignore_index`` (default -1, what ``LabDataset`` yields for unlabelled images) are
      skipped; a batch with no labelled sample gives 0 (still connected to the graph).
    * a target distribution ``(B, C)`` (soft labels, rows summing to 1, e.g. a pretrained
      classifier's softmax as in ChromaGAN): ``KL(target || softmax(logits))`` averaged over
      the batch. KL differs from the soft cross-entropy only by the target's entropy, a
      constant, so both give the same gradients; KL is 0 at a perfect match.

    :class:`Objective` multiplies it by ``lambda_class`` (0.003 in seed 004).
    """

    def __init__(self, ignore_index: int = -1) -> None:
        super().__init__()
        self.ignore_index = int(ignore_index)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}"

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.dim() != 2:
            raise ValueError(
                f"ClassificationLoss: logits must be (B, C), got {tuple(logits.shape)}"
            )
        if target.is_floating_point():
            return self._soft(logits, target)
        if target.shape != logits.shape[:1]:
            raise ValueError(
                f"ClassificationLoss: integer labels must be (B,) = ({logits.shape[0]},), "
                f"got {tuple(target.shape)}"
            )
        valid = target != self.ignore_index
        if not valid.any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits[valid], target[valid].long())

    @staticmethod
    def _soft(logits: Tensor, target: Tensor) -> Tensor:
        if target.shape != logits.shape:
            raise ValueError(
                f"ClassificationLoss: a target distribution must have the logits' shape "
                f"{tuple(logits.shape)}, got {tuple(target.shape)}"
            )
        sums = target.sum(dim=1)
        if (target < 0).any() or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
            raise ValueError(
                "ClassificationLoss: a floating-point target must hold probability rows "
                "(non-negative, summing to 1); pass integer labels for hard classes"
            )
        log_q = F.log_softmax(logits.float(), dim=1)
        t = target.float()
        return (torch.xlogy(t, t) - t * log_q).sum(dim=1).mean()


# ----------------------------------------------------------------------------------------------
# The objective: every term and weight of a run
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def frozen(module: nn.Module | None) -> Iterator[None]:
    """Temporarily stop gradients into ``module``'s parameters (D during the G step)."""
    if module is None:
        yield
        return
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _contexts(precision: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """``(autocast, fp32)`` context factories of a :class:`colorlab.runtime.Precision` (or none)."""
    if precision is None:
        return contextlib.nullcontext, contextlib.nullcontext
    return precision.autocast, precision.fp32


class Objective(nn.Module):
    """Every term and weight of a GAN run: what D and G minimise. No parameters.

    Args:
        gan_mode: a key of :data:`ADVERSARIAL_MODES` (``"none"`` = reconstruction only).
        rec_kind: ``"l1"`` or ``"l2"``.
        lambda_rec: weight of the reconstruction term (pix2pix: 100).
        lambda_adv: weight of the adversarial term in G's loss.
        lambda_class: weight of the classification term (0 = off).
        label_smoothing: one-sided smoothing of D's real target (vanilla and lsgan only).
        lambda_gp: gradient penalty weight (used by ``wgan-gp``).
        clip_value: weight clipping bound (used by ``wgan``).
    """

    def __init__(
        self,
        gan_mode: str = "vanilla",
        *,
        rec_kind: str = "l1",
        lambda_rec: float = 100.0,
        lambda_adv: float = 1.0,
        lambda_class: float = 0.0,
        label_smoothing: float = 0.0,
        lambda_gp: float = LAMBDA_GP,
        clip_value: float = WGAN_CLIP,
    ) -> None:
        super().__init__()
        if gan_mode not in ADVERSARIAL_MODES:
            raise ValueError(
                f"unknown gan_mode {gan_mode!r}; valid: {', '.join(ADVERSARIAL_MODES)}"
            )
        for name, value in (
            ("lambda_rec", lambda_rec),
            ("lambda_adv", lambda_adv),
            ("lambda_class", lambda_class),
            ("lambda_gp", lambda_gp),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        self.gan_mode, self.mode = gan_mode, ADVERSARIAL_MODES[gan_mode]
        loss = self.mode.loss
        self.gan = GANLoss(loss, smoothing=label_smoothing) if loss is not None else None
        self.rec = ReconstructionLoss(rec_kind)
        self.classification = ClassificationLoss()
        self.lambda_rec, self.lambda_adv = float(lambda_rec), float(lambda_adv)
        self.lambda_class, self.lambda_gp = float(lambda_class), float(lambda_gp)
        self.clip_value = float(clip_value)

    @classmethod
    def from_config(cls, cfg: Any) -> Objective:
        """The objective of a :class:`colorlab.config.TrainConfig` (its loss fields)."""
        return cls(
            cfg.gan_mode,
            rec_kind=cfg.rec_kind,
            lambda_rec=cfg.lambda_rec,
            lambda_adv=cfg.lambda_adv,
            lambda_class=cfg.lambda_class,
            label_smoothing=cfg.label_smoothing,
            lambda_gp=cfg.lambda_gp,
            clip_value=cfg.clip_value,
        )

    def extra_repr(self) -> str:
        return (
            f"gan_mode={self.gan_mode!r}, lambda_rec={self.lambda_rec}, "
            f"lambda_adv={self.lambda_adv}, lambda_class={self.lambda_class}"
        )

    def d_loss(
        self, D: nn.Module, L: Tensor, real_ab: Tensor, fake_ab: Tensor, precision: Any = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """D's loss on real ``(L, real_ab)`` and fake ``(L, fake_ab)`` pairs, ``(B,C,H,W)`` each.

        ``fake_ab`` is detached (D's loss trains D only). Returns ``(total, parts)``: ``parts``
        holds the detached ``d_real``, ``d_fake``, ``d_loss`` (and ``gp``, unweighted).
        """
        if self.gan is None:
            raise ValueError("gan_mode='none' has no discriminator loss")
        autocast, fp32 = _contexts(precision)
        real = torch.cat([L, real_ab], dim=1)
        fake = torch.cat([L, fake_ab.detach()], dim=1)
        with autocast():
            total, terms = self.gan.d_loss(D(real), D(fake))
        parts = {k: v.float() for k, v in terms.items()}
        total = total.float()
        if self.mode.gradient_penalty:
            with fp32():
                gp = gradient_penalty(D, real.float(), fake.float())
            total = total + self.lambda_gp * gp
            parts["gp"] = gp.detach()
        parts["d_loss"] = total.detach()
        return total, parts

    def g_loss(
        self,
        D: nn.Module | None,
        L: Tensor,
        real_ab: Tensor,
        fake_ab: Tensor,
        class_logits: Tensor | None = None,
        labels: Tensor | None = None,
        precision: Any = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """G's loss for ``fake_ab = G(L)`` (still carrying its graph) against ``real_ab``.

        ``lambda_rec * rec + lambda_adv * adv + lambda_class * CE``; the adversarial term is
        skipped without ``D`` (or for ``gan_mode="none"``), the class term without logits,
        labels or weight. D's parameters are frozen meanwhile. Returns ``(total, parts)`` with
        the detached, unweighted ``g_rec`` (``g_adv``, ``g_class``) and the weighted ``g_loss``.
        """
        autocast, _ = _contexts(precision)
        parts: dict[str, Tensor] = {}
        with autocast():
            g_rec = self.rec(fake_ab.float(), real_ab.float())
            total = self.lambda_rec * g_rec
            if D is not None and self.gan is not None:
                with frozen(D):
                    g_adv = self.gan.g_loss(D(torch.cat([L, fake_ab], dim=1))).float()
                total = total + self.lambda_adv * g_adv
                parts["g_adv"] = g_adv.detach()
            if class_logits is not None and labels is not None and self.lambda_class:
                g_class = self.classification(class_logits.float(), labels)
                total = total + self.lambda_class * g_class
                parts["g_class"] = g_class.detach()
        parts["g_rec"] = g_rec.detach()
        parts["g_loss"] = total.detach()
        return total, parts

    def after_d_step(self, D: nn.Module) -> None:
        """What the mode does to the critic after its update: weight clipping for ``wgan``."""
        if self.mode.clip_weights:
            clip_weights(D, self.clip_value)
