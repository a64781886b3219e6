"""The `neuronal` command: serve, worker, migrate, keys."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import typer

from service.cli_client import register_client_commands
from service.cli_recall import recall
from service.config import get_settings

app = typer.Typer(help="Neuronal: train neural networks over HTTP.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

log = logging.getLogger("neuronal.serve")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def migrate_database(database_url: str | None = None) -> None:
    """Apply every migration (alembic upgrade head) to the configured database."""
    from alembic import command
    from alembic.config import Config

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url or settings.database_url
    command.upgrade(config, "head")


def worker_command(concurrency: int | None = None, loglevel: str = "INFO") -> list[str]:
    settings = get_settings()
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app:celery",
        "worker",
        "-Q",
        "neuronal",
        "--pool",
        "threads",
        "-c",
        str(concurrency or settings.worker_concurrency),
        "-n",
        f"neuronal-{os.getpid()}@{socket.gethostname()}",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    migrate_database()
    typer.echo("database is up to date")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="API processes (each keeps its own model cache)."),
    with_worker: bool = typer.Option(
        None, help="Start a training worker too (default: yes on the embedded broker)."
    ),
) -> None:
    """Run the API; on the embedded default this also migrates and starts a worker."""
    import uvicorn

    from service.logs import configure_logging, logging_config

    settings = get_settings()
    configure_logging(settings)
    migrate_database()
    start_worker = settings.embedded_broker if with_worker is None else with_worker
    worker = EmbeddedWorker(worker_command()) if start_worker else None
    try:
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            timeout_graceful_shutdown=10,
            log_level=settings.log_level.lower(),
            log_config=logging_config(settings),
        )
    finally:
        if worker is not None:
            worker.stop()


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
) -> None:
    """Run a Celery worker that trains jobs; run any number on any hosts."""
    command = worker_command(concurrency, loglevel)
    os.execv(command[0], command)


@keys_app.command("create")
def keys_create(tenant: str = typer.Option(..., help="Tenant name; created if new.")) -> None:
    """Create an API key; the key itself is printed alone on the last line."""
    from service.db import transaction
    from service.keys import create_key

    with transaction() as session:
        created = create_key(session, tenant)
    typer.echo(f"tenant {created.tenant_name} ({created.tenant_id}), key id {created.key_id}")
    typer.echo(created.key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids and tenants only; secrets are never stored)."""
    from service.db import transaction
    from service.keys import list_keys

    with transaction() as session:
        for key, tenant in list_keys(session):
            state = f"revoked {key.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if key.revoked_at else "active"
            typer.echo(f"{key.id}\t{tenant.name}\t{key.created_at:%Y-%m-%dT%H:%M:%SZ}\t{state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id; it stops working within the key cache time."""
    from service.db import transaction
    from service.errors import NotFound
    from service.keys import revoke_key

    try:
        with transaction() as session:
            revoke_key(session, key_id)
    except NotFound as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"revoked {key_id}")


register_client_commands(app)
app.command("recall")(recall)

if __name__ == "__main__":
    app()
