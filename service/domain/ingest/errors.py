"""The one error an upload can fail with: what is wrong, where, and how to fix it."""

from __future__ import annotations


class DatasetFormatError(ValueError):
    """An upload that cannot be parsed or is inconsistent.

    The message is one sentence saying what is wrong and how to fix it. ``row`` is the data
    row as a user counts it in the file (for CSV the line number, header = line 1; for JSON
    and .npz the 1-based record index), or None; ``column`` is the column name when known.
    """

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.row = row
        self.column = column


class DatasetTooLarge(DatasetFormatError):
    """An upload that is over the size limit once decompressed (an .npz saved compressed)."""
