"""The decoded arrays of the data set this worker trained on last, kept by content id.

A search's trials and a cross-validation's folds all train on one data set: reading its blob
from the database and decoding it again for each was a large part of a short job's set-up
(tens of milliseconds on PostgreSQL for digits). A data set never changes once stored, so its
id and its upload's SHA-256 name its arrays for good. One entry only, and only below a size
cap, so the cache never holds more than one modest data set beside the job that trains: a
miss drops the entry before the next data set is read. The arrays are made read-only, so a
step that tried to change them in place would fail loudly instead of altering the next job's
data.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from service.core.db import transaction
from service.core.errors import NotFound
from service.core.tables import Dataset
from service.domain.datasets import TrainingData, load_training_data

MAX_CACHED_BYTES = 64 * 2**20  # the decoded arrays of one data set, at most

_lock = threading.Lock()
_entry: tuple[tuple[str, str], TrainingData] | None = None


def dataset_gone(dataset_id: str) -> NotFound:
    """What a job whose data set was deleted fails with."""
    return NotFound(f"The dataset {dataset_id!r} of this job has been deleted.")


def training_data(dataset_id: str, sha256: str) -> TrainingData:
    """The arrays of data set `dataset_id` (whose upload hashed to `sha256`): from this
    worker's cache, or read from the database (NotFound if it has been deleted)."""
    global _entry
    key = (dataset_id, sha256)
    with _lock:
        if _entry is not None and _entry[0] == key:
            return _fresh_view(_entry[1])
        _entry = None  # its memory is free before the next data set is read
    with transaction() as session:
        data = _read(session, dataset_id)
    if _nbytes(data) <= MAX_CACHED_BYTES:
        _freeze(data)
        with _lock:
            _entry = (key, data)
        return _fresh_view(data)
    return data


def forget() -> None:
    """Drop the cached arrays (a job ran out of memory; tests)."""
    global _entry
    with _lock:
        _entry = None


def _read(session: Session, dataset_id: str) -> TrainingData:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise dataset_gone(dataset_id)
    return load_training_data(session, dataset)


def _arrays(data: TrainingData) -> list[np.ndarray]:
    columns = list(data.X.values()) if isinstance(data.X, dict) else [data.X]
    extra = [a for a in (data.y, data.lengths, data.groups) if a is not None]
    return [a for a in columns + extra if isinstance(a, np.ndarray)]


def _nbytes(data: TrainingData) -> int:
    return sum(a.nbytes for a in _arrays(data))


def _freeze(data: TrainingData) -> None:
    for array in _arrays(data):
        array.flags.writeable = False


def _fresh_view(data: TrainingData) -> TrainingData:
    """The cached arrays in containers of the caller's own (a step may pop a column)."""
    X: Any = dict(data.X) if isinstance(data.X, dict) else data.X
    features = [dict(feature) for feature in data.features]
    return replace(data, X=X, features=features)
