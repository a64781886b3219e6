"""Datasets: parse an upload, keep its arrays in the database, hand them to training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.db import defer_wal_checkpoint, insert_blob, new_id
from service.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, field_error
from service.core.lifecycle import ACTIVE
from service.core.pagination import Page, paginate
from service.core.tables import Dataset, DatasetBlob, TrainingJob
from service.domain.ingest import (
    CsvStream,
    DatasetFormatError,
    DatasetTooLarge,
    ParsedSequences,
    decode_categories,
    decode_dataset,
    decode_sequences,
    encode_dataset,
    encode_sequences,
    is_sequence_blob,
    parse_dataset,
)


@dataclass(frozen=True)
class TrainingData:
    """What `fit` takes of a data set, whatever its layout: `X` is columns by name (a table or
    a series) or `(n, T, d)` sequences with their `lengths`; `groups` are a series' series."""

    X: Any
    y: np.ndarray
    features: list[dict[str, Any]]
    lengths: np.ndarray | None = None
    groups: np.ndarray | None = None


def create_dataset(
    session: Session,
    tenant_id: str,
    path: Path,
    *,
    filename: str | None,
    content_type: str | None,
    name: str | None,
    target: str | None,
    size_bytes: int,
    sha256: str,
    max_rows: int,
    max_columns: int,
    max_bytes: int | None = None,
    stream: CsvStream | None = None,
    layout: str | None = None,
    time_column: str | None = None,
    group_column: str | None = None,
) -> Dataset:
    """Parse the uploaded file at `path` (or take what `stream` parsed of it as it arrived)
    and store it for `tenant_id`."""
    try:
        parsed = parse_dataset(
            path,
            filename=filename,
            content_type=content_type,
            target=target,
            max_rows=max_rows,
            max_columns=max_columns,
            max_bytes=max_bytes,
            stream=stream,
            layout=layout,
            time_column=time_column,
            group_column=group_column,
        )
    except DatasetTooLarge as exc:
        raise PayloadTooLarge(str(exc), errors=[format_error_entry(exc)]) from exc
    except DatasetFormatError as exc:
        raise InvalidInput(str(exc), errors=[format_error_entry(exc)]) from exc
    dataset = Dataset(
        id=new_id("ds"),
        tenant_id=tenant_id,
        name=name or filename or "dataset",
        format=parsed.format,
        n_rows=parsed.n_rows,
        n_features=len(parsed.features),  # per step, for sequences
        features=parsed.features,
        target=parsed.target_summary,
        size_bytes=size_bytes,
        sha256=sha256,
        layout="sequences" if isinstance(parsed, ParsedSequences) else parsed.layout,
        layout_info=parsed.layout_info,
    )
    if isinstance(parsed, ParsedSequences):
        blob = encode_sequences(parsed)
    else:
        blob = encode_dataset(parsed, consume=True)  # each column freed once in the blob
    del parsed
    defer_wal_checkpoint(session)
    session.add(dataset)
    session.flush()
    insert_blob(session, DatasetBlob(dataset_id=dataset.id), "data", blob)
    return dataset


def format_error_entry(exc: DatasetFormatError) -> dict[str, Any]:
    loc: list[str | int] = ["body", "file"]
    if exc.row is not None:
        loc.append(f"row {exc.row}")
    if exc.column is not None:
        loc.append(exc.column)
    return field_error(loc, str(exc))


def get_dataset(session: Session, tenant_id: str, dataset_id: str) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.tenant_id != tenant_id:
        raise NotFound(f"There is no dataset {dataset_id!r}; list yours with GET /v1/datasets.")
    return dataset


def list_datasets(session: Session, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Any]:
    stmt = select(Dataset).where(Dataset.tenant_id == tenant_id)
    return paginate(session, stmt, Dataset.id, limit=limit, cursor=cursor)


def delete_dataset(session: Session, tenant_id: str, dataset_id: str) -> None:
    """Delete a dataset unless a job is still training on it."""
    dataset = get_dataset(session, tenant_id, dataset_id)
    busy = session.scalar(
        select(TrainingJob.id).where(
            TrainingJob.dataset_id == dataset_id, TrainingJob.status.in_(ACTIVE)
        )
    )
    if busy is not None:
        raise Conflict(
            f"Dataset {dataset_id!r} is in use by job {busy!r}; cancel it or wait for it to end."
        )
    session.delete(dataset)


def load_arrays(
    session: Session, dataset_id: str
) -> tuple[dict[str, np.ndarray], np.ndarray, list[dict[str, Any]]]:
    """The dataset's feature columns, target and feature kinds, as stored (a table)."""
    return decode_dataset(_blob(session, dataset_id))


def load_categories(session: Session, dataset: Dataset, names: list[str]) -> dict[str, list[str]]:
    """Every category of the named categorical features (the summary keeps the top few)."""
    return decode_categories(_blob(session, dataset.id), names)


def _blob(session: Session, dataset_id: str) -> bytes:
    blob = session.get(DatasetBlob, dataset_id)
    if blob is None:
        raise NotFound(f"The data of dataset {dataset_id!r} is gone.")
    return blob.data


def load_training_data(session: Session, dataset: Dataset) -> TrainingData:
    """What `fit` takes for any layout: `X`, `y`, `features`, and `lengths` or `groups`.

    A series' rows are stored in time order already; its group column comes out as
    `groups` and is not a feature.
    """
    data = _blob(session, dataset.id)
    if is_sequence_blob(data):
        X, lengths, target, names = decode_sequences(data)
        features = [{"name": name, "kind": "numeric"} for name in names]
        return TrainingData(X, target, features, lengths=lengths)
    columns, target, features = decode_dataset(data)
    groups = None
    group_column = (dataset.layout_info or {}).get("group_column")
    if dataset.layout == "series" and group_column is not None:
        groups = columns.pop(group_column)
        features = [f for f in features if f["name"] != group_column]
    return TrainingData(columns, target, features, groups=groups)
