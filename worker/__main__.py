"""`python -m worker ARGS`: Celery's own command line, with JSON logs from the first line.

Celery warns (running as root, say) before its `setup_logging` signal configures logging,
so those warnings would reach the stream as plain text; configuring first makes them records.
"""

from __future__ import annotations

import sys

from celery.bin.celery import main as celery_main

from service.config import get_settings
from service.logs import configure_logging

if __name__ == "__main__":
    configure_logging(get_settings())
    sys.exit(celery_main())
