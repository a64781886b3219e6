"""Sequence data sets (an .npz with a 3-D ``X``) and time series (a table in time order).

A sequence upload is ``X`` (n × T × d numbers), ``y`` (n) and optional ``lengths`` (n, each
1..T; the steps after a sequence's length are padding and ignored). NaN in ``X`` is a missing
value, imputed at training time with the training mean of its feature like any missing
number; ±inf is refused. It is stored as its own small archive (``encode_sequences``).

A time series is an ordinary table uploaded with ``layout=series``: ``series_layout`` orders
its rows by ``time_column`` (numbers, or ISO 8601 dates and times; the column is then
dropped), turns ``group_column`` into text labels kept apart from the features, and checks
that every feature and the target are numbers.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from service.ingest.columns import Column, FeatureColumns, numeric_column, text_column
from service.ingest.dataset import ParsedDataset, TableRules, summarise_target
from service.ingest.errors import DatasetFormatError

LAYOUTS = ("table", "series")  # what the upload form's `layout` may say; sequences are seen
FIRST_ROW = 1
VERSION = 1
HOW = "save it with np.savez(path, X=sequences, y=targets, lengths=lengths)"


@dataclass(frozen=True)
class ParsedSequences:
    """A validated sequence upload: ``X`` float32 (n, T, d), ``lengths`` int32 (n)."""

    format: str
    X: np.ndarray
    lengths: np.ndarray
    target: np.ndarray
    target_name: str
    features: list[dict[str, Any]]
    target_summary: dict[str, Any]
    n_rows: int

    @property
    def layout_info(self) -> dict[str, Any]:
        return {"sequence_length": int(self.X.shape[1])}


def assemble_sequences(
    X: np.ndarray, target: Column, names: list[str], lengths: np.ndarray | None, rules: TableRules
) -> ParsedSequences:
    """Check a 3-D ``X`` against its target and lengths; summarise every feature."""
    if X.dtype.kind not in "biuf" or 0 in X.shape:
        raise DatasetFormatError(
            f"X must be a non-empty 3-D array of numbers (sequences × steps × features), got "
            f"shape {X.shape} {X.dtype}; {HOW}",
            column="X",
        )
    n, T, d = X.shape
    rules.check([*names, target.name], n)
    if target.size != n:
        raise DatasetFormatError(
            f"X has {n} sequences but y has {target.size} values; give y one value per sequence",
            column="y",
        )
    L = _lengths(lengths, n, T)
    values = np.asarray(X, dtype=np.float64)
    real = np.arange(T)[None, :] < L[:, None]  # (n, T): the steps that are not padding
    infinite = np.isinf(values).any(axis=2) & real
    if infinite.any():
        i, t = (int(k) for k in np.argwhere(infinite)[0])
        j = int(np.flatnonzero(np.isinf(values[i, t]))[0])
        raise DatasetFormatError(
            f"sequence {i}, step {t}, feature {names[j]!r} of X holds an infinite value; use "
            "finite numbers (NaN counts as missing and is imputed with the training mean)",
            row=i,
            column=names[j],
        )
    steps = values[real]  # (real steps, d)
    features = [
        numeric_column(name, steps[:, j], FIRST_ROW).summary for j, name in enumerate(names)
    ]
    stored = values.astype(np.float32) if np.all(np.abs(np.nan_to_num(values)) < 3e38) else values
    stored[~real] = 0  # padding carries nothing
    return ParsedSequences(
        format="npz",
        X=stored,
        lengths=L.astype(np.int32),
        target=target.values,
        target_name=target.name,
        features=features,
        target_summary=summarise_target(target, FIRST_ROW),
        n_rows=n,
    )


def _lengths(lengths: np.ndarray | None, n: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.full(n, T, np.int64)
    L = np.asarray(lengths)
    whole = L.dtype.kind in "iu" or (L.dtype.kind == "f" and np.all(np.isfinite(L)))
    if L.shape != (n,) or not whole or not np.all(np.round(L) == L):
        raise DatasetFormatError(
            f"lengths must be a 1-D array of {n} whole numbers, one per sequence of X, got "
            f"shape {L.shape} {L.dtype}",
            column="lengths",
        )
    L = L.astype(np.int64)
    bad = np.flatnonzero((L < 1) | (L > T))
    if len(bad):
        i = int(bad[0])
        raise DatasetFormatError(
            f"lengths[{i}] is {L[i]}; every length must be from 1 to {T} (the steps of X); "
            "pad shorter sequences at the end and give their real length",
            row=i,
            column="lengths",
        )
    return L


def encode_sequences(parsed: ParsedSequences) -> bytes:
    """The sequences as .npz bytes: ``X``, ``lengths``, ``target`` and a JSON ``meta``."""
    meta = {
        "version": VERSION,
        "layout": "sequences",
        "n_rows": parsed.n_rows,
        "names": [f["name"] for f in parsed.features],
        "target": {"name": parsed.target_name, "kind": parsed.target_summary["kind"]},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in (
            ("X", parsed.X),
            ("lengths", parsed.lengths),
            ("target", parsed.target),
        ):
            with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.ascontiguousarray(array), allow_pickle=False)
        with zf.open("meta.npy", "w") as out:
            np.lib.format.write_array(out, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return buffer.getvalue()


def is_sequence_blob(blob: bytes) -> bool:
    """Whether stored dataset bytes are an ``encode_sequences`` archive."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            return "lengths" in archive.files and "X" in archive.files
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        return False


def decode_sequences(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(X float64 with NaN, lengths, target, feature names) from ``encode_sequences`` bytes."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            X, lengths, target = archive["X"], archive["lengths"], archive["target"]
    except (OSError, EOFError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"the stored dataset is corrupt ({error!r})") from None
    n, names = int(meta["n_rows"]), [str(name) for name in meta["names"]]
    if X.ndim != 3 or X.shape[0] != n or X.shape[2] != len(names) or lengths.shape != (n,):
        raise ValueError("the stored dataset is corrupt (sequence shapes disagree)")
    return X.astype(np.float64), lengths.astype(np.intp), target, names


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
