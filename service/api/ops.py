"""Operational routes, without authentication: liveness and readiness; and draining on the
server's exit signal."""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from service.core.db import Database

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@asynccontextmanager
async def _drain_on_exit_signal(app: FastAPI) -> AsyncIterator[None]:
    """Set `app.state.shutting_down` the moment the server is told to stop.

    The ASGI lifespan shutdown only runs after every connection has closed, so an event stream
    waiting for it would hold the graceful shutdown open until the server cuts it. Chaining the
    server's own SIGTERM/SIGINT handler lets streams end cleanly while in-flight requests finish.
    """
    restore = _chain_exit_signals(lambda: setattr(app.state, "shutting_down", True))
    try:
        yield
    finally:
        restore()


def _chain_exit_signals(on_exit: Callable[[], None]) -> Callable[[], None]:
    """Call `on_exit`, then the installed handler, on an exit signal; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers live in the main thread (not under a test client)
    previous: dict[int, Any] = {}
    for sig in EXIT_SIGNALS:
        handler = signal.getsignal(sig)
        if not callable(handler):  # no server handler to chain (default or ignored)
            continue

        def chained(signum: int, frame: FrameType | None, handler: Any = handler) -> None:
            on_exit()
            handler(signum, frame)

        previous[sig] = handler
        signal.signal(sig, chained)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


router = APIRouter(tags=["operations"], lifespan=_drain_on_exit_signal)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "The database or the broker is unreachable."}},
)
async def readyz(request: Request) -> JSONResponse:
    """Database and broker reachable: 200; otherwise 503 naming what is down."""
    database: Database = request.app.state.database
    checks: dict[str, Any] = {
        "database": await run_in_threadpool(_database_ok, database),
        "broker": await run_in_threadpool(request.app.state.producer.reachable),
    }
    ready = all(checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def _database_ok(database: Database) -> bool:
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
