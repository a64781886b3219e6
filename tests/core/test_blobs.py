"""Large blobs are written in place on SQLite and read back byte for byte; a rolled-back
insert leaves nothing."""

from __future__ import annotations

import os

import pytest

from service.core.config import Settings
from service.core.db import insert_blob, transaction
from service.core.tables import Dataset, DatasetBlob, Tenant
from tests.worker.conftest import settings as settings  # noqa: F401  (the fixture)


def add_dataset(session, dataset_id: str) -> None:  # noqa: ANN001
    if session.get(Tenant, "ten_1") is None:
        session.add(Tenant(id="ten_1", name="t"))
        session.flush()
    session.add(
        Dataset(
            id=dataset_id,
            tenant_id="ten_1",
            name="d",
            format="csv",
            n_rows=1,
            n_features=1,
            features=[],
            target={},
            size_bytes=1,
            sha256="0" * 64,
        )
    )
    session.flush()


@pytest.mark.parametrize("size", [10, (1 << 20) - 1, 3 * (1 << 20) + 12345])
def test_blob_round_trips(settings: Settings, size: int) -> None:  # noqa: F811
    data = os.urandom(size)
    with transaction() as session:
        add_dataset(session, f"ds_{size}")
        insert_blob(session, DatasetBlob(dataset_id=f"ds_{size}"), "data", data)
    with transaction() as session:
        blob = session.get(DatasetBlob, f"ds_{size}")
        assert blob is not None and bytes(blob.data) == data


def test_rolled_back_blob_is_gone(settings: Settings) -> None:  # noqa: F811
    with pytest.raises(RuntimeError), transaction() as session:
        add_dataset(session, "ds_gone")
        insert_blob(session, DatasetBlob(dataset_id="ds_gone"), "data", os.urandom(2 << 20))
        raise RuntimeError("after the blob, before the commit")
    with transaction() as session:
        assert session.get(DatasetBlob, "ds_gone") is None
        assert session.get(Dataset, "ds_gone") is None
