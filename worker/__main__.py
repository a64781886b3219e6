"""`python -m worker ARGS`: Celery's own command line, with JSON logs from the first line.

Celery warns (running as root, say) before its `setup_logging` signal configures logging,
so those warnings would reach the stream as plain text; configuring first makes them records.
Its shutdown notices bypass logging (they are written from the signal handler with a raw
`os.write`), so they are written here as JSON lines the same raw way.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from celery.apps import worker as celery_worker
from celery.bin.celery import main as celery_main

from service.core.config import get_settings
from service.core.db import iso_utc
from service.core.logs import configure_logging


def say_as_json(message: str, file: Any = sys.__stderr__) -> None:
    """Celery's `safe_say`, as one JSON log line: no lock taken, safe in a signal handler."""
    record = {
        "level": "INFO",
        "logger": "celery.apps.worker",
        "message": message.strip(),
        "time": iso_utc(datetime.now(UTC)),
    }
    # a notice that cannot be written must never stop the shutdown
    stream = sys.__stderr__
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if stream is not None:
            os.write(stream.fileno(), (json.dumps(record) + "\n").encode())


if __name__ == "__main__":
    configure_logging(get_settings())
    celery_worker.safe_say = say_as_json
    sys.exit(celery_main())
