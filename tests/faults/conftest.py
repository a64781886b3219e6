"""Fixtures for fault tests: every test gets its own Redis, database and processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.faults.servers import (
    FaultStack,
    PostgresServer,
    RedisServer,
    create_database,
    migrate,
)
from tests.stack import postgres_database

MakeStack = Callable[..., FaultStack]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_stack(tmp_path: Path, redis_server: RedisServer) -> Iterator[MakeStack]:
    """Build a FaultStack (nothing started yet) with extra NEURONAL_* settings, on the given
    database or a fresh migrated one on the shared PostgreSQL. Everything it started is
    stopped before its database goes; its logs are printed if the test failed."""
    stacks: list[FaultStack] = []
    with ExitStack() as databases:

        def make(database_url: str | None = None, **env: str) -> FaultStack:
            if database_url is None:
                database_url = databases.enter_context(postgres_database())
                migrate(database_url)
            tmp = tmp_path / f"stack{len(stacks)}"
            tmp.mkdir()
            stack = FaultStack(tmp, database_url, redis_server.url, env)
            stacks.append(stack)
            return stack

        yield make
        for stack in stacks:
            for worker in stack.workers:  # its jobs die with the database: no need to drain
                if worker.poll() is None:
                    stack.kill(worker)
            stack.stop()
            print(stack.logs())


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of its own (so it can be stopped), with a migrated database."""
    server = PostgresServer()
    try:
        server.create()
        server.start()
        create_database(server.url(), "neuronal")
        migrate(server.url("neuronal"))
        yield server
    finally:
        server.remove()
