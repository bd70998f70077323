"""``relu_max_pool``: ``max_pool(relu(x))`` computed as ``relu(max_pool(x))``, for ``Sequential``'s
``ReLU`` followed by ``MaxPool*d``, with the ReLU on the pooled, smaller tensor (a quarter of the
elements behind a 2x2 pool; without it the LeNet-5 training step is 8 % slower).

What is the same, with numcnn's pairs:

- The output, bit for bit (signs of zeros and NaNs included): max commutes with the monotone
  ReLU; relu_forward never returns -0.0 (np.maximum(-0.0, 0) is +0.0), so a window whose maximum
  is <= 0 gives +0.0 in both orders; NaN propagates in both.
- The gradients, bit for bit: a window's winner is the same where its maximum is > 0 (ReLU
  keeps positive values and lowers the others to 0), NaNs win in both orders, and where the
  maximum is <= 0 the gradient is masked to +0 by relu_backward, before the pool's scatter or
  after.  The pool's backward writes +0.0 at every losing position (as PyTorch, which adds into
  zeros), so no -0.0 from ``dout * 0`` tells the two orders apart.
- The backward is the two pairs' backwards, composed: no gradient is written here.

``tests/nn/test_explicit_api.py`` checks all this on inputs with many ties, zeros of both signs,
all-negative windows and NaNs.
"""

from __future__ import annotations

from ... import functional as _pairs
from ...autograd import Tensor, record
from ._bind import data, parent

__all__ = ["relu_max_pool"]


def relu_max_pool(input, nd: int, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    """``max_pool{nd}d(relu(input), ...)`` (no indices) as one node; see the module docstring."""
    pool_backward = getattr(_pairs, f"max_pool{nd}d_backward")
    pooled, pool_cache = getattr(_pairs, f"max_pool{nd}d_forward")(
        data(input), kernel_size, stride, padding, dilation, ceil_mode
    )
    out, relu_cache = _pairs.relu_forward(pooled)

    def backward(g):
        return (pool_backward(_pairs.relu_backward(g, relu_cache), pool_cache),)

    return record(out, (parent(input),), backward, "relu_max_pool")
