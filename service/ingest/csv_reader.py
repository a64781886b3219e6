"""CSV uploads: a strict UTF-8 scan, then Arrow's C++ reader, one block at a time.

pyarrow.csv is the reader behind ``pd.read_csv(engine="pyarrow")``; calling it directly lets
us refuse short rows (pandas pads them with NaN), learn the row number of a ragged row, and
stream: numbers go block by block into float64 arrays allocated once, text stays compact in
Arrow until it is dictionary-encoded, so peak memory stays near the size of the result.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from service.ingest.columns import Column, numeric_column, text_column
from service.ingest.dataset import TableRules
from service.ingest.errors import DatasetFormatError

FIRST_ROW = 2  # the header is line 1
CHUNK = 1 << 20
DELIMITERS = (b",", b";", b"\t", b"|")
T = TypeVar("T")
CONVERSION_ERROR = re.compile(r"In CSV column #(\d+)")


@dataclass(frozen=True)
class Scan:
    """What one pass over the bytes learns: delimiter, a bound on rows, quote parity."""

    delimiter: str
    max_lines: int
    odd_quotes: bool
    quoted: bool  # any quote at all: only then can a value span lines


class _Retype(Exception):
    """Arrow guessed a column's type from the first block and a later block disagrees."""

    def __init__(self, types: dict[str, pa.DataType]):
        super().__init__(types)
        self.types = types


def read_csv(path: Path, rules: TableRules) -> list[Column]:
    """Parse a CSV with a header row into typed columns in file order."""
    scanned = scan(path)
    types: dict[str, pa.DataType] = {}
    while True:
        try:
            columns = _read(path, scanned, rules, types)
            # Arrow's allocator keeps freed blocks resident unless asked: hand them back
            # before the caller allocates the encoded copy
            pa.default_memory_pool().release_unused()
            return columns
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
    textual = {
        f.name: pa.string() for f in schema if not _numeric(f.type) and f.type != pa.string()
    }
    if textual:  # dates, times: Arrow parsed them, but they are categories here
        raise _Retype(textual)
    sinks = [_Numbers(scanned.max_lines) if _numeric(f.type) else _Texts() for f in schema]
    n_rows, last = 0, None
    while (batch := _guarded(ragged, lambda: _next_batch(reader), schema)) is not None:
        for sink, chunk in zip(sinks, batch.columns, strict=True):
            sink.add(chunk)
        n_rows, last = n_rows + batch.num_rows, batch
        if rules.max_rows is not None and n_rows > rules.max_rows:
            rules.check_rows(n_rows)
    rules.check_rows(n_rows)
    if scanned.odd_quotes and last is not None:
        _refuse_unclosed_quote(last, n_rows)
    return [sink.column(name) for sink, name in zip(sinks, names, strict=True)]


def _open(
    path: Path, scanned: Scan, types: dict[str, pa.DataType], ragged: list[pacsv.InvalidRow]
) -> pacsv.CSVStreamingReader:
    def refuse(row: pacsv.InvalidRow) -> str:
        ragged.append(row)
        return "error"

    return pacsv.open_csv(
        path,
        # One thread: only then does Arrow number a ragged row. Reading the whole table on
        # both cores of the benchmark machine parsed 100 MB in 0.44 s instead of 0.65 s, but
        # held the whole Arrow table beside the arrays: +180 MB of peak memory.
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(
            delimiter=scanned.delimiter,
            # the chunker that allows line breaks inside quotes is ~30% slower: use it only
            # when the file has a quote at all
            newlines_in_values=scanned.quoted,
            invalid_row_handler=refuse,
        ),
        convert_options=pacsv.ConvertOptions(
            check_utf8=False,  # `scan` has already refused anything that is not UTF-8
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            true_values=[],  # booleans stay text: categorical
            false_values=[],
        ),
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


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)


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
        if pa.types.is_null(chunk.type):
            self.values[self.size : end] = np.nan
        else:
            self.values[self.size : end] = chunk.cast(pa.float64()).to_numpy(zero_copy_only=False)
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
        encoded = pa.chunked_array(self.chunks, pa.string()).dictionary_encode()
        self.chunks = []
        encoded = encoded.unify_dictionaries()
        codes = np.concatenate(
            [pc.fill_null(chunk.indices, -1).to_numpy() for chunk in encoded.chunks]
        )
        uniques = np.asarray(encoded.chunk(0).dictionary.to_pylist(), dtype=np.str_)
        return text_column(name, codes, uniques, FIRST_ROW)


def scan(path: Path) -> Scan:
    """Refuse empty, binary and non-UTF-8 files; measure what the reader needs to know."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    lines = quotes = 0
    header = b""
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            if not header:
                header = chunk.split(b"\n", 1)[0]
            if b"\0" in chunk:
                line = lines + chunk.count(b"\n", 0, chunk.index(b"\0")) + 1
                raise DatasetFormatError(
                    f"line {line} holds a NUL byte, so the file is binary rather than CSV "
                    "text; upload a UTF-8 text CSV",
                    row=line,
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line = lines + chunk.count(b"\n", 0, max(error.start, 0)) + 1
                raise DatasetFormatError(
                    f"line {line} (approximately) is not valid UTF-8 text; "
                    "save the file as UTF-8 (in Excel: 'CSV UTF-8') and upload it again",
                    row=line,
                ) from None
            lines += chunk.count(b"\n")
            quotes += chunk.count(b'"')
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DatasetFormatError(
            f"the file ends inside a UTF-8 character on line {lines + 1}; "
            "save the file as UTF-8 and upload it again",
            row=lines + 1,
        ) from None
    if not header.strip():
        raise DatasetFormatError("the file is empty; upload a CSV with a header row and data")
    return Scan(_delimiter(header), lines + 1, quotes % 2 == 1, quotes > 0)


def _delimiter(header: bytes) -> str:
    """Return ',' unless the header has none and another common delimiter instead."""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    if counts[b","]:
        return ","
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return (best if counts[best] else b",").decode()


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


def _refuse_unclosed_quote(last: pa.RecordBatch, n_rows: int) -> None:
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
