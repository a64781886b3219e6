"""Shapes of the model registry's routes (`/v1/registered-models`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from service.api.schemas import PredictResponse, Strict, UTCDatetime


class RegisteredModelRequest(Strict):
    name: str = Field(
        min_length=1,
        max_length=100,
        description="Unique per tenant: [A-Za-z0-9][A-Za-z0-9._-]{0,99}.",
        examples=["churn"],
    )
    description: str = Field("", max_length=2000)


class RegisteredModelOut(BaseModel):
    name: str
    description: str
    latest_version: int | None = Field(description="The newest version; null before the first.")
    aliases: dict[str, int] = Field(description="Each alias and the version it points at.")
    created_at: UTCDatetime


class RegisteredModelPage(BaseModel):
    items: list[RegisteredModelOut]
    next_cursor: str | None


class VersionRequest(Strict):
    model_id: str = Field(min_length=1, max_length=100, description="A model of yours.")


class VersionOut(BaseModel):
    name: str
    version: int
    model_id: str
    aliases: list[str] = Field(description="The aliases pointing at this version now.")
    created_at: UTCDatetime


class VersionPage(BaseModel):
    items: list[VersionOut]
    next_cursor: str | None


class AliasRequest(Strict):
    version: int = Field(ge=1, description="The version the alias is to point at.")


class AliasOut(BaseModel):
    name: str
    alias: str
    version: int
    model_id: str
    updated_at: UTCDatetime


class AliasMoveOut(BaseModel):
    version: int | None = Field(description="The version it pointed at from then; null: deleted.")
    previous_version: int | None = Field(description="The version before; null: it was new.")
    at: UTCDatetime


class AliasHistoryOut(BaseModel):
    items: list[AliasMoveOut]
    next_cursor: str | None


class RegistryPredictResponse(PredictResponse):
    version: int = Field(description="The version that answered.")
    alias: str | None = Field(None, description="The alias it was reached by, if any.")


class JobRegisterRequest(Strict):
    name: str = Field(description="The registered model (created if new).")
    alias: str | None = Field(None, description="An alias to point at the new version.")


def registered_model_out(row: Any, aliases: dict[str, int]) -> RegisteredModelOut:
    return RegisteredModelOut(
        name=row.name,
        description=row.description,
        latest_version=row.latest_version or None,
        aliases=aliases,
        created_at=row.created_at,
    )


def version_out(name: str, row: Any, aliases: list[str]) -> VersionOut:
    return VersionOut(
        name=name,
        version=row.version,
        model_id=row.model_id,
        aliases=aliases,
        created_at=row.created_at,
    )
