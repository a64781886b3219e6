"""Time series: an ordinary table uploaded with ``layout=series``.

``series_layout`` orders its rows by ``time_column`` (numbers, or ISO 8601 dates and times;
the column is then dropped), turns ``group_column`` into text labels kept apart from the
features (one series per label), and checks that every feature and the target are numbers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from service.domain.ingest.columns import Column, FeatureColumns, text_column
from service.domain.ingest.dataset import ParsedDataset
from service.domain.ingest.errors import DatasetFormatError

LAYOUTS = ("table", "series")  # what the upload form's `layout` may say; sequences are seen
FIRST_ROW = 1


def series_layout(
    parsed: ParsedDataset, time_column: str | None, group_column: str | None, first_row: int
) -> tuple[ParsedDataset, dict[str, Any]]:
    """The table as a time series: rows in time order, the time column dropped, the group
    column as text labels (stored, but not a feature); and the series' summary."""
    names = list(parsed.columns)
    for field, column in (("time_column", time_column), ("group_column", group_column)):
        if column is not None and column not in names:
            why = "it is the target" if column == parsed.target_name else "there is no such column"
            shown = ", ".join(repr(name) for name in names[:20])
            raise DatasetFormatError(
                f"{field} {column!r} cannot be used: {why}; choose one of the columns {shown}",
                column=column,
            )
    if time_column is not None and time_column == group_column:
        raise DatasetFormatError(
            "time_column and group_column name the same column; give two different columns",
            column=time_column,
        )
    if parsed.target_summary["kind"] != "numeric":
        raise DatasetFormatError(
            f"the target {parsed.target_name!r} of a time series holds text; a forecast needs "
            "a numeric target (choose another target, or upload it with layout=table)",
            column=parsed.target_name,
        )
    for name in names:
        if (
            name not in (time_column, group_column)
            and parsed.columns.column(name).kind != "numeric"
        ):
            raise DatasetFormatError(
                f"column {name!r} holds text; the features of a time series must be numbers "
                "(name it as group_column if it tells the series apart, or drop it)",
                column=name,
            )
    n = parsed.n_rows
    groups = _group_labels(parsed, group_column, first_row)
    order = np.arange(n)
    if time_column is not None:
        time = _sortable_time(parsed.columns.column(time_column), time_column, first_row)
        order = np.argsort(time, kind="stable")
        _refuse_repeated_times(time, groups, time_column, group_column, first_row)
    columns = []
    for name in names:
        if name == time_column:
            continue
        if name == group_column:
            assert groups is not None
            uniques, codes = np.unique(groups[order], return_inverse=True)
            columns.append(text_column(name, codes.astype(np.int32), uniques, FIRST_ROW))
            continue
        values = np.asarray(parsed.columns[name])[order]
        columns.append(replace(parsed.columns.column(name), numbers=values))
    labels, counts = np.unique(groups, return_counts=True) if groups is not None else ([None], [n])
    info = {
        "time_column": time_column,
        "group_column": group_column,
        "n_series": len(counts),
        "shortest_series": int(np.min(counts)),
        "shortest_group": None if groups is None else str(labels[int(np.argmin(counts))]),
        "longest_series": int(np.max(counts)),
    }
    features = [c.summary for c in columns if c.name != group_column]
    summary = {**parsed.target_summary, "task": "regression"}
    summary.pop("classes", None)
    series = replace(
        parsed,
        columns=FeatureColumns(columns),
        target=np.asarray(parsed.target)[order],
        features=features,
        target_summary=summary,
    )
    return series, info


def _group_labels(
    parsed: ParsedDataset, group_column: str | None, first_row: int
) -> np.ndarray | None:
    if group_column is None:
        return None
    column = parsed.columns.column(group_column)
    values = column.values
    if column.kind == "numeric":
        missing = np.isnan(values)
        text = np.array([_label(v) for v in values.tolist()], dtype=np.str_)
    else:
        missing, text = values == "", values
    if missing.any():
        row = int(np.argmax(missing)) + first_row
        raise DatasetFormatError(
            f"row {row} has no value in group_column {group_column!r}; every row needs its "
            "series' label",
            row=row,
            column=group_column,
        )
    return text


def _label(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _sortable_time(column: Column, name: str, first_row: int) -> np.ndarray:
    """The time column as numbers that sort in time order, or a 422 naming the bad row."""
    values = column.values
    if column.kind == "numeric":
        missing = np.isnan(values)
        times = values.astype(np.float64)
    else:
        try:
            times = values.astype("datetime64[ns]")
        except ValueError:
            bad = next(i for i, text in enumerate(values.tolist()) if not _is_time(text))
            raise DatasetFormatError(
                f"time_column {name!r} is not sortable: row {bad + first_row} holds "
                f"{values[bad]!r}, which is neither a number nor an ISO 8601 date/time "
                "(like 2024-01-31 or 2024-01-31T12:00:00)",
                row=bad + first_row,
                column=name,
            ) from None
        missing = np.isnat(times)
        times = times.astype(np.int64).astype(np.float64)
    if missing.any():
        row = int(np.argmax(missing)) + first_row
        raise DatasetFormatError(
            f"row {row} has no value in time_column {name!r}; every row of a series needs its time",
            row=row,
            column=name,
        )
    return times


def _is_time(text: str) -> bool:
    try:
        np.datetime64(text, "ns")
    except ValueError:
        return False
    return True


def _refuse_repeated_times(
    time: np.ndarray,
    groups: np.ndarray | None,
    time_column: str,
    group_column: str | None,
    first_row: int,
) -> None:
    keys = (time,) if groups is None else (time, groups)
    order = np.lexsort(keys)
    same = time[order][1:] == time[order][:-1]
    if groups is not None:
        same &= groups[order][1:] == groups[order][:-1]
    if same.any():
        k = int(np.argmax(same))
        first, second = sorted((int(order[k]), int(order[k + 1])))
        where = f" in group {groups[first]!r}" if groups is not None else ""
        hint = "" if group_column else " (if they are different series, name a group_column)"
        raise DatasetFormatError(
            f"rows {first + first_row} and {second + first_row} have the same time{where} in "
            f"time_column {time_column!r}, so their order is unknown; give each row of a "
            f"series its own time{hint}",
            row=second + first_row,
            column=time_column,
        )
