"""One training step and the evaluation sums, on this process's shard of the data, for the trainer
in one process or many (``mpiexec -n K numcnn train``; see :mod:`numcnn.distributed`).

A step gives the weights of the one-process step whatever the number of processes, up to the
order of floating-point sums:

- every rank holds the same global batch (the batch order is a function of the seed and the
  epoch) and works on its contiguous shard of it;
- augmentation indexes its per-epoch draws by the shard's position in the epoch, Dropout draws
  the global batch's masks and keeps its rows, BatchNorm reduces its sums over the ranks;
- the loss gradient is seeded with this shard's share of the global batch's mean loss
  (``d mean_shard * labels_shard / labels_global``), so the backward pass, synchronised
  BatchNorm included, gives exactly this shard's part of the global gradient, and one allreduce
  of a flat buffer sums the parts; then every rank takes the same optimizer step.
"""

from __future__ import annotations

import numpy as np

from . import distributed as dist
from .autograd import no_grad
from .functional import cross_entropy

__all__ = ["train_step", "evaluation_sums", "as_model_dtype", "logits_of"]


def as_model_dtype(model, x: np.ndarray) -> np.ndarray:
    """``x`` in the floating type of ``model``'s parameters (a float64 run's model meets the
    float32 images the data sets load as)."""
    param = next(iter(model.parameters()), None)
    return x if param is None else x.astype(param.data.dtype, copy=False)


def logits_of(model, x: np.ndarray) -> np.ndarray:
    """``model``'s logits for the images ``x`` as an array, in the model's dtype, recording
    nothing (so no backward cache is kept): every inference path of the trainer goes through it."""
    with no_grad():
        return model(as_model_dtype(model, x))


def train_step(model, optimizer, xb, yb, *, label_smoothing: float, augmentation=None, seen: int = 0):
    """Forward, backward and an optimizer step on the global batch ``(xb, yb)`` (this rank's shard
    of it); ``seen`` is the batch's position in the epoch's order.  ``model`` is driven through
    the explicit API (``model(x)`` on arrays, then ``model.backward``), which every model has.

    Returns
    -------
    mean_loss : float
        The global batch's mean loss (over every label of every rank), as the one-process run
        computes it.  Not finite: the step was NOT taken (the caller reports the divergence).
    correct : int
        Labels classified right in the global batch.
    """
    n = len(yb)
    with dist.global_batch(n) as (start, stop):
        xs, ys = xb[start:stop], yb[start:stop]
        if augmentation is not None:
            xs = augmentation(xs, seen + start)  # the crops and flips of these samples' positions
        logits = model(xs)
        if len(ys):
            loss, dlogits = cross_entropy(logits, ys, label_smoothing=label_smoothing)
        else:  # more ranks than samples: this one contributes nothing but joins every collective
            loss, dlogits = 0.0, np.zeros_like(logits)
        sums = np.array([float(loss) * ys.size, np.sum(np.argmax(logits, axis=1) == ys), ys.size], dtype=np.float64)
        loss_sum, correct, labels = dist.allreduce(sums)
        mean_loss = loss_sum / labels
        if not np.isfinite(mean_loss):
            return float(mean_loss), int(correct)
        share = ys.size / labels  # exactly 1.0 in one process
        if share != 1.0:
            dlogits = dlogits * dlogits.dtype.type(share)
        model.zero_grad()
        model.backward(dlogits, input_grad=False, retain_graph=False)  # the images need no gradient; a fresh graph per step
    if dist.world_size() > 1:
        dist.allreduce_gradients(model.parameters())
    optimizer.step()
    return float(mean_loss), int(correct)


def evaluation_sums(model, data, batch_size: int, label_smoothing: float) -> tuple[float, int]:
    """``(sum over batches of mean loss * batch size, labels classified right)`` of ``model`` on
    ``data``, split over the ranks (each evaluates a contiguous part, the sums are reduced), so
    every rank gets the totals of the whole set.  The caller sets eval mode."""
    start, stop = dist.shard_bounds(len(data))
    total_loss, correct = 0.0, 0
    x, y = data.x[start:stop], data.y[start:stop]
    for i in range(0, len(y), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        logits = logits_of(model, xb)
        loss, _ = cross_entropy(logits, yb, label_smoothing=label_smoothing)
        total_loss += float(loss) * len(yb)
        correct += int(np.sum(np.argmax(logits, axis=1) == yb))
    sums = dist.allreduce(np.array([total_loss, correct], dtype=np.float64))
    return float(sums[0]), int(sums[1])
