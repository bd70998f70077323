"""One LeNet-5 training epoch, numcnn vs PyTorch CPU, side by side in one process.

Synthetic MNIST-sized data (N x 1x28x28 float32, 10 classes), batch 64, SGD with momentum 0.9,
float32, the same architecture (numcnn.models.lenet5 and its torch twin) and the same loop shape:
forward, cross-entropy, backward, step.  Prints seconds per epoch and the ratio numcnn/torch.

    PYTHONPATH=. python benchmarks/lenet_epoch.py [--n 60000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numcnn_epoch(x, y, batch_size, seed=0):
    from numcnn import nn, optim
    from numcnn.functional import cross_entropy
    from numcnn.models import lenet5

    nn.init.manual_seed(seed)
    model = lenet5((1, 28, 28), 10)
    opt = optim.SGD(list(model.parameters()), lr=0.01, momentum=0.9)
    order = np.random.default_rng(seed).permutation(len(y))
    t0 = time.perf_counter()
    for start in range(0, len(y), batch_size):
        idx = order[start : start + batch_size]
        logits = model(x[idx])
        loss, dlogits = cross_entropy(logits, y[idx])
        model.zero_grad()
        model.backward(dlogits, input_grad=False, retain_graph=False)  # as torch: no grad for the images, graph freed
        opt.step()
    return time.perf_counter() - t0, float(loss)


def torch_epoch(x, y, batch_size, seed=0):
    import torch

    torch.manual_seed(seed)
    tnn = torch.nn
    model = tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    t0 = time.perf_counter()
    for start in range(0, len(y), batch_size):
        idx = order[start : start + batch_size]
        logits = model(xt[idx])
        loss = tnn.functional.cross_entropy(logits, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, float(loss.detach())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1, help="epochs of each, alternating; the best is kept")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=args.n)
    import torch

    print(f"LeNet-5 epoch, {args.n} x 1x28x28 float32, batch {args.batch_size}, SGD momentum 0.9; "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    best_np = best_t = float("inf")
    for _ in range(args.repeat):
        t_np, _ = numcnn_epoch(x, y, args.batch_size)
        t_t, _ = torch_epoch(x, y, args.batch_size)
        best_np, best_t = min(best_np, t_np), min(best_t, t_t)
        print(f"numcnn {t_np:.2f}s  torch {t_t:.2f}s  ratio {t_np / t_t:.2f}", flush=True)
    print(f"best: numcnn {best_np:.2f}s  torch {best_t:.2f}s  ratio {best_np / best_t:.2f}")


if __name__ == "__main__":
    main()
