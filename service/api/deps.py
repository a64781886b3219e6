"""Request-scoped dependencies: settings, the database session, the broker producer (all
built by `create_app` from its settings, on `app.state`), the caller's tenant."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.core.config import Settings
from service.core.db import Database
from service.core.errors import TooManyRequests, Unauthorized
from service.core.logs import bind_log_fields
from service.core.queue import Producer
from service.core.ratelimit import RateLimiter
from service.domain.keys import KeyVerifier, key_id_of

_LIMITER_LOCK = threading.Lock()


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_producer(request: Request) -> Producer:
    producer: Producer = request.app.state.producer
    return producer


def get_session(request: Request) -> Iterator[Session]:
    """The request's one transaction, committed after the route returns and before the
    response is sent (so background tasks only ever see committed rows)."""
    session = get_database(request).sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def current_tenant(request: Request) -> str:
    """The tenant id behind the request's bearer key (401 otherwise), within its request
    rate (429 with Retry-After otherwise).

    A key verified in the last `api_key_cache_seconds` is answered from memory on the event
    loop, so hot routes such as predict pay no database round trip and no thread hop; only a
    cache miss reads the database, in the threadpool.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    token = token.strip()
    verifier: KeyVerifier = request.app.state.key_verifier
    tenant_id = verifier.cached_tenant(token)
    request.state.key_cached = tenant_id is not None
    if tenant_id is None:
        tenant_id = await _verify_guarded(request, verifier, token)
    request.state.tenant_id = tenant_id
    bind_log_fields(tenant_id=tenant_id)
    wait = _rate_limiter(request).acquire(tenant_id)
    if wait:
        limit = request.app.state.settings.rate_limit_per_minute
        raise TooManyRequests(
            f"Your tenant is over this server's limit of {limit:,} requests a minute; "
            f"retry in {wait} s, or spread requests out.",
            retry_after=wait,
        )
    return tenant_id


async def _verify_guarded(request: Request, verifier: KeyVerifier, token: str) -> str:
    """Check `token` against the database, unless its address or key id has sent too many
    invalid keys lately (429): a flood of wrong keys must not cost a lookup each.

    Only well-formed tokens count; malformed ones are refused without a lookup anyway.
    """
    key_id = key_id_of(token)
    if key_id is None:
        return _verify(request, verifier, token)  # raises: malformed, no database involved
    address = request.client.host if request.client else "unknown"
    sources = [f"address {address}", f"key {key_id[:64]}"]
    guard = _state_limiter(
        request.app.state, "invalid_key_limiter", request.app.state.settings.invalid_keys_per_minute
    )
    wait = max(guard.waiting(source) for source in sources)
    if wait:
        per_minute = request.app.state.settings.invalid_keys_per_minute
        raise TooManyRequests(
            f"Over {per_minute:,} invalid API keys a minute came from your address or for "
            f"this key id; retry in {wait} s with a valid key (`neuronal keys create`).",
            retry_after=wait,
        )
    try:
        return await run_in_threadpool(_verify, request, verifier, token)
    except Unauthorized:
        for source in sources:
            guard.acquire(source)
        raise


def _verify(request: Request, verifier: KeyVerifier, token: str) -> str:
    session = get_database(request).sessions()
    try:
        return verifier.verify(session, token)
    finally:
        session.close()


def _rate_limiter(request: Request) -> RateLimiter:
    return rate_limiter(request.app.state)


def rate_limiter(state: Any) -> RateLimiter:
    """The application's per-tenant rate limiter (`app.state`), made on first use."""
    return _state_limiter(state, "rate_limiter", state.settings.rate_limit_per_minute)


def _state_limiter(state: Any, attr: str, per_minute: int) -> RateLimiter:
    """The limiter kept on `state` as `attr`, made once (under a lock) on first use."""
    limiter: RateLimiter | None = getattr(state, attr, None)
    if limiter is None:
        with _LIMITER_LOCK:
            limiter = getattr(state, attr, None)
            if limiter is None:
                limiter = RateLimiter(per_minute)
                setattr(state, attr, limiter)
    return limiter


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
TenantDep = Annotated[str, Depends(current_tenant)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ProducerDep = Annotated[Producer, Depends(get_producer)]
