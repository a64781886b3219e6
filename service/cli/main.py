"""The `neuronal` command: serve, worker, migrate, keys.

The embedded default keeps its SQLite database and broker folder in the data directory:
NEURONAL_DATA_DIR when set, else `neuronal-data` under the current directory. `serve`,
`migrate` and `keys create` print which one they use.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from service.cli.client_commands import register_client_commands
from service.cli.errors import fail, run, usage_error
from service.cli.recall import recall
from service.core.config import Settings, get_settings
from service.core.schema import migrate_database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="Neuronal: train neural networks over HTTP.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

log = logging.getLogger("neuronal.serve")


def describe_database(settings: Settings) -> str:
    """Where this command's data lives, in words (no password)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if settings.is_sqlite:
        where = f"SQLite {url.database}"
    else:
        where = url.render_as_string(hide_password=True)
    data_dir = f"data directory {settings.data_dir.resolve()}"
    return f"database {where} ({data_dir})" if settings.is_sqlite else f"database {where}"


def _one_line(error: BaseException | None) -> str:
    return " ".join(str(error).split())


def _sqlite_missing(settings: Settings) -> Path | None:
    """The SQLite file the settings name, when it does not exist yet."""
    from sqlalchemy.engine import make_url

    database = make_url(settings.database_url).database
    if not settings.is_sqlite or not database or database == ":memory:":
        return None
    path = Path(database)
    return None if path.exists() else path


@contextmanager
def admin_session(*, create: bool) -> Iterator[Session]:
    """A transaction on an up-to-date schema (migrated first, as `serve` does). Without
    `create`, a SQLite database that does not exist yet is reported, not made."""
    from sqlalchemy.exc import OperationalError

    from service.core.db import transaction

    settings = get_settings()
    missing = _sqlite_missing(settings)
    if missing is not None and not create:
        fail(
            f"there is no database at {missing} yet (data directory "
            f"{settings.data_dir.resolve()}); set NEURONAL_DATA_DIR to the one `serve` uses, "
            "or create a key with `neuronal keys create --tenant NAME`"
        )
    try:
        migrate_database(settings.database_url)
        with transaction(settings.database_url) as session:
            yield session
    except OperationalError as exc:
        fail(f"cannot use the {describe_database(settings)}: {_one_line(exc.orig)}")


def worker_command(
    concurrency: int | None = None, loglevel: str = "INFO", *, deliveries: bool = False
) -> list[str]:
    """The worker's command line: the pool, queue, concurrency and the rest are configured in
    worker/celery_app.py; only what the user chose here is passed on. A delivery worker
    consumes the webhook queue only, one thread per concurrent delivery."""
    chosen = ["-c", str(concurrency)] if concurrency else []
    if deliveries:
        from service.core.queue import WEBHOOK_QUEUE

        threads = concurrency or get_settings().webhook_max_concurrent_deliveries
        chosen = ["-Q", WEBHOOK_QUEUE, "-c", str(threads)]
    role = "deliveries" if deliveries else "neuronal"
    return [
        sys.executable,
        "-m",
        "worker",  # Celery's command line, logging as JSON from the start
        "-A",
        "worker.celery_app:celery",
        "--quiet",  # no banner: every line on the stream is a JSON log record
        "worker",
        *chosen,
        "-n",
        f"{role}-{os.getpid()}@{socket.gethostname()}",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (creating it in a new database)."""
    from sqlalchemy.exc import OperationalError

    settings = get_settings()
    try:
        before, after = migrate_database(settings.database_url)
    except OperationalError as exc:
        fail(f"cannot use the {describe_database(settings)}: {_one_line(exc.orig)}")
    where = describe_database(settings)
    if before is None:
        typer.echo(f"created the schema at revision {after} in the {where}")
    elif before != after:
        typer.echo(f"upgraded the schema from revision {before} to {after} in the {where}")
    else:
        typer.echo(f"the schema is already up to date (revision {after}) in the {where}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="API processes (each keeps its own model cache)."),
    with_worker: bool = typer.Option(
        None,
        help="Start a training worker and a webhook delivery worker too (default: yes on the "
        "embedded broker).",
    ),
) -> None:
    """Run the API; on the embedded default this also migrates and starts a worker."""
    import uvicorn

    from service.core.logs import configure_logging, logging_config

    settings = get_settings()
    configure_logging(settings)
    log.info("serving from the %s; broker %s", describe_database(settings), _broker(settings))
    migrate_database(settings.database_url)
    start_worker = settings.embedded_broker if with_worker is None else with_worker
    started = [worker_command(), worker_command(deliveries=True)] if start_worker else []
    children = [EmbeddedWorker(command) for command in started]
    try:
        uvicorn.run(
            "service.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            timeout_graceful_shutdown=10,
            http="service.api.http_guard:GuardedHttpProtocol",  # bounded request heads
            log_level=settings.log_level.lower(),
            log_config=logging_config(settings),
        )
    finally:
        for child in children:
            child.stop()


def _broker(settings: Settings) -> str:
    if settings.embedded_broker:
        return f"folder {settings.broker_folder}"
    from sqlalchemy.engine import make_url

    return make_url(settings.broker_url).render_as_string(hide_password=True)


class EmbeddedWorker(threading.Thread):
    """The worker child of `serve` on the embedded default, restarted if it ever exits."""

    def __init__(self, command: list[str]) -> None:
        super().__init__(daemon=True, name="embedded-worker")
        self.command = command
        self.child = _start_child(command)
        self.stopping = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            if self.child.poll() is not None and not self.stopping.is_set():
                log.warning("the worker exited (%s); starting another", self.child.returncode)
                self.child = _start_child(self.command)

    def stop(self) -> None:
        self.stopping.set()
        self.child.send_signal(signal.SIGTERM)
        try:
            self.child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.child.kill()


def _start_child(command: list[str]) -> subprocess.Popen[bytes]:
    """Start `command`; on Linux the kernel also stops it when this process dies.

    uvicorn re-raises the stop signal once it has shut down, so `serve` can end without
    reaching its `finally`; the parent-death signal keeps the worker from being orphaned."""
    on_linux = sys.platform == "linux"
    return subprocess.Popen(command, preexec_fn=_die_with_parent if on_linux else None)


def _die_with_parent() -> None:
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@app.command()
def worker(
    concurrency: int = typer.Option(None, help="Jobs trained at once by this process."),
    loglevel: str = typer.Option("INFO"),
    deliveries: bool = typer.Option(
        False, "--deliveries", help="Deliver webhooks instead of training jobs."
    ),
) -> None:
    """Run a Celery worker that trains jobs (or, with --deliveries, delivers webhooks); run
    any number on any hosts."""
    command = worker_command(concurrency, loglevel, deliveries=deliveries)
    os.execv(command[0], command)


@keys_app.command("create")
def keys_create(tenant: str = typer.Option(..., help="Tenant name; created if new.")) -> None:
    """Create an API key; the key itself is printed alone on the last line."""
    from service.domain.keys import create_key

    tenant = tenant.strip()
    if not tenant:
        usage_error("--tenant", "a tenant name such as demo (created if new), not an empty one")

    with admin_session(create=True) as session:
        created = create_key(session, tenant)
    typer.echo(f"tenant {created.tenant_name} ({created.tenant_id}), key id {created.key_id}")
    typer.echo(f"stored in the {describe_database(get_settings())}")
    typer.echo(created.key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids and tenants only; secrets are never stored)."""
    from service.core.db import iso_utc
    from service.domain.keys import list_keys

    with admin_session(create=False) as session:
        for key, tenant in list_keys(session):
            state = f"revoked {iso_utc(key.revoked_at)}" if key.revoked_at else "active"
            typer.echo(f"{key.id}\t{tenant.name}\t{iso_utc(key.created_at)}\t{state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id; it stops working within the key cache time."""
    from service.core.errors import NotFound
    from service.domain.keys import revoke_key

    try:
        with admin_session(create=False) as session:
            revoke_key(session, key_id)
    except NotFound as exc:
        fail(exc.detail)
    typer.echo(f"revoked {key_id}")


register_client_commands(app)
app.command("recall")(recall)


def main() -> None:
    """The `neuronal` command, with one-line errors."""
    run(app)


if __name__ == "__main__":
    main()
