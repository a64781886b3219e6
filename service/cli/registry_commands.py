"""`neuronal models register` and `neuronal aliases`: the model registry over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli.connect import DEFAULT_URL, Key, Url, connected
from service.cli.model_commands import models_app
from service.cli.tables import print_table, short_time

aliases_app = typer.Typer(
    help="Point a registered model's aliases at versions; see where they pointed.",
    no_args_is_help=True,
)


def register_registry_commands(app: typer.Typer) -> None:
    """Add `aliases` (and `models register`, on import) to the `neuronal` app."""
    app.add_typer(aliases_app, name="aliases")


@models_app.command("register")
def models_register(
    model_id: Annotated[str, typer.Argument(help="A model id (from a succeeded job).")],
    name: Annotated[str, typer.Option("--name", help="Registered model name (created if new).")],
    alias: Annotated[
        str | None, typer.Option("--alias", help="An alias to point at the new version.")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Add a model as the next version of a registered model; the version is printed alone
    on the last line."""
    with connected(url, key) as client:
        version = client.register_model(model_id, name, alias)
    also = f", alias {alias}" if alias else ""
    typer.echo(f"registered {model_id} as {name} version {version['version']}{also}")
    typer.echo(str(version["version"]))


@aliases_app.command("set")
def aliases_set(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. production.")],
    version: Annotated[int, typer.Argument(min=1, help="The version to point it at.")],
    if_match: Annotated[
        int | None,
        typer.Option("--if-match", help="Only if the alias points at this version now."),
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Point an alias at a version; once this returns, every prediction through it uses it."""
    with connected(url, key) as client:
        moved = client.set_alias(name, alias, version, if_match=if_match)
    typer.echo(f"{name}@{alias} → version {moved['version']} (model {moved['model_id']})")


@aliases_app.command("delete")
def aliases_delete(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str, typer.Argument(help="Alias.")],
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Remove an alias (its history stays)."""
    with connected(url, key) as client:
        client.delete_alias(name, alias)
    typer.echo(f"deleted {name}@{alias}")


@aliases_app.command("history")
def aliases_history(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str, typer.Argument(help="Alias.")],
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Where an alias pointed, and when, newest first."""
    with connected(url, key) as client:
        rows = [
            [short_time(m["at"]), _shown(m["version"]), _shown(m["previous_version"])]
            for m in client.alias_history(name, alias)
        ]
    print_table(f"{name}@{alias}", ["at", "version", "previous"], rows)


def _shown(version: int | None) -> str:
    return "-" if version is None else str(version)
