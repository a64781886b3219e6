"""Structured logs from the real processes: JSON lines carrying request, tenant and job ids."""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from neuronal_client import NeuronalClient

from tests.stack import Stack, wait_until


def json_lines(stack: Stack) -> list[dict[str, Any]]:
    """Every JSON log line the API (and, embedded, its worker) has written so far."""
    text = (stack.tmp / "api.log").read_text(errors="replace")
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def new_tenant(stack: Stack, name: str) -> tuple[str, str]:
    """(tenant id, key) for a fresh tenant."""
    out = stack.neuronal("keys", "create", "--tenant", name).stdout.strip().splitlines()
    match = re.search(r"\((ten_[^)]+)\)", out[0])
    assert match, out
    return match.group(1), out[-1]


def test_api_lines_carry_the_request_id_and_tenant(embedded_stack: Stack) -> None:
    tenant_id, key = new_tenant(embedded_stack, "logs-api")
    request_id = f"logs-{uuid.uuid4().hex}"
    with embedded_stack.client(key) as client:
        answer = client.get("/v1/datasets", headers={"X-Request-ID": request_id})
    assert answer.headers["x-request-id"] == request_id

    def line() -> dict[str, Any] | None:
        found = [r for r in json_lines(embedded_stack) if r.get("request_id") == request_id]
        return found[0] if found else None

    record = wait_until(line, timeout=10, what="the request's log line")
    assert record["tenant_id"] == tenant_id
    assert record["logger"] == "uvicorn.access" and record["status"] == 200
    assert record["method"] == "GET" and record["path"].startswith("/v1/datasets")
    assert record["level"] == "INFO" and record["time"].startswith("20")


def test_worker_lines_carry_the_job_id_and_attempt(
    embedded_stack: Stack, iris_bytes: bytes
) -> None:
    _, key = new_tenant(embedded_stack, "logs-worker")
    with NeuronalClient(embedded_stack.url, key) as client:
        dataset = client.upload_dataset(iris_bytes, filename="iris.csv")
        job = client.create_job(
            dataset["id"],
            {"layers": [{"units": 4, "activation": "relu"}]},
            {"epochs": 2, "batch_size": 32, "optimizer": {"name": "adam"}},
        )
        assert client.wait_for_job(job["id"], timeout=120)["status"] == "succeeded"

    def worker_lines() -> list[dict[str, Any]]:
        return [
            r
            for r in json_lines(embedded_stack)
            if r.get("job_id") == job["id"] and r["logger"].startswith("neuronal.worker")
        ]

    lines = wait_until(worker_lines, timeout=10, what="the worker's log line for the job")
    assert lines[0]["attempt"] == 1 and "claimed" in lines[0]["message"]


def test_every_line_on_the_stream_is_one_json_object(embedded_stack: Stack) -> None:
    """Uvicorn, Celery's worker (no banner), kombu and Python warnings alike: `serve` and its
    worker child write nothing but JSON lines to stdout and stderr (both go to api.log)."""
    with NeuronalClient(embedded_stack.url, embedded_stack.create_key("json-only")) as client:
        client.list_datasets()
    text = (embedded_stack.tmp / "api.log").read_text(errors="replace")
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from None
        assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(record)
        records.append(record)
    first = records[0]
    assert first["logger"] == "neuronal.serve" and "data directory" in first["message"]
    assert str(embedded_stack.tmp / "data") in first["message"]
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "celery.apps.worker", "neuronal.worker"} <= loggers, loggers
    if os.geteuid() == 0:  # Celery warns about root with warnings.warn, before its logging
        assert any(r["logger"] == "py.warnings" for r in records), loggers


def test_start_and_shutdown_write_only_json_lines(tmp_path: Path) -> None:
    """A `serve` of its own, stopped with SIGTERM: its worker's shutdown notices (which
    Celery writes from its signal handler, bypassing logging) are JSON lines too."""
    stack = Stack(tmp_path, {}, embedded=True)
    stack.start_api()
    try:
        wait_until(lambda: "ready." in (tmp_path / "api.log").read_text(), timeout=60,
                   what="the worker to be ready")  # fmt: skip
    finally:
        stack.stop()
    lines = (tmp_path / "api.log").read_text(errors="replace").splitlines()
    not_json = [line for line in lines if not _is_json_object(line)]
    assert not not_json, not_json[:5]
    assert any("shutdown" in json.loads(line)["message"] for line in lines), lines[-5:]


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False
