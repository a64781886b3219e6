"""What a pass over a CSV's bytes learns before Arrow reads it: the delimiter, whether there
are quotes, a bound on the rows; and the refusals it can make on the bytes alone (empty,
binary, not UTF-8)."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from service.domain.ingest.errors import DatasetFormatError

CHUNK = 1 << 20
DELIMITERS = (b",", b";", b"\t", b"|")


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


class NeedsCarefulRead(Exception):
    """The fast read met something it cannot describe well: read the file carefully."""


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
                raise NeedsCarefulRead  # the careful scan names the line
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
