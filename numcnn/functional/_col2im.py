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

import functools
import itertools
import math

import numpy as np

from ._scratch import scratch

__all__ = ["phased", "col2im_phased"]


def _axis_phases(size, lo, k, s, d, n_out):
    """Per kernel index along one axis: (phase p, shift q, first valid o, end of valid o), and
    each phase's length; None if some phase used is longer than ``n_out``."""
    taps, lengths = [], {}
    for i in range(k):
        p, q = (i * d - lo) % s, (i * d - lo) // s
        length = lengths.setdefault(p, len(range(p, size, s)))
        o_lo, o_hi = max(0, -q), min(n_out, length - q)
        taps.append((p, q, o_lo, max(o_lo, o_hi)))
    if any(length > n_out for length in lengths.values()):
        return None
    return taps, lengths


@functools.lru_cache(maxsize=256)
def phased(spatial, pads, kernel, stride, dilation, out_shape):
    """The plan :func:`col2im_phased` follows for this geometry (tuples), or None where it does
    not apply: the column entries to zero, and per phase its kernel offsets (flat index into
    the kernel, flat shift) and its length along each axis."""
    axes = []
    for size, (lo, _), k, s, d, n_out in zip(spatial, pads, kernel, stride, dilation, out_shape):
        geometry = _axis_phases(size, lo, k, s, d, n_out)
        if geometry is None:
            return None
        axes.append(geometry)
    nd = len(kernel)
    # the entries whose phase index falls outside their phase (they read padding)
    zero = []
    for a, (taps, _) in enumerate(axes):
        for i, (_, _, o_lo, o_hi) in enumerate(taps):
            for off in (slice(0, o_lo), slice(o_hi, out_shape[a])):
                if off.stop > off.start:
                    index = [slice(None)] * (1 + nd + 1 + nd)
                    index[1 + a], index[2 + nd + a] = i, off
                    zero.append(tuple(index))
    row_steps = [math.prod(out_shape[a + 1 :]) for a in range(nd)]
    phases = {}  # phase tuple -> [(flat kernel index, flat shift)]
    for flat, offset in enumerate(itertools.product(*(range(k) for k in kernel))):
        taps = [axes[a][0][i] for a, i in enumerate(offset)]
        if any(o_hi <= o_lo for _, _, o_lo, o_hi in taps):
            continue  # this offset only ever reads padding
        key = tuple(p for p, *_ in taps)
        phases.setdefault(key, []).append((flat, sum(q * st for (_, q, _, _), st in zip(taps, row_steps))))
    plan = []
    for key, offsets in phases.items():
        offsets.sort(key=lambda item: item[1] != 0)  # a shift of 0 first: copied, not added to zeros
        plan.append((key, tuple(offsets), tuple(axes[a][1][p] for a, p in enumerate(key))))
    uncovered = [key for key in itertools.product(*(range(s) for s in stride)) if key not in phases]
    return tuple(zero), tuple(plan), tuple(uncovered)


def col2im_phased(dx, cols, plan, stride, out_shape):
    """Replace ``dx`` (N, C, *spatial) by the col2im of ``cols`` (C, *kernel, N, *out_shape):
    the sum of every column entry onto the input position it was read from, padding dropped.

    ``plan`` is :func:`phased`'s; ``cols`` is scratch: its entries on padding are zeroed.
    """
    n, c = dx.shape[:2]
    zero, phases, uncovered = plan
    for index in zero:
        cols[index] = 0
    row = n * math.prod(out_shape)
    buf = scratch("col2im", len(phases) * c * row, dx.dtype).reshape(len(phases), c, row)
    by_channel = cols.reshape((c, -1, row))
    lead = (slice(None), slice(None))
    for acc, (key, offsets, lengths) in zip(buf, phases):
        if len(offsets) == 1 and offsets[0][1] == 0:
            acc, offsets = by_channel[:, offsets[0][0]], ()  # one offset in place: nothing to sum
        for i, (flat, shift) in enumerate(offsets):
            src = by_channel[:, flat]
            if i == 0 and shift == 0:
                np.copyto(acc, src)
                continue
            if i == 0:
                acc[...] = 0
            target = acc[:, max(0, shift) : row + min(0, shift)]
            np.add(target, src[:, max(0, -shift) : row - max(0, shift)], out=target)
        view = acc.reshape((c, n) + tuple(out_shape))[lead + tuple(slice(0, m) for m in lengths)]
        np.copyto(dx[lead + tuple(slice(p, None, s) for p, s in zip(key, stride))], view.swapaxes(0, 1))
    for key in uncovered:  # targets no offset reaches: a zero gradient
        dx[lead + tuple(slice(p, None, s) for p, s in zip(key, stride))] = 0
    return dx
