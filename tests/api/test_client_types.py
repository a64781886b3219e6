"""The Python client's TypedDicts against the server's own schemas: each answer the client
describes has exactly the keys of the response schema in the server's OpenAPI (built
in-process), so a field added, renamed or dropped on one side shows up here by name."""

from __future__ import annotations

from typing import Any

import pytest
from neuronal_client import types

from service.api.app import create_app
from service.core.config import Settings

# client TypedDict: the server's schema, as a component name and a path of properties into it
ANSWERS: dict[str, tuple[str, ...]] = {
    "DatasetInfo": ("DatasetOut",),
    "JobInfo": ("JobOut",),
    "JobProgress": ("JobOut", "progress"),
    "ModelInfo": ("ModelOut",),
    "PredictionJobInfo": ("PredictionJobOut",),
    "PredictionProgress": ("PredictionJobOut", "progress"),
    "PredictionResult": ("RegistryPredictResponse",),
    "RecallResult": ("RecallResponse",),
    "SearchInfo": ("SearchOut",),
    "SearchTrialCounts": ("SearchOut", "trials"),
    "SearchBest": ("SearchOut", "best"),
    "TrialInfo": ("TrialOut",),
    "RegisteredModelInfo": ("RegisteredModelOut",),
    "ModelVersionInfo": ("VersionOut",),
    "AliasInfo": ("AliasOut",),
    "AliasMoveInfo": ("AliasMoveOut",),
    "ListPage": ("JobPage",),
}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi")))
    schema: dict[str, Any] = app.openapi()
    return schema


def _component(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a `$ref` (also one inside a nullable `anyOf`/`allOf`) to its component."""
    for key in ("anyOf", "allOf", "oneOf"):
        refs = [s for s in schema.get(key, []) if "$ref" in s]
        if refs:
            schema = refs[0]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        found: dict[str, Any] = openapi["components"]["schemas"][name]
        return found
    return schema


def server_keys(openapi: dict[str, Any], path: tuple[str, ...]) -> set[str]:
    schema = _component(openapi, {"$ref": f"#/components/schemas/{path[0]}"})
    for prop in path[1:]:
        schema = _component(openapi, schema["properties"][prop])
    return set(schema["properties"])


def test_every_answer_type_of_the_client_is_checked() -> None:
    described = {
        name for name, value in vars(types).items()
        if isinstance(value, type) and hasattr(value, "__annotations__")
        and getattr(value, "__module__", "") == types.__name__ and hasattr(value, "__total__")
    }  # fmt: skip
    # EpochProgress is what the client makes of a streamed epoch event, no response schema
    assert described - {"EpochProgress"} == set(ANSWERS)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_a_client_type_has_the_keys_of_the_servers_schema(
    openapi: dict[str, Any], name: str
) -> None:
    client = set(getattr(types, name).__annotations__)
    server = server_keys(openapi, ANSWERS[name])
    missing, extra = sorted(server - client), sorted(client - server)
    assert not missing and not extra, (
        f"{name} vs {'.'.join(ANSWERS[name])}: the server answers {missing} which the "
        f"client does not describe; the client describes {extra} which the server never sends"
    )
