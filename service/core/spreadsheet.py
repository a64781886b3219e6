"""CSV cells that a spreadsheet shows as text, never runs as a formula.

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets (`=HYPERLINK(...)`, `+cmd|' /C calc'!A0`), and
class labels and input columns come from whoever sent the data. As OWASP recommends for CSV
injection, such a cell gets a leading single quote, which the spreadsheet shows as text.
Numbers, negative ones included, are written as they are: a cell that reads as a number
cannot be a formula.
"""

from __future__ import annotations

import math
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, or the text with a leading `'` when a spreadsheet would run it as a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    return value if _is_number(value) else "'" + value


def safe_row(row: list[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
