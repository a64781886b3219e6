"""Real processes for integration tests: `neuronal serve` over HTTP, `neuronal worker`
subprocesses, PostgreSQL and Redis. Nothing here is mocked."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "NEURONAL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_HOST = "127.0.0.1"
# checkouts tested side by side on one machine may each point at a Redis of their own
REDIS_PORT = int(os.environ.get("NEURONAL_TEST_REDIS_PORT", "6379"))
FAST_TIMINGS = {
    "NEURONAL_HEARTBEAT_SECONDS": "0.5",
    "NEURONAL_STALE_AFTER_SECONDS": "4",
    "NEURONAL_REAPER_INTERVAL_SECONDS": "1",
    "NEURONAL_REQUEUE_AFTER_SECONDS": "3",
    "NEURONAL_CHECKPOINT_INTERVAL_SECONDS": "0",
    "NEURONAL_API_KEY_CACHE_SECONDS": "1",
    "NEURONAL_REGISTRY_CACHE_SECONDS": "0.5",
    # receivers in the tests listen on loopback; the address guard's test turns this off
    "NEURONAL_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
}


def services_required() -> bool:
    return os.environ.get("NEURONAL_REQUIRE_SERVICES") == "1"


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def need(host: str, port: int, what: str) -> None:
    if port_open(host, port):
        return
    message = f"{what} is not reachable at {host}:{port}"
    if services_required():
        pytest.fail(message + " and NEURONAL_REQUIRE_SERVICES=1")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty database on the shared PostgreSQL, dropped afterwards."""
    need("127.0.0.1", 5432, "PostgreSQL")
    from sqlalchemy import create_engine, text

    name = f"neuronal_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from service.core.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# runs side by side (several checkouts on one machine) each set their own first database, and
# the test processes of one run (pytest-xdist's gw0, gw1, ...) each take every n-th number
_first_db = int(os.environ.get("NEURONAL_TEST_REDIS_DB", "1"))
_process = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_redis_db = iter(range(_first_db + _process, 16, _processes))


def redis_url() -> str:
    """A Redis database number of its own, emptied first."""
    need(REDIS_HOST, REDIS_PORT, "Redis")
    import redis

    db = next(_redis_db)
    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


class Stack:
    """An API process (and workers) sharing one environment."""

    def __init__(self, tmp: Path, env: dict[str, str], *, embedded: bool) -> None:
        self.tmp = tmp
        self.env = {**os.environ, **FAST_TIMINGS, "NEURONAL_DATA_DIR": str(tmp / "data"),
                    OWNER: OWNER_TOKEN, **env}  # fmt: skip
        self.embedded = embedded
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def neuronal(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def start_api(self) -> None:
        log = (self.tmp / "api.log").open("ab")
        args = ["serve", "--port", str(self.port)]
        if not self.embedded:
            args.append("--no-with-worker")
        self.api = subprocess.Popen(
            [sys.executable, "-m", "service.cli", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: _healthy(self.url), timeout=60, what="the API to start")

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{len(self.workers)}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker", "--loglevel", "INFO"],
            env={**self.env, **env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def create_key(self, tenant: str) -> str:
        return self.neuronal("keys", "create", "--tenant", tenant).stdout.strip().splitlines()[-1]

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        for proc in [*self.workers, *([self.api] if self.api else [])]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, *([self.api] if self.api else [])]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.tmp.glob("*.log")
        )


# every process a stack starts carries this test process's token, so that none outlives it
OWNER, OWNER_TOKEN = "NEURONAL_TEST_OWNER", f"{os.getpid()}-{uuid.uuid4().hex}"


@atexit.register
def _end_leftovers() -> None:
    """Kill what is left of the stacks' processes when the test process ends: `serve`'s
    embedded workers can outlive it in their own shutdown (a deliveries worker of a test's
    server was once found still running minutes after the run), and nothing of a test run
    may stay behind to consume from a broker."""
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(OWNER) == OWNER_TOKEN:
                proc.kill()
        except psutil.Error:
            continue


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(predicate: Any, *, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    result: dict[str, Any] = wait_until(
        finished, timeout=timeout, what=f"job {job_id}", interval=0.2
    )
    return result
