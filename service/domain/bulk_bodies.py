"""Predict bodies besides JSON, for bulk numeric rows: CSV with a header row, NumPy `.npy`.

Both carry what `inputs` carries, one row per prediction, and are answered in the same JSON
shape. A CSV body reads like an uploaded file: a header row naming every feature of the model
(in any order; a column the model does not have is refused), then one row per prediction; an
empty cell or NA/N/A/NaN/null/None is a missing value. A `.npy` body is a 1-D (one row) or
2-D numeric array with the features in the model's order, read with `allow_pickle=False`;
NaN is a missing value. A cell that cannot be used gets the same 422 as in JSON, with
`loc` `["body", "inputs", row, feature]`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from service.core.errors import InvalidInput, field_error
from service.domain.ingest.columns import MISSING_TOKENS
from service.domain.ingest.npy import NpyError, npy_array
from service.engine import Model

CSV_TYPE = "text/csv"
NPY_TYPE = "application/x-npy"
BULK_TYPES = (CSV_TYPE, NPY_TYPE)
ARROW_CSV_BYTES = 4096  # a smaller CSV body is read by the csv module
# the missing-value cells Arrow is to see as null: the ingest's tokens in their usual cases
NULL_CELLS = sorted(
    {"", "NaN", *(v for t in MISSING_TOKENS for v in (t, t.upper(), t.capitalize()))}
)


@dataclass
class BulkBody:
    """The rows of a CSV or `.npy` body, before they meet a model."""

    kind: str  # "csv" or "npy"
    values: np.ndarray  # (rows, columns): numbers, or a CSV's text cells
    names: list[str] | None = None  # the CSV header
    body: bytes = b""  # a CSV read as numbers, to read again as text for categorical features

    def __len__(self) -> int:
        return len(self.values)


def read_bulk_body(body: bytes, media_type: str) -> BulkBody:
    """Parse a `text/csv` or `application/x-npy` body; `InvalidInput` names what is wrong."""
    return _read_csv(body) if media_type == CSV_TYPE else _read_npy(body)


def bulk_rows(model: Model, bulk: BulkBody) -> np.ndarray:
    """The body's rows in the model's feature order, as numbers where the model is numeric."""
    if bulk.kind == "npy":
        categorical = [f["name"] for f in model.features if f["kind"] != "numeric"]
        if categorical:
            raise _invalid(
                f"This model has categorical features ({', '.join(map(str, categorical))}), "
                "which a .npy array cannot carry; send the rows as CSV or JSON."
            )
        return bulk.values
    assert bulk.names is not None
    names, wanted = bulk.names, [str(name) for name in model.feature_names]
    unknown = [name for name in names if name not in wanted]
    if unknown:
        raise _invalid(
            f"The CSV header has a column {unknown[0]!r} the model does not have; its features "
            f"are {', '.join(wanted)}.",
            ["body", "inputs", unknown[0]],
        )
    missing = [name for name in wanted if name not in names]
    if missing:
        raise _invalid(
            f"The CSV header has no column {missing[0]!r}; send one column per feature of the "
            f"model: {', '.join(wanted)}.",
            ["body", "inputs", missing[0]],
        )
    numeric = all(f["kind"] == "numeric" for f in model.features)
    if bulk.values.dtype.kind == "f":
        if numeric:
            return bulk.values[:, [names.index(name) for name in wanted]]
        bulk = _read_csv_cells(bulk.body)  # a categorical feature written as numbers
    cells = bulk.values[:, [names.index(name) for name in wanted]]
    if numeric:
        try:
            return cells.astype(np.float64)  # plain numbers: the usual case, in one pass
        except ValueError:
            pass  # an empty or NA cell, or text
    blank = np.isin(np.char.lower(np.char.strip(cells)), ("", *MISSING_TOKENS))
    cells = np.where(blank, "nan" if numeric else "", cells)  # (wide enough for "nan")
    if numeric:
        try:
            return cells.astype(np.float64)  # NaN is missing, as a JSON null
        except ValueError:
            pass  # text in a numeric column: the engine names the row and feature
    return cells


def _read_csv(body: bytes) -> BulkBody:
    """Arrow for a CSV of any size; the careful reader, which Arrow's answers match, for a
    few rows, where Arrow's set-up (about 1.5 ms) costs ten times the reading."""
    numbers = _numbers_only_csv(body) if len(body) > ARROW_CSV_BYTES else None
    return numbers if numbers is not None else _read_csv_cells(body)


def _numbers_only_csv(body: bytes) -> BulkBody | None:
    """A CSV of numbers (and empty/NA cells) read by Arrow in one pass, as a float matrix;
    None for anything else, which the careful reader below reads and names what is wrong."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body.removeprefix(b"\xef\xbb\xbf")),
            read_options=pa_csv.ReadOptions(use_threads=False),
            convert_options=pa_csv.ConvertOptions(null_values=NULL_CELLS),
        )
        names = [name.strip() for name in table.column_names]  # may not be UTF-8
    except (pa.ArrowException, UnicodeDecodeError, ValueError):
        return None  # the careful reader says what is wrong
    numeric = all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types)
    if not numeric or not table.num_rows or len(set(names)) != len(names):
        return None
    values = np.empty((table.num_rows, len(names)))
    for j, column in enumerate(table.columns):
        values[:, j] = column.to_numpy(zero_copy_only=False)  # nulls become NaN
    return BulkBody("csv", values, names, body)


def _read_csv_cells(body: bytes) -> BulkBody:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"The CSV body is not UTF-8 text (byte {exc.start} cannot be read)."
        raise _invalid(message) from None
    reader = csv.reader(io.StringIO(text))
    try:
        lines = [line for line in reader if line]
    except csv.Error as exc:
        raise _invalid(f"The CSV body cannot be read at line {reader.line_num}: {exc}.") from None
    if not lines:
        raise _invalid(
            "The CSV body is empty; send a header row of feature names, then one row per "
            "prediction."
        )
    names = [name.strip() for name in lines[0]]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _invalid(
            f"The CSV header names {repeated[0]!r} more than once; name each feature once.",
            ["body", "inputs", repeated[0]],
        )
    rows = lines[1:]
    if not rows:
        raise _invalid(
            "The CSV body has a header row but no rows; send at least one row.",
            ["body", "inputs"],
        )
    for i, row in enumerate(rows):
        if len(row) != len(names):
            raise _invalid(
                f"Row {i} has {len(row)} values but the header has {len(names)} columns; "
                "send one value per column (an empty value for a missing one).",
                ["body", "inputs", i],
            )
    return BulkBody("csv", np.array(rows, dtype=str).reshape(len(rows), len(names)), names)


def _read_npy(body: bytes) -> BulkBody:
    """The array of a `.npy` body, its values used in place; an object dtype is refused from
    the header alone, before anything else is read."""
    if body.startswith(b"PK"):  # a zip archive: what numpy.savez writes
        raise _invalid("The body is not a single NumPy .npy array; send one, from numpy.save.")
    try:
        array = npy_array(body)
    except NpyError as exc:
        raise _invalid(f"The body is not a NumPy .npy array without objects: {exc}.") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise _invalid(
            f"The .npy array has shape {array.shape}; send rows x features (2-D), or one row (1-D)."
        )
    if array.dtype.kind not in "fiu" or array.dtype.fields is not None:
        raise _invalid(
            f"The .npy array holds {array.dtype} values; send integers or floats (NaN for a "
            "missing value)."
        )
    if array.size == 0:
        raise _invalid("The .npy array has no values; send at least one row.", ["body", "inputs"])
    return BulkBody("npy", array)


def _invalid(message: str, loc: list[str | int] | None = None) -> InvalidInput:
    return InvalidInput(message, errors=[field_error(loc or ["body"], message)])
