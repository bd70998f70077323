"""CS231n's ``ThreeLayerConvNet``: conv - relu - 2x2 max pool - affine - relu - affine - softmax,
on numcnn's fast layers."""

from __future__ import annotations

import numpy as np

from ..layer_utils import affine_relu_backward, affine_relu_forward, conv_relu_pool_backward, conv_relu_pool_forward
from ..layers import affine_backward, affine_forward, softmax_loss

__all__ = ["ThreeLayerConvNet"]


class ThreeLayerConvNet:
    """A three-layer convolutional network for inputs (N, C, H, W).

    The convolution keeps the spatial size (stride 1, padding (filter_size - 1) // 2) and the
    2x2 max pool halves it.

    Parameters
    ----------
    input_dim : (C, H, W)
    num_filters : int
    filter_size : int
    hidden_dim : int
    num_classes : int
    weight_scale : float
        Standard deviation of the Gaussian weight init (biases are zero).
    reg : float
        L2 strength: adds ``0.5 * reg * sum(W**2)`` for W1, W2, W3.
    dtype : numpy dtype
        Of the parameters and of the computation (inputs are cast to it).

    Attributes
    ----------
    params : dict
        W1 (F, C, fs, fs), b1 (F,), W2 (F * H/2 * W/2, hidden), b2 (hidden,),
        W3 (hidden, num_classes), b3 (num_classes,).
    """

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=32,
        filter_size=7,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
    ):
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        C, H, W = input_dim
        self.params["W1"] = weight_scale * np.random.randn(num_filters, C, filter_size, filter_size)
        self.params["b1"] = np.zeros(num_filters)
        self.params["W2"] = weight_scale * np.random.randn(num_filters * (H // 2) * (W // 2), hidden_dim)
        self.params["b2"] = np.zeros(hidden_dim)
        self.params["W3"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b3"] = np.zeros(num_classes)
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Scores (N, num_classes) when ``y`` is None, else ``(loss, grads)`` with grads keyed
        like ``params``."""
        X = np.asarray(X).astype(self.dtype, copy=False)
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        W3, b3 = self.params["W3"], self.params["b3"]

        filter_size = W1.shape[2]
        conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        h1, cache1 = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)
        h2, cache2 = affine_relu_forward(h1, W2, b2)
        scores, cache3 = affine_forward(h2, W3, b3)
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(float(np.sum(w * w)) for w in (W1, W2, W3))
        grads = {}
        dh2, grads["W3"], grads["b3"] = affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = affine_relu_backward(dh2, cache2)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dh1, cache1)
        for name in ("W1", "W2", "W3"):
            grads[name] = grads[name] + self.reg * self.params[name]
        return loss, grads
