"""U-Net generators (with skip connections) and their encoder-decoder twins (without).

Every generator maps the normalised lightness to the normalised chroma::

    L  (B, in_channels=1, H, W) in [-1, 1]  ->  ab (B, out_channels=2, H, W) in [-1, 1]

(the scaling lives in :mod:`colorlab.color`). Both classes are built from explicit lists so the
skip connections are visible in :meth:`UNet.encode` / :meth:`UNet.decode`: ``encoder[i]`` maps
level ``i`` to level ``i+1``, the output of the last encoder block is the bottleneck, and
``decoder[j]`` upsamples one level and is then concatenated with the matching encoder output
(``UNet``) or not (``EncoderDecoder``); ``head`` maps the last decoder features to the output.

Architectures (:data:`UNET_PRESETS`, parameter counts for 1 input and 2 output channels):

* ``"complex"`` = pix2pix ``unet_256`` (seed 000 table 7, seeds 002 and 004): 8 stride-2 4x4
  convolutions, BatchNorm, LeakyReLU(0.2) encoder, ReLU decoder, dropout 0.5 in the three
  innermost decoder blocks, Tanh. **54,409,858** parameters, exactly seed 000's total, with
  pix2pix's bias convention: with BatchNorm *every* convolution is bias-free (also the outermost
  encoder conv and the innermost one, which have no norm after them) except the output layer.
  Giving those two convs a bias would add 64 + 512 = 576 parameters (54,410,434).
* ``"normal"`` (seed 000 table 5): **2,327,558** parameters exactly, see :func:`seed000_normal`.
* ``"simple"`` (seed 000 table 4): 570,534 parameters, 291 (0.051 %) below seed 000's 570,825,
  see :func:`seed000_simple` (an odd total cannot come from an all-even-channel table).
* ``"cifar_plain"`` / ``"cifar_leaky_bn"``: seed 003's two CIFAR-10 32x32 U-Nets, plain (ReLU,
  no normalisation) and "with LeakyReLU + BatchNorm", 5 stride-2 levels, ngf 32, 1x1 output conv.
  Seed 003 predicted 3 RGB channels; here the default is 2 (ab), ``out_channels=3`` gives theirs.

:meth:`UNet.pix2pix` builds any depth/width of the pix2pix generator, e.g. ``num_downs=5`` for
32 px or 6 for 64 px and ``ngf=32`` for the CPU. Input height and width must be divisible by
``2**num_downs`` (in general by :attr:`UNet.downsampling`); anything else is a clear error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar, TypeVar

import torch
from torch import Tensor, nn

from colorlab.models.geometry import downsampling_factor, first_conv

__all__ = [
    "UNet",
    "EncoderDecoder",
    "ConvAutoencoder",
    "downsampling_factor",
    "UNET_PRESETS",
    "pix2pix_blocks",
    "seed000_simple",
    "seed000_normal",
    "Blocks",
]

Blocks = tuple[list[nn.Module], list[nn.Module], nn.Module]
"""``(encoder, decoder, head)`` as a builder returns them."""

_Net = TypeVar("_Net", bound="ConvAutoencoder")


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 'same' conv (with bias) -> BatchNorm -> ReLU: the block of seed 000's tables."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


def _up2x2(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    """2x2 stride-2 transposed conv (with bias): doubles height and width."""
    return nn.ConvTranspose2d(c_in, c_out, 2, stride=2)


def seed000_simple(in_channels: int = 1, out_channels: int = 2, skips: bool = True) -> Blocks:
    """Seed 000's "Simple U-NET" (table 4): two levels, 64 and 128 channels.

    Table rows -> layers::

        level 1  Conv2d (1,64) (64,64) (64,64)          encoder[0]  (skip, full resolution)
        level 2  Conv2d (64,128) (128,128) (128,128)    encoder[1]  (after a 2x2 max-pool)
        level 1  ConvTranspose2d (128,64)               decoder[0]  -> concat skip (64+64)
        level 1  Conv2d (128,64) (64,32) (32,2)         head (+ BatchNorm, Tanh)

    Reading: every Conv2d is a 3x3 'same' conv *with bias* followed by BatchNorm (ReLU inside the
    network), the ConvTranspose2d is 2x2 / stride 2 with bias and no norm, the output conv is a
    3x3 conv with bias followed by BatchNorm(2) and Tanh. This is seed 000's "normal" reading
    (:func:`seed000_normal`) with a 3x3 instead of 1x1 output conv and gives **570,534**
    parameters: 291 fewer than the 570,825 of the table (0.051 %). The table's total is odd,
    which no reading of an all-even-channel conv table can produce (every weight, bias and
    BatchNorm count is even), so some layer is missing from the table. The normal reading with
    its 1x1 output conv would give 570,022 (0.141 % off); the closest uniform reading found
    (3x3 convs without bias + BN, bias-free 2x2 transposed conv, 5x5 output conv with bias + BN)
    gives 570,822 (-3) but shares nothing with the normal model, so it was not chosen.

    Without skips (``skips=False``) the head's first conv takes 64 instead of 128 channels.
    Input height and width must be even.
    """
    encoder: list[nn.Module] = [
        nn.Sequential(_conv_bn_relu(in_channels, 64), _conv_bn_relu(64, 64), _conv_bn_relu(64, 64)),
        nn.Sequential(
            nn.MaxPool2d(2),
            _conv_bn_relu(64, 128),
            _conv_bn_relu(128, 128),
            _conv_bn_relu(128, 128),
        ),
    ]
    decoder: list[nn.Module] = [_up2x2(128, 64)]
    head = nn.Sequential(
        _conv_bn_relu(64 + (64 if skips else 0), 64),
        _conv_bn_relu(64, 32),
        nn.Conv2d(32, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.Tanh(),
    )
    return encoder, decoder, head


def seed000_normal(in_channels: int = 1, out_channels: int = 2, skips: bool = True) -> Blocks:
    """Seed 000's "Normal U-NET" (table 5): three levels, 64, 128 and 256 channels.

    Table rows -> layers::

        level 1  Conv2d (1,64) (64,64)                  encoder[0]  (skip, full resolution)
        level 2  Conv2d (64,128) (128,128)              encoder[1]  (skip, after a max-pool)
        level 3  Conv2d (128,256) (256,256) (256,256)   encoder[2]  (bottleneck, after a max-pool)
        level 2  ConvTranspose2d (256,128)              decoder[0]  -> concat skip (128+128)
        level 2  Conv2d (256,128) (128,64)              decoder[1] ...
        level 1  ConvTranspose2d (64,64)                ... decoder[1] -> concat skip (64+64)
        level 1  Conv2d (128,64) (64,2)                 head (+ BatchNorm, Tanh)

    Reading that gives exactly **2,327,558** parameters (found by enumerating kernel sizes
    1..5, bias and BatchNorm for the conv, transposed-conv and output rows): 3x3 'same' convs
    with bias, each followed by BatchNorm (and ReLU); 2x2 stride-2 transposed convs with bias and
    no norm; a 1x1 output conv with bias followed by BatchNorm(2) and Tanh. The only other exact
    reading is 3x3 convs without bias + BN, 2x2 transposed convs with bias + BN and a 3x3 output
    conv with bias + BN. Both need the BatchNorm on the 2 output channels (4 parameters).

    Without skips (``skips=False``) decoder[1] starts with 128 instead of 256 channels and the
    head with 64 instead of 128. Input height and width must be divisible by 4.
    """
    encoder: list[nn.Module] = [
        nn.Sequential(_conv_bn_relu(in_channels, 64), _conv_bn_relu(64, 64)),
        nn.Sequential(nn.MaxPool2d(2), _conv_bn_relu(64, 128), _conv_bn_relu(128, 128)),
        nn.Sequential(
            nn.MaxPool2d(2),
            _conv_bn_relu(128, 256),
            _conv_bn_relu(256, 256),
            _conv_bn_relu(256, 256),
        ),
    ]
    decoder: list[nn.Module] = [
        _up2x2(256, 128),
        nn.Sequential(
            _conv_bn_relu(128 + (128 if skips else 0), 128),
            _conv_bn_relu(128, 64),
            _up2x2(64, 64),
        ),
    ]
    head = nn.Sequential(
        _conv_bn_relu(64 + (64 if skips else 0), 64),
        nn.Conv2d(64, out_channels, 1),
        nn.BatchNorm2d(out_channels),
        nn.Tanh(),
    )
    return encoder, decoder, head


def pix2pix_blocks(
    in_channels: int = 1,
    out_channels: int = 2,
    skips: bool = True,
    *,
    num_downs: int = 8,
    ngf: int = 64,
    norm: bool = True,
    dropout: float = 0.5,
    n_dropout: int = 3,
    leaky: bool = True,
    final_1x1: bool = False,
) -> Blocks:
    """The pix2pix U-Net generator as ``(encoder, decoder, head)`` lists.

    Level ``i`` (0-based) has ``ngf * min(2**i, 8)`` channels: 64, 128, 256, 512, 512, ... for
    ``ngf=64``. Encoder block ``i`` = 4x4 stride-2 conv -> BatchNorm (not on the outermost and
    innermost blocks) -> LeakyReLU(0.2) (ReLU if ``leaky=False``; the innermost block, the
    bottleneck, always ends in ReLU). Decoder block ``j`` (innermost first) = 4x4 stride-2
    transposed conv -> BatchNorm -> Dropout(``dropout``) for ``j < n_dropout`` -> ReLU. Head =
    4x4 stride-2 transposed conv (with bias) -> Tanh, or with ``final_1x1`` (seed 003) a
    transposed conv -> BatchNorm -> ReLU to ``ngf`` channels, then a 1x1 conv -> Tanh.

    Bias convention (pix2pix's, and the one that reproduces seed 000's 54,409,858): with
    ``norm=True`` every conv is bias-free except the layers of the head that are not followed by
    BatchNorm; with ``norm=False`` every conv has a bias.

    With ``skips=False`` (encoder-decoder) the decoder and head inputs are not doubled.
    """
    if num_downs < 1:
        raise ValueError(f"pix2pix U-Net: num_downs must be >= 1, got {num_downs}")
    if ngf < 1:
        raise ValueError(f"pix2pix U-Net: ngf must be >= 1, got {ngf}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"pix2pix U-Net: dropout must be in [0, 1), got {dropout}")
    chans = [ngf * min(2**i, 8) for i in range(num_downs)]
    bias = not norm
    mult = 2 if skips else 1

    encoder: list[nn.Module] = []
    for i, c_out in enumerate(chans):
        c_in = in_channels if i == 0 else chans[i - 1]
        innermost = i == num_downs - 1
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=bias)]
        if norm and 0 < i and not innermost:
            layers.append(nn.BatchNorm2d(c_out))
        if innermost:
            layers.append(nn.ReLU(inplace=True))
        elif leaky:
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        else:
            layers.append(nn.ReLU(inplace=True))
        encoder.append(nn.Sequential(*layers))

    decoder: list[nn.Module] = []
    for j in range(num_downs - 1):
        c_in = chans[-1] if j == 0 else mult * chans[-1 - j]
        c_out = chans[-2 - j]
        layers = [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=bias)]
        if norm:
            layers.append(nn.BatchNorm2d(c_out))
        if dropout > 0 and j < n_dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.ReLU(inplace=True))
        decoder.append(nn.Sequential(*layers))

    head_in = chans[0] if num_downs == 1 else mult * chans[0]
    if final_1x1:
        head_layers: list[nn.Module] = [
            nn.ConvTranspose2d(head_in, chans[0], 4, stride=2, padding=1, bias=bias)
        ]
        if norm:
            head_layers.append(nn.BatchNorm2d(chans[0]))
        head_layers += [nn.ReLU(inplace=True), nn.Conv2d(chans[0], out_channels, 1), nn.Tanh()]
        head = nn.Sequential(*head_layers)
    else:
        head = nn.Sequential(
            nn.ConvTranspose2d(head_in, out_channels, 4, stride=2, padding=1), nn.Tanh()
        )
    return encoder, decoder, head


def _complex(in_channels: int = 1, out_channels: int = 2, skips: bool = True) -> Blocks:
    """pix2pix unet_256: 8 levels, ngf 64, BatchNorm, dropout 0.5 in 3 decoder blocks."""
    return pix2pix_blocks(in_channels, out_channels, skips, num_downs=8, ngf=64)


def _cifar_plain(in_channels: int = 1, out_channels: int = 2, skips: bool = True) -> Blocks:
    """Seed 003's plain U-Net for 32x32: ReLU, no normalisation, 1x1 output conv."""
    return pix2pix_blocks(
        in_channels,
        out_channels,
        skips,
        num_downs=5,
        ngf=32,
        norm=False,
        leaky=False,
        dropout=0.0,
        final_1x1=True,
    )


def _cifar_leaky_bn(in_channels: int = 1, out_channels: int = 2, skips: bool = True) -> Blocks:
    """Seed 003's U-Net "with LeakyReLU + BatchNorm" for 32x32, 1x1 output conv."""
    return pix2pix_blocks(
        in_channels,
        out_channels,
        skips,
        num_downs=5,
        ngf=32,
        norm=True,
        leaky=True,
        dropout=0.0,
        final_1x1=True,
    )


UNET_PRESETS: dict[str, Callable[[int, int, bool], Blocks]] = {
    "simple": seed000_simple,
    "normal": seed000_normal,
    "complex": _complex,
    "cifar_plain": _cifar_plain,
    "cifar_leaky_bn": _cifar_leaky_bn,
}
"""Named architectures: ``builder(in_channels, out_channels, skips) -> Blocks``."""


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


def _first_conv(modules: nn.Module) -> nn.Conv2d:
    conv = first_conv(modules)
    if conv is None:
        raise ValueError("the encoder contains no nn.Conv2d, so its input channels are unknown")
    return conv


class ConvAutoencoder(nn.Module):
    """Shared construction and input checks of :class:`UNet` and :class:`EncoderDecoder`.

    :meth:`encode` is shared; subclasses define ``decode(bottleneck, features)`` and
    ``forward``; ``uses_skips`` tells the builders whether decoder inputs are doubled.
    """

    uses_skips: ClassVar[bool] = True

    def __init__(
        self,
        encoder: Sequence[nn.Module],
        decoder: Sequence[nn.Module],
        head: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if len(encoder) < 1:
            raise ValueError(f"{type(self).__name__}: the encoder list is empty")
        if len(decoder) != len(encoder) - 1:
            raise ValueError(
                f"{type(self).__name__}: a decoder block per encoder block except the "
                f"bottleneck is needed, got {len(encoder)} encoder and {len(decoder)} decoder "
                "blocks"
            )
        self.encoder = nn.ModuleList(encoder)
        self.decoder = nn.ModuleList(decoder)
        self.head = head if head is not None else nn.Identity()
        self.in_channels: int = _first_conv(self.encoder).in_channels
        self.downsampling: int = downsampling_factor(self.encoder)
        """Input height and width must be multiples of this (2**levels below full resolution)."""

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Run the encoder: ``(bottleneck, features)``, ``features[i]`` = output of ``encoder[i]``.

        The U-Net concatenates ``features`` back in as skips; the encoder-decoder ignores them.
        """
        features: list[Tensor] = []
        for block in self.encoder:
            x = block(x)
            features.append(x)
        bottleneck = features.pop()
        return bottleneck, features

    # ---- constructors --------------------------------------------------------------------
    @classmethod
    def preset(
        cls: type[_Net],
        name: str,
        in_channels: int = 1,
        out_channels: int = 2,
        image_size: int | None = None,
    ) -> _Net:
        """A named architecture of :data:`UNET_PRESETS` ("simple", "normal", "complex", ...).

        ``image_size`` is accepted for the common factory signature; the network is fully
        convolutional and works at any multiple of its downsampling factor.
        """
        try:
            builder = UNET_PRESETS[name]
        except KeyError:
            raise ValueError(
                f"unknown {cls.__name__} preset {name!r}; choose one of {sorted(UNET_PRESETS)}"
            ) from None
        return cls(*builder(in_channels, out_channels, cls.uses_skips))

    @classmethod
    def pix2pix(
        cls: type[_Net],
        in_channels: int = 1,
        out_channels: int = 2,
        image_size: int | None = None,
        *,
        num_downs: int = 8,
        ngf: int = 64,
        norm: bool = True,
        dropout: float = 0.5,
        n_dropout: int = 3,
        leaky: bool = True,
        final_1x1: bool = False,
    ) -> _Net:
        """The pix2pix generator of any depth and width (see :func:`pix2pix_blocks`).

        ``(B,in_channels,H,W) in [-1,1] -> (B,out_channels,H,W) in [-1,1]``, H and W multiples of
        ``2**num_downs``; ``image_size`` is accepted for the common factory signature.

        Defaults = unet_256 (54,409,858 parameters as a U-Net for 1 -> 2 channels). Smaller CPU
        variants: ``num_downs=5`` for 32 px, ``6`` for 64 px, ``ngf=32``. Seed 003's variants:
        ``norm=False, leaky=False`` (plain) vs the defaults (LeakyReLU + BatchNorm).
        """
        return cls(
            *pix2pix_blocks(
                in_channels,
                out_channels,
                cls.uses_skips,
                num_downs=num_downs,
                ngf=ngf,
                norm=norm,
                dropout=dropout,
                n_dropout=n_dropout,
                leaky=leaky,
                final_1x1=final_1x1,
            )
        )

    # ---- checks --------------------------------------------------------------------------
    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(B, in_channels, H, W)`` with H, W multiples
        of :attr:`downsampling`."""
        name = type(self).__name__
        if x.ndim != 4:
            raise ValueError(
                f"{name} expects a (B,{self.in_channels},H,W) tensor, got shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{name} expects {self.in_channels} input channel(s) (the L channel for 1), "
                f"got {x.shape[1]} in shape {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        d = self.downsampling
        if h % d or w % d:
            levels = int(round(math.log2(d))) if d > 0 else 0
            fit = (max(d, h // d * d), max(d, w // d * d))
            raise ValueError(
                f"{name} input height and width must be divisible by {d} (its encoder halves "
                f"them {levels} times), got {h}x{w}; resize or crop to e.g. {fit[0]}x{fit[1]}"
            )


class UNet(ConvAutoencoder):
    """U-Net: ``(B,C_in,H,W)`` L in [-1,1] -> ``(B,C_out,H,W)`` ab in [-1,1] (Tanh head).

    ``encoder[i]`` maps level i to level i+1 and its output is kept as a skip; the last encoder
    output is the bottleneck. ``decoder[j]`` upsamples and its output is concatenated with the
    skip of the same resolution, so ``decoder[j]`` for ``j >= 1`` and ``head`` take twice the
    channels of the :class:`EncoderDecoder` with the same preset. ``len(decoder)`` must equal
    ``len(encoder) - 1``. Constructors: :meth:`preset` and :meth:`pix2pix`.
    """

    uses_skips: ClassVar[bool] = True

    def decode(self, x: Tensor, skips: Sequence[Tensor]) -> Tensor:
        """Run the decoder from the bottleneck, concatenating the matching skip after each block."""
        for block, skip in zip(self.decoder, reversed(skips)):
            x = torch.cat([block(x), skip], dim=1)
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(B,C_in,H,W)`` in [-1,1] -> ``(B,C_out,H,W)`` in [-1,1]."""
        self.check_input(x)
        bottleneck, skips = self.encode(x)
        return self.decode(bottleneck, skips)


class EncoderDecoder(ConvAutoencoder):
    """The same networks as :class:`UNet` without skip connections (pix2pix's ablation).

    ``(B,C_in,H,W)`` in [-1,1] -> ``(B,C_out,H,W)`` in [-1,1]. Because nothing is concatenated,
    ``decoder[j]`` (``j >= 1``) and ``head`` take half the input channels of the U-Net's: the
    complex preset has 39,072,386 parameters instead of 54,409,858.
    """

    uses_skips: ClassVar[bool] = False

    def decode(self, x: Tensor, skips: Sequence[Tensor] = ()) -> Tensor:
        """Run the decoder from the bottleneck alone; ``skips`` is ignored (no skip connections)."""
        for block in self.decoder:
            x = block(x)
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(B,C_in,H,W)`` in [-1,1] -> ``(B,C_out,H,W)`` in [-1,1]."""
        self.check_input(x)
        bottleneck, _ = self.encode(x)
        return self.decode(bottleneck)
