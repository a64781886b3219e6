"""What kind of task a target column asks for, and how class labels are encoded."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError

MAX_INFERRED_CLASSES = 50


def infer_task(y: Any) -> str:
    """Return "classification" or "regression" for a target column.

    Text, booleans and integer-valued numbers with at most 50 distinct values (and fewer
    distinct values than half the rows) are classes; any other numbers are a regression target.
    Callers who know better pass the task explicitly.
    """
    values = np.asarray(y)
    if values.dtype.kind in "OUSb":
        numeric = _as_float_or_none(values)
        if numeric is None:
            return "classification"
        values = numeric
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "regression"
    if not np.all(finite == np.round(finite)):
        return "regression"
    n_distinct = np.unique(finite).size
    if n_distinct <= 2 or (n_distinct <= MAX_INFERRED_CLASSES and n_distinct < 0.5 * finite.size):
        return "classification"
    return "regression"


def _as_float_or_none(values: np.ndarray) -> np.ndarray | None:
    if values.dtype.kind == "b":
        return None
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError):
        return None


def encode_labels(y: Any) -> tuple[list, np.ndarray]:
    """Return the sorted classes (plain JSON types) and each row's class index `(n,)`."""
    values = _target_array(y)
    for r, v in enumerate(values.tolist() if values.dtype.kind == "O" else ()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v == "":
            raise _missing(r)
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise _missing(int(np.flatnonzero(np.isnan(values))[0]))
    try:
        classes, index = np.unique(values, return_inverse=True)
        labels = [_plain(c) for c in classes.tolist()]
    except TypeError:  # mixed label types that do not sort together: order them as text
        plain = [_plain(v) for v in values.tolist()]
        labels = sorted(set(plain), key=lambda v: (type(v).__name__, str(v)))
        position = {label: k for k, label in enumerate(labels)}
        index = np.array([position[v] for v in plain])
    return labels, np.asarray(index, dtype=np.int64).reshape(-1)


def regression_targets(y: Any) -> np.ndarray:
    """Numeric targets as float64 `(n, n_targets)`; missing or infinite values are errors."""
    values = _target_array(y)
    try:
        out = values.astype(np.float64)
    except (TypeError, ValueError):
        out = None
    if out is None:
        for r, v in enumerate(values.reshape(len(values), -1).tolist()):
            try:
                [float(x) for x in v]
            except (TypeError, ValueError):
                shown = v[0] if len(v) == 1 else v
                raise InputError(
                    f"Row {r} of the target, {shown!r}, is not a number; a regression target "
                    "must be numeric (or set task to classification).",
                    row=r,
                    feature="target",
                ) from None
    assert out is not None
    bad = ~np.isfinite(out.reshape(len(out), -1)).all(axis=1)
    if bad.any():
        raise _missing(int(np.flatnonzero(bad)[0]))
    return out.reshape(len(out), -1)


def decode_labels(classes: list, index: np.ndarray) -> np.ndarray:
    """Class labels `(n,)` for class indices, in the classes' own type."""
    return _label_array(classes)[index]


def _label_array(classes: list) -> np.ndarray:
    kinds = {type(c) for c in classes}
    if len(kinds) == 1 and kinds <= {str, int, float, bool}:
        return np.asarray(classes)
    out = np.empty(len(classes), dtype=object)
    out[:] = classes
    return out


def _target_array(y: Any) -> np.ndarray:
    values = np.asarray(y) if not isinstance(y, list) else _list_array(y)
    if values.ndim == 0 or len(values) == 0:
        raise InputError("The target has no rows; send one target value per row.", feature="target")
    return values


def _list_array(y: list) -> np.ndarray:
    try:
        return np.asarray(y)
    except ValueError:
        out = np.empty(len(y), dtype=object)
        out[:] = y
        return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _missing(row: int) -> InputError:
    return InputError(
        f"Row {row} has no target value; drop the row or fill in its target.",
        row=row,
        feature="target",
    )
