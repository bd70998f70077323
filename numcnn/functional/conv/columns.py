"""im2col columns and the GEMM layouts every GEMM path shares.

:class:`_Columns` is the ``cols`` a forward pass keeps for its weight gradient: the input and
its padding, from which each pass rebuilds the im2col columns a batch chunk at a time
(:class:`Chunking` says how big).  The helpers lay a batch out for batched GEMMs (one per group,
or one per sample) and write the products back with the bias.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np

from .._col2im import col2im_phased, phased
from .._scratch import pad_into_scratch, scratch
from .._window import col2im_unpadded, im2col

# Bytes of im2col columns materialised at once.  Every GEMM pass walks the batch in chunks of
# about this size: the chunk buffer is reused (first-touching a fresh im2col-sized array costs
# about as much as filling it) and stays in cache for its GEMM, the peak memory stays well
# under one im2col matrix, and there are few, large GEMM calls (many small multi-threaded BLAS
# calls stall badly when the cores are shared).
_CHUNK_BYTES = 8 << 20
# Column matrices up to this size are built once and kept from the forward to the backward pass
# (below glibc's 32 MiB mmap threshold a freed block is reused without page faults).
_KEEP_BYTES = 8 << 20
# The stacked passes run in blocks of about this many bytes of columns (stacked.py).
_STACKED_BLOCK_BYTES = 2 << 20
# Samples per chunk of the flat depthwise passes: about this many bytes of wide output, so that
# the einsum's running sums stay in cache (whole batches of 32 x 64 x 32 x 32 were no faster
# than the banded GEMMs).
_FLAT_DEPTHWISE_CHUNK_BYTES = 1 << 18


@dataclass(frozen=True)
class Chunking:
    """How the passes walk the batch (part of a conv plan).  ``samples`` and ``block`` are for
    tests: a fixed number of samples per chunk, and stacked blocks of ("samples", k) or
    ("slices", k) (stacked.py)."""

    chunk_bytes: int = _CHUNK_BYTES
    keep_bytes: int = _KEEP_BYTES
    samples: int | None = None
    block_bytes: int = _STACKED_BLOCK_BYTES
    block: tuple | None = None
    flat_depthwise_bytes: int = _FLAT_DEPTHWISE_CHUNK_BYTES


def batch_chunks(n, per_sample_bytes, chunking: Chunking):
    """Batch ranges of about min(chunk_bytes, max(a quarter of the whole, 2 MiB)) bytes of
    columns each: few GEMM calls (each multi-threaded BLAS call synchronises its threads, which
    is slow when the cores are shared) but never a second whole column matrix."""
    if chunking.samples is not None:
        step = chunking.samples
    else:
        target = min(chunking.chunk_bytes, max(n * per_sample_bytes // 4, 2 << 20))
        step = max(1, min(n, target // max(1, per_sample_bytes)))
    return [(start, min(n, start + step)) for start in range(0, n, step)]



def _samples(a, groups):
    """(nb, C, *spatial) -> (groups, nb, C/groups, prod(spatial)) view (``a`` C-contiguous per sample)."""
    nb, c = a.shape[:2]
    return a.reshape(nb, groups, c // groups, -1).transpose(1, 0, 2, 3)


def _chunk_samples(cols, nb):
    """(groups, K, nb * P) columns -> (groups, nb, K, P) view: sample n's K x P matrix, row stride nb * P."""
    g, k, total = cols.shape
    return cols.reshape(g, k, nb, total // nb).transpose(0, 2, 1, 3)


def _to_gemm_layout(a, groups, buf):
    """(nb, C, *spatial) -> (groups, C/groups, nb * prod(spatial)) copied into ``buf``."""
    nb, c = a.shape[:2]
    view = buf[: groups * c * a[0, 0].size * nb].reshape(c, nb, -1)
    np.copyto(view, a.reshape(nb, c, -1).swapaxes(0, 1))
    return view.reshape(groups, c // groups, -1)


def _from_gemm_layout(dest, mat, bias=None):
    """Copy ``mat`` (groups, C/groups, nb * P) into ``dest`` (nb, C, *spatial), plus ``bias``."""
    nb, c = dest.shape[:2]
    _copy_plus_bias(dest.reshape(nb, c, -1), mat.reshape(c, nb, -1).swapaxes(0, 1), bias)


def _copy_plus_bias(dest, src, bias):
    """``dest[...] = src``, plus ``bias`` (C,) along axis 1 when given: one pass either way (the
    bias rides on a copy the pass makes anyway, on the part's own thread)."""
    if bias is None:
        np.copyto(dest, src)
    else:
        np.add(src, bias.reshape((-1,) + (1,) * (dest.ndim - 2)), out=dest)


def _add_bias(out, bias):
    """``out += bias`` along axis 1 (nothing when ``bias`` is None); returns ``out``."""
    if bias is not None:
        out += bias.reshape((-1,) + (1,) * (out.ndim - 2))
    return out


@dataclass(frozen=True)
class _Columns:
    """The ``cols`` of the im2col paths: the input, its padding and the window geometry.

    It keeps ``x`` itself (a reference, as PyTorch saves its input), not a padded copy: a
    fresh padded array of a few MB costs more in page faults than padding again into this
    thread's scratch when the weight gradient needs it (:meth:`padded`).
    A column matrix of at most ``chunking.keep_bytes`` is built once, by the forward pass, and kept for
    the weight gradient.  A larger one is never stored whole: each pass rebuilds it a batch chunk
    at a time (see :func:`batch_chunks`), so its peak memory is a chunk, not the matrix.  The
    depthwise path never builds it at all.
    """

    x: np.ndarray  # the unpadded input (N, C, *spatial)
    pads: tuple  # (before, after) zero padding per spatial axis
    kernel: tuple
    stride: tuple
    dilation: tuple
    out_spatial: tuple
    groups: int
    chunking: Chunking = Chunking()
    cacheable: bool = True
    _kept: dict = field(default_factory=dict, compare=False, repr=False)

    def padded(self, start=0, stop=None):
        """The padded samples ``start:stop``, in this thread's scratch: valid until the next
        padding on this thread, so never keep it past the pass."""
        return pad_into_scratch(self.x[start:stop], self.pads, "xpad")

    def chunks(self, xp=None):
        """Yield ``(start, stop, cols)``: cols (groups, CK/groups, (stop - start) * P); read only.

        ``xp``: the whole padded input, when the caller has it (else each chunk is padded here).
        """
        n, c = self.x.shape[:2]
        positions = math.prod(self.out_spatial)
        ck = c * math.prod(self.kernel)
        total = n * ck * positions * self.x.itemsize
        chunks = batch_chunks(n, ck * positions * self.x.itemsize, self.chunking)
        if self.cacheable and total <= self.chunking.keep_bytes:
            # kept whole, but still handed out in chunks (views) so the GEMM outputs stay small
            if "cols" not in self._kept:
                # into a new array: for some shapes (a 1x1 kernel, one sample) im2col is a mere
                # view, and the padded input is scratch
                cols = np.empty((c,) + self.kernel + (n,) + self.out_spatial, dtype=self.x.dtype)
                im2col(self.padded() if xp is None else xp, self.kernel, self.stride, self.dilation,
                       self.out_spatial, out=cols)
                self._kept["cols"] = cols.reshape(self.groups, ck // self.groups, n, positions)
            full = self._kept["cols"]
            for start, stop in chunks:
                yield start, stop, full[:, :, start:stop].reshape(self.groups, ck // self.groups, -1)
            return
        step = chunks[0][1] - chunks[0][0]
        buf = scratch("im2col", ck * step * positions, self.x.dtype)
        for start, stop in chunks:
            shape = (c,) + self.kernel + (stop - start,) + self.out_spatial
            part = self.padded(start, stop) if xp is None else xp[start:stop]
            cols = im2col(part, self.kernel, self.stride, self.dilation, self.out_spatial,
                          out=buf[: math.prod(shape)].reshape(shape))
            yield start, stop, cols.reshape(self.groups, ck // self.groups, -1)


def _col2im(dx, cols, pads, kernel, stride, dilation, out_shape):
    """Replace dx by the col2im of ``cols`` (scratch, clobbered): by phases (_col2im.py) where
    they apply, else by strided adds onto dx."""
    plan = phased(tuple(dx.shape[2:]), tuple(tuple(p) for p in pads), tuple(kernel), tuple(stride), tuple(dilation),
                  tuple(out_shape))
    if plan is None:
        return col2im_unpadded(dx, cols, pads, kernel, stride, dilation, out_shape)
    return col2im_phased(dx, cols, plan, stride, out_shape)


def _into(out, result):
    """``result``, copied into ``out`` when one is given (and ``result`` is not ``out`` itself)."""
    if out is None or result is out:
        return result
    np.copyto(out, result)
    return out


def bias_grad(dout):
    """db: ``dout`` (N, C, *spatial) summed over everything but the channels."""
    return dout.sum(axis=(0,) + tuple(range(2, dout.ndim)))
