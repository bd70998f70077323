"""Argument spellings PyTorch accepts: a one-element tuple broadcast to every spatial dimension
(``padding=(1,)``), and ``stride=()`` / ``[]`` / None meaning the kernel size in the pools."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F
from numcnn import nn
from numcnn.functional._window import as_tuple, pool_stride

try:
    import torch
except ImportError:  # the oracle tests below skip
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not importable")

RNG = np.random.default_rng(3)
X = {1: RNG.standard_normal((2, 3, 11)), 2: RNG.standard_normal((2, 3, 9, 10)), 3: RNG.standard_normal((1, 3, 7, 8, 7))}


def test_as_tuple_broadcasts_one_element():
    assert as_tuple((2,), 3, "stride") == (2, 2, 2)
    assert as_tuple([0], 2, "padding", minimum=0) == (0, 0)
    assert as_tuple((1, 2), 2, "stride") == (1, 2)
    assert pool_stride((), (2, 3), 2) == (2, 3) and pool_stride([], (2,), 1) == (2,) and pool_stride(None, (4,), 1) == (4,)
    assert pool_stride((1,), (2, 3), 2) == (1, 1)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: as_tuple((1, 2, 3), 2, "stride"), TypeError, r"stride must be an int or a tuple of 2 ints \(or of one, for all\)"),
        (lambda: as_tuple((), 2, "padding"), TypeError, "padding must be an int or a tuple of 2 ints"),
        (lambda: as_tuple((1, 1), 1, "padding"), TypeError, r"padding must be an int or a tuple of 1 ints, got \(1, 1\)"),
        (lambda: as_tuple((-1,), 2, "padding", minimum=0), ValueError, "padding must be >= 0"),
        (lambda: F.max_pool2d_forward(X[2], ()), TypeError, "kernel_size must be an int or a tuple of 2 ints"),
        (lambda: F.max_pool2d_forward(X[2], 2, padding=()), TypeError, "padding must be an int or a tuple of 2 ints"),
        (lambda: F.conv2d_forward(X[2], np.zeros((1, 3, 3, 3)), stride=()), TypeError, "stride must be an int or a tuple of 2"),
        (lambda: F.max_pool3d_forward(X[3], 2, stride=(2, 2)), TypeError, "stride must be an int or a tuple of 3 ints"),
    ],
)
def test_spellings_torch_rejects_are_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _ops(nd):
    """(name, call with the one-element spellings, call with the full tuples, the torch call)."""
    x = X[nd]
    w = RNG.standard_normal((4, 3) + (3,) * nd)
    wt = RNG.standard_normal((3, 2) + (3,) * nd)
    full = lambda v: (v,) * nd  # noqa: E731
    f = lambda name: getattr(F, f"{name}{nd}d_forward")  # noqa: E731
    return [
        ("conv", lambda: f("conv")(x, w, stride=(2,), padding=(1,), dilation=(1,)),
         lambda: f("conv")(x, w, stride=full(2), padding=full(1), dilation=full(1)),
         lambda T: getattr(T, f"conv{nd}d")(torch.tensor(x), torch.tensor(w), stride=(2,), padding=(1,))),
        ("conv_transpose", lambda: f("conv_transpose")(x, wt, stride=(2,), padding=(1,), output_padding=(1,)),
         lambda: f("conv_transpose")(x, wt, stride=full(2), padding=full(1), output_padding=full(1)),
         lambda T: getattr(T, f"conv_transpose{nd}d")(torch.tensor(x), torch.tensor(wt), stride=(2,), padding=(1,),
                                                       output_padding=(1,))),
        ("max_pool", lambda: f("max_pool")(x, (3,), stride=(), padding=(1,), dilation=(1,)),
         lambda: f("max_pool")(x, full(3), stride=full(3), padding=full(1), dilation=full(1)),
         lambda T: getattr(T, f"max_pool{nd}d")(torch.tensor(x), (3,), stride=(), padding=(1,))),
        ("avg_pool", lambda: f("avg_pool")(x, (2,), stride=[], padding=(1,)),
         lambda: f("avg_pool")(x, full(2), stride=None, padding=full(1)),
         lambda T: getattr(T, f"avg_pool{nd}d")(torch.tensor(x), (2,), stride=[], padding=(1,))),
    ]


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_one_element_tuples_equal_the_full_spelling(nd):
    for name, short, full, _ in _ops(nd):
        np.testing.assert_array_equal(short()[0], full()[0], err_msg=name)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_one_element_tuples_match_torch(nd):
    for name, short, _, theirs in _ops(nd):
        np.testing.assert_allclose(short()[0], theirs(torch.nn.functional).numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_modules_take_the_same_spellings():
    x = X[2].astype(np.float32)
    assert nn.MaxPool2d(2, stride=()).stride == (2, 2)
    assert nn.AvgPool1d(3, stride=[]).stride == (3,)
    assert nn.MaxUnpool2d(2, stride=()).stride == (2, 2)
    conv = nn.Conv2d(3, 4, 3, stride=(2,), padding=(1,))
    assert conv.stride == (2, 2) and conv.padding == (1, 1)
    assert conv(x).shape == (2, 4, 5, 5)
    deconv = nn.ConvTranspose2d(3, 2, 3, stride=(2,), padding=(1,), output_padding=(1,))
    assert deconv(x).shape == (2, 2, 18, 20)
