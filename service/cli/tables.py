"""How the client commands print: tables, times and figures."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def print_table(title: str, columns: Sequence[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    Console(width=200 if not sys.stdout.isatty() else None).print(table)


def short_time(stamp: str | None) -> str:
    """An API time to the second, still ISO 8601 UTC (`Z`) like every other time shown."""
    return f"{stamp[:19]}Z" if stamp else ""


def figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
