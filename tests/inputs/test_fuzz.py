"""Property-based fuzzing of the whole API from its own OpenAPI schema, over real HTTP.

Every operation gets generated requests sent with a valid key to the live embedded stack:
schema-valid ones with random ids, schema-valid ones aimed at a real dataset, job and model
(so predict, cancel and the readers meet real resources), and schema-violating ones. No
response may be a 5xx, every status must be documented, and every body must match its schema.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.inputs.helpers import search_and_webhook, train_iris
from tests.stack import Stack

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def fuzz_key(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("fuzzer")


@pytest.fixture(scope="module")
def real_ids(embedded_stack: Stack, fuzz_key: str, iris_bytes: bytes) -> dict[str, Any]:
    """A real dataset, job and model, and a registered model's name, alias and version."""
    ids = train_iris(embedded_stack, fuzz_key, iris_bytes)
    with embedded_stack.client(fuzz_key) as client:
        client.post("/v1/registered-models", json={"name": "fuzzed"})
        client.post("/v1/registered-models/fuzzed/versions", json={"model_id": ids["model_id"]})
        client.put("/v1/registered-models/fuzzed/aliases/live", json={"version": 1})
    more = search_and_webhook(embedded_stack, fuzz_key, ids)
    return {**ids, **more, "name": "fuzzed", "alias": "live", "version": 1}


def _variants(operation: Any, ids: dict[str, str]) -> list[tuple[str, Any]]:
    variants = [
        ("random ids", operation.as_strategy()),
        ("schema-violating", operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)),
    ]
    names = [p.name for p in operation.path_parameters]
    if names and operation.method.upper() != "DELETE":  # keep the real resources alive
        real = {name: ids[name] for name in names}
        variants.append(("real ids", operation.as_strategy(path_parameters=real)))
    if operation.label == "POST /v1/jobs":  # random specs against a real dataset
        variants.append(("real dataset", operation.as_strategy().map(_on(ids["dataset_id"]))))
    return variants


def _on(dataset_id: str) -> Callable[[schemathesis.Case], schemathesis.Case]:
    def aim(case: schemathesis.Case) -> schemathesis.Case:
        if isinstance(case.body, dict):
            case.body = {**case.body, "dataset_id": dataset_id}
        return case

    return aim


def _fuzzer(
    strategy: Any, label: str, stack: Stack, session: requests.Session, calls: Counter[str]
) -> Callable[[], None]:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        calls[label] += 1
        case.call_and_validate(base_url=stack.url, session=session, checks=CHECKS, timeout=30)

    return fuzz


def test_no_server_errors_and_responses_match_the_schema(
    embedded_stack: Stack, fuzz_key: str, real_ids: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{embedded_stack.url}/openapi.json")
    failures: list[str] = []
    calls: Counter[str] = Counter()
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {fuzz_key}"
        for result in schema.get_all_operations():
            operation = result.ok()
            for variant, strategy in _variants(operation, real_ids):
                label = f"{operation.label} ({variant})"
                try:
                    _fuzzer(strategy, label, embedded_stack, session, calls)()
                except Unsatisfiable:  # nothing in this operation can break its schema
                    assert variant == "schema-violating", label
                except (Exception, BaseExceptionGroup) as exc:  # report every operation's
                    failures.append(f"{label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert len(calls) >= 30 and sum(calls.values()) >= 300, calls
