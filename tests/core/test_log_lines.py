"""The one-pass JSON line of a plain record is the line python-json-logger would write."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

from service.core.config import Settings
from service.core.logs import AccessFilter, ContextFilter, JsonLines, log_context, logging_config


def formatter() -> JsonLines:
    spec = dict(logging_config(Settings())["formatters"]["json"])
    spec.pop("()")
    return JsonLines(**spec)


def record(msg: Any, args: Any = (), extra: dict[str, Any] | None = None, **kw: Any):
    logger = logging.getLogger("uvicorn.access")
    made = logger.makeRecord(logger.name, logging.INFO, __file__, 1, msg, args, None, extra=extra)
    for key, value in kw.items():
        setattr(made, key, value)
    return made


def general(fmt: JsonLines, rec: logging.LogRecord) -> str:
    """python-json-logger's own steps, with this project's `add_fields`."""
    return JsonFormatter.format(fmt, rec)


ACCESS = ('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "POST", "/v1/models/m/predict", "1.1", 200))
RECORDS = {
    "access line": lambda: record(*ACCESS),
    "extras of every JSON type": lambda: record(
        "job %s", ("j1",), {"job_id": "j1", "attempt": 2, "ok": True, "loss": 0.5, "none": None}
    ),
    "values JSON has no type for": lambda: record(
        "at %s", ("noon",), {"when": datetime(2026, 12, 1, tzinfo=UTC), "raw": b"\xff", "s": {1}}
    ),
    "text beyond ASCII": lambda: record("Modèle « %s » prêt", ("größe",), {"city": "日本"}),
    "an extra named time": lambda: record("t", (), {"time": "mine"}),
    "a private extra": lambda: record("p", (), {"_hidden": 1, "shown": 2}),
    "a dict message": lambda: record({"event": "done", "n": 1}),
    "a message that is not a string": lambda: record(42),
}


@pytest.mark.parametrize("name", RECORDS)
def test_a_record_makes_the_same_line_as_python_json_logger(name):
    fmt = formatter()
    ours, theirs = RECORDS[name](), RECORDS[name]()
    theirs.created = ours.created
    line = fmt.format(ours)
    assert line == general(fmt, theirs)
    assert json.loads(line)["logger"] == "uvicorn.access"


def test_context_and_access_fields_come_through_in_order():
    fmt = formatter()
    with log_context(request_id="r1", tenant_id="t1"):
        rec = record(*ACCESS)
        AccessFilter().filter(rec)
        ContextFilter().filter(rec)
    line = json.loads(fmt.format(rec))
    assert list(line) == [
        "level", "logger", "message", "client", "method", "path", "http_version", "status",
        "request_id", "tenant_id", "time",
    ]  # fmt: skip
    assert line["status"] == 200 and line["time"].endswith("Z")


def test_exceptions_and_stacks_take_the_general_path():
    fmt = formatter()
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record("failed", (), None, exc_info=sys.exc_info())
    line = json.loads(fmt.format(rec))
    assert "ValueError: boom" in line["exc_info"]
    stacked = record("here", (), None, stack_info="Stack (most recent call last): ...")
    assert json.loads(fmt.format(stacked))["stack_info"].startswith("Stack")
