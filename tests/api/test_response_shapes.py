"""The answers' shapes as clients see them: the fields /openapi.json declares for the main
routes, the field lists docs/api.md gives, and the bodies the running service sends (GET
answers, list pages, and the event streams' payloads) all agree."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.stack import Stack, wait_for_job
from tests.test_api_doc import sections

# Each answer's fields in order; `?` marks one that is not required.
FIELDS = {
    "DatasetOut": "id name format layout? n_rows n_features sequence_length? series? features "
    "target size_bytes sha256 created_at",
    "DatasetSummary": "id name format layout? n_rows n_features sequence_length? series? target "
    "size_bytes sha256 created_at",
    "DatasetPage": "items next_cursor",
    "SeriesOut": "time_column group_column n_series shortest_series shortest_group? longest_series",
    "FeatureOut": "name kind missing?",
    "JobOut": "id status dataset_id task network training progress metrics model_id error "
    "error_code? attempts created_at started_at finished_at register?",
    "Progress": "epoch epochs fraction",
    "JobPage": "items next_cursor",
    "MetricsOut": "items",
    "EpochMetricOut": "epoch train_loss val_loss train_accuracy? val_accuracy? learning_rate "
    "seconds",
    "ModelOut": "id job_id dataset_id task network training features classes? metrics "
    "size_bytes created_at",
    "ModelPage": "items next_cursor",
    "ConfusionOut": "model_id split n_rows classes matrix accuracy",
    "PredictionJobOut": "id status model_id filename? format progress error error_code? "
    "attempts created_at started_at finished_at result_url",
    "PredictionProgress": "rows_done n_rows fraction",
    "PredictionJobPage": "items next_cursor",
    "RecallResponse": "model_id states energy iterations converged nearest_pattern hamming",
}
ROUTES = [
    ("POST", "/v1/datasets", "201", "DatasetOut"),
    ("GET", "/v1/datasets", "200", "DatasetPage"),
    ("GET", "/v1/datasets/{dataset_id}", "200", "DatasetOut"),
    ("POST", "/v1/jobs", "202", "JobOut"),
    ("GET", "/v1/jobs", "200", "JobPage"),
    ("GET", "/v1/jobs/{job_id}", "200", "JobOut"),
    ("GET", "/v1/jobs/{job_id}/metrics", "200", "MetricsOut"),
    ("POST", "/v1/jobs/{job_id}/cancel", "202", "JobOut"),
    ("GET", "/v1/models", "200", "ModelPage"),
    ("GET", "/v1/models/{model_id}", "200", "ModelOut"),
    ("GET", "/v1/models/{model_id}/confusion", "200", "ConfusionOut"),
    ("POST", "/v1/models/{model_id}/recall", "200", "RecallResponse"),
    ("POST", "/v1/models/{model_id}/predictions", "202", "PredictionJobOut"),
    ("GET", "/v1/predictions", "200", "PredictionJobPage"),
    ("GET", "/v1/predictions/{job_id}", "200", "PredictionJobOut"),
    ("POST", "/v1/predictions/{job_id}/cancel", "202", "PredictionJobOut"),
]
IRIS_JOB = {
    "network": {"layers": [{"units": 8, "activation": "relu"}]},
    "training": {
        "epochs": 6,
        "batch_size": 16,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "seed": 3,
        "validation_fraction": 0.2,
    },
}


def fields(name: str) -> list[str]:
    return [field.rstrip("?") for field in FIELDS[name].split()]


def required(name: str) -> set[str]:
    return {field for field in FIELDS[name].split() if not field.endswith("?")}


def referenced(schema: dict[str, Any]) -> str | None:
    """The component a property refers to, directly, as a list's items, or as `X | null`."""
    for option in [schema, schema.get("items", {}), *schema.get("anyOf", [])]:
        if "$ref" in option:
            return str(option["$ref"]).rsplit("/", 1)[1]
        if "$ref" in option.get("items", {}):
            return str(option["items"]["$ref"]).rsplit("/", 1)[1]
    return None


@pytest.fixture(scope="module")
def spec(embedded_stack: Stack) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(embedded_stack.url + "/openapi.json").json()
    return answer


def test_main_routes_declare_the_same_fields(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    checked: set[str] = set()
    pending = []
    for method, path, status, name in ROUTES:
        content = spec["paths"][path][method.lower()]["responses"][status]["content"]
        assert referenced(content["application/json"]["schema"]) == name, (method, path)
        pending.append(name)
    while pending:
        name = pending.pop()
        if name in checked:
            continue
        checked.add(name)
        schema = schemas[name]
        assert list(schema["properties"]) == fields(name), name
        assert set(schema.get("required", [])) == required(name), name
        pending += [n for p in schema["properties"].values() if (n := referenced(p)) in FIELDS]
    assert checked == set(FIELDS), "a pinned shape no route answers"


def documented(text: str, start: int) -> tuple[dict[str, Any], int]:
    """The keys of the `{...}` at `text[start]` as docs/api.md writes them (`"name"`, `"name"?`,
    `"name": value`), each with the keys of a nested object or list of objects, or None."""
    keys: dict[str, Any] = {}
    i, depth, last_key = start + 1, 0, None
    while i < len(text) and not (depth == 0 and text[i] == "}"):
        char = text[i]
        if char == '"':
            end = text.index('"', i + 1)
            before = text[:i].rstrip()[-1]
            if depth == 0 and before in "{,":
                last_key = text[i + 1 : end]
                keys[last_key] = None
            i = end + 1
            continue
        if char in "{[" and depth == 0 and last_key is not None:
            opening = text.index("{", i) if char == "[" else i
            if char == "{" or text[i + 1 : opening].strip() == "":
                keys[last_key], end = documented(text, opening)
                i = end + 1 if char == "{" else text.index("]", end) + 1
                continue
        depth += char in "{[("
        depth -= char in "}])"
        i += 1
    return keys, i


def test_the_api_guide_lists_the_fields_the_schemas_declare(spec: dict[str, Any]) -> None:
    """Each field list of docs/api.md names only declared fields, and every required one."""
    text = sections()
    schemas = spec["components"]["schemas"]
    compared = 0
    for method, path, status, name in ROUTES:
        found = re.search(rf"\b{status}\b[^`]*`\{{", text[(method, path)])
        if found is None:
            continue
        keys, _ = documented(text[(method, path)], found.end() - 1)
        pending = [(name, keys)]
        while pending:
            schema_name, listed = pending.pop()
            assert required(schema_name) <= set(listed) <= set(fields(schema_name)), (
                method,
                path,
                schema_name,
                sorted(listed),
            )
            properties = schemas[schema_name]["properties"]
            for key, nested in listed.items():
                inner = referenced(properties[key])
                if nested is not None and inner in FIELDS:
                    pending.append((inner, nested))
            compared += 1
    assert compared >= 8, "docs/api.md lost its field lists"


def events(client: httpx.Client, path: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    with client.stream("GET", path) as stream:
        name = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                found.append((name, json.loads(line.split(":", 1)[1])))
    return found


def assert_shape(body: dict[str, Any], name: str) -> None:
    assert list(body) == fields(name), (name, list(body))


@pytest.mark.parametrize("target", ["species", "petal_width"])
def test_answers_and_event_payloads_carry_the_declared_fields(
    embedded_stack: Stack, iris_bytes: bytes, target: str
) -> None:
    """A classifier and a regressor, from upload to a batch prediction: every answer has
    exactly the declared fields, the streams' `status` event is the job as GET answers it, and
    each `progress` event is the epoch's metrics row with `epochs` and `fraction`."""
    with embedded_stack.client(embedded_stack.create_key(f"shapes-{target}")) as client:
        files = {"file": ("iris.csv", iris_bytes, "text/csv")}
        dataset = client.post("/v1/datasets", files=files, data={"target": target}).json()
        assert_shape(dataset, "DatasetOut")
        assert_shape(client.get(f"/v1/datasets/{dataset['id']}").json(), "DatasetOut")
        summary = client.get("/v1/datasets").json()["items"][0]
        assert_shape(summary, "DatasetSummary")
        classes = dataset["target"].get("classes")
        assert summary["target"] == {
            "name": target,
            "kind": dataset["target"]["kind"],
            **({"n_classes": len(classes)} if classes is not None else {}),
        }

        created = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **IRIS_JOB}).json()
        assert_shape(created, "JobOut")
        assert created["progress"] == {"epoch": 0, "epochs": 6, "fraction": 0.0}
        streamed = events(client, f"/v1/jobs/{created['id']}/events")
        job = wait_for_job(client, created["id"])
        assert job["status"] == "succeeded", (job, embedded_stack.logs())
        assert_shape(job, "JobOut")
        assert list(job["progress"]) == fields("Progress")
        assert streamed[-1] == ("status", job)
        assert_shape(client.get("/v1/jobs").json()["items"][0], "JobOut")

        rows = client.get(f"/v1/jobs/{job['id']}/metrics").json()["items"]
        progress = [data for event, data in streamed if event == "progress"]
        assert [p["epoch"] for p in progress] == [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
        for row, event in zip(rows, progress, strict=True):
            assert_shape(row, "EpochMetricOut")
            shown = row if classes is not None else {k: v for k, v in row.items() if "acc" not in k}
            expected = {**shown, "epochs": 6, "fraction": round(row["epoch"] / 6, 6)}
            assert event == expected

        model = client.get(f"/v1/models/{job['model_id']}").json()
        assert_shape(model, "ModelOut")
        assert_shape(client.get("/v1/models").json()["items"][0], "ModelOut")
        if classes is not None:
            confusion = client.get(f"/v1/models/{model['id']}/confusion").json()
            assert_shape(confusion, "ConfusionOut")

        batch = client.post(f"/v1/models/{model['id']}/predictions", files=files).json()
        assert_shape(batch, "PredictionJobOut")
        assert batch["result_url"] is None
        streamed = events(client, f"/v1/predictions/{batch['id']}/events")
        done = client.get(f"/v1/predictions/{batch['id']}").json()
        assert_shape(done, "PredictionJobOut")
        assert done["result_url"] == f"/v1/predictions/{batch['id']}/result"
        assert streamed[-1] == ("status", done)
        assert streamed[-2] == ("progress", {"rows_done": 150, "n_rows": 150, "fraction": 1.0})
        assert_shape(client.get("/v1/predictions").json()["items"][0], "PredictionJobOut")
