"""CS231n's ``Solver``: trains a model with a ``loss(X, y=None)`` method and a ``params`` dict,
using the update rules of :mod:`numcnn.cs231n.optim`.

The assignment's class, with one deliberate difference: checkpoints (``checkpoint_name``) are
written as ``<name>_epoch_<e>.npz`` (parameters) + ``.json`` (settings and histories) instead of
a pickle, so that loading one can never run code.
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import optim

__all__ = ["Solver"]


class Solver:
    """Train a classification model with stochastic gradient descent.

    Parameters
    ----------
    model : object
        ``model.params`` maps names to arrays; ``model.loss(X)`` returns scores (N, C);
        ``model.loss(X, y)`` returns ``(loss, grads)`` with ``grads`` keyed like ``params``.
    data : dict
        ``X_train``, ``y_train``, ``X_val``, ``y_val``.
    update_rule : str or callable, default 'sgd'
        A name in :mod:`numcnn.cs231n.optim` ('sgd', 'sgd_momentum', 'rmsprop', 'adam') or a rule.
    optim_config : dict
        Hyper-parameters for the rule (each parameter gets its own copy).
    lr_decay : float, default 1.0
        ``learning_rate`` is multiplied by this after each epoch.
    batch_size : int, default 100
    num_epochs : int, default 10
    num_train_samples : int, default 1000
        Training samples used for the per-epoch training accuracy (None: all).
    num_val_samples : int or None
        Validation samples used for the per-epoch validation accuracy (None: all).
    checkpoint_name : str or None
        Prefix of the per-epoch checkpoint files.
    print_every : int, default 10
    verbose : bool, default True

    Attributes
    ----------
    loss_history, train_acc_history, val_acc_history : list
    best_val_acc : float
    best_params : dict
        Copied into ``model.params`` at the end of :meth:`train`.
    """

    def __init__(self, model, data, **kwargs):
        self.model = model
        self.X_train = data["X_train"]
        self.y_train = data["y_train"]
        self.X_val = data["X_val"]
        self.y_val = data["y_val"]

        self.update_rule = kwargs.pop("update_rule", "sgd")
        self.optim_config = kwargs.pop("optim_config", {})
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.batch_size = kwargs.pop("batch_size", 100)
        self.num_epochs = kwargs.pop("num_epochs", 10)
        self.num_train_samples = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples = kwargs.pop("num_val_samples", None)
        self.checkpoint_name = kwargs.pop("checkpoint_name", None)
        self.print_every = kwargs.pop("print_every", 10)
        self.verbose = kwargs.pop("verbose", True)

        if len(kwargs) > 0:
            extra = ", ".join('"%s"' % k for k in list(kwargs.keys()))
            raise ValueError("Unrecognized arguments %s" % extra)

        if isinstance(self.update_rule, str):
            if not hasattr(optim, self.update_rule) or self.update_rule.startswith("_"):
                raise ValueError('Invalid update_rule "%s"' % self.update_rule)
            self.update_rule = getattr(optim, self.update_rule)

        self._reset()

    def _reset(self):
        """Book-keeping variables; called by the constructor."""
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}

    def _step(self):
        """One gradient update on a random minibatch; called by :meth:`train`."""
        num_train = self.X_train.shape[0]
        batch_mask = np.random.choice(num_train, self.batch_size)
        X_batch = self.X_train[batch_mask]
        y_batch = self.y_train[batch_mask]

        loss, grads = self.model.loss(X_batch, y_batch)
        self.loss_history.append(loss)

        for p, w in self.model.params.items():
            dw = grads[p]
            config = self.optim_configs[p]
            next_w, next_config = self.update_rule(w, dw, config)
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config

    def _save_checkpoint(self):
        if self.checkpoint_name is None:
            return
        base = "%s_epoch_%d" % (self.checkpoint_name, self.epoch)
        np.savez(base + ".npz", **{k: np.asarray(v) for k, v in self.model.params.items()})
        meta = {
            "update_rule": getattr(self.update_rule, "__name__", str(self.update_rule)),
            "lr_decay": self.lr_decay,
            "optim_config": {k: v for k, v in self.optim_config.items() if not isinstance(v, np.ndarray)},
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": [float(v) for v in self.loss_history],
            "train_acc_history": [float(v) for v in self.train_acc_history],
            "val_acc_history": [float(v) for v in self.val_acc_history],
        }
        if self.verbose:
            print('Saving checkpoint to "%s.npz"' % base)
        tmp = base + ".json.tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f)
        os.replace(tmp, base + ".json")

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of correctly classified samples (a random subset of ``num_samples`` if given)."""
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = np.random.choice(N, num_samples)
            N = num_samples
            X = X[mask]
            y = y[mask]

        num_batches = N // batch_size
        if N % batch_size != 0:
            num_batches += 1
        y_pred = []
        for i in range(num_batches):
            start = i * batch_size
            end = (i + 1) * batch_size
            scores = self.model.loss(X[start:end])
            y_pred.append(np.argmax(scores, axis=1))
        y_pred = np.hstack(y_pred)
        return np.mean(y_pred == y)

    def train(self):
        """Run the optimisation; ``model.params`` ends as the best-on-validation parameters."""
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch

        for t in range(num_iterations):
            self._step()

            if self.verbose and t % self.print_every == 0:
                print("(Iteration %d / %d) loss: %f" % (t + 1, num_iterations, self.loss_history[-1]))

            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                for k in self.optim_configs:
                    self.optim_configs[k]["learning_rate"] *= self.lr_decay

            first_it = t == 0
            last_it = t == num_iterations - 1
            if first_it or last_it or epoch_end:
                train_acc = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
                val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
                self.train_acc_history.append(train_acc)
                self.val_acc_history.append(val_acc)
                self._save_checkpoint()

                if self.verbose:
                    print("(Epoch %d / %d) train acc: %f; val_acc: %f" % (self.epoch, self.num_epochs, train_acc, val_acc))

                if val_acc > self.best_val_acc:
                    self.best_val_acc = val_acc
                    self.best_params = {k: v.copy() for k, v in self.model.params.items()}

        self.model.params = self.best_params
