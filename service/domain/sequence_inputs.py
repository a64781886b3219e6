"""The `sequences` of a predict request, checked and padded for a recurrent model.

Each sequence is a list of steps, each step one value per feature of the model (for a series
model: its features, then the target, one row per step, at most `window` rows). `null` is a
missing value, imputed like at training time. A sequence may be shorter than the model's
steps; it is padded at the end and its padding ignored.
"""

from __future__ import annotations

from typing import Any, NoReturn

import numpy as np

from service.core.errors import InvalidInput, field_error
from service.engine import Model

FLOAT_MAX = float(np.finfo(np.float64).max)


def sequence_batch(
    model: Model, sequences: list[Any], max_rows: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """`(X (n, T, d) float64 with NaN for missing, lengths (n,))`, or a 422 saying what and
    where (sequence, step, feature) to fix."""
    if model.recurrent is None:
        _refuse(
            ["body", "sequences"],
            'This model was trained on rows of features, not sequences; send "inputs" or '
            '"records" instead of "sequences".',
        )
    steps, names = model.steps or 0, model.feature_names
    if not isinstance(sequences, list) or not sequences:
        _refuse(["body", "sequences"], "sequences is empty; send at least one sequence.")
    if max_rows is not None and len(sequences) > max_rows:
        _refuse(
            ["body", "sequences"],
            f"sequences has {len(sequences):,} sequences, over this server's limit of "
            f"{max_rows:,} per request (NEURONAL_MAX_PREDICT_ROWS); split them across "
            "several requests.",
        )
    lengths = np.empty(len(sequences), np.intp)
    for i, sequence in enumerate(sequences):
        if not isinstance(sequence, list) or not sequence:
            _refuse(
                ["body", "sequences", i],
                f"Sequence {i} must be a non-empty list of steps, each a list of "
                f"{len(names)} values ({', '.join(names)}).",
            )
        if len(sequence) > steps:
            _refuse(
                ["body", "sequences", i],
                f"Sequence {i} has {len(sequence)} steps; this model reads at most {steps} "
                f"steps per sequence, so send its last {steps} steps.",
            )
        lengths[i] = len(sequence)
    X = np.zeros((len(sequences), int(lengths.max()), len(names)))
    for i, sequence in enumerate(sequences):
        for t, step in enumerate(sequence):
            X[i, t] = _step(step, i, t, names)
    return X, lengths


def _step(step: Any, i: int, t: int, names: list[str]) -> list[float]:
    if not isinstance(step, list) or len(step) != len(names):
        got = f"{len(step)} values" if isinstance(step, list) else f"a {type(step).__name__}"
        _refuse(
            ["body", "sequences", i, t],
            f"Sequence {i}, step {t} has {got}; each step needs {len(names)} values, one per "
            f"feature in this order: {', '.join(names)}.",
        )
    values = []
    for j, value in enumerate(step):
        kind = type(value)
        if value is None:
            values.append(np.nan)
        elif (kind is int or kind is float) and -FLOAT_MAX <= value <= FLOAT_MAX:
            values.append(float(value))
        else:
            problem = "is NaN or infinite" if kind is float else f"is {value!r}, not a number"
            _refuse(
                ["body", "sequences", i, t, names[j]],
                f"Sequence {i}, step {t}, feature {names[j]!r} {problem}; send a finite "
                "number, or null for a missing value.",
            )
    return values


def _refuse(loc: list[str | int], message: str) -> NoReturn:
    raise InvalidInput(message, errors=[field_error(loc, message)])
