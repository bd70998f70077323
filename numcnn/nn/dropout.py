"""``Dropout``: inverted dropout in training mode, the identity in eval mode."""

from __future__ import annotations

from ..functional.dropout import check_probability
from . import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero elements with probability ``p`` and scale the rest by ``1/(1-p)`` while training, as
    ``torch.nn.Dropout``; eval mode passes ``x`` through.

    Parameters
    ----------
    p : float in [0, 1]
        Probability of dropping an element.
    rng : numpy.random.Generator, optional (keyword only)
        Source of the masks.  Default: :func:`numcnn.nn.init.get_rng` at each call, so
        ``numcnn.nn.init.manual_seed`` makes training runs reproducible.
    """

    def __init__(self, p: float = 0.5, *, rng=None):
        super().__init__()
        self.p = check_probability(p)
        self.rng = rng

    def forward(self, x):
        return F.dropout(x, self.p, self.training, rng=self.rng)

    def extra_repr(self):
        return f"p={self.p}"
