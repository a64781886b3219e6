"""A flood of invalid API keys is cut off by client address and by key id (429 with
Retry-After) before it costs a database lookup each; other addresses and key ids, and
keys verified before the flood, are not affected. Loopback only: 127.0.0.2 and .3 play
other clients."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.inputs.helpers import assert_problem, sqlite_path
from tests.stack import Stack

PER_MINUTE = 10


@pytest.fixture(scope="module")
def guarded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "NEURONAL_INVALID_KEYS_PER_MINUTE": str(PER_MINUTE),
        "NEURONAL_API_KEY_CACHE_SECONDS": "60",
    }
    stack = Stack(tmp_path_factory.mktemp("invalid-keys"), env, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


def _from(stack: Stack, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=stack.url, transport=transport, timeout=30)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_invalid_keys_are_limited_by_address_and_key_id(guarded_stack: Stack) -> None:
    stack = guarded_stack
    good = stack.create_key("owner")
    with _from(stack, "127.0.0.1") as flood:
        assert flood.get("/v1/datasets", headers=_bearer(good)).status_code == 200
        answers = [
            flood.get("/v1/datasets", headers=_bearer(f"nrl_key_0badc0de_{n:08d}"))
            for n in range(PER_MINUTE)
        ]
        assert [a.status_code for a in answers] == [401] * PER_MINUTE
        refused = flood.get("/v1/datasets", headers=_bearer("nrl_key_0ther1d_whatever"))
        problem = assert_problem(refused, 429)
        assert "invalid API keys" in problem["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        # a key verified before the flood still works from the same address
        assert flood.get("/v1/datasets", headers=_bearer(good)).status_code == 200
    with _from(stack, "127.0.0.2") as neighbour:
        # another address with another key id: an ordinary 401
        other = neighbour.get("/v1/datasets", headers=_bearer("nrl_key_0ther1d_whatever"))
        assert other.status_code == 401
        # the flooded key id is refused from any address
        assert_problem(neighbour.get("/v1/datasets", headers=_bearer("nrl_key_0badc0de_x")), 429)


def test_a_limited_flood_does_not_reach_the_database(guarded_stack: Stack) -> None:
    stack = guarded_stack
    with _from(stack, "127.0.0.3") as flood:
        for n in range(PER_MINUTE):
            token = f"nrl_key_{n:08x}_secret"
            assert flood.get("/v1/models", headers=_bearer(token)).status_code == 401
        lock = sqlite3.connect(sqlite_path(stack), timeout=30, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")  # every server transaction now waits for this one
            started = time.monotonic()
            refused = flood.get("/v1/models", headers=_bearer("nrl_key_feedf00d_secret"))
            elapsed = time.monotonic() - started
        finally:
            lock.execute("ROLLBACK")
            lock.close()
    assert_problem(refused, 429)
    assert elapsed < 1.0, elapsed
