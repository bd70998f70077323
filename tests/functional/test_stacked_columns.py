"""The stacked path's block columns, copied straight from the unpadded block with zeros where a
kernel offset reads padding, must be the im2col of the padded block, bit for bit, for any
stride, dilation, padding (wider than the kernel's reach too) and number of axes."""

from __future__ import annotations

import math

import numpy as np

from numcnn.functional._window import im2col, pad_constant
from numcnn.functional.conv.stacked import _block_columns


def _padded_im2col(x, pads, kernel, stride, dilation, out_rest):
    rest = tuple(kernel[1:])
    xp = pad_constant(x, ((0, 0),) + tuple(pads[1:]))
    cols = im2col(xp, (1,) + rest, (1,) + tuple(stride[1:]), (1,) + tuple(dilation[1:]), (x.shape[2],) + tuple(out_rest))
    return cols.reshape(x.shape[1] * math.prod(rest), -1)


def test_block_columns_are_the_padded_im2col():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        nd = int(rng.integers(1, 4))  # spatial axes, the first one included
        n, c, b = (int(v) for v in rng.integers(1, 4, size=3))
        size = tuple(int(v) for v in rng.integers(1, 8, size=nd - 1))
        kernel = (3,) + tuple(int(v) for v in rng.integers(1, 4, size=nd - 1))
        stride = (1,) + tuple(int(v) for v in rng.integers(1, 3, size=nd - 1))
        dilation = (1,) + tuple(int(v) for v in rng.integers(1, 3, size=nd - 1))
        pads = ((1, 1),) + tuple((int(lo), int(hi)) for lo, hi in rng.integers(0, 4, size=(nd - 1, 2)))
        out_rest = tuple((s + lo + hi - d * (k - 1) - 1) // st + 1
                         for s, k, st, d, (lo, hi) in zip(size, kernel[1:], stride[1:], dilation[1:], pads[1:]))
        if any(o <= 0 for o in out_rest):
            continue
        x = rng.standard_normal((n, c, b + 2) + size).astype(np.float32)[:, :, ::2]  # a strided block
        expected = _padded_im2col(x, pads, kernel, stride, dilation, out_rest)
        buf = np.full(expected.size + 3, np.nan, dtype=np.float32)  # stale scratch
        got = _block_columns(x, pads, kernel, stride, dilation, out_rest, buf)
        assert got.shape == expected.shape
        assert np.array_equal(got.view(np.int32), expected.view(np.int32)), (x.shape, kernel, stride, dilation, pads)
        checked += 1
    assert checked > 200
