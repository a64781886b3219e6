"""Structured logs: one JSON object per line, from the API and the workers alike.

Context travels in a contextvar rather than through every call: the request-id middleware
opens a scope per request, the tenant dependency adds the tenant to it, a training task opens
a scope per job and adds the attempt. A filter on the handler copies the scope into every
record, so stdlib, uvicorn and Celery loggers all carry the same fields.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from service.core.config import Settings
from service.core.db import iso_utc

_scope: ContextVar[dict[str, Any] | None] = ContextVar("neuronal_log_scope", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Attach `fields` to every record logged in this context until the block ends."""
    token = _scope.set({**(_scope.get() or {}), **fields})
    try:
        yield _scope.get() or {}
    finally:
        _scope.reset(token)


def bind_log_fields(**fields: Any) -> None:
    """Add fields to the current scope in place, so code that runs in a copy of the context
    (a threadpool dependency, say) still reaches the whole request; opens a scope if none."""
    scope = _scope.get()
    if scope is None:
        _scope.set(dict(fields))
    else:
        scope.update(fields)


class ContextFilter(logging.Filter):
    """Copy the current scope onto the record (fields given with `extra=` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_scope.get() or {}).items():
            if value is not None and not hasattr(record, key):
                setattr(record, key, value)
        return True


class AccessFilter(logging.Filter):
    """Turn uvicorn's access-log arguments into fields of their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            record.client, record.method, record.path = client, method, path
            record.http_version, record.status = http_version, status
        return True


class JsonLines(JsonFormatter):
    """python-json-logger's JSON, with `time` written as everything else writes times.

    A record with a plain message (no exception, no stack, not a dict) is formatted here in
    one pass, to the same line: uvicorn writes the access line of every request before the
    answer, and python-json-logger's general steps cost about as much as predicting a row."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain = not (self.defaults or self.static_fields or self.rename_fields_keep_missing)
        self._fields = [(field, self._get_rename(field)) for field in self._required_fields]
        self._one_pass = plain and self.timestamp == "time" and "asctime" not in dict(self._fields)

    def format(self, record: logging.LogRecord) -> str:
        general = record.exc_info or record.exc_text or record.stack_info
        if not self._one_pass or general or isinstance(record.msg, dict):
            return super().format(record)
        record.message = record.getMessage()
        fields = record.__dict__
        data = {name: fields.get(field) for field, name in self._fields}
        skip, rename = self._skip_fields, self.rename_fields
        for key, value in fields.items():
            if key not in skip and not key.startswith("_"):
                data[rename.get(key, key)] = value
        data["time"] = iso_utc(datetime.fromtimestamp(record.created, UTC))
        return self.prefix + self.jsonify_log_record(data)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["time"] = iso_utc(datetime.fromtimestamp(record.created, UTC))


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` mapping: JSON lines on stderr for every logger."""
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": ContextFilter},
            "access": {"()": AccessFilter},
        },
        "formatters": {
            "json": {
                "()": JsonLines,
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
                "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
            }
        },
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["json"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {
                "handlers": [],
                "level": level,
                "propagate": True,
                "filters": ["access"],
            },
            "celery": {"handlers": [], "level": level, "propagate": True},
        },
    }


def configure_logging(settings: Settings, level: str | int | None = None) -> None:
    """Send every logger of this process through one JSON handler (idempotent)."""
    config = logging_config(settings)
    if level is not None:
        name = level if isinstance(level, str) else logging.getLevelName(level)
        config["root"]["level"] = str(name).upper()
    logging.config.dictConfig(config)
    logging.captureWarnings(True)  # warnings.warn() from any library: a record, not raw text
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("neuronal").critical("uncaught %s", kind.__name__, exc_info=error)


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None and not issubclass(args.exc_type, SystemExit):
        name = args.thread.name if args.thread else "?"
        logging.getLogger("neuronal").critical(
            "uncaught %s in thread %s", args.exc_type.__name__, name, exc_info=args.exc_value
        )
