"""Checkpoints: the complete state of a training run after an epoch, as `.npz` bytes.

Arrays: `params` (the flat parameter vector), the optimizer's state arrays (`opt_<name>`) and,
with early stopping, `best_params`. JSON metadata: the epoch, the history so far, the
generator's bit-generator state, the optimizer's step count and learning rate, the schedule
and early-stopping state, and a fingerprint of the specs and data that must match on resume.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

import numpy as np

from .errors import CheckpointMismatch
from .optimizers import Optimizer
from .schedules import Schedule
from .serialization import pack, unpack


class Parameters(Protocol):
    params: np.ndarray


class Run(Protocol):
    """What a checkpoint saves and restores of a training run (`run.Run` is one)."""

    net: Parameters
    opt: Optimizer
    schedule: Schedule
    rng: np.random.Generator
    best_params: np.ndarray | None
    epoch: int
    finished: bool
    history: list[dict[str, Any]]
    best_loss: float
    bad_epochs: int
    best_epoch: int
    fingerprint: dict[str, Any]
    initial_loss: float | None


FORMAT = "neuronal-checkpoint"
WHAT = "The checkpoint is corrupt or not a Neuronal checkpoint"


def save_checkpoint(run: Run) -> bytes:
    """Serialise the run's state after its latest epoch."""
    arrays = {"params": run.net.params}
    arrays.update({f"opt_{name}": value for name, value in run.opt.state().items()})
    if run.best_params is not None:
        arrays["best_params"] = run.best_params
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "epoch": run.epoch,
        "finished": run.finished,
        "history": run.history,
        "rng": run.rng.bit_generator.state,
        "optimizer": {"t": run.opt.t, "lr": run.opt.lr},
        "schedule": run.schedule.state(),
        "early_stopping": {
            "best_loss": None if math.isinf(run.best_loss) else run.best_loss,
            "bad_epochs": run.bad_epochs,
            "best_epoch": run.best_epoch,
        },
        "fingerprint": run.fingerprint,
        "initial_loss": _finite_or_none(run.initial_loss),
    }
    return pack(arrays, meta)


def load_checkpoint(run: Run, data: bytes, *, more_epochs: bool = False) -> None:
    """Restore `run` to the state saved in `data`; `CheckpointMismatch` if it does not fit.

    `more_epochs`: the run continues a finished one, so its `training.epochs` may differ."""
    arrays, meta = unpack(data, WHAT, CheckpointMismatch)
    if meta.get("format") != FORMAT or meta.get("version") != 1:
        raise CheckpointMismatch(f"{WHAT}: it does not carry the checkpoint format marker.")
    saved = meta.get("fingerprint", {})
    for key, value in run.fingerprint.items():
        if more_epochs and key == "training":
            earlier = saved.get(key)
            value = {**value, "epochs": earlier.get("epochs") if isinstance(earlier, dict) else 0}
        if _jsonable(value) != saved.get(key):
            raise CheckpointMismatch(
                f"The checkpoint does not match this training run ({key} differs); resume "
                "only with the same data, network and training spec."
            )
    try:
        _restore_arrays(run, arrays)
        run.epoch = int(meta["epoch"])
        run.finished = bool(meta["finished"])
        run.history = list(meta["history"])
        run.rng.bit_generator.state = meta["rng"]
        run.opt.t, run.opt.lr = int(meta["optimizer"]["t"]), float(meta["optimizer"]["lr"])
        run.schedule.load_state(meta["schedule"])
        es = meta["early_stopping"]
        run.best_loss = math.inf if es["best_loss"] is None else float(es["best_loss"])
        run.bad_epochs, run.best_epoch = int(es["bad_epochs"]), int(es["best_epoch"])
        initial = meta.get("initial_loss")
        run.initial_loss = math.inf if initial is None else float(initial)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointMismatch(f"{WHAT}: {e!r}") from None


def _restore_arrays(run: Run, arrays: dict[str, np.ndarray]) -> None:
    wanted = {"params": run.net.params}
    wanted.update({f"opt_{k}": v for k, v in run.opt.state().items()})
    if run.best_params is not None:
        wanted["best_params"] = run.best_params
    if set(arrays) != set(wanted):
        raise ValueError("it holds different arrays than this run needs")
    for name, target in wanted.items():
        if arrays[name].shape != target.shape or arrays[name].dtype != target.dtype:
            raise ValueError(f"array {name} has the wrong shape or type")
    for name, target in wanted.items():
        np.copyto(target, arrays[name])


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _jsonable(value: Any) -> Any:

    return json.loads(json.dumps(value))
