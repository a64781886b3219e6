"""Datasets through the domain functions: stored, read back, listed, kept per tenant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from service.core.errors import InvalidInput, NotFound
from service.domain.datasets import (
    delete_dataset,
    get_dataset,
    list_datasets,
    load_training_data,
)
from tests.domain.conftest import add_tenant, points_csv, upload


def test_an_upload_is_stored_and_read_back_column_for_column(
    session: Session, tmp_path: Path
) -> None:
    tenant = add_tenant(session, "ten_a")
    dataset = upload(session, tenant, points_csv(tmp_path / "points.csv", rows=60))
    assert dataset.n_rows == 60
    assert [f["name"] for f in dataset.features] == ["x", "y", "colour"]
    assert dataset.target["name"] == "label"
    data = load_training_data(session, get_dataset(session, tenant, dataset.id))
    columns = data.X
    np.testing.assert_allclose(columns["x"][:3], [0, 1 / 7, 2 / 7], rtol=1e-6)
    assert list(columns["colour"][:2]) == ["blue", "red"]
    assert len(data.y) == 60 and data.lengths is None


def test_another_tenant_sees_no_dataset(session: Session, tmp_path: Path) -> None:
    owner, other = add_tenant(session, "ten_a"), add_tenant(session, "ten_b")
    dataset = upload(session, owner, points_csv(tmp_path / "points.csv"))
    with pytest.raises(NotFound):
        get_dataset(session, other, dataset.id)
    with pytest.raises(NotFound):
        delete_dataset(session, other, dataset.id)
    assert list_datasets(session, other, limit=10, cursor=None).items == []


def test_lists_page_newest_first_and_deletion_removes(session: Session, tmp_path: Path) -> None:
    tenant = add_tenant(session, "ten_a")
    ids = [upload(session, tenant, points_csv(tmp_path / f"p{i}.csv")).id for i in range(3)]
    first = list_datasets(session, tenant, limit=2, cursor=None)
    assert [d.id for d in first.items] == ids[::-1][:2]
    rest = list_datasets(session, tenant, limit=2, cursor=first.next_cursor)
    assert [d.id for d in rest.items] == [ids[0]] and rest.next_cursor is None
    delete_dataset(session, tenant, ids[1])
    session.flush()  # what the request's commit does
    with pytest.raises(NotFound):
        get_dataset(session, tenant, ids[1])


def test_a_file_without_a_header_row_is_refused_and_nothing_is_stored(
    session: Session, tmp_path: Path
) -> None:
    tenant = add_tenant(session, "ten_a")
    path = tmp_path / "bare.csv"
    path.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(InvalidInput, match="header"):
        upload(session, tenant, path)
    assert list_datasets(session, tenant, limit=10, cursor=None).items == []
