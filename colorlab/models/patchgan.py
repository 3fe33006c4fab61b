"""PatchGAN discriminators (pix2pix); their receptive field and output size.

A PatchGAN classifies every overlapping N x N patch of its input as real or fake: its output is a
map of logits, one per patch, and N is the receptive field of one output unit. The pix2pix paper
compares four settings, all reproduced by :class:`PatchGAN`:

=========  ============  ======================================
n_layers   receptive     name
=========  ============  ======================================
0          1 x 1         PixelGAN (1x1 convolutions only)
1          16 x 16       PatchGAN 16
3          70 x 70       PatchGAN 70 (the default, seeds 000/002/004)
5          286 x 286     "ImageGAN" (larger than a 256 px image)
=========  ============  ======================================

The default 70x70 PatchGAN on 3 input channels (L + ab) has **2,765,633** parameters (seed 000,
table 6) and maps a 256x256 input to a 30x30 map (seed 002). The arithmetic behind these numbers,
:func:`receptive_field` and :func:`output_size` of any conv stack, lives in
:mod:`colorlab.models.geometry` and is re-exported here.
"""

from __future__ import annotations

from torch import Tensor, nn

from colorlab.models.geometry import output_size, receptive_field

__all__ = ["PatchGAN", "receptive_field", "output_size"]


def _leaky_relu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


class PatchGAN(nn.Module):
    """pix2pix's N-layer PatchGAN: ``(B,in_channels,H,W) -> (B,1,h,w)`` raw logits.

    Input: the condition and the colours concatenated, L + ab = 3 channels in [-1, 1] by default.
    Layers (4x4 kernels, padding 1, LeakyReLU(0.2), channels ``ndf * min(2**n, 8)``):

    * a stride-2 conv ``in_channels -> ndf`` without normalisation,
    * ``n_layers - 1`` stride-2 convs, each followed by BatchNorm,
    * one stride-1 conv followed by BatchNorm,
    * a stride-1 conv to 1 channel (the patch logits; no activation: use a loss on logits).

    ``n_layers=0`` is the PixelGAN: 1x1 convs ``in -> ndf -> 2 ndf (BatchNorm) -> 1``.
    ``norm=False`` drops every BatchNorm (the critic of WGAN-GP, whose gradient penalty is
    per-sample) and gives the convs a bias; with ``norm=True`` convs followed by BatchNorm have
    no bias (pix2pix's convention; the first and last convs always have one).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        image_size: int | None = None,
        *,
        n_layers: int = 3,
        ndf: int = 64,
        norm: bool = True,
    ) -> None:
        super().__init__()
        if out_channels < 1:
            raise ValueError(f"PatchGAN: out_channels must be >= 1, got {out_channels}")
        if n_layers < 0:
            raise ValueError(f"PatchGAN: n_layers must be >= 0, got {n_layers}")
        if in_channels < 1 or ndf < 1:
            raise ValueError(f"PatchGAN: in_channels, ndf must be >= 1, got {in_channels}, {ndf}")
        self.in_channels = in_channels
        self.n_layers = n_layers
        self.norm = norm
        bias = not norm
        act = _leaky_relu
        layers: list[nn.Module]
        if n_layers == 0:
            layers = [nn.Conv2d(in_channels, ndf, 1), act(), nn.Conv2d(ndf, 2 * ndf, 1, bias=bias)]
            if norm:
                layers.append(nn.BatchNorm2d(2 * ndf))
            layers += [act(), nn.Conv2d(2 * ndf, out_channels, 1)]
        else:
            layers = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), act()]
            c_out = ndf
            for n in range(1, n_layers + 1):
                c_in, c_out = c_out, ndf * min(2**n, 8)
                stride = 2 if n < n_layers else 1
                layers.append(nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, bias=bias))
                if norm:
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(act())
            layers.append(nn.Conv2d(c_out, out_channels, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def receptive_field(self) -> int:
        """Patch size N (per side) seen by one output logit, from the actual layers."""
        return receptive_field(self.model)

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Size of the logit map for an ``h x w`` input (30x30 for 256x256 with n_layers=3)."""
        return output_size(self.model, h, w)

    def forward(self, x: Tensor) -> Tensor:
        """``(B,in_channels,H,W)`` (L and ab in [-1,1]) -> ``(B,1,h,w)`` logits (unbounded)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"PatchGAN expects a (B,{self.in_channels},H,W) tensor (condition and colours "
                f"concatenated), got shape {tuple(x.shape)}"
            )
        return self.model(x)
