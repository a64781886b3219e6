"""Parsing a CSV upload while the rest of it is still arriving.

The HTTP layer writes an upload to a file as it arrives and tells a ``CsvStream`` about
every block written. Each time a piece of about ``PIECE`` bytes ending at a line end is on
disk, the stream has a thread parse it, so by the time the last byte arrives most of the
file is parsed: receiving and parsing overlap instead of adding up.

Only the plain case is handled here: a CSV without quotes or NUL bytes whose pieces agree
on every column's kind (numbers or text). Anything else, and any error at all, abandons the
stream and ``read_csv`` reads the file as usual, with the messages it gives. Each piece
infers its own types, so a column that is numeric in one piece and text in another is
read again as a whole.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from service.domain.ingest.arrow_parts import (
    NumberPart,
    Part,
    PartsDisagree,
    columns_from_parts,
    is_numeric,
    make_part,
)
from service.domain.ingest.columns import Column
from service.domain.ingest.csv_reader import PIECE, WholeTable, parse_piece
from service.domain.ingest.csv_scan import QuickScan, guess_delimiter
from service.domain.ingest.dataset import TableRules
from service.domain.ingest.detect import detect_format, refuse_compressed
from service.domain.ingest.errors import DatasetFormatError

MAX_HEADER = 1 << 20


class _Abandon(Exception):
    """The file needs the ordinary reader."""


@dataclass
class _Piece:
    """One parsed piece: its parts per column, and which columns held no value at all."""

    parts: list[Part | None]
    rows: int
    names: list[str] = field(default_factory=list)


class CsvStream:
    """Parses pieces of `path` as they are written; ``columns`` gathers them at the end.

    ``feed`` is called with every block just written to the file, in order. It only looks
    for line ends, quotes and NUL bytes, so it costs the event loop little; the reading and
    parsing happen on ``workers`` threads.
    """

    def __init__(self, path: Path, *, workers: int | None = None, piece: int = PIECE) -> None:
        self.path = path
        self.piece = piece
        self.workers = workers or os.cpu_count() or 1
        self.abandoned = False
        self.delivered = False  # whether `columns` gave the parsed columns
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[_Piece]] = []
        self._written = 0  # bytes of the file seen so far
        self._start = 0  # where the next piece starts
        self._line_end = -1  # just past the last line end seen
        self._header = bytearray()
        self._scan: QuickScan | None = None
        self._filename: str | None = None
        self._content_type: str | None = None

    def start(self, filename: str | None, content_type: str | None) -> None:
        """The file part begins: its name and media type decide, with its first bytes,
        whether it is a CSV."""
        self._filename, self._content_type = filename, content_type

    def feed(self, data: bytes | memoryview) -> None:
        """Note a block just written to the file."""
        if self.abandoned:
            return
        block = bytes(data) if isinstance(data, memoryview) else data
        if self._written == 0 and not self._is_csv(block):
            self.abandon()
            return
        if b'"' in block or b"\0" in block:
            self.abandon()
            return
        if self._scan is None:
            self._header += block
            end = self._header.find(b"\n")
            if end < 0:
                if len(self._header) > MAX_HEADER:
                    self.abandon()
                self._written += len(block)
                return
            header = bytes(self._header[:end])
            self._header = bytearray()
            self._scan = QuickScan(guess_delimiter(header), odd_quotes=False, quoted=False)
        last = block.rfind(b"\n")
        if last >= 0:
            self._line_end = self._written + last + 1
        self._written += len(block)
        size = self.piece // 8 if not self._futures else self.piece  # a small first piece
        if self._line_end - self._start >= size:
            self._submit(self._line_end)

    def _is_csv(self, head: bytes) -> bool:
        try:
            refuse_compressed(head)
            return detect_format(self._filename, self._content_type, head) == "csv"
        except DatasetFormatError:
            return False  # the ordinary reader says why

    def _submit(self, end: int) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="csv-stream")
        first = self._futures[0] if self._futures else None
        start = self._start
        self._futures.append(self._pool.submit(self._parse, start, end, first))
        self._start = end

    def _parse(self, start: int, end: int, first: Future[_Piece] | None) -> _Piece:
        assert self._scan is not None
        names = None if first is None else first.result().names
        with self.path.open("rb") as stream:
            data = os.pread(stream.fileno(), end - start, start)
        try:
            table = parse_piece(data, self._scan, {}, names)
        except WholeTable:
            raise _Abandon from None
        del data
        parts: list[Part | None] = []
        last = table.num_columns - 1
        for index, column in enumerate(table.columns):
            if pa.types.is_null(column.type):
                parts.append(None)  # no value in this piece: its kind comes from the others
            elif is_numeric(column.type) or column.type == pa.string():
                # Numbers in float32 but for the last column, the default target; a target
                # named otherwise makes the parts disagree, and the file is read again.
                parts.append(make_part(column, narrow=index != last))
            else:  # dates, times, bytes that are not UTF-8
                raise _Abandon
        piece = _Piece(parts, table.num_rows, table.schema.names)
        del table
        # Arrow's allocator keeps what this thread freed unless asked to hand it back
        pa.default_memory_pool().release_unused()
        return piece

    def abandon(self) -> None:
        """Stop: the file will be read the ordinary way."""
        self.abandoned = True
        self.close()

    def close(self) -> None:
        """Let go of the threads (a piece being parsed finishes on its own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def columns(self, rules: TableRules) -> list[Column] | None:
        """The parsed columns, once the whole file is written; None if the ordinary reader
        must read it (and then it will say what is wrong, if anything)."""
        try:
            if self.abandoned or self._scan is None:
                return None
            if self._written > self._start:
                self._submit(self._written)
            try:
                pieces = [future.result() for future in self._futures]
            except _Abandon:
                return None
            finally:
                self._futures = []  # their results are ours now: freed as they are gathered
            names = [name.strip() for name in pieces[0].names]
            parts = _reconciled(pieces, len(names))
            if parts is None:
                return None
            columns = columns_from_parts(names, parts, rules)
            self.delivered = True
            return columns
        except PartsDisagree:
            return None
        finally:
            self.close()


def _reconciled(pieces: list[_Piece], width: int) -> list[list[Part]] | None:
    """Every piece's parts with one kind per column; None when the pieces disagree."""
    texts: list[bool] = []
    for index in range(width):
        found = {
            not isinstance(part, NumberPart)
            for part in (piece.parts[index] for piece in pieces)
            if part is not None
        }
        if len(found) > 1:
            return None
        texts.append(found == {True})
    parts: list[list[Part]] = []
    for piece in pieces:
        row: list[Part] = []
        for index, text in enumerate(texts):
            part, piece.parts[index] = piece.parts[index], None
            if part is None:
                nothing = pa.nulls(piece.rows, pa.string() if text else pa.float64())
                part = make_part(pa.chunked_array([nothing]), narrow=index != width - 1)
            row.append(part)
        parts.append(row)
    return parts
