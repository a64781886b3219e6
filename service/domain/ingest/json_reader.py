"""JSON uploads: an array of records, keys as columns in first-seen order."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from service.domain.ingest.columns import Column, numeric_column, text_column
from service.domain.ingest.dataset import TableRules
from service.domain.ingest.errors import DatasetFormatError

FIRST_ROW = 1  # records count from 1
RECORDS = 'a JSON upload must be an array of records like [{"x": 1, "y": "a"}, ...]'
NUMERIC_KINDS = ("integer", "floating", "mixed-integer-float", "empty")


def read_json(path: Path, rules: TableRules) -> list[Column]:
    """Parse a JSON array of records into typed columns; a missing key or null is missing."""
    records = _load(path)
    names = list(dict.fromkeys(key for record in records for key in record))
    rules.check([name.strip() for name in names], len(records))
    columns = []
    for name in names:
        values = np.fromiter((record.get(name) for record in records), object, len(records))
        columns.append(_column(name.strip(), values))
    return columns


class TooLarge:
    """A number in the JSON beyond float64's range (±1.8e308), kept to be reported by row."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def describe(self) -> str:
        digits = sum(c.isdigit() for c in self.text)
        shown = self.text if len(self.text) <= 24 else f"{self.text[:12]}… ({digits:,} digits)"
        return f"the number {shown}"


FLOAT_DIGITS = 309  # float64 stops at 1.8e308: an integer with more digits cannot fit


def _integer(text: str) -> int | TooLarge:
    # Python refuses to convert integers of more than 4,300 digits (a ValueError that is not
    # a JSONDecodeError); anything past float64's range is refused below anyway
    if len(text.lstrip("-")) > FLOAT_DIGITS:
        return TooLarge(text)
    value = int(text)
    return value if abs(value) <= sys.float_info.max else TooLarge(text)


def _real(text: str) -> float | TooLarge:
    value = float(text)
    return value if math.isfinite(value) else TooLarge(text)


def _load(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_int=_integer, parse_float=_real)
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DatasetFormatError(
            f"line {line} is not valid UTF-8 text; save the file as UTF-8 and upload it again",
        ) from None
    except json.JSONDecodeError as error:
        raise DatasetFormatError(
            f"the file is not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}); {RECORDS}"
        ) from None
    except RecursionError:
        raise DatasetFormatError(f"the JSON is nested too deeply; {RECORDS}") from None
    if not isinstance(data, list) or not all(isinstance(record, dict) for record in data):
        raise DatasetFormatError(f"the JSON is not an array of objects; {RECORDS}")
    return data


def _column(name: str, values: np.ndarray) -> Column:
    import pandas as pd  # imported on the first JSON upload: it adds ~50 MB to every process

    huge = np.fromiter((type(v) is TooLarge for v in values), bool, values.size)
    if huge.any():
        index = int(np.argmax(huge))
        row = FIRST_ROW + index
        raise DatasetFormatError(
            f"row {row}, column {name!r} holds {values[index].describe()}, too large for a "
            "64-bit float (beyond ±1.8e308); send a smaller number, or leave the value out "
            "for missing",
            row=row,
            column=name,
        )

    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in NUMERIC_KINDS:
        numbers = np.full(values.size, np.nan)
        present = ~pd.isna(values)
        numbers[present] = values[present].astype(np.float64)
        return numeric_column(name, numbers, FIRST_ROW)
    if kind not in ("string", "boolean"):
        nested = np.fromiter((isinstance(v, list | dict) for v in values), bool, values.size)
        if nested.any():
            row = FIRST_ROW + int(np.argmax(nested))
            raise DatasetFormatError(
                f"row {row}, column {name!r} holds a nested list or object; "
                "every value must be a number, a string, a boolean or null",
                row=row,
                column=name,
            )
    if kind != "string":
        values = np.fromiter((_text(value) for value in values), object, values.size)
    codes, uniques = pd.factorize(values)
    return text_column(name, codes, np.asarray(uniques, dtype=np.str_), FIRST_ROW)


def _text(value: Any) -> str | None:
    """Spell a scalar as text the way JSON does (true/false); None and NaN stay missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
