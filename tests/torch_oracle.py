"""Shared by the live PyTorch oracle tests: float64 comparisons, torch tensors, and hypothesis
helpers for drawing configurations.  Importing it skips the importing test module where torch
is not importable."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, event, settings, strategies as st  # noqa: E402


TF = torch.nn.functional
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-10, 1e-12


def close(ours, theirs, what):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=what)


def t(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def rejected_by_torch(fn):
    event("configuration rejected by both")
    try:
        fn()
    except (RuntimeError, ValueError):
        return True
    return False


def per_dim(draw, nd, lo, hi):
    return tuple(draw(st.integers(lo, hi)) for _ in range(nd))


def int_or_tuple(draw, values):
    """PyTorch accepts an int or a tuple: exercise both."""
    return values[0] if len(set(values)) == 1 and draw(st.booleans()) else values


