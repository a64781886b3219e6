"""Patterns in and out: 2-D arrays of 0/1 or -1/+1 values, held as -1/+1 `int8` inside.

A data set uses one encoding throughout: `binary` (0/1) or `bipolar` (-1/+1). The encoding is
inferred from the first 0 or -1 met in row-major order (all-ones data counts as bipolar) unless
it is given; a value of the other encoding, or any other value, is refused with an `InputError`
naming the first offending row and column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

BINARY = "binary"
BIPOLAR = "bipolar"
ENCODINGS = {BINARY: (0, 1), BIPOLAR: (-1, 1)}
SPELLED = {BINARY: "0 or 1", BIPOLAR: "-1 or +1"}


def read_patterns(
    data: Any,
    *,
    encoding: str | None = None,
    names: list[str] | None = None,
    single_row: bool = False,
) -> tuple[np.ndarray, str]:
    """Patterns `(n, units)` as -1/+1 `int8`, and their encoding; `single_row` takes a flat row."""
    if encoding is not None and encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}.")
    values = _matrix(data, single_row)
    if names is not None and len(names) != values.shape[1]:
        raise InputError(
            f"Each pattern has {values.shape[1]} values but the network has {len(names)} units; "
            "send one value per unit, in order.",
            row=0,
        )
    names = names or [f"x{j}" for j in range(values.shape[1])]
    _check_binary(values, names)
    encoding = encoding or _infer(values, names)
    _check_encoding(values, encoding, names)
    if encoding == BINARY:
        return (2 * values - 1).astype(np.int8), encoding
    return values.astype(np.int8), encoding


def encode(states: np.ndarray, encoding: str) -> np.ndarray:
    """-1/+1 states → `int64` values in `encoding`."""
    states = states.astype(np.int64)
    return (states + 1) // 2 if encoding == BINARY else states


def _matrix(data: Any, single_row: bool) -> np.ndarray:
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        values = data
    else:
        values = _numeric_array(data)
    if values.ndim == 1 and single_row:
        values = values[None, :]
    if values.size == 0:
        raise InputError("There are no patterns; send at least one row with at least one value.")
    if values.ndim != 2:
        raise InputError(
            f"The patterns must be a table (a list of rows of values), not a {values.ndim}-D array."
        )
    return values.astype(np.float64, copy=False)


def _numeric_array(data: Any) -> np.ndarray:
    """Nested lists → a numeric array, or an `InputError` at the first ragged row or text cell."""
    try:
        values = np.asarray(data)
    except ValueError:
        values = np.empty(0, dtype=object)  # ragged: located below
    if values.dtype.kind in "biuf":
        return values
    if not isinstance(data, list | tuple | np.ndarray):
        raise InputError(f"The patterns must be a list of rows, not {type(data).__name__}.")
    width = None
    for r, row in enumerate(data):
        if not isinstance(row, list | tuple | np.ndarray):
            raise InputError(f"Pattern row {r} is not a list of values.", row=r)
        width = len(row) if width is None else width
        if len(row) != width:
            raise InputError(
                f"Pattern row {r} has {len(row)} values but row 0 has {width}; every pattern "
                "needs one value per unit.",
                row=r,
            )
        for c, value in enumerate(row):
            if isinstance(value, str) or not isinstance(value, int | float | np.number):
                raise InputError(
                    f"Pattern row {r}, column {c}: {value!r} is not a number; every value must "
                    "be 0 or 1, or -1 or +1.",
                    row=r,
                    feature=f"x{c}",
                )
    return np.asarray(data, dtype=np.float64)


def _check_binary(values: np.ndarray, names: list[str]) -> None:
    valid = (values == 1) | (values == 0) | (values == -1)
    if valid.all():
        return
    r, c = np.unravel_index(int(np.argmin(valid)), values.shape)
    raise InputError(
        f"Pattern row {r}, column {c} ({names[c]!r}) is {values[r, c]:g}; every value of a "
        "Hopfield pattern must be 0 or 1, or -1 or +1.",
        row=int(r),
        feature=names[c],
    )


def _infer(values: np.ndarray, names: list[str]) -> str:
    flat = values.ravel()
    zeros, minus = np.flatnonzero(flat == 0), np.flatnonzero(flat == -1)
    if zeros.size and minus.size:
        first, other = (zeros[0], minus[0]) if zeros[0] < minus[0] else (minus[0], zeros[0])
        r0, c0 = np.unravel_index(int(first), values.shape)
        r, c = np.unravel_index(int(other), values.shape)
        raise InputError(
            f"Pattern row {r}, column {c} ({names[c]!r}) is {flat[other]:g} but row {r0}, column "
            f"{c0} is {flat[first]:g}; use 0/1 or -1/+1 throughout, not both.",
            row=int(r),
            feature=names[c],
        )
    return BINARY if zeros.size else BIPOLAR


def _check_encoding(values: np.ndarray, encoding: str, names: list[str]) -> None:
    low, _ = ENCODINGS[encoding]
    wrong = values == (-1 if low == 0 else 0)
    if not wrong.any():
        return
    r, c = np.unravel_index(int(np.argmax(wrong)), values.shape)
    raise InputError(
        f"Pattern row {r}, column {c} ({names[c]!r}) is {values[r, c]:g}, but this network's "
        f"patterns are {encoding} ({SPELLED[encoding]}); send {SPELLED[encoding]} only.",
        row=int(r),
        feature=names[c],
    )
