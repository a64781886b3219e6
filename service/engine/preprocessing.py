"""Feature preprocessing fitted on the training rows only and stored with the model.

Numeric columns are scaled with one fused affine map, `x' = x * scale + offset`, where
`standardize` uses the training mean and standard deviation, `normalize` the training minimum
and range (to [0, 1]) and `none` the identity; a constant column gets scale 1. Missing values
(NaN) are imputed with the training mean, i.e. replaced by `fill = mean * scale + offset`.

Categorical columns are one-hot encoded over the categories seen in training (sorted); a
value not seen in training becomes all zeros; when training had missing values, "missing"
is its own indicator column after the categories (otherwise missing is all zeros too).

The model's input layout: the numeric columns in column order, then each categorical
column's one-hot block, in column order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import CATEGORICAL, Table
from .errors import InputError
from .spec import LIMITS

CHUNK_ROWS = 4096
STATS_CHUNK_ROWS = 1024
STATS_CHUNK_CELLS = 1 << 20  # values per chunk of the statistics: 8 MB of float64
MAX_CATEGORIES = LIMITS["max_categories"]


class Preprocessor:
    """Scale and impute numeric columns, one-hot encode categorical ones."""

    def __init__(self, names, kinds, mean, scale, offset, categories, missing_indicator):
        self.names: list[str] = list(names)
        self.kinds: list[str] = list(kinds)
        self.mean = np.asarray(mean, np.float64)  # (n_numeric,) imputation values, raw units
        self.scale = np.asarray(scale, np.float64)  # (n_numeric,)
        self.offset = np.asarray(offset, np.float64)  # (n_numeric,)
        self.fill = self.mean * self.scale + self.offset  # (n_numeric,) transformed mean
        self.categories: dict[int, list[str]] = categories  # column index -> categories
        self.missing_indicator: dict[int, bool] = missing_indicator
        self.n_numeric = len(self.mean)
        widths = [len(categories[i]) + missing_indicator[i] for i in sorted(categories)]
        self.n_inputs = self.n_numeric + sum(widths)
        self._lookup = {i: {c: k for k, c in enumerate(cats)} for i, cats in categories.items()}

    @classmethod
    def fit(cls, table: Table, rows: np.ndarray, scaling: str) -> Preprocessor:
        """Learn the parameters from `table` restricted to `rows` (the training split)."""
        mean, low, high, std = _numeric_stats(table, _as_slice(rows), scaling)
        if scaling == "standardize":
            scale = 1.0 / np.where(std > 0, std, 1.0)
            offset = -mean * scale
        elif scaling == "normalize":
            span = high - low
            scale = 1.0 / np.where(span > 0, span, 1.0)
            offset = -low * scale
        else:
            scale, offset = np.ones_like(mean), np.zeros_like(mean)
        categories, missing = {}, {}
        for i, kind in enumerate(table.kinds):
            if kind != CATEGORICAL:
                continue
            values = table.columns[i][rows]
            seen = np.unique(values)
            cats = [str(c) for c in seen if c != ""]
            if len(cats) > MAX_CATEGORIES:
                raise InputError(
                    f"Feature {table.names[i]!r} has {len(cats)} distinct values; at most "
                    f"{MAX_CATEGORIES} categories are supported, so drop or group it.",
                    feature=table.names[i],
                )
            categories[i], missing[i] = cats, bool(len(seen) and seen[0] == "")
        return cls(table.names, table.kinds, mean, scale, offset, categories, missing)

    def transform(self, table: Table, rows: np.ndarray | None = None, out=None, dtype=np.float32):
        """Model inputs for `rows` of `table` (all rows if None): `(n, n_inputs)`."""
        if rows is None:
            rows = np.arange(table.n_rows)
        identity = not (np.any(self.scale != 1) or np.any(self.offset != 0))
        picked = _as_slice(rows)
        if out is None and identity and not self.categories and isinstance(picked, slice):
            view = _unchanged(table, picked, np.dtype(dtype))
            if view is not None:
                return view
        if out is None:
            out = np.empty((len(rows), self.n_inputs), dtype)
        scale, offset, fill = (v.astype(out.dtype) for v in (self.scale, self.offset, self.fill))
        for start in range(0, len(rows), CHUNK_ROWS):
            part = _part(picked, start, start + CHUNK_ROWS)
            block = out[start : start + CHUNK_ROWS, : self.n_numeric]
            block[...] = table.numeric_rows(part)
            if not identity:
                block *= scale
                block += offset
            if not np.isfinite(np.add.reduce(block, axis=None)):  # NaN somewhere, most likely
                missing = np.isnan(block)
                np.copyto(block, np.broadcast_to(fill, block.shape), where=missing)
        at = self.n_numeric
        for i in sorted(self.categories):
            width = len(self.categories[i]) + self.missing_indicator[i]
            self._one_hot(i, table.columns[i][rows], out[:, at : at + width])
            at += width
        return out

    def _one_hot(self, i: int, values: np.ndarray, block: np.ndarray) -> None:
        block[...] = 0
        lookup = self._lookup[i]
        n_cats = len(self.categories[i])
        uniq, inverse = np.unique(values, return_inverse=True)
        code = np.array([lookup.get(str(u), -1) for u in uniq], dtype=np.int64)
        if self.missing_indicator[i]:
            code[uniq == ""] = n_cats
        cols = code[inverse.reshape(-1)]
        hit = cols >= 0
        block[np.flatnonzero(hit), cols[hit]] = 1

    def arrays(self) -> dict[str, np.ndarray]:
        """The numeric parameters as named arrays (for `.npz` storage)."""
        return {"mean": self.mean, "scale": self.scale, "offset": self.offset}

    def metadata(self) -> list[dict[str, Any]]:
        """Per-feature JSON: name, kind, and for categorical ones categories + missing flag."""
        out: list[dict[str, Any]] = []
        for i, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            item: dict[str, Any] = {"name": name, "kind": kind}
            if kind == CATEGORICAL:
                item["categories"] = list(self.categories[i])
                item["missing_indicator"] = self.missing_indicator[i]
            out.append(item)
        return out

    @classmethod
    def restore(cls, features: list[dict], arrays: dict[str, np.ndarray]) -> Preprocessor:
        """Rebuild from `metadata()` and `arrays()`."""
        names = [f["name"] for f in features]
        kinds = [f["kind"] for f in features]
        cats = {
            i: list(f["categories"]) for i, f in enumerate(features) if f["kind"] == CATEGORICAL
        }
        missing = {i: bool(features[i]["missing_indicator"]) for i in cats}
        return cls(names, kinds, arrays["mean"], arrays["scale"], arrays["offset"], cats, missing)


def _as_slice(rows: np.ndarray) -> np.ndarray | slice:
    """`rows` as a slice when they are consecutive (no validation split): views, not copies."""
    n = len(rows)
    if n and rows[0] + n - 1 == rows[-1] and (n < 3 or bool(np.all(np.diff(rows) == 1))):
        return slice(int(rows[0]), int(rows[0]) + n)
    return rows


def _unchanged(table: Table, rows: slice, dtype: np.dtype) -> np.ndarray | None:
    """The table's own rows when preprocessing would copy them unchanged (read-only view)."""
    matrix = table.matrix
    if matrix is None or matrix.dtype != dtype or not matrix.flags.c_contiguous:
        return None
    view = matrix[rows]
    known_finite = table.column_sums is not None  # read_table summed every column
    if not known_finite and not np.isfinite(np.add.reduce(view, axis=None)):  # NaN to impute
        return None
    view = view.view()
    view.flags.writeable = False
    return view


def _part(rows: np.ndarray | slice, start: int, stop: int) -> np.ndarray | slice:
    if isinstance(rows, slice):
        return slice(rows.start + start, min(rows.start + stop, rows.stop))
    return rows[start:stop]


def _numeric_stats(table: Table, rows: np.ndarray | slice, scaling: str = "standardize"):
    """Mean, min, max and standard deviation of each numeric column over `rows`, NaN-aware.

    Chunked, merging per-chunk means and squared deviations (Chan et al.), so memory stays
    bounded by one chunk. Only what `scaling` uses is computed (the mean always, for
    imputation); the others come back as zeros. A chunk without NaN takes the direct path.
    """
    k = len(table.numeric_indices())
    n_rows = len(range(table.n_rows)[rows]) if isinstance(rows, slice) else len(rows)
    want_std, want_range = scaling == "standardize", scaling == "normalize"
    sums = table.column_sums
    if scaling == "none" and sums is not None and n_rows == table.n_rows and n_rows:
        # every row, all finite: the mean (for imputation) is what reading the table summed
        return sums / n_rows, np.zeros(k), np.zeros(k), np.zeros(k)
    count, mean, m2 = np.zeros(k), np.zeros(k), np.zeros(k)
    low, high = np.full(k, np.inf), np.full(k, -np.inf)
    step = max(STATS_CHUNK_ROWS, STATS_CHUNK_CELLS // max(k, 1))
    for start in range(0, n_rows, step):
        block = table.numeric_rows(_part(rows, start, start + step))
        total_sum = np.add.reduce(block, axis=0, dtype=np.float64)
        if np.isfinite(total_sum).all():  # no NaN in this chunk
            n = np.full(k, float(len(block)))
            bmean = total_sum / len(block)
            bm2 = _squared_deviations(block, bmean) if want_std else 0.0
            if want_range:
                blow, bhigh = block.min(axis=0), block.max(axis=0)
        else:
            block = block.astype(np.float64)
            ok = ~np.isnan(block)
            n = ok.sum(axis=0)
            filled = np.where(ok, block, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                bmean = np.where(n > 0, filled.sum(axis=0) / n, 0.0)
            dev = np.where(ok, block - bmean, 0.0)
            bm2 = (dev * dev).sum(axis=0)
            blow = np.where(ok, block, np.inf).min(axis=0)
            bhigh = np.where(ok, block, -np.inf).max(axis=0)
        total = count + n
        safe = np.where(total > 0, total, 1)
        delta = bmean - mean
        mean = mean + delta * n / safe
        m2 = m2 + bm2 + delta * delta * count * n / safe
        count = total
        if want_range:
            low, high = np.fmin(low, blow), np.fmax(high, bhigh)
    empty = count == 0
    mean[empty] = 0.0
    if not want_range:
        low, high = np.zeros(k), np.zeros(k)
    low[empty], high[empty] = 0.0, 0.0
    std = np.sqrt(m2 / np.where(count > 0, count, 1))
    return mean, low, high, std


def _squared_deviations(block: np.ndarray, mean: np.ndarray) -> np.ndarray:
    dev = block - mean
    return np.einsum("ij,ij->j", dev, dev)
