"""The parsed dataset, the table-level rules every format shares, and the target checks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.domain.ingest.columns import Column, FeatureColumns
from service.domain.ingest.errors import DatasetFormatError
from service.engine.targets import infer_task


@dataclass(frozen=True)
class ParsedDataset:
    """A validated upload: feature columns in file order, the target, and their summaries.

    Numeric columns are float32 with NaN for missing (float64 when a value does not fit in
    float32); categorical columns read as numpy unicode arrays with '' for missing, decoded
    when read from their sorted distinct labels and int32 codes (-1 for missing), which
    ``columns.column(name)`` gives. The target has no missing values.
    """

    format: str
    columns: FeatureColumns
    target: np.ndarray
    target_name: str
    features: list[dict[str, Any]]
    target_summary: dict[str, Any]
    n_rows: int
    layout: str = "table"  # or "series": rows in time order (see sequences.series_layout)
    layout_info: dict[str, Any] | None = None


@dataclass(frozen=True)
class ParsedFeatures:
    """A validated upload of features only (rows to predict): columns in file order.

    Columns have the ParsedDataset form, except that numbers stay float64 (predictions see
    exactly the values sent); ``first_row`` is how a user numbers the first data row (the
    CSV line number, or 1 for JSON records and .npz rows).
    """

    format: str
    columns: FeatureColumns
    features: list[dict[str, Any]]
    n_rows: int
    first_row: int


@dataclass(frozen=True)
class TableRules:
    """The target choice and size limits, checked as soon as a reader knows the shape.

    With ``features_only`` no target is required: one column is enough and ``target`` is
    ignored (an .npz may then omit ``y``).
    """

    target: str | None = None
    max_rows: int | None = None
    max_columns: int | None = None
    max_bytes: int | None = None
    features_only: bool = False

    def check(self, names: list[str], n_rows: int) -> str | None:
        """Validate names, limits and the target choice; return the target name."""
        target_name = self.check_columns(names)
        self.check_rows(n_rows)
        return target_name

    def check_columns(self, names: list[str]) -> str | None:
        """Validate column names, their count and the target choice; return the target
        (None when only features are wanted)."""
        for position, name in enumerate(names, start=1):
            if not name:
                raise DatasetFormatError(
                    f"column {position} has no name; give every column a name in the header"
                )
        duplicated = [name for name, count in Counter(names).items() if count > 1]
        if duplicated:
            raise DatasetFormatError(
                f"the column name {duplicated[0]!r} appears more than once; "
                "give every column a distinct name",
                column=duplicated[0],
            )
        if self.features_only and not names:
            raise DatasetFormatError("the file has no columns; give it a header row of features")
        if len(names) < 2 and not self.features_only:
            raise DatasetFormatError(
                f"the file has {len(names)} column(s); it needs at least one feature column "
                "and a target column (is the delimiter a comma?)"
            )
        if self.max_columns is not None and len(names) > self.max_columns:
            raise DatasetFormatError(
                f"the file has {len(names)} columns, more than the limit of "
                f"{self.max_columns}; drop columns you do not need"
            )
        return None if self.features_only else self.target_name(names)

    def check_rows(self, n_rows: int) -> None:
        """Refuse a table with no rows or more rows than the limit."""
        if n_rows == 0:
            raise DatasetFormatError("the file has no data rows; add at least one row")
        if self.max_rows is not None and n_rows > self.max_rows:
            raise DatasetFormatError(
                f"the file has more than {self.max_rows} rows, the limit; upload a sample"
            )

    def target_name(self, names: list[str]) -> str:
        """Return the chosen target column: the named one, else the last."""
        if self.target is None:
            return names[-1]
        if self.target not in names:
            shown = ", ".join(repr(name) for name in names[:20])
            more = ", …" if len(names) > 20 else ""
            raise DatasetFormatError(
                f"there is no column named {self.target!r}; choose the target among {shown}{more}",
                column=self.target,
            )
        return self.target


def assemble(fmt: str, columns: list[Column], rules: TableRules, first_row: int) -> ParsedDataset:
    """Split off and check the target, and gather the features into a ParsedDataset.

    Numeric features are narrowed to float32 one at a time, each float64 array freed as
    its copy is made (the caller's list lets go of them).
    """
    target_name = rules.target_name([column.name for column in columns])
    target = next(column for column in columns if column.name == target_name)
    target_summary = summarise_target(target, first_row)
    for index, column in enumerate(columns):
        if column.name != target_name:
            columns[index] = column.narrowed()
    features = [column for column in columns if column.name != target_name]
    return ParsedDataset(
        format=fmt,
        columns=FeatureColumns(features),
        target=target.values,
        target_name=target_name,
        features=[column.summary for column in features],
        target_summary=target_summary,
        n_rows=target.size,
    )


def assemble_features(fmt: str, columns: list[Column], first_row: int) -> ParsedFeatures:
    """Gather every column, as a feature, into a ParsedFeatures."""
    return ParsedFeatures(
        format=fmt,
        columns=FeatureColumns(columns),
        features=[column.summary for column in columns],
        n_rows=columns[0].size if columns else 0,
        first_row=first_row,
    )


def summarise_target(target: Column, first_row: int) -> dict[str, Any]:
    """Refuse missing or infinite targets; return the target summary."""
    values, name = target.values, target.name
    missing = np.isnan(values) if target.kind == "numeric" else values == ""
    if missing.any():
        row = first_row + int(np.argmax(missing))
        raise DatasetFormatError(
            f"row {row} has no value in target column {name!r}; every row needs a target",
            row=row,
            column=name,
        )
    task = infer_task(values)
    summary: dict[str, Any] = {"name": name, "kind": target.kind, "task": task}
    if task == "classification":
        # one class is kept: a Hopfield data set's target is just another unit; a classifier
        # job on it is refused at submission
        classes, counts = np.unique(values, return_counts=True)
        summary["classes"] = [_plain(label) for label in classes]
        summary["class_counts"] = counts.tolist()  # checked at submission: rows per class
    summary["missing"] = 0
    return summary


def _plain(label: Any) -> int | float | str:
    """Return a class label as a plain JSON value: int for whole numbers, else str."""
    if isinstance(label, np.floating):
        return int(label) if float(label).is_integer() else float(label)
    return str(label)
