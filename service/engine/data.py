"""Reading raw feature values into a `Table` of typed columns.

Accepted forms of `X`: a 2-D numeric array (NaN = missing); a 2-D array-like of rows holding
numbers, strings and None/NaN; a `dict` of equal-length 1-D columns in column order; rows
given as dicts keyed by feature name (when the names are known). Numeric columns become
float64 with NaN for missing; categorical columns become unicode arrays with `''` for
missing. ±inf and non-numeric text in a numeric column are `InputError`s naming the row and
the feature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError

NUMERIC, CATEGORICAL = "numeric", "categorical"
SUM_ROWS = 1024  # rows per piece of `column_sums`


@dataclass
class Table:
    """Columns of one data set: `numeric[j]` is `(n_rows,)` float64, `categorical[j]` str."""

    names: list[str]
    kinds: list[str]
    n_rows: int
    matrix: np.ndarray | None = None  # (n_rows, n_features) when every column is numeric
    columns: dict[int, np.ndarray] = field(default_factory=dict)
    # float64 sums of the matrix's columns, known when every value is finite (no NaN)
    column_sums: np.ndarray | None = None

    def numeric_indices(self) -> list[int]:
        """Indices of the numeric columns, in column order."""
        return [i for i, kind in enumerate(self.kinds) if kind == NUMERIC]

    def numeric_rows(self, rows: np.ndarray | slice) -> np.ndarray:
        """The numeric columns at `rows`, `(len(rows), n_numeric)` (a copy)."""
        if self.matrix is not None:
            return np.asarray(self.matrix[rows])
        cols = [self.columns[i][rows] for i in self.numeric_indices()]
        if not cols:
            return np.empty((len(np.arange(self.n_rows)[rows]), 0))
        return np.stack(cols, axis=1)


def read_table(X: Any, features: list[dict] | None = None, *, fixed: bool = False) -> Table:
    """Parse `X`; `features` gives names and kinds (`fixed`: they must match exactly)."""
    names = [str(f["name"]) for f in features] if features else None
    kinds = [f.get("kind") for f in features] if features else None
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # a data frame, without importing one
        X = {str(name): X[name].to_numpy() for name in X.columns}
    if isinstance(X, dict):
        return _from_columns(X, names, kinds, fixed)
    if isinstance(X, np.ndarray) and X.dtype.kind in "fiub" and X.ndim == 2:
        return _from_matrix(X, names, kinds, fixed)
    rows = list(X) if not isinstance(X, np.ndarray) else X
    if len(rows) and isinstance(rows[0], dict):
        if names is None:
            names = [str(k) for k in rows[0]]
        rows = _records_to_rows(list(rows), names)
    grid = _grid(rows, names)
    if kinds is None or NUMERIC in kinds or None in kinds:
        try:
            matrix = np.array(grid, dtype=np.float64)
        except (TypeError, ValueError):
            matrix = None
        if matrix is not None and (kinds is None or all(k == NUMERIC for k in kinds)):
            return _from_matrix(matrix, names, kinds, fixed)
    columns = {i: grid[:, i] for i in range(grid.shape[1])}
    return _from_columns(columns, names, kinds, fixed, keyed=False)


def _records_to_rows(records: list, names: list[str]) -> list[list]:
    known = set(names)
    rows = []
    for r, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputError(f"Row {r} is not a record like the rows before it.", row=r)
        for key in record:
            if key not in known:
                raise InputError(
                    f"Row {r} has an unknown feature {key!r}; the features are: "
                    f"{', '.join(names)}.",
                    row=r,
                    feature=str(key),
                )
        rows.append([record.get(name) for name in names])
    return rows


def _grid(rows: Any, names: list[str] | None) -> np.ndarray:
    if len(rows) == 0:
        raise InputError("The input has no rows; send at least one row of feature values.")
    grid = np.empty(0)
    if isinstance(rows, np.ndarray) and rows.ndim == 2:
        grid = rows.astype(object)
    elif isinstance(rows, np.ndarray) and rows.ndim == 1 and rows.dtype != object:
        grid = rows.astype(object)[None, :]
    else:
        width = None
        for r, row in enumerate(rows):
            if isinstance(row, str | bytes) or not hasattr(row, "__len__"):
                if r == 0 and names is not None:
                    return _grid([list(rows)], names)  # one flat row
                raise InputError(f"Row {r} is not a list of feature values.", row=r)
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise InputError(
                    f"Row {r} has {len(row)} values but row 0 has {width}; every row needs "
                    "one value per feature.",
                    row=r,
                )
        grid = np.empty((len(rows), width or 0), dtype=object)
        for r, row in enumerate(rows):
            grid[r, :] = list(row)
    return grid


def _check_width(width: int, names: list[str] | None, fixed: bool) -> None:
    if names is not None and width != len(names):
        raise InputError(
            f"Each row has {width} values but there are {len(names)} features "
            f"({', '.join(names[:10])}{', …' if len(names) > 10 else ''}); send one value per "
            "feature, in order.",
            row=0 if fixed else None,
        )


def _from_matrix(M: np.ndarray, names, kinds, fixed: bool) -> Table:
    if M.shape[0] == 0:
        raise InputError("The input has no rows; send at least one row of feature values.")
    _check_width(M.shape[1], names, fixed)
    names = names or [f"x{i}" for i in range(M.shape[1])]
    if M.dtype.kind != "f":
        M = M.astype(np.float64)
    # One pass serves the finiteness check, the mean of the statistics and the test for
    # values to impute (`preprocessing`): sums that are all finite mean no NaN and no inf.
    summed = column_sums(M)
    sums = summed if np.isfinite(np.add.reduce(summed)) else None
    if sums is None:
        _check_finite(M, names)  # names an infinite cell; NaN is a missing value
    if kinds is None or all(k in (NUMERIC, None) for k in kinds):
        return Table(names, [NUMERIC] * len(names), M.shape[0], matrix=M, column_sums=sums)
    columns = {i: M[:, i] for i in range(M.shape[1])}
    return _from_columns(columns, names, kinds, fixed, keyed=False)


def _from_columns(cols: dict, names, kinds, fixed: bool, keyed: bool = True) -> Table:
    values = [np.asarray(c) for c in cols.values()]
    if keyed:
        given = [str(k) for k in cols]
        if names is not None and fixed and set(given) == set(names):
            by_name = dict(zip(given, values, strict=True))
            given, values = list(names), [by_name[n] for n in names]
        if names is not None and fixed and given != names:
            missing = [n for n in names if n not in given]
            extra = [n for n in given if n not in names]
            what = f"an unknown feature {extra[0]!r}" if extra else f"no {missing[0]!r} feature"
            feature = extra[0] if extra else (missing[0] if missing else None)
            raise InputError(
                f"The input has {what}; send every feature of the model: {', '.join(names)}.",
                feature=feature,
            )
        names = names or given
    _check_width(len(values), names, fixed)
    names = names or [f"x{i}" for i in range(len(values))]
    if not values or len(values[0]) == 0:
        raise InputError("The input has no rows; send at least one row of feature values.")
    n = len(values[0])
    table = Table(list(names), [], n)
    for i, (name, col) in enumerate(zip(names, values, strict=True)):
        if col.ndim != 1 or len(col) != n:
            raise InputError(f"Column {name!r} does not have {n} values like the first.",
                             feature=name)  # fmt: skip
        kind = kinds[i] if kinds else None
        kind, parsed = _parse_column(col, name, kind)
        table.kinds.append(kind)
        table.columns[i] = parsed
    return table


def _parse_column(col: np.ndarray, name: str, kind: str | None) -> tuple[str, np.ndarray]:
    if kind == CATEGORICAL:
        return CATEGORICAL, category_strings(col)
    parsed: np.ndarray | None
    if col.dtype.kind in "fiub":
        parsed = col.astype(np.float64)
        _check_finite(parsed[:, None], [name])
        return NUMERIC, parsed
    try:
        parsed = np.array(col, dtype=np.float64)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        parsed, bad_row = _floats(col)
        if bad_row is not None:
            if kind == NUMERIC:
                raise InputError(
                    f"Row {bad_row}, feature {name!r}: {col[bad_row]!r} is not a number; this "
                    "feature is numeric (leave the value empty if it is missing).",
                    row=bad_row,
                    feature=name,
                )
            return CATEGORICAL, category_strings(col)
    _check_finite(parsed[:, None], [name])
    return NUMERIC, parsed


def _floats(col: np.ndarray) -> tuple[np.ndarray, int | None]:
    out = np.empty(len(col))
    for r, v in enumerate(col):
        if v is None or (isinstance(v, str) and v.strip() == ""):
            out[r] = math.nan
            continue
        try:
            out[r] = float(v)
        except (TypeError, ValueError):
            return out, r
    return out, None


def column_sums(M: np.ndarray, chunk: int = SUM_ROWS) -> np.ndarray:
    """Each column's sum `(n_columns,)` in float64, of pieces of `chunk` rows summed in the
    matrix's dtype (a float32 piece that overflows gives inf, as a NaN or inf value does)."""
    sums = np.zeros(M.shape[1])
    for start in range(0, len(M), chunk):
        sums += np.add.reduce(M[start : start + chunk], axis=0)
    return sums


def _check_finite(M: np.ndarray, names: list[str], chunk: int = 8192) -> None:
    for start in range(0, len(M), chunk):
        bad = np.isinf(M[start : start + chunk])
        if bad.any():
            r, c = np.argwhere(bad)[0]
            _infinite(int(r) + start, names[c])


def _infinite(r: int, name: str) -> None:
    raise InputError(
        f"Row {r}, feature {name!r} is infinite; send a finite number, or leave the "
        "value empty if it is missing.",
        row=r,
        feature=name,
    )


def category_strings(col: Any) -> np.ndarray:
    """Categorical values as a unicode array, with `''` for missing (None, NaN, '')."""
    col = np.asarray(col)
    if col.dtype.kind == "U":
        return col
    if col.dtype.kind == "S":
        return col.astype(str)
    return np.array([category_text(v) for v in col.tolist()], dtype=str)


def category_text(value: Any) -> str:
    """One category as text: integers without `.0`, missing as `''`."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value)
