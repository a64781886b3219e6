"""Arrow columns into our columns: one piece at a time on parsing threads, gathered once.

A piece's numeric column becomes a ``NumberPart``: its values (NaN for missing) and the
float64 statistics of the piece (missing count, min, max, sum) that the column's summary
needs. A data set's feature columns are kept in float32 from the piece on when they fit
(as they are stored and trained on), so no float64 copy of a whole column is ever made. Text becomes
dictionary-encoded Arrow strings. Parts stay in Arrow's memory: numpy arrays made on the
parsing threads would land in glibc's per-thread arenas, which keep what is freed.

Values are read through Arrow's buffers rather than ``to_numpy``, and fill values are built
from buffers: pyarrow converts Python and numpy values through pandas, which it imports
into the process (+30 MB in every API process that ever parses a file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from service.domain.ingest.columns import (
    Chunks,
    Column,
    numeric_column,
    numeric_summary,
    text_column,
)
from service.domain.ingest.dataset import TableRules

FIRST_ROW = 2  # the header is line 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
NAN = pa.Array.from_buffers(pa.float64(), 1, [None, pa.py_buffer(np.array([np.nan]).tobytes())])[0]
NO_CODE = pa.Array.from_buffers(
    pa.int32(), 1, [None, pa.py_buffer(np.array([-1], np.int32).tobytes())]
)[0]


@dataclass
class NumberPart:
    """A numeric column's share of one piece."""

    values: pa.Array  # float64, or float32 when narrowed; NaN for missing
    missing: int
    low: float  # NaN when the piece has no value
    high: float
    total: float

    def __len__(self) -> int:
        return len(self.values)

    @property
    def infinite(self) -> bool:
        return math.isinf(self.low) or math.isinf(self.high)

    @property
    def narrowed(self) -> bool:
        return bool(self.values.type == pa.float32())


class PartsDisagree(Exception):
    """Pieces were narrowed for a column that has to stay float64 (a value beyond float32
    in another piece, or a target that was not the column guessed): read it again."""


Part: TypeAlias = NumberPart | pa.ChunkedArray  # text: dictionary-encoded


class ArrowChunks(Chunks):
    """Chunks that are views of Arrow buffers: released, Arrow hands the memory back."""

    def release(self) -> None:
        super().release()
        pa.default_memory_pool().release_unused()


def is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)


def make_part(column: pa.ChunkedArray, *, narrow: bool = False) -> Part:
    """A piece's column as a part (on the piece's thread); numbers in float32 with `narrow`
    when they fit."""
    if not is_numeric(column.type):
        return column.dictionary_encode()
    # each Arrow call costs ~20-50 us whatever the rows: skip those with nothing to do, as
    # they add up to most of the time of a file with thousands of columns
    if column.type != pa.float64():
        column = column.cast(pa.float64())
    if column.null_count:
        column = pc.fill_null(column, NAN)
    filled = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    view = buffer_view(filled, np.float64)
    missing = np.isnan(view)
    n_missing = int(np.count_nonzero(missing))
    if n_missing == len(view):
        low = high = total = float("nan")
    else:
        low, high = float(np.fmin.reduce(view)), float(np.fmax.reduce(view))  # NaN skipped
        total = float(np.add.reduce(view, where=~missing) if n_missing else np.add.reduce(view))
    part = NumberPart(filled, n_missing, low, high, total)
    fits = n_missing == len(view) or -FLOAT32_MAX <= low <= high <= FLOAT32_MAX
    if narrow and fits:
        part.values = filled.cast(pa.float32())
    return part


def columns_from_parts(
    names: list[str], parts: list[list[Part]], rules: TableRules
) -> list[Column]:
    """Gather per-piece parts into columns: numbers stay where the pieces put them (as
    `Chunks`), text is dictionary-encoded across pieces. A data set's features are float32
    where they fit; its target keeps float64. PartsDisagree when the pieces were narrowed
    otherwise."""
    target = rules.check_columns(names)
    n_rows = sum(len(part[0]) for part in parts)
    rules.check_rows(n_rows)
    columns = []
    for index, name in enumerate(names):
        pieces = [part[index] for part in parts]
        for part in parts:
            part[index] = None  # type: ignore[call-overload]
        if isinstance(pieces[0], NumberPart):
            narrow = not rules.features_only and name != target
            columns.append(_number_column(name, pieces, n_rows, narrow))  # type: ignore[arg-type]
        else:
            chunks = [chunk for chunked in pieces for chunk in chunked.chunks]  # type: ignore[union-attr]
            columns.append(text(name, pa.chunked_array(chunks)))
        del pieces
        pa.default_memory_pool().release_unused()
    return columns


def _number_column(name: str, pieces: list[NumberPart], n_rows: int, narrow: bool) -> Column:
    narrowed = {piece.narrowed for piece in pieces}
    if narrowed != {narrow}:
        raise PartsDisagree(name)
    dtype = np.float32 if narrow else np.float64
    values = ArrowChunks([buffer_view(piece.values, dtype) for piece in pieces], dtype)
    if any(piece.infinite for piece in pieces):
        return numeric_column(name, values.joined().astype(np.float64), FIRST_ROW)  # the row
    present = [piece for piece in pieces if piece.missing < len(piece)]
    summary = numeric_summary(
        name,
        missing=sum(piece.missing for piece in pieces),
        low=min((piece.low for piece in present), default=None),
        high=max((piece.high for piece in present), default=None),
        total=sum(piece.total for piece in present),
        count=n_rows,
    )
    return Column(name, values, summary)


def text(name: str, chunked: pa.ChunkedArray) -> Column:
    """Dictionary-encode a text column into codes (-1 = missing) and its distinct strings."""
    if not pa.types.is_dictionary(chunked.type):
        chunked = chunked.cast(pa.string()).dictionary_encode()
    encoded = chunked.unify_dictionaries()
    codes = np.empty(len(encoded), dtype=np.int32)
    start = 0
    for chunk in encoded.chunks:
        indices = pc.fill_null(chunk.indices.cast(pa.int32()), NO_CODE)
        codes[start : start + len(chunk)] = buffer_view(indices, np.int32)
        start += len(chunk)
    uniques = np.asarray(
        encoded.chunk(0).dictionary.to_pylist() if encoded.num_chunks else [], dtype=np.str_
    )
    return text_column(name, codes, uniques, FIRST_ROW)


def float64_values(chunked: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as one float64 array, NaN for missing."""
    values = np.empty(len(chunked), dtype=np.float64)
    start = 0
    for chunk in chunked.chunks:
        write_float64(chunk, values[start : start + len(chunk)])
        start += len(chunk)
    return values


def write_float64(chunk: pa.Array, out: np.ndarray) -> None:
    """Write a numeric Arrow array into `out` as float64, NaN for missing."""
    if pa.types.is_null(chunk.type):
        out[:] = np.nan
        return
    filled = pc.fill_null(chunk.cast(pa.float64()), NAN)
    out[:] = buffer_view(filled, np.float64)


def buffer_view(array: pa.Array, dtype: type[np.generic]) -> np.ndarray:
    """The values of a fixed-width Arrow array without nulls, as a numpy view."""
    assert array.null_count == 0
    return np.frombuffer(
        array.buffers()[1],
        dtype=dtype,
        count=len(array),
        offset=array.offset * np.dtype(dtype).itemsize,
    )
