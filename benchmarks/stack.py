"""Real processes for the service benchmark: `neuronal serve`, `neuronal worker`, the bare
baseline app, a scratch PostgreSQL database and a spare Redis database. Loopback only."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PG_ADMIN_URL = os.environ.get(
    "NEURONAL_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_PORT = int(os.environ.get("NEURONAL_BENCH_REDIS_PORT", "6379"))
REDIS_DB = int(os.environ.get("NEURONAL_BENCH_REDIS_DB", "14"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.02
) -> Any:
    """Poll `predicate` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class Http:
    """One keep-alive HTTP/1.1 connection with the bearer key: low client overhead."""

    def __init__(self, port: int, key: str | None = None, timeout: float = 120) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, str], bytes]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # the server closed the kept-alive connection while it sat idle: the request
            # never reached it, so it is sent again on a new one
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def json(self, method: str, path: str, payload: Any = None, expect: int = 200) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, _, data = self.request(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path} answered {status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()


class Stack:
    """`neuronal serve` (and optionally separate workers) sharing one environment."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None, *, embedded: bool = True):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "NEURONAL_DATA_DIR": str(folder / "data"), **(env or {})}
        self.env["PYTHONPATH"] = str(ROOT)
        self.embedded = embedded
        self.port = free_port()
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(
        self, args: list[str], log: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            stdout=(self.folder / log).open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_api(self, workers: int = 1) -> None:
        args = ["serve", "--port", str(self.port), "--workers", str(workers)]
        if not self.embedded:
            args.append("--no-with-worker")
        self.api = self._spawn(args, "api.log")
        wait_until(lambda: port_open(self.port), timeout=90, what="the API to listen", every=0.1)
        if workers > 1:  # every uvicorn child must have imported the app
            wait_until(
                lambda: len(self.api_processes()) >= workers, timeout=60, what="API children"
            )
            time.sleep(2.0)

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        proc = self._spawn(["worker", "--loglevel", "INFO"], f"worker-{len(self.workers)}.log", env)
        self.workers.append(proc)
        return proc

    def create_key(self, tenant: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", "keys", "create", "--tenant", tenant],
            env=self.env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    def api_processes(self) -> list[psutil.Process]:
        """The processes answering HTTP: the serve process itself, or its uvicorn children."""
        assert self.api is not None
        root = psutil.Process(self.api.pid)
        found = [p for p in root.children(recursive=True) if "celery" not in " ".join(p.cmdline())]
        children = [p for p in found if "multiprocessing" in " ".join(p.cmdline())]
        return children or [root]

    def worker_processes(self) -> list[psutil.Process]:
        """Celery worker processes: the serve process's child on the embedded default, or
        the separately started workers."""
        roots = [psutil.Process(w.pid) for w in self.workers]
        if self.api is not None:
            roots.append(psutil.Process(self.api.pid))
        found = []
        for root in roots:
            for proc in [root, *root.children(recursive=True)]:
                try:
                    if "celery" in " ".join(proc.cmdline()):
                        found.append(proc)
                except psutil.Error:
                    continue
        return found

    def stop(self) -> None:
        procs = [*self.workers, *([self.api] if self.api else [])]
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of every log, access-log lines left out."""
        out = []
        for path in self.folder.glob("*.log"):
            kept = [
                line
                for line in path.read_text(errors="replace").splitlines()
                if "uvicorn.access" not in line
            ]
            out.append(f"--- {path.name}\n" + "\n".join(kept[-lines:]))
        return "\n".join(out)


@contextmanager
def running(stack: Stack, workers: int = 1) -> Iterator[Stack]:
    try:
        stack.start_api(workers)
        yield stack
    except BaseException:
        print(stack.log_tail(), file=sys.stderr)
        raise
    finally:
        stack.stop()


@contextmanager
def bare_app(workers: int = 1) -> Iterator[int]:
    """The baseline: a bare FastAPI app under the same uvicorn settings as `neuronal serve`."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "bare_app.py"), str(port), str(workers)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: port_open(port), timeout=60, what="the bare app", every=0.1)
        if workers > 1:
            time.sleep(2.0)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def services_available() -> bool:
    return port_open_at(5432) and port_open_at(6379)


def port_open_at(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


@contextmanager
def scratch_database(prefix: str = "neuronal_bench") -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards, as its URL."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def postgres_and_redis(redis_db: int = REDIS_DB) -> Iterator[dict[str, str]]:
    """A scratch PostgreSQL database and an emptied spare Redis database, as settings (two
    stacks running at once need two Redis databases)."""
    import redis

    broker = redis.Redis(host=HOST, port=REDIS_PORT, db=redis_db)
    broker.flushdb()
    try:
        with scratch_database() as database_url:
            yield {
                "NEURONAL_DATABASE_URL": database_url,
                "NEURONAL_BROKER_URL": f"redis://{HOST}:{REDIS_PORT}/{redis_db}",
            }
    finally:
        broker.flushdb()


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """CPU seconds (user + system) so far of `procs`, those that have exited left out."""
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


class RssSampler:
    """Peak resident memory of some processes, sampled from a thread every `every` s."""

    def __init__(self, procs: Callable[[], list[psutil.Process]], every: float = 0.02) -> None:
        import threading

        self.procs = procs
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for proc in self.procs():
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
