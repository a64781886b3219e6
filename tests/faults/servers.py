"""Private servers and stacks for fault tests: a Redis and a PostgreSQL of their own on free
ports, so a test can stop, kill and restart them without touching the shared ones."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.stack import ROOT, Stack, free_port, port_open, services_required, wait_until

PG_INSTALLS = Path("/usr/lib/postgresql")
PG_VERSIONS = sorted(
    (p.name for p in PG_INSTALLS.glob("*") if p.name.isdigit()), key=int
) if PG_INSTALLS.exists() else []  # fmt: skip
PG_BIN = PG_INSTALLS / (PG_VERSIONS[-1] if PG_VERSIONS else "15") / "bin"
TERMINAL = ("succeeded", "failed", "cancelled")

# Fast enough for tests, slow enough that a busy 2-core machine never starves a heartbeat.
FAULT_TIMINGS = {
    "NEURONAL_HEARTBEAT_SECONDS": "0.5",
    "NEURONAL_STALE_AFTER_SECONDS": "3",
    "NEURONAL_REAPER_INTERVAL_SECONDS": "0.5",
    "NEURONAL_REQUEUE_AFTER_SECONDS": "2",
    "NEURONAL_CHECKPOINT_INTERVAL_SECONDS": "0",
    "NEURONAL_API_KEY_CACHE_SECONDS": "1",
}


def _missing(what: str) -> None:
    if services_required():
        pytest.fail(f"{what} and NEURONAL_REQUIRE_SERVICES=1")
    pytest.skip(what)


class RedisServer:
    """`redis-server` without persistence on a free port; restarting it loses every message."""

    def __init__(self, port: int | None = None) -> None:
        if shutil.which("redis-server") is None:
            _missing("redis-server is not installed")
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open("127.0.0.1", self.port), timeout=10, what="redis-server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # no persistence either way: everything in it is gone
            self.proc.wait(timeout=10)
        self.proc = None
        wait_until(lambda: not port_open("127.0.0.1", self.port), timeout=10, what="redis to stop")

    def restart(self) -> None:
        self.stop()
        self.start()


class PostgresServer:
    """A throw-away PostgreSQL cluster in a temporary folder (initdb + pg_ctl); run as the
    postgres user when the tests run as root, because PostgreSQL refuses root."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        if not (PG_BIN / "initdb").exists() or (self.as_root and not shutil.which("runuser")):
            _missing(f"PostgreSQL server binaries are not installed in {PG_BIN}")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="neuronal-pg-"))

    def create(self) -> None:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        self._as_postgres(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres")

    def _as_postgres(self, *args: Any) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run(
            [*prefix, *map(str, args)],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=self.dir,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.ctl("start")

    def stop(self) -> None:
        self.ctl("stop")

    def ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        data = self.dir / "data"
        self._as_postgres(
            PG_BIN / "pg_ctl", "-D", data, "-o", options, "-l", self.dir / "log", "-w",
            "-m", "fast", action,
        )  # fmt: skip

    def remove(self) -> None:
        if (self.dir / "data" / "postmaster.pid").exists():
            self.ctl("stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def create_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def migrate(database_url: str) -> None:
    """`alembic upgrade head` on `database_url`, in this process."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


class FaultStack(Stack):
    """An API and `neuronal worker` processes on a private broker, with ways to hurt them."""

    def __init__(self, tmp: Path, database_url: str, broker_url: str, env: dict[str, str]) -> None:
        settings = {"NEURONAL_DATABASE_URL": database_url, "NEURONAL_BROKER_URL": broker_url}
        super().__init__(tmp, {**FAULT_TIMINGS, **settings, **env}, embedded=False)
        self.database_url = database_url

    def create_key(self, tenant: str) -> str:
        from service.core.db import transaction
        from service.domain.keys import create_key

        with transaction(self.database_url) as session:
            return create_key(session, tenant).key

    def worker_log(self, proc: subprocess.Popen[bytes]) -> str:
        path = self.tmp / f"worker-{self.workers.index(proc)}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, workers: int = 1) -> list[subprocess.Popen[bytes]]:
        """Start the API and `workers` workers side by side; wait until all are ready."""
        procs = [self.start_worker() for _ in range(workers)]
        self.start_api()
        for proc in procs:
            self.wait_ready(proc)
        return procs

    def ready_worker(self, **env: str) -> subprocess.Popen[bytes]:
        """Start a worker and wait until it consumes from the broker."""
        return self.wait_ready(self.start_worker(**env))

    def wait_ready(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        wait_until(
            lambda: " ready." in self.worker_log(proc) or proc.poll() is not None,
            timeout=60,
            what="the worker to start",
        )
        assert proc.poll() is None, self.worker_log(proc)
        return proc

    def worker_of(self, job_id: str) -> subprocess.Popen[bytes]:
        """The worker process that holds (or last held) the job; not part of the API."""
        from service.core.db import transaction
        from service.core.tables import TrainingJob

        with transaction(self.database_url) as session:
            job = session.get(TrainingJob, job_id)
            assert job is not None and job.worker is not None, job
            hostname = job.worker
        pid = int(hostname.split("@")[0].rsplit("-", 1)[1])  # neuronal-<pid>@<host>
        return next(p for p in self.workers if p.pid == pid)

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Send `sig` to a process group started by this stack and wait for it to end."""
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)


def synthetic_csv(rows: int, seed: int = 0) -> bytes:
    """A two-class problem with four numeric features, as CSV."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4)).round(4)
    label = np.where(X[:, 0] + X[:, 1] * X[:, 2] > 0, "yes", "no")
    rows_text = (",".join(map(str, x)) + f",{y}" for x, y in zip(X, label, strict=True))
    lines = ["a,b,c,d,label", *rows_text]
    return ("\n".join(lines) + "\n").encode()


def upload(client: httpx.Client, data: bytes) -> str:
    answer = client.post("/v1/datasets", files={"file": ("data.csv", data, "text/csv")})
    assert answer.status_code == 201, answer.text
    dataset_id: str = answer.json()["id"]
    return dataset_id


def job_body(dataset_id: str, *, epochs: int, batch_size: int = 1, **training: Any) -> dict:
    """A small seeded network; `batch_size=1` makes each epoch long enough to interrupt."""
    return {
        "dataset_id": dataset_id,
        "network": {"layers": [{"units": 8, "activation": "tanh"}]},
        "training": {
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": {"name": "adam", "learning_rate": 0.001},
            "seed": 7,
            "validation_fraction": 0.2,
            **training,
        },
    }


def submit(client: httpx.Client, body: dict) -> str:
    answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["id"]
    return job_id


def get_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


def wait_job(
    client: httpx.Client, job_id: str, until: Any, *, timeout: float = 60, what: str = ""
) -> dict[str, Any]:
    """Poll the job until `until(job)` holds; returns that job."""

    def check() -> dict[str, Any] | None:
        job = get_job(client, job_id)
        return job if until(job) else None

    result: dict[str, Any] = wait_until(
        check, timeout=timeout, what=what or f"job {job_id}", interval=0.05
    )
    return result


def finished(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    return wait_job(client, job_id, lambda j: j["status"] in TERMINAL, timeout=timeout)


def metrics(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/jobs/{job_id}/metrics")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def models_of(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/models", params={"limit": 500})
    assert answer.status_code == 200, answer.text
    return [m for m in answer.json()["items"] if m["job_id"] == job_id]


def weights(client: httpx.Client, model_id: str) -> dict[str, np.ndarray]:
    import io

    answer = client.get(f"/v1/models/{model_id}/weights")
    assert answer.status_code == 200, answer.text
    with np.load(io.BytesIO(answer.content), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


@contextmanager
def timed(limit: float) -> Iterator[None]:
    """Assert the block takes under `limit` seconds."""
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    assert elapsed < limit, f"took {elapsed:.1f} s, over {limit} s"
