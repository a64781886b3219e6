"""Domain functions called in-process on a real database: a migrated SQLite file and a fresh
PostgreSQL database, the same tests on both."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import dispose_engines, transaction
from service.core.schema import migrate_database
from service.core.tables import Dataset, Tenant
from service.domain.datasets import create_dataset
from tests.stack import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'neuronal.db'}"
        migrate_database(url)
        yield url
        dispose_engines()
    else:
        with postgres_database() as url:
            migrate_database(url)
            yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, max_running_jobs_per_tenant=3)


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """One transaction per test step is the caller's job; this one commits at the end."""
    with transaction(database_url) as session:
        yield session


def add_tenant(session: Session, tenant_id: str) -> str:
    session.add(Tenant(id=tenant_id, name=tenant_id))
    session.flush()
    return tenant_id


def upload(session: Session, tenant_id: str, path: Path, **options: object) -> Dataset:
    data = path.read_bytes()
    return create_dataset(
        session,
        tenant_id,
        path,
        filename=path.name,
        content_type="text/csv",
        name=None,
        target=None,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        max_rows=100_000,
        max_columns=1_000,
        **options,  # type: ignore[arg-type]
    )


def points_csv(path: Path, rows: int = 60) -> Path:
    lines = ["x,y,colour,label"]
    for i in range(rows):
        x, y = (i % 7) / 7, (i % 5) / 5
        lines.append(f"{x},{y},{'red' if i % 2 else 'blue'},{'a' if x + y > 0.8 else 'b'}")
    path.write_text("\n".join(lines) + "\n")
    return path
