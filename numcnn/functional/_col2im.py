"""col2im by phases: the adjoint of im2col with every add a long contiguous run.

NumPy adds two arrays with short rows far slower than contiguous ones: on the 2-core machine of
notes/perf.md, float32, 0.82 ns per element for rows of 14, 0.59 for 32, 0.40 for 1024, against
0.08-0.11 for one contiguous run (while ``np.copyto`` of the same strided views runs at memcpy
speed).  The plain col2im adds each kernel offset's columns onto a strided view of dx, rows of
W_out elements at stride s: 0.85-2 ns per element measured there, a fifth of some backward passes.

Here, along each axis the target index of output o through kernel index k is
t = o * s + k * d - pad = s * (o + q_k) + p_k: offset k feeds the targets of one residue p_k (its
phase) at phase index m = o + q_k.  With one buffer per phase laid out like the columns (C, N,
*out), each offset is ONE shifted add of its columns, contiguous along the rows of length
N * prod(out): the shift is a constant q_k (in row-major order over out).  An entry whose m falls
outside the phase along some axis wraps into a neighbouring row in that flat shift; those are
exactly the entries on padding (or past the input), so they are zeroed in the columns first,
which is why the columns must be scratch the caller gives up.  A final strided copy per phase
interleaves the buffers into dx.  It needs each phase no longer than the columns along every axis
(so that the phase fits their row-major layout): true for 'same'-like padding, e.g. 3x3 with
padding 1 at stride 1 or 2 and 4x4 / stride 2 / padding 1 transposed convolutions.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ._scratch import scratch

__all__ = ["phased", "col2im_phased"]


def _axis_phases(size, lo, k, s, d, n_out):
    """Per kernel index along one axis: (phase p, shift q, first valid o, end of valid o), and
    each phase's length; None if some phase used is longer than ``n_out``."""
    taps = []
    for i in range(k):
        p, q = (i * d - lo) % s, (i * d - lo) // s
        length = len(range(p, size, s))
        o_lo, o_hi = max(0, -q), min(n_out, length - q)
        taps.append((p, q, o_lo, max(o_lo, o_hi)))
    lengths = {p: len(range(p, size, s)) for p, *_ in taps}
    if any(length > n_out for length in lengths.values()):
        return None
    return taps, lengths


def phased(spatial, pads, kernel, stride, dilation, out_shape):
    """The geometry :func:`col2im_phased` needs, or None where it does not apply."""
    axes = []
    for size, (lo, _), k, s, d, n_out in zip(spatial, pads, kernel, stride, dilation, out_shape):
        geometry = _axis_phases(size, lo, k, s, d, n_out)
        if geometry is None:
            return None
        axes.append(geometry)
    return axes


def col2im_phased(dx, cols, axes, kernel, stride, out_shape):
    """Replace ``dx`` (N, C, *spatial) by the col2im of ``cols`` (C, *kernel, N, *out_shape):
    the sum of every column entry onto the input position it was read from, padding dropped.

    ``axes`` is :func:`phased`'s geometry; ``cols`` is scratch: its entries on padding are zeroed.
    """
    n, c = dx.shape[:2]
    nd = len(kernel)
    positions = math.prod(out_shape)
    row = n * positions
    row_steps = [math.prod(out_shape[a + 1 :]) for a in range(nd)]
    # zero the entries whose phase index falls outside their phase (they read padding)
    for a, (taps, _) in enumerate(axes):
        for i, (_, _, o_lo, o_hi) in enumerate(taps):
            for off in (slice(0, o_lo), slice(o_hi, out_shape[a])):
                if off.stop > off.start:
                    index = [slice(None)] * (1 + nd + 1 + nd)
                    index[1 + a], index[2 + nd + a] = i, off
                    cols[tuple(index)] = 0
    phases = {}  # phase tuple -> [(offset, flat shift)]
    for offset in itertools.product(*(range(k) for k in kernel)):
        taps = [axes[a][0][i] for a, i in enumerate(offset)]
        if any(o_hi <= o_lo for _, _, o_lo, o_hi in taps):
            continue  # this offset only ever reads padding
        key = tuple(p for p, *_ in taps)
        phases.setdefault(key, []).append((offset, sum(q * st for (_, q, _, _), st in zip(taps, row_steps))))
    buf = scratch("col2im", len(phases) * c * row, dx.dtype).reshape(len(phases), c, row)
    by_channel = cols.reshape((c, math.prod(kernel), row))
    lead = (slice(None), slice(None))
    covered = set()
    for acc, (key, offsets) in zip(buf, phases.items()):
        offsets.sort(key=lambda item: item[1] != 0)  # a shift of 0 first: copied, not added to zeros
        first = True
        for offset, shift in offsets:
            src = by_channel[:, np.ravel_multi_index(offset, kernel)]
            if first and shift == 0:
                np.copyto(acc, src)
            else:
                if first:
                    acc[...] = 0
                target = acc[:, max(0, shift) : row + min(0, shift)]
                np.add(target, src[:, max(0, -shift) : row - max(0, shift)], out=target)
            first = False
        lengths = [axes[a][1][p] for a, p in enumerate(key)]
        view = acc.reshape((c, n) + tuple(out_shape))[lead + tuple(slice(0, m) for m in lengths)]
        np.copyto(dx[lead + tuple(slice(p, None, s) for p, s in zip(key, stride))], view.swapaxes(0, 1))
        covered.add(key)
    for key in itertools.product(*(range(s) for s in stride)):
        if key not in covered:  # targets no offset reaches: a zero gradient
            dx[lead + tuple(slice(p, None, s) for p, s in zip(key, stride))] = 0
    return dx
