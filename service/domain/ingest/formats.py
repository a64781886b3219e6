"""Which reader an upload needs, and the one entry point that parses any of them."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from service.domain.ingest.columns import Column
from service.domain.ingest.csv_reader import FIRST_ROW as CSV_FIRST_ROW
from service.domain.ingest.csv_reader import read_csv
from service.domain.ingest.csv_scan import guess_delimiter
from service.domain.ingest.dataset import (
    ParsedDataset,
    ParsedFeatures,
    TableRules,
    assemble,
    assemble_features,
)
from service.domain.ingest.detect import (
    HEAD_BYTES,
    HEADER_LINE_BYTES,
    detect_format,
    refuse_compressed,
)
from service.domain.ingest.errors import DatasetFormatError
from service.domain.ingest.json_reader import FIRST_ROW as JSON_FIRST_ROW
from service.domain.ingest.json_reader import read_json
from service.domain.ingest.npz_reader import FIRST_ROW as NPZ_FIRST_ROW
from service.domain.ingest.npz_reader import (
    feature_names,
    load_npz,
    read_npz,
    table_columns,
    target_column,
)
from service.domain.ingest.sequences import ParsedSequences, assemble_sequences
from service.domain.ingest.series import LAYOUTS, series_layout

if TYPE_CHECKING:
    from service.domain.ingest.csv_stream import CsvStream

Reader = Callable[[Path, TableRules], list[Column]]
READERS: dict[str, tuple[Reader, int]] = {
    "csv": (read_csv, CSV_FIRST_ROW),
    "json": (read_json, JSON_FIRST_ROW),
    "npz": (read_npz, NPZ_FIRST_ROW),
}


def refuse_numeric_header(path: Path) -> None:
    """Refuse a CSV whose first line is all numbers: it is a data row, not column names, and
    reading it as names would silently lose it."""
    with path.open("rb") as file:
        line = file.readline(HEADER_LINE_BYTES).removeprefix(b"\xef\xbb\xbf")
    try:
        text = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return  # the reader names the bad byte
    cells = next(csv.reader([text], delimiter=guess_delimiter(line)), [])
    if cells and all(_is_number(cell) for cell in cells):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise DatasetFormatError(
            f"the first row ({shown}) holds only numbers, so the file seems to lack a header "
            "row; add a first line naming the columns (e.g. x0,x1,...,label) and upload it "
            "again, so that no row is lost",
            row=1,
        )


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def parse_dataset(
    path: Path,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    target: str | None = None,
    max_rows: int | None = None,
    max_columns: int | None = None,
    max_bytes: int | None = None,
    stream: CsvStream | None = None,
    layout: str | None = None,
    time_column: str | None = None,
    group_column: str | None = None,
) -> ParsedDataset | ParsedSequences:
    """Parse, validate and summarise an uploaded file; raise DatasetFormatError if unusable.

    `stream`, when given, has parsed the file while it was written (a CSV): its columns
    are used unless it gave up, and then the file is read as usual. An .npz with a 3-D `X`
    is a sequence data set; `layout="series"` reads a table as a time series.
    """
    _check_layout(layout, time_column, group_column)
    rules = TableRules(
        target=target, max_rows=max_rows, max_columns=max_columns, max_bytes=max_bytes
    )
    path = Path(path)
    fmt = _format(path, filename, content_type)
    if fmt == "npz" and layout != "series":
        X, y, names, lengths = load_npz(path, rules)
        if X.ndim == 3:
            assert y is not None
            width = X.shape[2]
            return assemble_sequences(
                X, target_column(y, X.shape[0]), feature_names(names, width), lengths, rules
            )
        if lengths is not None:
            raise DatasetFormatError(
                f"the .npz has lengths but X is {X.ndim}-D; lengths belong to sequences, an "
                "X of shape (n, T, d): drop lengths, or save X as padded sequences",
                column="lengths",
            )
        columns, first_row = table_columns(X, y, names, rules), NPZ_FIRST_ROW
    else:
        fmt, columns, first_row = _read(path, filename, content_type, rules, stream)
    parsed = assemble(fmt, columns, rules, first_row)
    if layout != "series":
        return parsed
    series, info = series_layout(parsed, time_column, group_column, first_row)
    return replace(series, layout="series", layout_info=info)


def _check_layout(layout: str | None, time_column: str | None, group_column: str | None) -> None:
    if layout is not None and layout not in LAYOUTS:
        raise DatasetFormatError(
            f"layout {layout!r} is not a layout; send layout=series for a time series, or "
            "leave it out for a table (an .npz with a 3-D X is read as sequences by itself)"
        )
    if layout != "series" and (time_column or group_column):
        field = "time_column" if time_column else "group_column"
        raise DatasetFormatError(
            f"{field} is for time series; add the form field layout=series, or drop {field}"
        )


def parse_features(
    path: Path,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    max_rows: int | None = None,
    max_columns: int | None = None,
    max_bytes: int | None = None,
) -> ParsedFeatures:
    """Parse an uploaded file of rows to predict: like ``parse_dataset``, but no column is a
    target and one column is enough (an .npz may omit ``y``)."""
    rules = TableRules(
        max_rows=max_rows, max_columns=max_columns, max_bytes=max_bytes, features_only=True
    )
    fmt, columns, first_row = _read(Path(path), filename, content_type, rules)
    return assemble_features(fmt, columns, first_row)


def _format(path: Path, filename: str | None, content_type: str | None) -> str:
    with path.open("rb") as file:
        head = file.read(HEAD_BYTES)
    refuse_compressed(head)
    fmt = detect_format(filename, content_type, head)
    if fmt == "csv":
        refuse_numeric_header(path)
    return fmt


def _read(
    path: Path,
    filename: str | None,
    content_type: str | None,
    rules: TableRules,
    stream: CsvStream | None = None,
) -> tuple[str, list[Column], int]:
    fmt = _format(path, filename, content_type)
    read, first_row = READERS[fmt]
    columns = stream.columns(rules) if stream is not None and fmt == "csv" else None
    return fmt, columns if columns is not None else read(path, rules), first_row
