"""The one way the `neuronal` client commands reach a server: `--url`/`--key` (or
NEURONAL_URL / NEURONAL_API_KEY) and a `NeuronalClient` whose errors end the command.

A usage mistake (no key, an address that is not http(s)) is one `error:` line and exit 2;
an error answer or a server that cannot be reached prints the client's description of it
and exits 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from neuronal_client import DEFAULT_URL, ApiError, NeuronalClient, ServerUnreachable

from service.cli.errors import fail, usage_error

Url = Annotated[
    str, typer.Option("--url", envvar="NEURONAL_URL", help="Server URL.", show_default=True)
]
Key = Annotated[
    str | None,
    typer.Option("--key", envvar="NEURONAL_API_KEY", help="API key.", show_default=False),
]


@contextmanager
def connected(url: str, key: str | None) -> Iterator[NeuronalClient]:
    """A client whose failures end the command with the problem's detail and exit code 1."""
    try:
        client = NeuronalClient(url, key)
    except ValueError as exc:
        usage_error("--url", str(exc))
    if not key:
        client.close()
        usage_error("--key", "an API key: set NEURONAL_API_KEY or pass --key KEY")
    try:
        with client:
            yield client
    except ServerUnreachable as exc:
        fail(f"{exc.detail}; is it running? (NEURONAL_URL or --url)")
    except ApiError as exc:
        fail(exc.describe())


__all__ = ["DEFAULT_URL", "Key", "Url", "connected"]
