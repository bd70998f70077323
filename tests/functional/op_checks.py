"""Shared by the op tests of numcnn.functional, on tests.gradcheck: gradient checks of ops called
with their arrays by position (``check_op_grads``: a scale-relative error bound, for conv and
pooling; ``check_grads``: CS231n's relative error, for the layer ops), and inputs whose max-pool
winners a nudge does not flip."""

from __future__ import annotations

import numpy as np

from tests.gradcheck import check_positional_op_gradients


TOL = 1e-8


def distinct(rng, shape):
    """Values far enough apart that max-pool winners don't flip under a 1e-6 nudge."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / n + 0.01 * rng.standard_normal(shape) / n).astype(np.float64)


def check_op_grads(forward, backward, arrays, names, **kwargs):
    """Numeric vs analytic gradients of every array argument of ``forward`` (by position; the
    backward returns their gradients first, in ``names``' order), scale-relative error below TOL:
    entry-wise relative error blows up on entries that are ~0."""
    check_positional_op_gradients(forward, backward, dict(zip(names, arrays)), kwargs, seed=7, h=1e-5, max_scaled_error=TOL)


def check_grads(forward, backward, arrays, kwargs=None, grad_index=None, tol=1e-6, seed=0):
    """:func:`tests.gradcheck.check_positional_op_gradients` with CS231n's relative error below
    ``tol``: ``arrays`` are the forward's leading positional arguments in order, ``grad_index``
    maps a name to its gradient's position in backward's result (None: held constant)."""
    return check_positional_op_gradients(forward, backward, arrays, kwargs, grad_index, seed=seed, h=1e-5, max_rel_error=tol)
