"""Data-parallel training in your own loop with ``numcnn.distributed``.

Run on 2 processes of this host (each gets half the CPUs' threads)::

    mpiexec -n 2 python examples/distributed_train.py

or as a plain ``python examples/distributed_train.py`` (a group of one).  Every rank builds the same
model, starts from rank 0's weights, walks the same global batches, works on its shard of each,
and sums the gradients in one allreduce; the final weights do not depend on the process count.
"""

import numpy as np

import numcnn.distributed as dist
from numcnn import nn
from numcnn.autograd import Tensor
from numcnn.data import load_dataset
from numcnn.functional import cross_entropy
from numcnn.optim import SGD

dist.init()
nn.init.manual_seed(0)  # the same weights and Dropout generator on every rank
splits = load_dataset("digits")  # 8x8 digits, built in
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),  # global-batch statistics
    nn.Flatten(), nn.Dropout(0.2), nn.Linear(16 * 4 * 4, 10),
)
dist.broadcast_parameters(model)
optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
rng = np.random.default_rng(0)  # the batch order: the same on every rank
batch_size = 64  # the global batch

for epoch in range(1, 4):
    total, correct, seen = 0.0, 0, 0
    for xb, yb in splits.train.batches(batch_size, rng):
        with dist.global_batch(len(yb)) as (start, stop):  # Dropout: the global batch's masks
            out = model(Tensor(xb[start:stop]))
            loss, dlogits = cross_entropy(out.data, yb[start:stop])
            model.zero_grad()
            # this shard's share of the global mean loss, so BatchNorm's reduced backward is exact
            out.backward(dlogits * dlogits.dtype.type((stop - start) / len(yb)))
        dist.allreduce_gradients(model.parameters())  # one flat buffer, summed over ranks
        optimizer.step()
        sums = dist.allreduce(np.array([loss * (stop - start), np.sum(out.data.argmax(1) == yb[start:stop])]))
        total, correct, seen = total + sums[0], correct + sums[1], seen + len(yb)
    if dist.is_main():  # one writer
        print(f"epoch {epoch}: train loss {total / seen:.4f} accuracy {correct / seen:.2%} on {dist.world_size()} process(es)")

if dist.is_main():
    np.savez("distributed_example_weights.npz", **model.state_dict())
