"""CSV uploads, read by Arrow's C++ reader: fast on both cores, careful when the file is bad.

pyarrow.csv is the reader behind ``pd.read_csv(engine="pyarrow")``; calling it directly lets
us refuse short rows (pandas pads them with NaN) and say where a file goes wrong.

A file without quotes is read in pieces cut at line ends, parsed on every core (an upload is
usually parsed this way while it arrives: see ``csv_stream``); a quoted one, or one whose
pieces disagree on a column's type, is read once as a whole table on every core. Anything
Arrow refuses (a ragged row, bytes that are not UTF-8, a conversion it cannot make) sends
the file to the careful reader: a strict UTF-8 scan, then one block at a time on one
thread, the only way Arrow numbers the row at fault. There numbers go block by block into
float64 arrays allocated once and text stays compact in Arrow until it is
dictionary-encoded, so its peak memory stays near the size of the result too.
"""

from __future__ import annotations

import codecs
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from service.domain.ingest.arrow_parts import (
    FIRST_ROW,
    Part,
    PartsDisagree,
    columns_from_parts,
    float64_values,
    is_numeric,
    make_part,
    text,
    write_float64,
)
from service.domain.ingest.columns import Column, numeric_column
from service.domain.ingest.dataset import TableRules
from service.domain.ingest.errors import DatasetFormatError

CHUNK = 1 << 20
DELIMITERS = (b",", b";", b"\t", b"|")
T = TypeVar("T")
R = TypeVar("R")
PIECE = 2 << 20
PIECE_BYTES_PER_COLUMN = 4 << 10
OVERRUN = 64 << 10
CONVERSION_ERROR = re.compile(r"In CSV column #(\d+)")


@dataclass(frozen=True)
class QuickScan:
    """What the fast read needs to know of the bytes: delimiter and quotes."""

    delimiter: str
    odd_quotes: bool
    quoted: bool  # any quote at all: only then can a value span lines


@dataclass(frozen=True)
class Scan(QuickScan):
    """What the careful pass over the bytes also learns: a bound on rows."""

    max_lines: int


class _Retype(Exception):
    """Arrow guessed a column's type from the first block and a later block disagrees."""

    def __init__(self, types: dict[str, pa.DataType]):
        super().__init__(types)
        self.types = types


def read_csv(path: Path, rules: TableRules) -> list[Column]:
    """Parse a CSV with a header row into typed columns in file order."""
    try:
        columns = _read_fast(path, rules)
    except _Careful:
        columns = _read_careful(path, rules)
    # Arrow's allocator keeps freed blocks resident unless asked: hand them back before the
    # caller allocates the encoded copy
    pa.default_memory_pool().release_unused()
    return columns


class _Careful(Exception):
    """The fast read met something it cannot describe well: read the file carefully."""


def _read_fast(path: Path, rules: TableRules) -> list[Column]:
    scanned = quick_scan(path)
    if not scanned.quoted:  # without quotes every line end is a row end: read in pieces
        try:
            return _read_pieces(path, scanned, rules)
        except WholeTable:
            pass
    table, names = _whole_table(path, scanned, rules, {})
    return _table_columns(table, names, scanned, rules)


def _table_columns(
    table: pa.Table, names: list[str], scanned: QuickScan, rules: TableRules
) -> list[Column]:
    rules.check_rows(table.num_rows)
    if scanned.odd_quotes and table.num_rows:
        _refuse_unclosed_quote(table.slice(table.num_rows - 1), table.num_rows)
    chunks = table.columns
    del table
    columns = []
    for index, name in enumerate(names):
        chunked, chunks[index] = chunks[index], None  # freed once converted
        if is_numeric(chunked.type):
            columns.append(numeric_column(name, float64_values(chunked), FIRST_ROW))
        else:
            columns.append(text(name, chunked))
        del chunked
    return columns


class WholeTable(Exception):
    """The pieces disagree with the first one's column types: read the file as one table."""


def _read_pieces(path: Path, scanned: QuickScan, rules: TableRules) -> list[Column]:
    """Parse pieces of the file on every core, each as it is read, into per-column parts.

    Memory stays near the size of the result: a few raw pieces in flight, a data set's
    feature numbers in float32 (as stored), text dictionary-encoded. The first piece
    fixes each column's type; a later piece that disagrees (text in a numeric column)
    sends the file to the whole-table reader, which infers types over all of it.
    """
    size = path.stat().st_size
    with path.open("rb") as stream:
        fd = stream.fileno()
        header = os.pread(fd, CHUNK, 0).split(b"\n", 1)[0]
        piece = _piece_bytes(header.count(scanned.delimiter.encode()) + 1)
        first_end = min(piece // 8, size)  # a small first piece: it runs alone
        first = parse_piece(_piece(fd, 0, first_end, size), scanned, {}, None)
        raw_names = first.schema.names
        bounds = [0, *range(first_end, size, piece), size]
        names = [name.strip() for name in raw_names]
        target = rules.check_columns(names)
        types = _piece_types(first.schema)
        narrow = [not rules.features_only and name != target for name in names]

        def parts_of(table: pa.Table) -> list[Part]:
            return [
                make_part(column, narrow=keep)
                for column, keep in zip(table.columns, narrow, strict=True)
            ]

        def parse(span: tuple[int, int]) -> list[Part]:
            return parts_of(parse_piece(_piece(fd, *span, size), scanned, types, raw_names))

        workers = os.cpu_count() or 1
        spans = zip(bounds[1:-1], bounds[2:], strict=True)
        with ThreadPoolExecutor(workers, thread_name_prefix="csv") as pool:
            parts = [parts_of(first), *_ordered_map(pool, parse, spans, 2 * workers)]
    del first
    try:
        return columns_from_parts(names, parts, rules)
    except PartsDisagree:
        raise WholeTable from None


def _piece_bytes(n_columns: int) -> int:
    """How much of the file one piece covers: PIECE, or more for wide files.

    Each column of each piece costs a fixed ~0.3 ms (Arrow's conversion, our statistics)
    whatever its rows: with 10,000 columns a 2 MiB piece holds ~30 rows and that fixed cost
    was 95% of the time (1.3 MB/s). A piece of at least PIECE_BYTES_PER_COLUMN per column
    keeps it small next to the parsing itself, at the cost of larger pieces in flight.
    """
    return max(PIECE, n_columns * PIECE_BYTES_PER_COLUMN)


def _piece_types(schema: pa.Schema) -> dict[str, pa.DataType]:
    """The column types the first piece found, for the others to follow."""
    types = {}
    for f in schema:
        if is_numeric(f.type) and not pa.types.is_null(f.type):
            types[f.name] = pa.float64()
        elif f.type == pa.string():
            types[f.name] = pa.string()
        else:  # no value yet, dates, bytes that are not UTF-8: let the whole read decide
            raise WholeTable
    return types


def _piece(fd: int, start: int, end: int, size: int) -> bytes:
    """The lines that begin in bytes [start, end) of the file (read without the GIL).

    A line begins at 0 and after every line end, so reading from the byte before `start`
    finds the first one; the last one ends at the first line end from byte `end - 1` on.
    """
    offset = max(start - 1, 0)
    data = os.pread(fd, end - offset + OVERRUN, offset)
    begin = data.find(b"\n") + 1 if start > 0 else 0
    if start > 0 and (begin == 0 or offset + begin >= end):
        return b""  # one line spans the whole piece: it belongs to an earlier one
    if end >= size:
        return data[begin:]
    finish = data.find(b"\n", end - 1 - offset)
    while finish < 0 and offset + len(data) < size:  # a line longer than the overrun
        data += os.pread(fd, OVERRUN, offset + len(data))
        finish = data.find(b"\n", end - 1 - offset)
    return data[begin : finish + 1] if finish >= 0 else data[begin:]


def parse_piece(
    piece: bytes,
    scanned: QuickScan,
    types: dict[str, pa.DataType],
    names: list[str] | None,
) -> pa.Table:
    try:
        # one block: each column comes back as one chunk, not one per MiB of the piece
        block = max(len(piece), 1 << 20)
        return pacsv.read_csv(
            pa.py_buffer(piece),
            read_options=pacsv.ReadOptions(
                use_threads=False, column_names=names, block_size=min(block, 1 << 30)
            ),
            parse_options=_parse_options(scanned, invalid_row_handler=None),
            convert_options=_convert_options(types, check_utf8=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise WholeTable from None


def _ordered_map(
    pool: ThreadPoolExecutor, call: Callable[[T], R], items: Iterator[T], window: int
) -> Iterator[R]:
    """`pool.map` that reads `items` only `window` ahead of the results taken."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(call, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _whole_table(
    path: Path, scanned: QuickScan, rules: TableRules, types: dict[str, pa.DataType]
) -> tuple[pa.Table, list[str]]:
    """Read the whole file on every core; dates and times are read again as text."""
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True),
            parse_options=_parse_options(scanned, invalid_row_handler=None),
            convert_options=_convert_options(types, check_utf8=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise _Careful from None
    names = [name.strip() for name in table.schema.names]
    rules.check_columns(names)
    if any(pa.types.is_binary(f.type) for f in table.schema):  # bytes that are not UTF-8
        raise _Careful
    textual = _textual(table.schema)
    if not textual:
        return table, names
    if types:
        raise _Careful
    del table
    return _whole_table(path, scanned, rules, textual)


def _textual(schema: pa.Schema) -> dict[str, pa.DataType]:
    """Columns Arrow typed as neither numbers nor text (dates, times): to read as text."""
    return {f.name: pa.string() for f in schema if not is_numeric(f.type) and f.type != pa.string()}


def _read_careful(path: Path, rules: TableRules) -> list[Column]:
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
    textual = _textual(schema)
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
        # One thread: only then does Arrow number a ragged row.
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=_parse_options(scanned, invalid_row_handler=refuse),
        # `scan` has already refused anything that is not UTF-8
        convert_options=_convert_options(types, check_utf8=False),
    )


def _parse_options(
    scanned: QuickScan, invalid_row_handler: Callable[[pacsv.InvalidRow], str] | None
) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=scanned.delimiter,
        # the chunker that allows line breaks inside quotes is ~30% slower: use it only when
        # the file has a quote at all
        newlines_in_values=scanned.quoted,
        invalid_row_handler=invalid_row_handler,
    )


def _convert_options(types: dict[str, pa.DataType], *, check_utf8: bool) -> pacsv.ConvertOptions:
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
    return Scan(guess_delimiter(header), quotes % 2 == 1, quotes > 0, lines + 1)


def quick_scan(path: Path) -> QuickScan:
    """Refuse empty and binary files; find the delimiter and whether there are quotes.

    Only searches (memchr speed): UTF-8 is left to Arrow, whose columns come back as binary
    when they are not, and the careful read then says on which line.
    """
    quotes = 0
    quoted = False
    header = b""
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            if not header:
                header = chunk.split(b"\n", 1)[0]
            if b"\0" in chunk:
                raise _Careful  # the careful scan names the line
            if quoted or b'"' in chunk:
                quoted = True
                quotes += chunk.count(b'"')
    if not header.strip():
        raise DatasetFormatError("the file is empty; upload a CSV with a header row and data")
    return QuickScan(guess_delimiter(header), quotes % 2 == 1, quoted)


def guess_delimiter(header: bytes) -> str:
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
