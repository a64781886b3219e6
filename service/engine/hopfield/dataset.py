"""A stored data set as Hopfield patterns: every column, the target last, each 0/1 or -1/+1.

`check_summaries` refuses at submission, from the upload's column summaries alone, what can
never be a pattern table (text columns, missing values, values outside -1..1, 0s in one
column and -1s in another); `patterns_from_table` then builds the table from the columns,
and `HopfieldModel.store` checks every value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

BINARY_VALUES = {-1.0, 0.0, 1.0}


def check_summaries(features: list[dict[str, Any]], target: dict[str, Any]) -> None:
    """Raise `InputError` naming the first column that cannot hold 0/1 or -1/+1 values."""
    lows: dict[float, str] = {}
    for summary in [*features, target]:
        name = summary["name"]
        if summary.get("kind") != "numeric":
            raise InputError(_text(name), feature=name)
        if summary.get("missing"):
            raise InputError(
                f"Column {name!r} has {summary['missing']} missing values; a Hopfield pattern "
                "needs a 0/1 or -1/+1 value in every column of every row.",
                feature=name,
            )
        values = summary.get("classes") if "classes" in summary else _range(summary)
        if values is None or not set(map(float, values)) <= BINARY_VALUES:
            shown = "" if values is None else f" (from {min(values):g} to {max(values):g})"
            raise InputError(
                f"Column {name!r} holds values other than 0/1 or -1/+1{shown}; every value "
                "of a Hopfield pattern must be 0 or 1, or -1 or +1.",
                feature=name,
            )
        low = min(map(float, values))
        lows.setdefault(low, name)
        if -1.0 in lows and 0.0 in lows:
            raise InputError(
                f"Column {lows[0.0]!r} holds 0s and column {lows[-1.0]!r} -1s; use 0/1 or "
                "-1/+1 throughout, not both.",
                feature=name,
            )


def patterns_from_table(
    columns: dict[str, np.ndarray],
    target: np.ndarray,
    features: list[dict[str, Any]],
    target_name: str,
) -> tuple[np.ndarray, list[str]]:
    """The data set's rows as a pattern table `(rows, columns + 1)` float64, target last."""
    names = [feature["name"] for feature in features]
    for feature in features:
        if feature["kind"] != "numeric" or columns[feature["name"]].dtype.kind != "f":
            raise InputError(_text(feature["name"]), feature=feature["name"])
    if np.asarray(target).dtype.kind not in "biuf":
        raise InputError(_text(target_name), feature=target_name)
    table = np.empty((len(target), len(names) + 1))
    for j, name in enumerate(names):
        table[:, j] = columns[name]
    table[:, -1] = target
    return table, [*names, target_name]


def _range(summary: dict[str, Any]) -> list[float] | None:
    """What a numeric column's summary shows of its values: its min and max."""
    low, high = summary.get("min"), summary.get("max")
    return None if low is None or high is None else [float(low), float(high)]


def _text(name: str) -> str:
    return (
        f"Column {name!r} holds text; a Hopfield pattern takes numbers only, each 0 or 1, or "
        "-1 or +1."
    )
