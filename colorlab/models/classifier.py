"""A U-Net colorizer with a scene-classification branch (seed 004, after ChromaGAN).

Seed 004 trains the pix2pix U-Net jointly with a classifier of the 205 Places205 scene classes
(cross-entropy weight 0.003) so that the encoder learns semantics. Its generator:

* **branch**: 3 encoder blocks (4x4 stride-2 conv, BatchNorm, LeakyReLU 0.2) running parallel to
  the generator's deeper encoder, fed by the output of its 3rd encoder block
  (256 channels, 32x32 for a 256 px input) -> 512 x 4 x 4 -> flatten (8,192 features);
* **feature fusion**: dense 1024 -> dense 512 (+ ReLU); the 512 global features are broadcast
  over the bottleneck and concatenated with it (as in ChromaGAN / Iizuka et al.);
* **classification head**: dense 2048 -> dense 1024 (+ ReLU, 50 % dropout) -> 205 logits.

Here the fused bottleneck is brought back to the bottleneck's channel count by a 1x1 conv + ReLU
(Iizuka et al.'s fusion layer), so any :class:`~colorlab.models.unet.UNet` can be wrapped
unchanged: :meth:`ColorizerWithClassifier.preset` ``("chromagan")`` has 93,425,487 parameters
(54,409,858 in the U-Net). Seed 004 instead widened the first decoder conv from 512 to 1024
input channels; swapping the 1x1 fusion conv (524,800) for that widening (+4,194,304) gives
97,094,991, its "97 M".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from colorlab.models.unet import ConvAutoencoder, UNet, downsampling_factor

__all__ = ["ColorizerWithClassifier", "ClassifierConfig", "CLASSIFIER_PRESETS"]


def _out_channels(block: nn.Module) -> int:
    """Channels a block outputs: those of its last conv / transposed conv / BatchNorm."""
    channels = None
    for m in block.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            channels = m.out_channels
        elif isinstance(m, nn.BatchNorm2d):
            channels = m.num_features
    if channels is None:
        raise ValueError(f"cannot tell the output channels of {type(block).__name__}")
    return channels


def _mlp(sizes: Sequence[int], dropout: float = 0.0) -> list[nn.Module]:
    """Linear + ReLU (+ Dropout) for each consecutive pair of ``sizes``."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return layers


class ColorizerWithClassifier(nn.Module):
    """U-Net colorizer + class branch: ``L (B,1,S,S)`` -> ``(ab (B,2,S,S), logits (B,n_classes))``.

    ``ab`` is in [-1, 1] (the generator's Tanh); ``logits`` are unnormalised class scores for a
    cross-entropy loss. ``S`` must equal ``image_size`` (the branch ends in a dense layer).

    Args:
        generator: a :class:`UNet` (or :class:`EncoderDecoder`); its ``encode``/``decode`` run.
        n_classes: number of classes (205 for Places205).
        image_size: input side ``S``; fixes the flattened branch size.
        tap: index of the encoder block whose output feeds the branch (2 = the 3rd, seed 004).
        branch_blocks: stride-2 4x4 conv blocks in the branch (3).
        branch_channels: channels of those blocks (512).
        fusion_units: hidden sizes of the fusion MLP ((1024, 512)); empty = no fusion, the
            branch is then purely auxiliary and the colorization is the generator's own.
        head_units: hidden sizes of the classification head ((2048, 1024)), ReLU + ``dropout``.
        dropout: dropout of the classification head (0.5).
    """

    def __init__(
        self,
        generator: ConvAutoencoder,
        n_classes: int = 205,
        *,
        image_size: int = 256,
        tap: int = 2,
        branch_blocks: int = 3,
        branch_channels: int = 512,
        fusion_units: Sequence[int] = (1024, 512),
        head_units: Sequence[int] = (2048, 1024),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        n_enc = len(generator.encoder)
        if not 0 <= tap < n_enc:
            raise ValueError(f"tap must index one of the {n_enc} encoder blocks, got {tap}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.generator = generator
        self.tap = tap
        self.image_size = image_size
        self.n_classes = n_classes

        # Size of the tapped features, from the encoder's strides (no dummy forward needed).
        factor = downsampling_factor(generator.encoder[: tap + 1])
        if image_size % generator.downsampling:
            raise ValueError(
                f"image_size {image_size} is not a multiple of the generator's downsampling "
                f"{generator.downsampling}"
            )
        side = image_size // factor
        c = _out_channels(generator.encoder[tap])
        blocks: list[nn.Module] = []
        for _ in range(branch_blocks):
            side //= 2  # 4x4 conv, stride 2, padding 1 halves an even side
            if side < 1:
                raise ValueError(
                    f"the class branch's {branch_blocks} stride-2 blocks after encoder block "
                    f"{tap} shrink a {image_size} px input below 1 pixel; use a smaller tap, "
                    f"fewer branch_blocks or a larger image_size"
                )
            blocks += [
                nn.Conv2d(c, branch_channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(branch_channels),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            c = branch_channels
        self.branch = nn.Sequential(*blocks, nn.Flatten())
        n_flat = c * side * side
        self.n_features = n_flat

        if fusion_units:
            c_b = _out_channels(generator.encoder[-1])
            self.fusion = nn.Sequential(*_mlp([n_flat, *fusion_units]))
            self.fuse = nn.Sequential(
                nn.Conv2d(c_b + fusion_units[-1], c_b, 1), nn.ReLU(inplace=True)
            )
        else:
            self.fusion = None
            self.fuse = None
        last = head_units[-1] if head_units else n_flat
        self.classifier = nn.Sequential(
            *_mlp([n_flat, *head_units], dropout), nn.Linear(last, n_classes)
        )

    @classmethod
    def preset(cls, name: str, n_classes: int | None = None) -> ColorizerWithClassifier:
        """A named configuration of :data:`CLASSIFIER_PRESETS`.

        ``"chromagan"``: seed 004 at 256 px (205 classes); ``"small"``: 32 px for the CPU
        (10 classes, as CIFAR-10). ``n_classes`` overrides the preset's.
        """
        try:
            config = CLASSIFIER_PRESETS[name]
        except KeyError:
            raise ValueError(
                f"unknown classifier preset {name!r}; choose one of {sorted(CLASSIFIER_PRESETS)}"
            ) from None
        kwargs = asdict(config)
        if n_classes is not None:
            kwargs["n_classes"] = n_classes
        return cls.pix2pix(**kwargs)

    @classmethod
    def pix2pix(
        cls,
        in_channels: int = 1,
        out_channels: int = 2,
        image_size: int = 256,
        *,
        n_classes: int = 205,
        num_downs: int = 8,
        ngf: int = 64,
        tap: int = 2,
        branch_blocks: int = 3,
        branch_channels: int = 512,
        fusion_units: Sequence[int] = (1024, 512),
        head_units: Sequence[int] = (2048, 1024),
        dropout: float = 0.5,
    ) -> ColorizerWithClassifier:
        """Wrap ``UNet.pix2pix(in_channels, out_channels, num_downs, ngf)``; defaults = seed 004.

        ``(B,in_channels,S,S) -> ((B,out_channels,S,S), (B,n_classes))`` with ``S = image_size``.
        """
        generator = UNet.pix2pix(in_channels, out_channels, num_downs=num_downs, ngf=ngf)
        return cls(
            generator,
            n_classes,
            image_size=image_size,
            tap=tap,
            branch_blocks=branch_blocks,
            branch_channels=branch_channels,
            fusion_units=tuple(fusion_units),
            head_units=tuple(head_units),
            dropout=dropout,
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B,1,S,S)`` L in [-1,1] -> ``((B,2,S,S)`` ab in [-1,1], ``(B,n_classes)`` logits)."""
        self.generator.check_input(x)
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"ColorizerWithClassifier was built for {self.image_size}x{self.image_size} "
                f"inputs (its class branch ends in dense layers), got {tuple(x.shape)}"
            )
        bottleneck, skips = self.generator.encode(x)
        tapped = (*skips, bottleneck)[self.tap]
        features = self.branch(tapped)  # (B, n_features)
        logits = self.classifier(features)
        if self.fusion is not None:
            g = self.fusion(features)[:, :, None, None].expand(-1, -1, *bottleneck.shape[-2:])
            bottleneck = self.fuse(torch.cat([bottleneck, g], dim=1))
        ab = self.generator.decode(bottleneck, skips)
        return ab, logits


@dataclass(frozen=True)
class ClassifierConfig:
    """Arguments of :meth:`ColorizerWithClassifier.pix2pix` for a named preset."""

    n_classes: int = 205
    num_downs: int = 8
    ngf: int = 64
    image_size: int = 256
    tap: int = 2
    branch_blocks: int = 3
    branch_channels: int = 512
    fusion_units: tuple[int, ...] = (1024, 512)
    head_units: tuple[int, ...] = (2048, 1024)
    dropout: float = 0.5


CLASSIFIER_PRESETS: dict[str, ClassifierConfig] = {
    # seed 004: unet_256 + branch from the 3rd encoder block, 205 Places205 classes
    "chromagan": ClassifierConfig(),
    # CPU-sized: 32 px, 5 levels of 16.. channels, branch from the 2nd block (8x8 -> 1x1)
    "small": ClassifierConfig(
        n_classes=10,
        num_downs=5,
        ngf=16,
        image_size=32,
        tap=1,
        branch_blocks=3,
        branch_channels=64,
        fusion_units=(128, 64),
        head_units=(128, 64),
    ),
}
"""Named :class:`ColorizerWithClassifier` configurations."""
