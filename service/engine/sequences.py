"""Sequence data: 3-D arrays with lengths, and the windowing of a time series.

A sequence data set is `X` `(n, T, d)` with `lengths` `(n,)` (each in `1..T`, padding at the
end, ignored). A time series is rows ordered in time, optionally in groups (one series per
group); `window_series` turns it into sequences: the previous `window` rows (every feature,
the target included, as the last step feature) predict the target `horizon` rows ahead, one
window every `stride` rows, per group and never across groups. `chronological_split` holds out
the last windows of each group. Scaling and imputation are fitted on the real steps of the
training sequences only (for a series: its training windows) and are the table's: `x * scale
+ offset`, a missing value (NaN) becomes the training mean; padding becomes 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import CATEGORICAL, NUMERIC, Table, read_table
from .errors import InputError, SpecError
from .preprocessing import Preprocessor
from .recurrent_spec import sequence


@dataclass
class SequenceData:
    """Raw sequences: `X` `(n, T, d)` float64 (NaN = missing), `lengths` `(n,)`, names."""

    X: np.ndarray
    lengths: np.ndarray
    names: list[str]
    group: np.ndarray | None = None  # a series' windows: their group (split in time order)

    @property
    def n_rows(self) -> int:
        return len(self.X)


@dataclass
class Windows:
    """What `window_series` returns; `end` is the row (in the input order) each window ends at."""

    X: np.ndarray  # (m, window, d + 1): the features then the target, per step
    y: np.ndarray  # (m,) the target `horizon` rows after `end`
    group: np.ndarray  # (m,) index of the window's group in order of first appearance
    end: np.ndarray  # (m,) row index of each window's last row


def is_sequences(X: Any) -> bool:
    """True when `X` is 3-D (sequences of steps of features)."""
    if isinstance(X, np.ndarray):
        return X.ndim == 3
    return isinstance(X, list | tuple) and bool(X) and _depth(X) == 3


def _depth(X: Any) -> int:
    depth = 0
    while isinstance(X, list | tuple | np.ndarray) and len(X):
        X, depth = X[0], depth + 1
    return depth


def read_sequences(X: Any, lengths: Any = None, names: list[str] | None = None) -> SequenceData:
    """Check and pad sequences: a 3-D array, or a list of `(steps, d)` sequences."""
    if not isinstance(X, np.ndarray) and lengths is None:
        X, lengths = pad(X)
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            "Sequences must hold numbers only, each sequence a list of steps and each step a "
            "list of feature values."
        ) from None
    if arr.ndim != 3 or 0 in arr.shape:
        raise InputError(
            f"Sequences must form a 3-D array (sequences × steps × features), not shape "
            f"{arr.shape}."
        )
    n, T, d = arr.shape
    L = np.full(n, T, np.intp) if lengths is None else _lengths(lengths, n, T)
    # one sum is finite when every value is (a finite sum that overflows just takes the
    # closer look, which finds nothing): cheaper than isinf() per value on the usual data
    finite = np.isfinite(np.add.reduce(arr, axis=None))
    for i in [] if finite else np.flatnonzero(np.isinf(arr).any(axis=(1, 2))):
        step = int(np.flatnonzero(np.isinf(arr[i]).any(axis=1))[0])
        raise InputError(
            f"Sequence {i}, step {step} holds an infinite value; send finite numbers (NaN "
            "counts as missing and is imputed).",
            row=int(i),
        )
    if names is None:
        names = [f"x{j}" for j in range(d)]
    if len(names) != d:
        raise InputError(f"Each step has {d} values but there are {len(names)} feature names.")
    return SequenceData(arr, L, list(names))


def pad(sequences: Any) -> tuple[np.ndarray, np.ndarray]:
    """A list of `(steps_i, d)` sequences → zero-padded `(n, max steps, d)` and the lengths."""
    seqs = [np.asarray(s, dtype=np.float64) for s in sequences]
    bad = next((i for i, s in enumerate(seqs) if s.ndim != 2 or not len(s)), None)
    widths = {s.shape[1] for s in seqs if s.ndim == 2}
    if bad is not None or len(widths) != 1:
        where = f"sequence {bad}" if bad is not None else "the sequences"
        raise InputError(
            f"Each sequence must be a non-empty list of steps with the same number of feature "
            f"values; {where} is not.",
            row=bad,
        )
    lengths = np.array([len(s) for s in seqs], np.intp)
    out = np.zeros((len(seqs), int(lengths.max()), widths.pop()))
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def _lengths(lengths: Any, n: int, T: int) -> np.ndarray:
    L = np.asarray(lengths)
    if L.shape != (n,) or L.dtype.kind not in "iuf" or not np.all(np.round(L) == L):
        raise InputError(f"lengths must be {n} whole numbers, one per sequence.")
    L = L.astype(np.intp)
    bad = np.flatnonzero((L < 1) | (L > T))
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"lengths[{i}] is {L[i]}; each length must be from 1 to {T} (the steps per sequence).",
            row=i,
        )
    return L


def window_series(
    values: np.ndarray, target: np.ndarray, window: int, horizon: int = 1, stride: int = 1,
    groups: Any = None,
) -> Windows:  # fmt: skip
    """Windows of a series of rows ordered in time (see the module docstring)."""
    values = np.asarray(values, np.float64)
    target = np.asarray(target, np.float64)
    steps = np.concatenate([values.reshape(len(target), -1), target[:, None]], axis=1)
    group_rows = _group_rows(groups, len(target))
    starts, ahead, group_of = [], [], []
    for g, rows in enumerate(group_rows):
        last_start = len(rows) - window - horizon
        for s in range(0, last_start + 1, stride):
            starts.append(rows[s : s + window])
            ahead.append(rows[s + window - 1 + horizon])
            group_of.append(g)
    if not starts:
        longest = max(len(r) for r in group_rows)
        raise InputError(
            f"No window fits: the longest series has {longest} rows but a window of {window} "
            f"rows with a horizon of {horizon} needs at least {window + horizon}; use a "
            "smaller training.sequence.window or horizon.",
            feature="training.sequence",
        )
    idx = np.array(starts, np.intp)  # (m, window) row indices
    end = idx[:, -1]
    y = target[np.array(ahead, np.intp)]
    keep = ~np.isnan(y)  # a window whose target is missing teaches nothing
    return Windows(steps[idx][keep], y[keep], np.array(group_of, np.intp)[keep], end[keep])


def read_inputs(X, y, training, features, lengths, groups, task) -> tuple[Any, Any, Any, str]:
    """`fit`'s raw inputs as a table, sequences, or a windowed series, and that layout."""
    if is_sequences(X):
        names = [str(f["name"]) for f in features] if features else None
        return read_sequences(X, lengths, names), y, task, "sequences"
    if isinstance(training, dict) and training.get("sequence") is not None:
        data, target = series_windows(X, y, training, features, groups, task)
        return data, target, "regression", "series"
    return read_table(X, features), y, task, "table"


def series_windows(X, y, training: dict, features, groups, task) -> tuple[SequenceData, Any]:
    """A time series (rows in time order, `y` its target column) as windowed sequences."""
    if task not in (None, "regression"):
        raise SpecError(
            "task",
            "A forecast (training.sequence) predicts a future value of the target, a number; "
            "use the regression task.",
        )
    spec = sequence(training["sequence"])
    try:
        target = np.asarray(y, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(
            "The target of a time series must be numbers (empty for missing).", feature="target"
        ) from None
    if X is None:
        values, names = np.empty((len(target), 0)), []
    else:
        table = read_table(X, features)
        if CATEGORICAL in table.kinds:
            name = table.names[table.kinds.index(CATEGORICAL)]
            raise InputError(
                f"Feature {name!r} is text; the features of a time series must be numbers.",
                feature=name,
            )
        if table.n_rows != len(target):
            raise InputError(
                f"There are {table.n_rows} rows of features but {len(target)} target values; "
                "send one target per row.",
                feature="target",
            )
        values, names = table.numeric_rows(slice(None)), list(table.names)
    if np.isinf(values).any() or np.isinf(target).any():
        raise InputError("The series holds an infinite value; send finite numbers.")
    w = window_series(values, target, groups=groups, **spec)
    lengths = np.full(len(w.y), spec["window"], np.intp)
    return SequenceData(w.X, lengths, [*names, "target"], group=w.group), w.y


def _group_rows(groups: Any, n: int) -> list[np.ndarray]:
    if groups is None:
        return [np.arange(n)]
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise InputError(f"groups must hold one label per row ({n}), not shape {labels.shape}.")
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first)  # groups in order of first appearance
    return [np.flatnonzero(inverse == k) for k in order]


def chronological_split(group: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation windows: the last `fraction` of each group's windows."""
    train, val = [], []
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)  # already in time order
        take = int(round(fraction * len(rows))) if len(rows) > 1 else 0
        take = min(take, len(rows) - 1)
        train.append(rows[: len(rows) - take])
        val.append(rows[len(rows) - take :])
    return np.concatenate(train), np.concatenate(val)


def fit_preprocessor(data: SequenceData, rows: np.ndarray, scaling: str) -> Preprocessor:
    """Scaling and imputation from the real steps of the training sequences `rows`."""
    X, L = data.X[rows], data.lengths[rows]
    real = np.arange(X.shape[1])[None, :] < L[:, None]
    steps = X[real]  # (total real steps, d)
    d = X.shape[2]
    table = Table(list(data.names), [NUMERIC] * d, len(steps), matrix=steps)
    return Preprocessor.fit(table, np.arange(len(steps)), scaling)


def transform(prep: Preprocessor, X: np.ndarray, lengths: np.ndarray, dtype) -> np.ndarray:
    """Scaled, imputed, zero-padded network inputs, time-major `(T, n, d)`."""
    T = X.shape[1]
    out = np.empty((T, X.shape[0], X.shape[2]), dtype)
    x = X.transpose(1, 0, 2) * prep.scale
    x += prep.offset
    if not np.isfinite(np.add.reduce(x, axis=None)):  # a value is missing (or infinite)
        missing = np.isnan(x)
        if missing.any():
            x = np.where(missing, prep.fill, x)
    out[...] = x
    if lengths.min() < T:
        out[np.arange(T)[:, None] >= lengths[None, :]] = 0
    return out
