"""The careful CSV read, for a file the fast read cannot describe well: a strict UTF-8 scan,
then one block at a time on one thread, the only way Arrow numbers the row at fault. Numbers
go block by block into float64 arrays allocated once and text stays compact in Arrow until
it is dictionary-encoded, so peak memory stays near the size of the result. Also the Arrow
options both reads share."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from service.domain.ingest.arrow_parts import (
    FIRST_ROW,
    is_numeric,
    text,
    write_float64,
)
from service.domain.ingest.columns import Column, numeric_column
from service.domain.ingest.csv_scan import (
    QuickScan,
    Scan,
    scan,
)
from service.domain.ingest.dataset import TableRules
from service.domain.ingest.errors import DatasetFormatError

T = TypeVar("T")
CONVERSION_ERROR = re.compile(r"In CSV column #(\d+)")


class _Retype(Exception):
    """Arrow guessed a column's type from the first block and a later block disagrees."""

    def __init__(self, types: dict[str, pa.DataType]):
        super().__init__(types)
        self.types = types


def textual_types(schema: pa.Schema) -> dict[str, pa.DataType]:
    """Columns Arrow typed as neither numbers nor text (dates, times): to read as text."""
    return {f.name: pa.string() for f in schema if not is_numeric(f.type) and f.type != pa.string()}


def read_careful(path: Path, rules: TableRules) -> list[Column]:
    scanned = scan(path)
    types: dict[str, pa.DataType] = {}
    while True:
        try:
            return _read(path, scanned, rules, types)
        except _Retype as retype:
            types = {**types, **retype.types}  # each column widens at most twice


def _read(
    path: Path, scanned: Scan, rules: TableRules, types: dict[str, pa.DataType]
) -> list[Column]:
    ragged: list[pacsv.InvalidRow] = []
    reader = _guarded(ragged, lambda: _open(path, scanned, types, ragged))
    schema = reader.schema
    names = [name.strip() for name in schema.names]
    rules.check_columns(names)
    textual = textual_types(schema)
    if textual:  # dates, times: Arrow parsed them, but they are categories here
        raise _Retype(textual)
    sinks = [_Numbers(scanned.max_lines) if is_numeric(f.type) else _Texts() for f in schema]
    n_rows, last = 0, None
    while (batch := _guarded(ragged, lambda: _next_batch(reader), schema)) is not None:
        for sink, chunk in zip(sinks, batch.columns, strict=True):
            sink.add(chunk)
        n_rows, last = n_rows + batch.num_rows, batch
        if rules.max_rows is not None and n_rows > rules.max_rows:
            rules.check_rows(n_rows)
    rules.check_rows(n_rows)
    if scanned.odd_quotes and last is not None:
        refuse_unclosed_quote(last, n_rows)
    return [sink.column(name) for sink, name in zip(sinks, names, strict=True)]


def _open(
    path: Path, scanned: Scan, types: dict[str, pa.DataType], ragged: list[pacsv.InvalidRow]
) -> pacsv.CSVStreamingReader:
    def refuse(row: pacsv.InvalidRow) -> str:
        ragged.append(row)
        return "error"

    return pacsv.open_csv(
        path,
        # One thread: only then does Arrow number a ragged row.
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=parse_options(scanned, invalid_row_handler=refuse),
        # `scan` has already refused anything that is not UTF-8
        convert_options=convert_options(types, check_utf8=False),
    )


def parse_options(
    scanned: QuickScan, invalid_row_handler: Callable[[pacsv.InvalidRow], str] | None
) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=scanned.delimiter,
        # the chunker that allows line breaks inside quotes is ~30% slower: use it only when
        # the file has a quote at all
        newlines_in_values=scanned.quoted,
        invalid_row_handler=invalid_row_handler,
    )


def convert_options(types: dict[str, pa.DataType], *, check_utf8: bool) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        check_utf8=check_utf8,  # a column that is not UTF-8 comes back as binary
        column_types=types,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        true_values=[],  # booleans stay text: categorical
        false_values=[],
    )


def _guarded(
    ragged: list[pacsv.InvalidRow],
    call: Callable[[], T],
    schema: pa.Schema | None = None,
) -> T:
    """Run an Arrow read step, turning its errors into ours (or into a retype)."""
    try:
        return call()
    except pa.ArrowInvalid as error:
        if ragged:
            raise _ragged(ragged[0]) from None
        message = str(error)
        if "Empty CSV file" in message:
            raise DatasetFormatError(
                "the file is empty; upload a CSV with a header row and data"
            ) from None
        found = CONVERSION_ERROR.search(message)
        if found and schema is not None:
            field = schema.field(int(found.group(1)))
            # A later block holds what the first block's guess cannot: widen and re-read.
            wider = pa.float64() if field.type in (pa.null(), pa.int64()) else pa.string()
            raise _Retype({field.name: wider}) from None
        raise DatasetFormatError(
            f"the CSV cannot be parsed ({message}); check it is a comma-separated table "
            "with a header row"
        ) from None


def _next_batch(reader: pacsv.CSVStreamingReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


class _Numbers:
    """Numbers written block by block into one float64 array sized by the line count."""

    def __init__(self, capacity: int):
        # Pages of np.empty that are never written are never resident.
        self.values = np.empty(capacity, dtype=np.float64)
        self.size = 0

    def add(self, chunk: pa.Array) -> None:
        end = self.size + len(chunk)
        if end > self.values.size:  # cannot happen: rows never outnumber lines
            self.values = np.concatenate([self.values, np.empty(end, dtype=np.float64)])
        write_float64(chunk, self.values[self.size : end])
        self.size = end

    def column(self, name: str) -> Column:
        return numeric_column(name, self.values[: self.size], FIRST_ROW)


class _Texts:
    """Text kept as Arrow arrays until the end, then dictionary-encoded at once."""

    def __init__(self) -> None:
        self.chunks: list[pa.Array] = []

    def add(self, chunk: pa.Array) -> None:
        self.chunks.append(chunk)

    def column(self, name: str) -> Column:
        chunked = pa.chunked_array(self.chunks, pa.string())
        self.chunks = []
        return text(name, chunked)


def _ragged(row: pacsv.InvalidRow) -> DatasetFormatError:
    number, expected, actual = row.number, row.expected_columns, row.actual_columns
    where = f"row {number}" if number is not None else "a row"
    fields = f"{actual} field" + ("" if actual == 1 else "s")
    if row.text.count('"') % 2:
        message = (
            f"{where} opens a quote that is never closed; close it, and double any quote "
            'inside a quoted field ("")'
        )
    elif actual > expected:
        message = (
            f"{where} has {fields} but the header has {expected} columns; remove the "
            "extra values or quote fields that contain the delimiter"
        )
    else:
        message = (
            f"{where} has {fields} but the header has {expected} columns; add the "
            "missing values (an empty cell is a missing value)"
        )
    return DatasetFormatError(message, row=number)


def refuse_unclosed_quote(last: pa.RecordBatch, n_rows: int) -> None:
    """Refuse a quote left open: Arrow lets it swallow the rest of the file into one cell.

    An odd number of quote characters alone is not proof (a quote inside an unquoted cell
    is literal), so the last row must also hold a cell that spans lines.
    """
    tail = last.slice(last.num_rows - 1)
    for chunk in tail.columns:
        if pa.types.is_string(chunk.type) and "\n" in (chunk.to_pylist()[0] or ""):
            row = FIRST_ROW + n_rows - 1
            raise DatasetFormatError(
                f"row {row} opens a quote that is never closed; close it, and double any "
                'quote inside a quoted field ("")',
                row=row,
            )
