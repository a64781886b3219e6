"""The model registry's routes (`/v1/registered-models`, `POST /v1/jobs/{id}/register`), as
methods `NeuronalClient` inherits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import quote

from neuronal_client.errors import NotFoundError
from neuronal_client.transport import Transport
from neuronal_client.types import (
    AliasInfo,
    AliasMoveInfo,
    ListPage,
    ModelVersionInfo,
    PredictionResult,
    RegisteredModelInfo,
)

ROOT = "/v1/registered-models"


def _path(name: str, *parts: str | int) -> str:
    return "/".join([ROOT, quote(name, safe=""), *(quote(str(p), safe="") for p in parts)])


class RegistryMethods:
    _api: Transport

    def create_registered_model(
        self, name: str, description: str | None = None
    ) -> RegisteredModelInfo:
        body = {"name": name} | ({"description": description} if description else {})
        return cast(RegisteredModelInfo, self._api.json("POST", ROOT, json=body, retry=False))

    def list_registered_models(
        self, limit: int = 50, cursor: str | None = None
    ) -> ListPage[RegisteredModelInfo]:
        params = {"limit": limit, "cursor": cursor}
        return cast(ListPage[RegisteredModelInfo], self._api.json("GET", ROOT, params=params))

    def iter_registered_models(self, page_size: int = 100) -> Iterator[RegisteredModelInfo]:
        return self._api.pages(ROOT, {"limit": page_size})

    def get_registered_model(self, name: str) -> RegisteredModelInfo:
        return cast(RegisteredModelInfo, self._api.json("GET", _path(name)))

    def delete_registered_model(self, name: str) -> None:
        self._api.json("DELETE", _path(name), retry=False)

    def register_model(
        self, model_id: str, name: str, alias: str | None = None, *, create: bool = True
    ) -> ModelVersionInfo:
        """Add `model_id` as the next version of `name` (created first if new and `create`),
        then point `alias` at it; returns the version."""
        body = {"model_id": model_id}
        try:
            version = self._api.json("POST", _path(name, "versions"), json=body, retry=False)
        except NotFoundError:
            if not create:
                raise
            self.create_registered_model(name)
            version = self._api.json("POST", _path(name, "versions"), json=body, retry=False)
        if alias is not None:
            self.set_alias(name, alias, version["version"])
            version["aliases"] = [*version.get("aliases", []), alias]
        return cast(ModelVersionInfo, version)

    def list_model_versions(
        self, name: str, limit: int = 50, cursor: str | None = None
    ) -> ListPage[ModelVersionInfo]:
        params = {"limit": limit, "cursor": cursor}
        page = self._api.json("GET", _path(name, "versions"), params=params)
        return cast(ListPage[ModelVersionInfo], page)

    def get_model_version(self, name: str, version: int) -> ModelVersionInfo:
        return cast(ModelVersionInfo, self._api.json("GET", _path(name, "versions", version)))

    def get_alias(self, name: str, alias: str) -> AliasInfo:
        return cast(AliasInfo, self._api.json("GET", _path(name, "aliases", alias)))

    def set_alias(
        self, name: str, alias: str, version: int, *, if_match: int | None = None
    ) -> AliasInfo:
        """Point `alias` at `version`; with `if_match`, only if it points at that version
        now (PreconditionFailedError otherwise). Returns once every API process uses it."""
        headers = {"If-Match": str(if_match)} if if_match is not None else {}
        path = _path(name, "aliases", alias)
        answer = self._api.json(
            "PUT", path, json={"version": version}, headers=headers, retry=if_match is None
        )
        return cast(AliasInfo, answer)

    def delete_alias(self, name: str, alias: str, *, if_match: int | None = None) -> None:
        headers = {"If-Match": str(if_match)} if if_match is not None else {}
        self._api.json("DELETE", _path(name, "aliases", alias), headers=headers, retry=False)

    def alias_history(self, name: str, alias: str) -> Iterator[AliasMoveInfo]:
        """Every move of the alias, newest first."""
        return self._api.pages(_path(name, "aliases", alias, "history"), {"limit": 500})

    def predict_registered(
        self,
        name: str,
        alias: str | None = None,
        version: int | None = None,
        *,
        inputs: list[list[Any]] | None = None,
        records: list[dict[str, Any]] | None = None,
        sequences: list[list[list[Any]]] | None = None,
    ) -> PredictionResult:
        """Predict with the version `alias` points at, or with `version`; the answer adds
        `version` (and `alias`)."""
        if (alias is None) == (version is None):
            raise ValueError("pass exactly one of alias and version")
        ref: tuple[str, str | int] = (
            ("aliases", alias) if alias is not None else ("versions", cast(int, version))
        )
        body: dict[str, Any] = {"inputs": inputs} if inputs is not None else {"records": records}
        if sequences is not None:
            body = {"sequences": sequences}
        answer = self._api.json("POST", _path(name, *ref, "predict"), json=body)
        return cast(PredictionResult, answer)

    def register_job(self, job_id: str, name: str, alias: str | None = None) -> ModelVersionInfo:
        """Make a succeeded job's model the next version of `name` (created if new)."""
        body = {"name": name} | ({"alias": alias} if alias else {})
        path = f"/v1/jobs/{quote(job_id, safe='')}/register"
        return cast(ModelVersionInfo, self._api.json("POST", path, json=body, retry=False))
