"""Learning-rate schedules, applied between epochs.

- `constant`: the optimizer's learning rate throughout.
- `step`: multiply by `gamma` every `step_size` epochs.
- `exponential`: multiply by `gamma` after every epoch.
- `reduce_on_plateau`: multiply by `factor` when the monitored loss (validation loss when
  there is a validation split, else training loss) has not improved by more than
  `min_delta` for `patience` epochs; never below `min_learning_rate`.

A schedule's whole state is a small JSON-serialisable dict, so checkpoints can carry it.
"""

from __future__ import annotations

import math
from typing import Any

from .optimizers import Hyper

SCHEDULES: dict[str, dict[str, Hyper]] = {
    "constant": {},
    "step": {
        "step_size": Hyper(10, int, 1, 10**6, False, False),
        "gamma": Hyper(0.1, float, 0, 1, True, False),
    },
    "exponential": {"gamma": Hyper(0.95, float, 0, 1, True, False)},
    "reduce_on_plateau": {
        "factor": Hyper(0.1, float, 0, 1, True, True),
        "patience": Hyper(5, int, 0, 10**6, False, False),
        "min_delta": Hyper(0.0, float, 0, float("inf"), False, True),
        "min_learning_rate": Hyper(0.0, float, 0, float("inf"), False, True),
    },
}


class Schedule:
    """Holds the current learning rate; `end_epoch` moves it to the next epoch's value."""

    def __init__(self, spec: dict[str, Any], base_lr: float) -> None:
        self.spec = spec
        self.base_lr = base_lr
        self.lr = base_lr
        self.epochs_done = 0
        self.best = math.inf
        self.bad_epochs = 0

    def end_epoch(self, monitored_loss: float) -> None:
        """Record one finished epoch and its monitored loss; update `lr`."""
        self.epochs_done += 1
        name = self.spec["name"]
        if name == "step":
            drops = self.epochs_done // self.spec["step_size"]
            self.lr = self.base_lr * self.spec["gamma"] ** drops
        elif name == "exponential":
            self.lr = self.base_lr * self.spec["gamma"] ** self.epochs_done
        elif name == "reduce_on_plateau":
            if monitored_loss < self.best - self.spec["min_delta"]:
                self.best, self.bad_epochs = monitored_loss, 0
                return
            self.bad_epochs += 1
            if self.bad_epochs > self.spec["patience"]:
                self.lr = max(self.lr * self.spec["factor"], self.spec["min_learning_rate"])
                self.bad_epochs = 0

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state for a checkpoint."""
        best = None if math.isinf(self.best) else self.best
        return {
            "lr": self.lr,
            "epochs_done": self.epochs_done,
            "best": best,
            "bad": self.bad_epochs,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what `state` returned."""
        self.lr = float(state["lr"])
        self.epochs_done = int(state["epochs_done"])
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.bad_epochs = int(state["bad"])
