"""One training run's state and its epochs: the network, optimizer, schedule, early stopping,
the generator every random draw comes from, and the history (what a checkpoint saves)."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .batches import _target_matrix, clip_gradient, count_correct, split_rows
from .checkpoint import save_checkpoint
from .class_weights import class_weights
from .dropout import dense_rates, recurrent_rates
from .errors import DivergenceError
from .model import Model
from .network import Network
from .optimizers import OPTIMIZERS
from .preprocessing import Preprocessor
from .recurrent_spec import is_recurrent
from .schedules import Schedule
from .sequence_net import SequenceNetwork, chunk_rows
from .sequences import (
    SequenceData,
    chronological_split,
    fit_preprocessor,
    transform,
)
from .spec import _check_size, n_outputs

EVAL_CHUNK = 2048
DIVERGENCE_FACTOR = 1e4  # a loss this many times the untrained one means divergence


@dataclass
class Progress:
    """What `on_epoch` receives after every epoch."""

    epoch: int
    epochs: int
    metrics: dict[str, Any]
    _run: Run = field(repr=False)

    def checkpoint(self) -> bytes:
        """The full training state after this epoch, as `.npz` bytes (for `fit(resume=…)`)."""
        return save_checkpoint(self._run)

    def stop(self) -> None:
        """Make `fit` return after this epoch with the model as it stands."""
        self._run.stop_requested = True


class Run:
    """The state of one training run (everything a checkpoint saves or checks)."""

    def __init__(
        self, table, task, classes, labels, targets, net_spec, train_spec, preprocessor=None
    ) -> None:
        self.task, self.classes = task, classes
        self.net_spec, self.spec = net_spec, train_spec
        self.rng = np.random.default_rng(train_spec["seed"])
        self.dtype = np.dtype(train_spec["dtype"])
        seq = table if isinstance(table, SequenceData) else None
        fraction = train_spec["validation_fraction"]
        if seq is not None and seq.group is not None:
            train_rows, val_rows = chronological_split(seq.group, fraction)
        else:
            train_rows, val_rows = split_rows(self.rng, table.n_rows, fraction, labels)
        if preprocessor is not None:  # a warm start's: the source model's preprocessing
            self.prep = preprocessor
        elif seq is None:
            self.prep = Preprocessor.fit(table, train_rows, train_spec["scaling"])
        else:
            self.prep = fit_preprocessor(seq, train_rows, train_spec["scaling"])
        if seq is not None:
            train_rows, val_rows = (r[np.argsort(-seq.lengths[r], kind="stable")]
                                    for r in (train_rows, val_rows))  # fmt: skip
        n_out = n_outputs(net_spec, task, len(classes) if classes else None,
                          targets.shape[1] if targets is not None else 1)  # fmt: skip
        _check_size(net_spec, task, self.prep.n_inputs, len(classes) if classes else None)
        order = np.concatenate([train_rows, val_rows])
        self.n_train = n_train = len(train_rows)
        Y = _target_matrix(labels, targets, order, n_out, self.dtype)
        self.Ytr, self.Yva = Y[:n_train], Y[n_train:]
        dense = [x for x in net_spec["layers"] if not is_recurrent(x)]
        acts = [*(x["activation"] for x in dense), net_spec["output_activation"]]
        sizes = [x["units"] for x in dense] + [n_out]
        weights = None if classes is None else class_weights(
            train_spec.get("class_weight"), classes, labels)  # fmt: skip
        self.net: Any
        if seq is None:
            self.Ltr = self.Lva = None
            X = self.prep.transform(table, order, dtype=self.dtype)
            self.Xtr, self.Xva = X[:n_train], X[n_train:]
            self.net = Network([self.prep.n_inputs, *sizes], acts, net_spec["loss"], self.dtype,
                               dropout=dense_rates(net_spec), class_weight=weights)  # fmt: skip
        else:
            L = seq.lengths[order]
            X = transform(self.prep, seq.X[order], L, self.dtype)  # time-major
            self.Xtr, self.Xva = X[:, :n_train], X[:, n_train:]
            self.Ltr, self.Lva = L[:n_train], L[n_train:]
            recurrent = [x for x in net_spec["layers"] if is_recurrent(x)]
            self.net = SequenceNetwork(self.prep.n_inputs, seq.X.shape[1], recurrent, sizes,
                                       acts, net_spec["loss"], self.dtype,
                                       train_spec.get("bptt_steps"),
                                       dropout=recurrent_rates(net_spec),
                                       dense_dropout=dense_rates(net_spec),
                                       class_weight=weights)  # fmt: skip
        self.net.initialize(self.rng, net_spec["init"])
        opt = train_spec["optimizer"]
        self.opt = OPTIMIZERS[opt["name"]](self.net.params, opt)
        self.schedule = Schedule(train_spec["schedule"], self.opt.lr)
        # the untrained network's loss: the first batch's, measured by the first step itself
        self.initial_loss: float | None = None
        self.es = train_spec["early_stopping"]
        self.best_loss, self.bad_epochs, self.best_epoch = np.inf, 0, 0
        self.best_params = np.empty_like(self.net.params) if self.es else None
        self.history: list[dict[str, Any]] = []
        self.epoch, self.finished = 0, False
        self.stop_requested = self.restore_best = False
        self.fingerprint = _fingerprint(self, table, labels, targets)

    def train(self, on_epoch: Callable[[Progress], None] | None) -> None:
        """Run the remaining epochs (all of them unless resumed)."""
        epochs = self.spec["epochs"]
        while not self.finished and self.epoch < epochs:
            start = time.perf_counter()
            self.epoch += 1
            train_loss, train_correct = self._epoch()
            row = self._metrics(train_loss, train_correct)
            row["seconds"] = time.perf_counter() - start
            self.history.append(row)
            self.finished = self.finished or self.epoch >= epochs
            if on_epoch is not None:
                on_epoch(Progress(self.epoch, epochs, row, self))
            if self.stop_requested:
                return
        # the model takes the best epoch's parameters; the run's own state stays as the last
        # epoch left it, so that state can be saved and training continued from it
        self.restore_best = self.best_params is not None and self.best_epoch > 0

    @property
    def eval_params(self) -> np.ndarray:
        """The parameters predictions use: the ASGD average, or the parameters themselves."""
        averaged = self.opt.averaged
        return self.net.params if averaged is None else averaged

    def _epoch(self) -> tuple[float, int]:
        net, opt, n = self.net, self.opt, self.n_train
        size = self.spec["batch_size"]
        batch = n if size == "full" else min(size, n)
        opt.lr = self.schedule.lr
        perm = self.rng.permutation(n) if self.spec["shuffle"] and batch < n else None
        l2, clip = self.spec["l2"], self.spec["clip_norm"]
        classify = self.task == "classification"
        softmax = self.net.activation_names[-1] == "softmax"
        loss_sum, weight_sum, correct = 0.0, 0.0, 0
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            buf = net.buffers(stop - start)
            if self.Ltr is not None:
                rows = slice(start, stop) if perm is None else perm[start:stop]
                xb, yb = buf.load(self.Xtr, self.Ytr, self.Ltr, rows)
            elif perm is None:
                xb, yb = self.Xtr[start:stop], self.Ytr[start:stop]
            else:
                idx = perm[start:stop]
                xb, yb = buf.x, buf.y
                np.take(self.Xtr, idx, axis=0, out=xb, mode="clip")  # unbuffered
                np.take(self.Ytr, idx, axis=0, out=yb, mode="clip")
            loss = net.loss_and_grad(xb, yb, buf, l2, rng=self.rng)  # rng: dropout masks
            if self.initial_loss is None:
                self.initial_loss = float(loss)
            # each batch counts by its rows' class weights (by its rows without them)
            loss_sum += loss * buf.weight_total
            weight_sum += buf.weight_total
            if classify:
                correct += count_correct(buf.a[-1], yb, softmax)
            if clip is not None:
                clip_gradient(net.grad, clip)
            if opt.name == "isgd":
                opt.step(net.grad, _recompute(net, xb, yb, buf, l2, clip))
            else:
                opt.step(net.grad)
        return loss_sum / weight_sum, correct

    def _divergence_advice(self) -> str:
        l2 = self.spec["l2"]
        # An l2 of 1 or more outweighs any data loss: the penalty is what explodes, and a
        # lower learning rate only delays it
        if l2 >= 1:
            return (
                f"Lower l2 (now {l2:g}): a penalty this strong makes the weights overshoot and "
                "grow; values of 1e-5 to 1e-2 are usual"
            )
        return f"Lower the learning rate (now {self.opt.lr}) or scale the inputs"

    def _metrics(self, train_loss: float, train_correct: int) -> dict[str, Any]:
        if not np.isfinite(train_loss):
            raise DivergenceError(
                f"Training diverged at epoch {self.epoch}: the loss became infinite or NaN. "
                f"{self._divergence_advice()}.",
                epoch=self.epoch,
            )
        # Saturating units (tanh, sigmoid, softmax) keep an exploded loss finite, so a loss far
        # above the untrained network's also counts as divergence; learning never gets there.
        initial = self.initial_loss if self.initial_loss is not None else math.inf
        if train_loss > DIVERGENCE_FACTOR * max(initial, 1.0):
            raise DivergenceError(
                f"Training diverged at epoch {self.epoch}: the loss grew to {train_loss:.3g}, "
                f"over {DIVERGENCE_FACTOR:g} times the untrained network's "
                f"{initial:.3g}. {self._divergence_advice()}.",
                epoch=self.epoch,
            )
        row: dict[str, Any] = {"epoch": self.epoch, "train_loss": train_loss, "val_loss": None}
        classify = self.task == "classification"
        if classify:
            row["train_accuracy"] = train_correct / self.n_train
            row["val_accuracy"] = None
        if len(self.Yva):
            val_loss, val_correct = self.evaluate(self.Xva, self.Yva, self.Lva)
            row["val_loss"] = val_loss
            if classify:
                row["val_accuracy"] = val_correct / len(self.Yva)
        row["learning_rate"] = self.opt.lr
        monitored = row["val_loss"] if row["val_loss"] is not None else train_loss
        if not np.isfinite(monitored):
            monitored = np.inf
        if self.es:
            if monitored < self.best_loss - self.es["min_delta"]:
                self.best_loss, self.bad_epochs, self.best_epoch = monitored, 0, self.epoch
                assert self.best_params is not None
                np.copyto(self.best_params, self.eval_params)
            else:
                self.bad_epochs += 1
                self.finished = self.bad_epochs >= self.es["patience"]
        self.schedule.end_epoch(monitored)
        return row

    def evaluate(self, X, Y, L=None, n: int | None = None) -> tuple[float, int]:
        """Mean loss (class-weighted like the training loss) and correct count over the first
        `n` rows with the prediction parameters, without dropout."""
        total, weight, correct = 0.0, 0.0, 0
        n = len(Y) if n is None else n
        chunk = EVAL_CHUNK if L is None else chunk_rows(X.shape[0], self.net.layers)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            buf = self.net.buffers(stop - start)
            if L is None:
                xb, yb = X[start:stop], Y[start:stop]
            else:
                xb, yb = buf.load(X, Y, L, slice(start, stop))
            out = self.net.forward(xb, buf, params=self.eval_params)
            total += self.net.batch_loss(out, yb, buf) * buf.weight_total
            weight += buf.weight_total
            if self.task == "classification":
                correct += count_correct(out, yb)
        return total / weight, correct

    def model(self) -> Model:
        """The trained model (a copy of the prediction parameters)."""
        best = self.best_params if self.restore_best else None
        params = (self.eval_params if best is None else best).copy()
        recurrent = None
        if isinstance(self.net, SequenceNetwork):
            layers = self.net.dense_layers(params)
            recurrent = list(zip(self.net.layers, self.net.views(params), strict=True))
        else:
            Ws, bs = self.net.views(params)
            layers = list(zip(Ws, bs, self.net.activation_names, strict=True))
        return Model(task=self.task, classes=self.classes, preprocessor=self.prep,
                     layers=layers, network=self.net_spec, training=self.spec,
                     recurrent=recurrent,
                     steps=self.Xtr.shape[0] if recurrent else None)  # fmt: skip


def _recompute(net: Network, xb, yb, buf, l2: float, clip: float | None):
    def recompute() -> np.ndarray:
        net.forward(xb, buf, dropout=True)  # under the step's own dropout masks
        net.backward(xb, yb, buf)
        if l2:
            net.add_l2(l2)
        if clip is not None:
            clip_gradient(net.grad, clip)
        return net.grad

    return recompute


def _fingerprint(run: Run, table, labels, targets) -> dict[str, Any]:

    digest = hashlib.sha256()
    for array in (*run.prep.arrays().values(), labels if labels is not None else targets):
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "network": run.net_spec, "training": run.spec, "task": run.task,
        "n_rows": table.n_rows, "features": run.prep.metadata(), "sizes": run.net.sizes,
        "data_sha256": digest.hexdigest(),
    }  # fmt: skip
