"""Typed feature columns and their summaries, built from whatever a reader parsed.

Every reader ends in one of two builders: ``numeric_column`` (float64, NaN for missing) or
``text_column`` (integer codes into distinct strings, -1 for missing). Working on the
distinct values rather than on every row keeps stripping, number detection and counting
cheap even for millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from service.ingest.errors import DatasetFormatError

TOP_CATEGORIES = 10

# Spellings of "no value" that other tools write into numeric columns (R writes NA, pandas
# can write NaN). They count as missing only in a column whose other values are all numbers;
# in a text column "NA" stays a category (it may mean North America).
MISSING_TOKENS = ("na", "n/a", "#n/a", "nan", "-nan", "null", "none")


@dataclass(frozen=True)
class Column:
    """One parsed column: its values in the ParsedDataset form and its summary."""

    name: str
    values: np.ndarray
    summary: dict[str, Any]
    # categorical columns also keep their sorted distinct labels and int32 codes into them
    # (-1 = missing), so storing the column needs no second pass over every row
    labels: np.ndarray | None = None
    codes: np.ndarray | None = None

    @property
    def kind(self) -> str:
        """Return "numeric" or "categorical"."""
        return str(self.summary["kind"])


def numeric_column(name: str, values: np.ndarray, first_row: int) -> Column:
    """Build a numeric column from floats with NaN for missing; refuse ±inf."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    missing = np.isnan(values)
    n_missing = int(np.count_nonzero(missing))
    summary: dict[str, Any] = {"name": name, "kind": "numeric", "missing": n_missing}
    if n_missing == values.size:
        summary.update(min=None, max=None, mean=None)
        return Column(name, values, summary)
    low, high = float(np.fmin.reduce(values)), float(np.fmax.reduce(values))  # NaN skipped
    if np.isinf(low) or np.isinf(high):
        index = int(np.argmax(np.isinf(values)))
        row = first_row + index
        shown = "inf" if values[index] > 0 else "-inf"
        raise DatasetFormatError(
            f"row {row}, column {name!r} holds {shown}; "
            "use a finite number or leave the cell empty for missing",
            row=row,
            column=name,
        )
    total = np.add.reduce(values, where=~missing) if n_missing else np.add.reduce(values)
    mean = float(total) / (values.size - n_missing)
    # the sum of huge values overflows
    summary.update(min=low, max=high, mean=mean if np.isfinite(mean) else None)
    return Column(name, values, summary)


def text_column(name: str, codes: np.ndarray, uniques: np.ndarray, first_row: int) -> Column:
    """Build a column from codes into distinct strings (-1 = missing).

    Values are stripped; a column whose non-missing values all read as numbers becomes
    numeric, any other becomes categorical with '' for missing.
    """
    uniques = np.char.strip(np.asarray(uniques, dtype=np.str_))
    codes = np.asarray(codes, dtype=np.intp)
    numbers = _as_numbers(uniques)
    if numbers is not None:
        # Index -1 (missing) lands on the appended NaN.
        return numeric_column(name, np.append(numbers, np.nan)[codes], first_row)
    labels, inverse = np.unique(uniques, return_inverse=True)
    if labels.size and labels[0] == "":  # '' sorts first: a cell that held only spaces
        labels, inverse = labels[1:], inverse - 1
    codes = np.append(inverse, -1)[codes]
    present = codes >= 0
    counts = np.bincount(codes[present], minlength=labels.size)
    order = np.argsort(-counts, kind="stable")[: min(TOP_CATEGORIES, int((counts > 0).sum()))]
    values = np.append(labels, np.array([""], dtype=labels.dtype))[codes]
    summary = {
        "name": name,
        "kind": "categorical",
        "missing": int(codes.size - present.sum()),
        "categories": int((counts > 0).sum()),
        "top": [str(label) for label in labels[order]],
    }
    return Column(name, values, summary, labels, codes.astype(np.int32))


def _as_numbers(uniques: np.ndarray) -> np.ndarray | None:
    """Return the distinct strings as floats (NaN for missing), or None if any is text."""
    missing = (uniques == "") | np.isin(np.char.lower(uniques), MISSING_TOKENS)
    numbers = np.full(uniques.shape, np.nan)
    if not missing.all():
        try:
            numbers[~missing] = uniques[~missing].astype(np.float64)
        except (ValueError, OverflowError):
            return None
    return numbers
