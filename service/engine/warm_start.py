"""Warm starts: a training run that begins from a trained model instead of fresh weights.

- `continue` resumes, with the source's preprocessing, its final training state (the
  checkpoint format of `checkpoint.py`, saved by `fit(keep_state=True)`): parameters,
  every optimizer state array (ASGD's average included), the step count, the schedule's
  position, early stopping and the generator. The data, network and training spec must be
  the source's (the fingerprint a checkpoint checks), except `training.epochs`, which counts
  the epochs added. So `n` epochs continued for `m` end bit-identical to `n + m` straight
  epochs. A source that early stopping ended gets its patience back (its best loss and
  parameters stay): asking for more epochs means training them.
- `fine_tune` starts from the source's weights with the source's preprocessing (so every
  input means what it meant to those weights) and a fresh optimizer, schedule and early
  stopping; the data may differ but must have the source's features and classes.

The epochs of a continued run are numbered from 1 in `Progress` and in the returned history;
its checkpoints keep the absolute count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checkpoint import load_checkpoint
from .errors import InputError
from .model import Model
from .optimizers import OPTIMIZERS
from .preprocessing import Preprocessor
from .run import Progress, Run
from .schedules import Schedule
from .sequence_net import SequenceNetwork

MODES = ("continue", "fine_tune")


@dataclass(frozen=True)
class WarmStart:
    """Where a run starts: `mode`, the source `model` and its final training `state`
    (`continue` needs the state, and the model for its preprocessing when it has one to
    give; `fine_tune` needs the model)."""

    mode: str
    model: Model | None = None
    state: bytes | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}.")
        if self.mode == "continue" and self.state is None:
            raise ValueError("continue needs the source model's training state.")
        if self.mode == "fine_tune" and self.model is None:
            raise ValueError("fine_tune needs the source model.")

    @property
    def preprocessor(self) -> Preprocessor | None:
        """The preprocessing the run must use instead of fitting its own: the source's. (A
        continue of a model trained from scratch would refit the same one; a continue of a
        fine-tuned model needs the preprocessing it inherited.)"""
        return self.model.preprocessor if self.model is not None else None

    def features_like(self, features: list[dict] | None) -> list[dict] | None:
        """The data's feature descriptions in the source model's order, matched by name
        (a table's columns are read by name); InputError names a feature that differs."""
        assert self.model is not None
        if not features:
            return features
        by_name = {str(f["name"]): f for f in features}
        source = {str(f["name"]): f for f in self.model.features}
        for name in source.keys() - by_name.keys():
            raise InputError(
                f"Feature {name!r} of the source model is missing from the data; fine-tune "
                "on data with the source model's features.",
                feature=name,
            )
        for name in by_name.keys() - source.keys():
            raise InputError(
                f"Feature {name!r} is not a feature of the source model; drop it, or train a "
                "new model instead of fine-tuning.",
                feature=name,
            )
        for name, feature in source.items():
            kind = by_name[name].get("kind")
            if kind is not None and kind != feature["kind"]:
                raise InputError(
                    f"Feature {name!r} is {kind} in the data but {feature['kind']} in the "
                    "source model; fine-tune on data where it has the same kind.",
                    feature=name,
                )
        return [by_name[name] for name in source]

    def check_names(self, names: list[str]) -> None:
        """Refuse data whose features are not the source model's, in its order."""
        assert self.model is not None
        if list(names) != list(self.model.feature_names):
            raise InputError(
                f"The data's features are {list(names)}; the source model's are "
                f"{self.model.feature_names}, in that order."
            )


def check_classes(warm: WarmStart | None, classes: list[Any]) -> None:
    """Refuse a fine-tune whose targets do not hold exactly the source model's classes."""
    if warm is None or warm.model is None or warm.mode != "fine_tune":
        return
    source = warm.model.classes or []
    missing = [c for c in source if c not in classes]
    extra = [c for c in classes if c not in source]
    if missing or extra:
        what = f"lacks class {missing[0]!r}" if missing else f"has class {extra[0]!r}"
        raise InputError(
            f"The target {what}, but the source model's classes are {source}; fine-tune on "
            "data with the same classes.",
            feature="target",
        )


def start_run(run: Run, warm: WarmStart, epochs: int) -> int:
    """Put `run` where the warm start begins; returns the epochs already trained before it."""
    if warm.mode == "continue":
        assert warm.state is not None
        load_checkpoint(run, warm.state, more_epochs=True)
        run.spec["epochs"] = run.epoch + epochs  # the fingerprint's spec too: one dict
        if run.finished and run.es and run.bad_epochs >= run.es["patience"]:
            run.bad_epochs = 0
        run.finished = False
        return run.epoch
    assert warm.model is not None
    load_weights(run, warm.model)
    opt = run.spec["optimizer"]
    run.opt = OPTIMIZERS[opt["name"]](run.net.params, opt)  # ASGD averages from these weights
    run.schedule = Schedule(run.spec["schedule"], run.opt.lr)
    return 0


def load_weights(run: Run, model: Model) -> None:
    """Copy the model's weights into the run's parameters; InputError if a shape differs."""
    targets, sources = _parameter_views(run), _model_arrays(model)
    if len(targets) != len(sources):
        raise InputError(
            f"The network has {len(targets)} weight arrays; the source model's has "
            f"{len(sources)}; use the source model's layers."
        )
    for i, (target, source) in enumerate(zip(targets, sources, strict=True)):
        if target.shape != source.shape:
            raise InputError(
                f"Weight array {i} has shape {target.shape}; the source model's has "
                f"{source.shape}; use the source model's layers and features."
            )
        np.copyto(target, source, casting="same_kind")


def _parameter_views(run: Run) -> list[np.ndarray]:
    params = run.net.params
    if isinstance(run.net, SequenceNetwork):
        recurrent = [a for layer in run.net.views(params) for a in layer]
        dense = run.net.dense_layers(params)
        return recurrent + [a for W, b, _ in dense for a in (W, b)]
    Ws, bs = run.net.views(params)
    return [a for W, b in zip(Ws, bs, strict=True) for a in (W, b)]


def _model_arrays(model: Model) -> list[np.ndarray]:
    recurrent = [a for _, arrays in model.recurrent or [] for a in arrays]
    return recurrent + [a for W, b, _ in model.layers for a in (W, b)]


def renumbered(
    on_epoch: Callable[[Progress], None] | None, offset: int
) -> Callable[[Progress], None] | None:
    """`on_epoch` seeing this run's epochs numbered from 1 (a continued run's from its start)."""
    if on_epoch is None or offset == 0:
        return on_epoch

    def shifted(progress: Progress) -> None:
        metrics = {**progress.metrics, "epoch": progress.epoch - offset}
        on_epoch(
            Progress(progress.epoch - offset, progress.epochs - offset, metrics, progress._run)
        )

    return shifted


def own_history(history: list[dict[str, Any]], offset: int) -> list[dict[str, Any]]:
    """The rows of the epochs this run trained, numbered from 1."""
    if offset == 0:
        return history
    return [{**row, "epoch": row["epoch"] - offset} for row in history[offset:]]
