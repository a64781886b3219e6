"""Tenants and their API keys. A key is `nrl_<key id>_<secret>`; only SHA-256(secret) is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.db import new_id, utcnow
from service.core.errors import NotFound, Unauthorized
from service.core.tables import ApiKey, Tenant

KEY_PREFIX = "nrl"


@dataclass(frozen=True)
class CreatedKey:
    key_id: str
    tenant_id: str
    tenant_name: str
    key: str


def create_key(session: Session, tenant_name: str) -> CreatedKey:
    """Create a key for `tenant_name`, creating the tenant on first use."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == tenant_name))
    if tenant is None:
        tenant = Tenant(id=new_id("ten"), name=tenant_name)
        session.add(tenant)
        session.flush()
    key_id = new_id("key")
    secret = secrets.token_urlsafe(32)
    session.add(ApiKey(id=key_id, tenant_id=tenant.id, secret_hash=_hash(secret)))
    return CreatedKey(key_id, tenant.id, tenant.name, f"{KEY_PREFIX}_{key_id}_{secret}")


def revoke_key(session: Session, key_id: str) -> None:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"There is no API key {key_id!r}.")
    key.revoked_at = key.revoked_at or utcnow()


def list_keys(session: Session) -> list[tuple[ApiKey, Tenant]]:
    rows = session.execute(select(ApiKey, Tenant).join(Tenant).order_by(ApiKey.id))
    return [(key, tenant) for key, tenant in rows.tuples()]


def _hash(secret: str) -> str:
    # Keys are 256-bit random secrets, so a fast hash is safe; there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_of(token: str) -> str | None:
    """The key id a well-formed token names (not proof that it exists), else None."""
    try:
        return _split(token)[0]
    except Unauthorized:
        return None


def _split(token: str) -> tuple[str, str]:
    parts = token.split("_")
    if len(parts) < 4 or parts[0] != KEY_PREFIX or parts[1] != "key":
        raise Unauthorized("The API key is malformed; send 'Authorization: Bearer nrl_key_…'.")
    return f"key_{parts[2]}", "_".join(parts[3:])


class KeyVerifier:
    """Resolves bearer tokens to tenant ids, remembering good ones briefly.

    The cache keeps authentication off the database on hot routes such as predict; a revoked
    key stops working within `ttl` seconds in every API process.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def cached_tenant(self, token: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        return None

    def verify(self, session: Session, token: str) -> str:
        key_id, secret = _split(token)
        key = session.get(ApiKey, key_id)
        if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
            raise Unauthorized("The API key is not valid; create one with `neuronal keys create`.")
        if key.revoked_at is not None:
            raise Unauthorized("The API key has been revoked; create a new one.")
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (key.tenant_id, time.monotonic() + self.ttl)
        return key.tenant_id

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
