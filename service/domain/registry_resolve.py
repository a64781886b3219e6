"""Which model a registered name's alias or version names, remembered per API process.

The database is the truth; each process keeps what it read for a lease of `lease` seconds,
timed from *before* the read was sent. Every change of what a name resolves to (an alias set,
moved or deleted, a registered model deleted) commits and then waits one lease before it
answers. So once that answer has gone out, every entry read before the commit has expired in
every process (on any host: only durations are compared, never clocks), and any later
prediction reads the new row. Processes need not know of each other, and predicting by alias
costs one indexed read per name per lease, not one per request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.errors import NotFound
from service.core.tables import ModelAlias, ModelVersion, RegisteredModel
from service.domain.registry_aliases import get_alias
from service.domain.registry_names import get_registered_model

Ref = str | int  # an alias, or a version number


@dataclass(frozen=True)
class Resolved:
    """What a name's alias or version names: a model, as that version."""

    model_id: str
    version: int
    alias: str | None


class Resolver:
    """Resolutions of (tenant, name, alias or version), kept `lease` seconds each, least
    recently used evicted past `capacity`. Lookups that find nothing are not kept."""

    def __init__(self, lease: float, capacity: int = 4096) -> None:
        self.lease = lease
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str, Ref], tuple[Resolved, float]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, tenant_id: str, name: str, ref: Ref) -> Resolved | None:
        """The resolution read within the lease, or None (then call `resolve`)."""
        key = (tenant_id, name, ref)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def resolve(self, session: Session, tenant_id: str, name: str, ref: Ref) -> Resolved:
        """Read the resolution from the database and keep it for the lease."""
        cached = self.cached(tenant_id, name, ref)
        if cached is not None:
            return cached
        read_at = time.monotonic()  # before the read: the lease never outlives a commit
        resolved = read_resolution(session, tenant_id, name, ref)
        if self.lease > 0:
            with self._lock:
                self._entries[(tenant_id, name, ref)] = (resolved, read_at + self.lease)
                self._entries.move_to_end((tenant_id, name, ref))
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        return resolved

    def forget(self, tenant_id: str, name: str) -> None:
        """Drop this process's entries of `name` at once (other processes wait the lease)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == tenant_id and k[1] == name]:
                del self._entries[key]


def read_resolution(session: Session, tenant_id: str, name: str, ref: Ref) -> Resolved:
    """What `ref` of the tenant's `name` names now, in one indexed read; 404 if nothing."""
    registered = RegisteredModel.tenant_id == tenant_id, RegisteredModel.name == name
    if isinstance(ref, int):
        version_stmt = (
            select(ModelVersion.model_id)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
            .where(*registered, ModelVersion.version == ref)
        )
        model_id = session.scalar(version_stmt)
        if model_id is None:
            _not_found(session, tenant_id, name, ref)
        return Resolved(str(model_id), ref, None)
    alias_stmt = (
        select(ModelAlias.version, ModelAlias.model_id)
        .join(RegisteredModel, RegisteredModel.id == ModelAlias.registered_model_id)
        .where(*registered, ModelAlias.alias == ref)
    )
    row = session.execute(alias_stmt).first()
    if row is None:
        _not_found(session, tenant_id, name, ref)
    return Resolved(row.model_id, row.version, ref)


def _not_found(session: Session, tenant_id: str, name: str, ref: Ref) -> NoReturn:
    """Raise the 404 that says what is missing: the name, the alias or the version."""
    registered = get_registered_model(session, tenant_id, name)
    if isinstance(ref, str):
        get_alias(session, tenant_id, name, ref)
    raise NotFound(
        f"Registered model {name!r} has no version {ref} (its latest is "
        f"{registered.latest_version or 'none yet'}); list them with GET "
        f"/v1/registered-models/{name}/versions."
    )
