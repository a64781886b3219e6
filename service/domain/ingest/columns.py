"""Typed feature columns and their summaries, built from whatever a reader parsed.

Every reader ends in one of two builders: ``numeric_column`` (float64, NaN for missing) or
``text_column`` (integer codes into distinct strings, -1 for missing). Working on the
distinct values rather than on every row keeps stripping, number detection and counting
cheap even for millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from service.domain.ingest.errors import DatasetFormatError

TOP_CATEGORIES = 10

# Spellings of "no value" that other tools write into numeric columns (R writes NA, pandas
# can write NaN). They count as missing only in a column whose other values are all numbers;
# in a text column "NA" stays a category (it may mean North America).
MISSING_TOKENS = ("na", "n/a", "#n/a", "nan", "-nan", "null", "none")


class Chunks:
    """A column's numbers as consecutive arrays (views of the parsed pieces' buffers),
    joined into one array only when read: a parsed upload holds no second copy of them."""

    def __init__(self, arrays: list[np.ndarray], dtype: np.dtype | type) -> None:
        self.arrays = arrays
        self.dtype = np.dtype(dtype)
        self.size = sum(int(array.size) for array in arrays)

    def astype(self, dtype: np.dtype | type, copy: bool = True) -> Chunks:
        if np.dtype(dtype) == self.dtype and not copy:
            return self
        return Chunks([array.astype(dtype) for array in self.arrays], dtype)

    def joined(self) -> np.ndarray:
        return np.concatenate(self.arrays) if self.arrays else np.empty(0, self.dtype)

    def release(self) -> None:
        """Let go of the arrays (their owner may hand the memory back)."""
        self.arrays = []


@dataclass(frozen=True)
class Column:
    """One parsed column: its values in the ParsedDataset form and its summary.

    A categorical column keeps only its sorted distinct labels and int32 codes into them
    (-1 = missing): storing it needs no second pass over every row, and its unicode array
    of every row (24 bytes a row for a 6-letter label) exists only while it is read.
    """

    name: str
    numbers: np.ndarray | Chunks | None  # None for a categorical column
    summary: dict[str, Any]
    labels: np.ndarray | None = None
    codes: np.ndarray | None = None

    @property
    def kind(self) -> str:
        """Return "numeric" or "categorical"."""
        return str(self.summary["kind"])

    @property
    def size(self) -> int:
        values = self.numbers if self.numbers is not None else self.codes
        assert values is not None
        return int(values.size)

    @property
    def values(self) -> np.ndarray:
        """Floats with NaN for missing, or a unicode array with '' for missing."""
        if isinstance(self.numbers, Chunks):
            return self.numbers.joined()
        if self.numbers is not None:
            return self.numbers
        assert self.labels is not None and self.codes is not None
        return np.append(self.labels, np.array([""], dtype=self.labels.dtype))[self.codes]

    def narrowed(self) -> Column:
        """The column with its numbers in float32 when they all fit (as stored and trained
        on), so a parsed data set holds half the memory."""
        numbers = self.numbers
        if numbers is None or numbers.dtype != np.float64:
            return self
        low, high = self.summary.get("min"), self.summary.get("max")
        limit = float(np.finfo(np.float32).max)
        if low is not None and high is not None and not -limit <= low <= high <= limit:
            return self
        return replace(self, numbers=numbers.astype(np.float32))


class FeatureColumns(Mapping[str, np.ndarray]):
    """Columns by name in file order; reading a categorical one decodes it."""

    def __init__(self, columns: list[Column]) -> None:
        self._columns = {column.name: column for column in columns}

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name].values

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def column(self, name: str) -> Column:
        return self._columns[name]

    def release(self, name: str) -> None:
        """Let go of a column's arrays (its name stays, so the order is kept)."""
        column = self._columns[name]
        self._columns[name] = Column(name, None, column.summary, column.labels, column.codes)
        if isinstance(column.numbers, Chunks):
            column.numbers.release()


def numeric_column(name: str, values: np.ndarray, first_row: int) -> Column:
    """Build a numeric column from floats with NaN for missing; refuse ±inf."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    missing = np.isnan(values)
    n_missing = int(np.count_nonzero(missing))
    if n_missing == values.size:
        return Column(name, values, numeric_summary(name, n_missing, None, None, 0.0, values.size))
    low, high = float(np.fmin.reduce(values)), float(np.fmax.reduce(values))  # NaN skipped
    if np.isinf(low) or np.isinf(high):
        index = int(np.argmax(np.isinf(values)))
        row = first_row + index
        sign = "" if values[index] > 0 else "-"
        raise DatasetFormatError(
            f"row {row}, column {name!r} holds a number too large for a 64-bit float "
            f"({sign}inf, or beyond ±1.8e308); use a finite number or leave the cell empty for "
            "missing",
            row=row,
            column=name,
        )
    total = np.add.reduce(values, where=~missing) if n_missing else np.add.reduce(values)
    return Column(name, values, numeric_summary(name, n_missing, low, high, total, values.size))


def numeric_summary(
    name: str, missing: int, low: float | None, high: float | None, total: float, count: int
) -> dict[str, Any]:
    """A numeric column's summary from its statistics (`total` sums the present values)."""
    summary: dict[str, Any] = {"name": name, "kind": "numeric", "missing": missing}
    if missing == count or low is None or high is None:
        summary.update(min=None, max=None, mean=None)
        return summary
    mean = float(total) / (count - missing)
    # 12 significant digits: the last bits of a sum depend on how the rows were split up
    # (pieces parsed in parallel), and a summary should not
    summary.update(
        min=low, max=high, mean=float(f"{mean:.12g}") if np.isfinite(mean) else None
    )  # (the sum of huge values overflows)
    return summary


def text_column(name: str, codes: np.ndarray, uniques: np.ndarray, first_row: int) -> Column:
    """Build a column from codes into distinct strings (-1 = missing).

    Values are stripped; a column whose non-missing values all read as numbers becomes
    numeric, any other becomes categorical with '' for missing.
    """
    uniques = np.char.strip(np.asarray(uniques, dtype=np.str_))
    codes = np.asarray(codes)  # int32 is enough and half the memory of intp
    numbers = _as_numbers(uniques)
    if numbers is not None:
        # Index -1 (missing) lands on the appended NaN.
        return numeric_column(name, np.append(numbers, np.nan)[codes], first_row)
    labels, inverse = np.unique(uniques, return_inverse=True)
    if labels.size and labels[0] == "":  # '' sorts first: a cell that held only spaces
        labels, inverse = labels[1:], inverse - 1
    codes = np.append(inverse, -1).astype(np.int32)[codes]
    present = codes >= 0
    counts = np.bincount(codes[present], minlength=labels.size)
    order = np.argsort(-counts, kind="stable")[: min(TOP_CATEGORIES, int((counts > 0).sum()))]
    summary = {
        "name": name,
        "kind": "categorical",
        "missing": int(codes.size - present.sum()),
        "categories": int((counts > 0).sum()),
        "top": [str(label) for label in labels[order]],
    }
    return Column(name, None, summary, labels, codes)


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
