"""Shared fixtures: data files and running stacks of real processes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import Stack, postgres_database, redis_url


def iris_csv() -> bytes:
    from sklearn.datasets import load_iris

    data = load_iris()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [*[n.replace(" (cm)", "").replace(" ", "_") for n in data.feature_names], "species"]
    )
    for row, label in zip(data.data, data.target, strict=True):
        writer.writerow([*row, data.target_names[label]])
    return out.getvalue().encode()


@pytest.fixture(scope="session")
def iris_bytes() -> bytes:
    return iris_csv()


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`neuronal serve` on the embedded default: SQLite, folder broker, its own worker."""
    stack = Stack(tmp_path_factory.mktemp("embedded"), {}, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def production_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL + Redis, the API and a separate `neuronal worker` process."""
    with postgres_database() as database_url:
        env = {"NEURONAL_DATABASE_URL": database_url, "NEURONAL_BROKER_URL": redis_url()}
        stack = Stack(tmp_path_factory.mktemp("production"), env, embedded=False)
        stack.neuronal("migrate")
        stack.start_api()
        stack.start_worker()
        yield stack
        stack.stop()


@pytest.fixture(params=["embedded", "production"])
def stack(request: pytest.FixtureRequest) -> Stack:
    result: Stack = request.getfixturevalue(f"{request.param}_stack")
    return result


@pytest.fixture(scope="session")
def tmp_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("files")
