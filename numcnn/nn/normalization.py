"""Batch normalisation modules: ``BatchNorm1d``, ``BatchNorm2d``, ``BatchNorm3d`` (PyTorch's
train/eval semantics and state-dict keys), plus ``LayerNorm`` and ``GroupNorm``; thin wrappers
over :mod:`numcnn.nn.functional`."""

from __future__ import annotations

import numbers

import numpy as np

from .. import distributed
from ..autograd import Tensor
from . import functional as F
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm"]


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _affine_parameters(module: Module, affine: bool, shape: tuple, dtype) -> None:
    """A norm's learnable ``weight`` (ones) and ``bias`` (zeros) of ``shape``, or None for both."""
    if affine:
        module.weight = Parameter(np.ones(shape, dtype=dtype))
        module.bias = Parameter(np.zeros(shape, dtype=dtype))
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d/3d; they differ only in the input dimensions they accept."""

    _ndims: tuple = ()
    _layout: str = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=np.float32,
    ):
        super().__init__()
        self.num_features = _check_positive_int(num_features, "num_features")
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        _affine_parameters(self, self.affine, (self.num_features,), dtype)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean = np.zeros_like(self.running_mean)
            self.running_var = np.ones_like(self.running_var)
            self.num_batches_tracked = np.array(0, dtype=np.int64)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a Tensor or numpy.ndarray, got {type(x).__name__}")
        if x.ndim not in self._ndims:
            raise ValueError(f"{type(self).__name__} expects x of shape {self._layout}, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) got x with {x.shape[1]} channels (shape {x.shape})"
            )
        self._check_input_dtype(x, self.weight.data if self.affine else self.running_mean)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
            if self.momentum is None:  # cumulative moving average, as PyTorch
                momentum = 1.0 / float(self.num_batches_tracked)
        # PyTorch: batch statistics while training, and always when there are no running stats
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        # the running statistics are updated in place, as PyTorch does
        return F.batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            training=use_batch_stats,
            momentum=momentum,
            eps=self.eps,
            # several processes: the global batch's statistics (SyncBatchNorm), on by default
            reduce=distributed.batch_norm_reducer() if self.training else None,
        )

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel C; see :class:`BatchNorm2d`."""

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel, as ``torch.nn.BatchNorm2d``.

    Training mode: normalise with the batch mean and biased variance (under ``mpiexec``, of the
    global batch over every process: see :mod:`numcnn.distributed`); update
    ``running_mean``/``running_var`` (buffers) with ``momentum`` and the UNBIASED variance;
    ``momentum=None`` uses the cumulative average over ``num_batches_tracked``.  Eval mode:
    normalise with the running statistics.  ``track_running_stats=False``: batch statistics
    always.

    Parameters
    ----------
    num_features : int
        C.
    eps : float
    momentum : float or None
    affine : bool
        Learnable ``weight`` (ones) and ``bias`` (zeros), shape (C,).
    track_running_stats : bool
    dtype : numpy dtype, default float32
    """

    _ndims = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch norm over (N, C, D, H, W) inputs, per channel; see :class:`BatchNorm2d`."""

    _ndims = (5,)
    _layout = "(N, C, D, H, W)"


class _AffineNorm(Module):
    """LayerNorm and GroupNorm: a function called as ``op(x, over, weight, bias, eps)``, where
    ``over`` (what is normalised together) is :meth:`_over`, with an optional affine."""

    def _over(self):
        raise NotImplementedError

    def forward(self, x):
        self._check_input_dtype(x, None if self.weight is None else self.weight.data)
        return self._op(x, self._over(), self.weight, self.bias, self.eps)


class LayerNorm(_AffineNorm):
    """Normalise over the trailing ``normalized_shape`` dimensions, as ``torch.nn.LayerNorm``."""

    _op = staticmethod(F.layer_norm)

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, dtype=np.float32):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        _affine_parameters(self, self.elementwise_affine, self.normalized_shape, dtype)

    def _over(self):
        return self.normalized_shape

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(_AffineNorm):
    """Normalise groups of channels per sample, as ``torch.nn.GroupNorm``."""

    _op = staticmethod(F.group_norm)

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, dtype=np.float32):
        super().__init__()
        self.num_groups = _check_positive_int(num_groups, "num_groups")
        self.num_channels = _check_positive_int(num_channels, "num_channels")
        if self.num_channels % self.num_groups:
            raise ValueError(f"num_channels={num_channels} must be divisible by num_groups={num_groups}")
        self.eps = float(eps)
        self.affine = bool(affine)
        _affine_parameters(self, self.affine, (self.num_channels,), dtype)

    def _over(self):
        return self.num_groups

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
