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

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

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
)
from service.domain.ingest.columns import Column, numeric_column
from service.domain.ingest.csv_careful import (
    convert_options,
    parse_options,
    read_careful,
    refuse_unclosed_quote,
    textual_types,
)
from service.domain.ingest.csv_scan import (
    CHUNK,
    NeedsCarefulRead,
    QuickScan,
    quick_scan,
)
from service.domain.ingest.dataset import TableRules

T = TypeVar("T")
R = TypeVar("R")
PIECE = 2 << 20
PIECE_BYTES_PER_COLUMN = 4 << 10
OVERRUN = 64 << 10


def read_csv(path: Path, rules: TableRules) -> list[Column]:
    """Parse a CSV with a header row into typed columns in file order."""
    try:
        columns = _read_fast(path, rules)
    except NeedsCarefulRead:
        columns = read_careful(path, rules)
    # Arrow's allocator keeps freed blocks resident unless asked: hand them back before the
    # caller allocates the encoded copy
    pa.default_memory_pool().release_unused()
    return columns


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
        refuse_unclosed_quote(table.slice(table.num_rows - 1), table.num_rows)
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
            parse_options=parse_options(scanned, invalid_row_handler=None),
            convert_options=convert_options(types, check_utf8=True),
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
            parse_options=parse_options(scanned, invalid_row_handler=None),
            convert_options=convert_options(types, check_utf8=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise NeedsCarefulRead from None
    names = [name.strip() for name in table.schema.names]
    rules.check_columns(names)
    if any(pa.types.is_binary(f.type) for f in table.schema):  # bytes that are not UTF-8
        raise NeedsCarefulRead
    textual = textual_types(table.schema)
    if not textual:
        return table, names
    if types:
        raise NeedsCarefulRead
    del table
    return _whole_table(path, scanned, rules, textual)
