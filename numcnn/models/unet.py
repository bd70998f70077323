"""A small U-Net (Ronneberger et al. 2015) for per-pixel classification: an encoder of double
3x3 convs and 2x2 max pools, a decoder of 2x2 stride-2 transposed convs whose outputs are
concatenated (``numcnn.cat``) with the encoder's features of the same size, and a 1x1 conv to
per-pixel logits.  Define-by-run: ``forward`` takes and returns Tensors.
"""

from __future__ import annotations

from .. import nn
from ..autograd import cat
from ..errors import UserError
from .classic import check_input_shape

__all__ = ["UNet", "double_conv", "unet_small"]


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """[3x3 conv (padding 1, no bias) - BatchNorm2d - ReLU] twice; keeps the spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class UNet(nn.Module):
    """U-Net with ``len(widths) - 1`` levels: ``encoders[i]`` (``double_conv`` to ``widths[i]``)
    then a 2x2 max pool; ``bottleneck`` to ``widths[-1]``; per level, bottom up, ``upsamples[i]``
    (2x2 stride-2 ConvTranspose2d halving the channels), the encoder's features concatenated in
    front, and ``decoders[i]``; ``head`` (1x1 conv) to ``num_classes``.

    The pools use ``ceil_mode``, and an upsampled map one row or column too large for its skip
    is cropped, so any input size works.

    ``x (N, in_channels, H, W) -> logits (N, num_classes, H, W)``.
    """

    def __init__(self, in_channels: int, num_classes: int, widths=(16, 32, 64)):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"widths must be at least two positive channel counts, got {widths}")
        self.widths = widths
        self.encoders = nn.ModuleList(double_conv(c_in, c_out) for c_in, c_out in zip([in_channels] + widths[:-2], widths[:-1]))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.bottleneck = double_conv(widths[-2], widths[-1])
        below = widths[:0:-1]  # the deeper level's width, for each level from the bottom up
        self.upsamples = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in below)
        self.decoders = nn.ModuleList(double_conv(c // 2 + skip, skip) for c, skip in zip(below, widths[-2::-1]))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for upsample, decoder, skip in zip(self.upsamples, self.decoders, reversed(skips)):
            x = upsample(x)
            h, w = skip.shape[2:]
            if x.shape[2:] != (h, w):  # an odd size was pooled with ceil_mode
                x = x[:, :, :h, :w]
            x = decoder(cat([skip, x], dim=1))
        return self.head(x)

    def extra_repr(self):
        return f"widths={tuple(self.widths)}"


def unet_small(input_shape=(1, 8, 8), num_classes: int = 11, *, widths=(16, 32, 64)) -> UNet:
    """A two-level U-Net with 16, 32 and 64 channels (per-pixel logits at the input's size)."""
    c, _, _ = check_input_shape(input_shape, "unet_small")
    try:
        return UNet(c, int(num_classes), widths)
    except ValueError as exc:
        raise UserError(f"unet_small: {exc}") from exc
