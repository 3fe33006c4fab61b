"""Losses of the colorization GANs: adversarial objectives, gradient penalty, reconstruction, class.

What the source material uses, and where each number comes from:

* **Adversarial loss** (:class:`GANLoss`): ``vanilla`` = binary cross-entropy on logits
  (pix2pix, seeds 000/001/002 ``nn.BCEWithLogitsLoss``), ``lsgan`` = mean squared error against
  the label maps (seed 002 ``nn.MSELoss``), ``wgan`` = the Wasserstein critic loss (seed 000's
  WGAN run, seed 004's WGAN-GP), ``hinge`` = the hinge loss of SAGAN/BigGAN (for comparison).
  The discriminator loss is halved as in pix2pix (seed 001), the generator loss is the
  non-saturating one (seed 001), and one-sided label smoothing softens D's real target (seed 004).
* **WGAN**: :func:`clip_weights` after every critic step (seed 000: RMSprop + clipping, WGAN
  paper c = 0.01) or :func:`gradient_penalty` weighted by :data:`LAMBDA_GP` = 10 with
  :data:`N_CRITIC` = 5 critic steps per generator step (seed 004, WGAN-GP paper).
* **Reconstruction** (:class:`ReconstructionLoss`): L1 with lambda 100 (pix2pix, seeds 001/002/004),
  50 for seed 002's low-lambda run, L2 with weight 1 for seed 004's WGAN-GP configuration.
* **Classification** (:class:`ClassificationLoss`): cross-entropy on scene classes with weight
  0.003 (seed 004, after ChromaGAN).

Seed 004's three generator objectives, written with these pieces::

    GAN + L1:               L = L_cGAN + 100 L_L1
    GAN + L1 + Class:       L = L_cGAN + 100 L_L1 + 0.003 L_CE
    WGAN-GP + L2 + Class:   L = 0.1 L_WGAN-GP + L_L2 + 0.003 L_CE

Every adversarial loss here takes *raw* discriminator outputs (logits / critic scores) of any
shape: ``(B, 1)`` from a linear head or ``(B, 1, h, w)`` from a PatchGAN, averaged over all
elements (so each PatchGAN patch counts as one real/fake decision).
"""

from __future__ import annotations

import warnings
from typing import Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LAMBDA_L1",
    "LAMBDA_L1_LOW",
    "LAMBDA_L2_WGAN_GP",
    "LAMBDA_ADV_WGAN_GP",
    "LAMBDA_GP",
    "N_CRITIC",
    "WGAN_CLIP",
    "LAMBDA_CLASS",
    "LABEL_SMOOTHING",
    "GANObjective",
    "Vanilla",
    "LeastSquares",
    "Wasserstein",
    "Hinge",
    "GAN_MODES",
    "GANLoss",
    "clip_weights",
    "gradient_penalty",
    "ReconstructionLoss",
    "RECONSTRUCTION_KINDS",
    "ClassificationLoss",
]

# ----------------------------------------------------------------------------------------------
# Weights and schedule constants of the source material
# ----------------------------------------------------------------------------------------------

#: Weight of the L1 term in the generator loss (pix2pix paper; seeds 001, 002, 004: lambda = 100).
LAMBDA_L1: float = 100.0
#: Seed 002's ``VANILLA_LOW_LAMBDA_20`` run halves LAMBDA_L1 to give the adversarial term more say.
LAMBDA_L1_LOW: float = 50.0
#: Seed 004, configuration 3 (WGAN-GP + L2 + Class): the L2 term has weight 1 ...
LAMBDA_L2_WGAN_GP: float = 1.0
#: ... and the adversarial WGAN-GP term weight 0.1.
LAMBDA_ADV_WGAN_GP: float = 0.1
#: Weight of the gradient penalty in the critic loss (WGAN-GP paper, seed 004: lambda = 10).
LAMBDA_GP: float = 10.0
#: Critic steps per generator step for WGAN-GP (WGAN-GP paper, seed 004: "trained 5 times").
N_CRITIC: int = 5
#: Weight-clipping bound c of the original WGAN (Arjovsky et al. 2017; seed 000's WGAN run).
WGAN_CLIP: float = 0.01
#: Weight of the cross-entropy classification term (seed 004, after ChromaGAN).
LAMBDA_CLASS: float = 0.003
#: One-sided label smoothing of seed 004: D's real target 1 -> 0.9 (Salimans et al. 2016).
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


#: Registry of adversarial objectives by mode name. Add an exercise's objective with
#: ``GAN_MODES["mine"] = MyObjective`` (a :class:`GANObjective` subclass).
GAN_MODES: dict[str, type[GANObjective]] = {
    cls.name: cls for cls in (Vanilla, LeastSquares, Wasserstein, Hinge)
}


class GANLoss(nn.Module):
    """Adversarial loss for the discriminator and the generator, one of :data:`GAN_MODES`.

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

        gan, rec = GANLoss("vanilla"), ReconstructionLoss("l1", weight=LAMBDA_L1)
        ab_fake = G(L)
        real, fake = torch.cat([L, ab_real], 1), torch.cat([L, ab_fake], 1)  # (B,3,H,W)
        loss_d, parts = gan.d_loss(D(real), D(fake.detach()))   # D step
        loss_g = gan.g_loss(D(fake)) + rec(ab_fake, ab_real)     # G step
    """

    def __init__(
        self,
        mode: str = "vanilla",
        real_label: float = 1.0,
        fake_label: float = 0.0,
        smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(
                f"unknown GAN loss mode {mode!r}; valid modes: {', '.join(sorted(GAN_MODES))}"
            )
        if real_label == fake_label:
            raise ValueError(f"real_label and fake_label must differ, both are {real_label}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        objective = GAN_MODES[mode]()
        if smoothing and not objective.uses_labels:
            raise ValueError(
                f"label smoothing has no meaning for mode {mode!r} (it has no real/fake labels); "
                f"use it with one of: {', '.join(sorted(k for k, v in GAN_MODES.items() if v.uses_labels))}"
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
        changes the logged value (notebook 5 measures both). For wgan ``loss = d_real + d_fake = mean(fake) -
        mean(real)`` unhalved (add ``LAMBDA_GP * gradient_penalty(...)`` for WGAN-GP).
        One-sided label smoothing applies to ``d_real`` only.
        """
        d_real = self.objective.d_term(pred_real, True, self.d_real_label)
        d_fake = self.objective.d_term(pred_fake, False, self.fake_label)
        loss = self.objective.d_scale * (d_real + d_fake)
        return loss, {"d_real": d_real.detach(), "d_fake": d_fake.detach()}

    def g_loss(self, pred_fake: Tensor) -> Tensor:
        """Generator adversarial loss, the non-saturating form: ``pred_fake`` = D(x, G(x)) -> scalar.

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
        raise ValueError(f"gradient_penalty: expected (B, ...) inputs, got shape {tuple(real.shape)}")
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
    """Weighted pixel reconstruction loss between generated and real ab (or any maps).

    ``kind="l1"``: ``weight * mean|y - yhat|`` (pix2pix: L1 blurs less than L2; lambda
    :data:`LAMBDA_L1` = 100, :data:`LAMBDA_L1_LOW` = 50 in seed 002's low-lambda run).
    ``kind="l2"``: ``weight * mean (y - yhat)^2`` (seed 004's WGAN-GP configuration, weight 1).

    ``forward(pred, target)``: two tensors of the same shape, e.g. ``(B, 2, H, W)`` in [-1, 1]
    -> scalar. Shapes must match exactly (no silent broadcasting).
    """

    def __init__(self, kind: str = "l1", weight: float = LAMBDA_L1) -> None:
        super().__init__()
        if kind not in RECONSTRUCTION_KINDS:
            raise ValueError(
                f"unknown reconstruction kind {kind!r}; valid kinds: "
                f"{', '.join(sorted(RECONSTRUCTION_KINDS))}"
            )
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.kind = kind
        self.weight = float(weight)
        self._distance = RECONSTRUCTION_KINDS[kind]

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, weight={self.weight}"

    def unweighted(self, pred: Tensor, target: Tensor) -> Tensor:
        """The distance without the weight (for logging), same shapes as :meth:`forward`."""
        if pred.shape != target.shape:
            raise ValueError(
                f"ReconstructionLoss: pred and target shapes differ: "
                f"{tuple(pred.shape)} vs {tuple(target.shape)}"
            )
        return self._distance(pred, target)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.weight * self.unweighted(pred, target)


class ClassificationLoss(nn.Module):
    """Weighted auxiliary classification loss on the generator's class logits (seed 004).

    ``forward(logits, target)`` with ``logits`` ``(B, C)`` and either

    * integer class labels ``(B,)``: ``weight * cross_entropy(logits, labels)`` (seed 004's
      ``L_cross-entropy`` on Places205 scene labels). Labels equal to ``ignore_index`` (default
      -1, what ``LabDataset`` yields for unlabelled images) are skipped; a batch with no labelled
      sample gives 0 (still connected to the graph).
    * a target distribution ``(B, C)`` (soft labels, rows summing to 1, e.g. a pretrained
      classifier's softmax as in ChromaGAN): ``weight * KL(target || softmax(logits))``
      averaged over the batch. KL differs from the soft cross-entropy only by the target's
      entropy, a constant, so both give the same gradients; KL is 0 at a perfect match.

    Default weight :data:`LAMBDA_CLASS` = 0.003 (seed 004).
    """

    def __init__(self, weight: float = LAMBDA_CLASS, ignore_index: int = -1) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = float(weight)
        self.ignore_index = int(ignore_index)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, ignore_index={self.ignore_index}"

    def unweighted(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy (integer labels) or KL divergence (distributions), without the weight."""
        if logits.dim() != 2:
            raise ValueError(f"ClassificationLoss: logits must be (B, C), got {tuple(logits.shape)}")
        if target.is_floating_point():
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
        if target.shape != logits.shape[:1]:
            raise ValueError(
                f"ClassificationLoss: integer labels must be (B,) = ({logits.shape[0]},), "
                f"got {tuple(target.shape)}"
            )
        valid = target != self.ignore_index
        if not valid.any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits[valid], target[valid].long())

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.weight * self.unweighted(logits, target)
