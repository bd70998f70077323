"""col2im (numcnn.functional._window): onto the unpadded input, by stride phases, and where the
phases apply, against the plain strided adds (hypothesis geometries)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def _col2im_geometry(nd, data, max_size, max_kernel):
    """A random col2im geometry (size, kernel, stride, dilation, pads, padded, out), or None when
    it has no output; pads may exceed the kernel span, so some kernel offsets touch nothing."""
    size = [data.draw(st.integers(1, max_size)) for _ in range(nd)]
    kernel = [data.draw(st.integers(1, max_kernel)) for _ in range(nd)]
    stride = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    dilation = [data.draw(st.integers(1, 2)) for _ in range(nd)]
    pads = [(data.draw(st.integers(0, 4)), data.draw(st.integers(0, 4))) for _ in range(nd)]
    padded = [n + lo + hi for n, (lo, hi) in zip(size, pads)]
    out = [(p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(padded, kernel, stride, dilation)]
    return None if min(out) < 1 else (size, kernel, stride, dilation, pads, padded, out)


@settings(max_examples=80, deadline=None)
@given(
    nd=st.integers(1, 3),
    data=st.data(),
)
def test_col2im_onto_the_unpadded_input_drops_only_the_padding(nd, data):
    """col2im_unpadded == col2im_add onto a padded buffer, then cropped; dx starts as garbage,
    which it replaces."""
    from numcnn.functional._window import col2im_add, col2im_unpadded, unpad

    geometry = _col2im_geometry(nd, data, max_size=6, max_kernel=3)
    if geometry is None:
        return
    size, kernel, stride, dilation, pads, padded, out = geometry
    rng = np.random.default_rng(sum(size) + sum(out))
    cols = rng.standard_normal([3] + kernel + [2] + out)
    want = unpad(col2im_add(np.zeros([2, 3] + padded), cols, kernel, stride, dilation, out), pads)
    got = col2im_unpadded(np.full([2, 3] + size, np.nan), cols, pads, kernel, stride, dilation, out)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)


@settings(max_examples=200, deadline=None)
@given(nd=st.integers(1, 3), data=st.data())
def test_col2im_by_phases_matches_the_strided_adds(nd, data):
    """col2im_phased == col2im_unpadded (strided adds) wherever phased() takes the geometry
    (strides 1-3, dilations, padding past the kernel span, offsets that only read padding), and
    it leaves no stale values: dx starts as garbage."""
    from numcnn.functional._col2im import col2im_phased, phased
    from numcnn.functional._window import col2im_unpadded

    geometry = _col2im_geometry(nd, data, max_size=7, max_kernel=4)
    if geometry is None:
        return
    size, kernel, stride, dilation, pads, _, out = geometry
    plan = phased(tuple(size), tuple(pads), tuple(kernel), tuple(stride), tuple(dilation), tuple(out))
    if plan is None:
        return
    rng = np.random.default_rng(sum(size) + sum(out) + sum(kernel))
    cols = rng.standard_normal([3] + kernel + [2] + out)
    want = col2im_unpadded(np.zeros([2, 3] + size), cols, pads, kernel, stride, dilation, out)
    got = col2im_phased(np.full([2, 3] + size, np.nan), cols.copy(), plan, stride, out)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "size, kernel, stride, pad, applies",
    [
        (32, 3, 1, 1, True),  # 'same'
        (56, 3, 2, 1, True),  # the bench's stride-2 layer
        (31, 3, 2, 1, True),  # odd: phase 1 is one shorter than the output
        (32, 4, 2, 1, True),  # transposed convolution's 4 / 2 / 1 (as its forward's dx)
        (10, 3, 1, 0, False),  # 'valid': the input is longer than the output
    ],
)
def test_col2im_by_phases_applies_to_same_like_padding(size, kernel, stride, pad, applies):
    from numcnn.functional._col2im import phased

    out = (size + 2 * pad - kernel) // stride + 1
    assert (phased((size,), ((pad, pad),), (kernel,), (stride,), (1,), (out,)) is not None) == applies
