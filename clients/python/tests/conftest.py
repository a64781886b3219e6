"""A real `neuronal serve` (the embedded default: SQLite, folder broker, its own worker) for
the client to talk to, started with the server's own test harness (tests/stack.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import iris_csv
from tests.stack import Stack


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("client-server"), {}, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def iris_bytes() -> bytes:
    return iris_csv()


@pytest.fixture(scope="session")
def key(server: Stack) -> str:
    return server.create_key("client-sdk")
