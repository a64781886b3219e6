"""`neuronal searches`: start a hyperparameter search from a spec file, watch it, list and
show searches (with the leaderboard), change their limits, cancel them; over HTTP with the
client, printing and failing like the other client commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from neuronal_client import NeuronalClient, SearchInfo

from service.cli.connect import DEFAULT_URL, Key, Url, connected
from service.cli.errors import usage_error
from service.cli.job_spec import read_spec
from service.cli.search_tables import (
    best_line,
    leaderboard_rows,
    outcome,
    search_rows,
    summary_lines,
    trial_line,
)
from service.cli.tables import print_table

searches_app = typer.Typer(
    help="Start, watch, list, show and cancel hyperparameter searches.", no_args_is_help=True
)
SEARCH_SPEC_EXAMPLE = (
    '{"dataset_id": "ds_...", "base": {"network": {...}, "training": {...}}, "space": '
    '{"training.optimizer.learning_rate": {"log_uniform": [0.0001, 0.1]}}, "strategy": "tpe"}'
)
LEADERBOARD = ["rank", "trial", "status", "objective", "epochs", "params", "job"]


def register_search_commands(app: typer.Typer) -> None:
    """Add `searches` to the `neuronal` app."""
    app.add_typer(searches_app, name="searches")


@searches_app.command("create")
def searches_create(
    spec: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="JSON file: the POST /v1/searches body."),
    ],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset id (overrides dataset_id in --spec).")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow the search, one line per trial, until it ends.")
    ] = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Start a search; prints its id last (with --watch: follows it, exit 1 unless it
    succeeded)."""
    body = search_request(spec, dataset)
    with connected(url, key) as client:
        search = client.create_search(body)
        typer.echo(_started(search))
        if watch:
            search = _watch(client, search)
    if not watch:
        typer.echo(search["id"])
    elif search["status"] != "succeeded":
        raise typer.Exit(1)


@searches_app.command("watch")
def searches_watch(search_id: str, url: Url = DEFAULT_URL, key: Key = None) -> None:
    """Follow a search, one line per ended trial, until it ends; exit 1 unless it
    succeeded."""
    with connected(url, key) as client:
        search = _watch(client, client.get_search(search_id))
    if search["status"] != "succeeded":
        raise typer.Exit(1)


@searches_app.command("list")
def searches_list(url: Url = DEFAULT_URL, key: Key = None) -> None:
    """List your searches, newest first."""
    with connected(url, key) as client:
        rows = search_rows(list(client.iter_searches()))
    columns = ["id", "status", "strategy", "dataset", "trials", "objective", "best", "created"]
    print_table("searches", columns, rows)


@searches_app.command("show")
def searches_show(search_id: str, url: Url = DEFAULT_URL, key: Key = None) -> None:
    """Show a search and its leaderboard, best trial first."""
    with connected(url, key) as client:
        search = client.get_search(search_id)
        trials = client.search_trials(search_id)
    for line in summary_lines(search):
        typer.echo(line)
    print_table("leaderboard", LEADERBOARD, leaderboard_rows(trials))


@searches_app.command("limits")
def searches_limits(
    search_id: str,
    max_trials: Annotated[int | None, typer.Option(min=1, help="Trials in all.")] = None,
    max_parallel: Annotated[int | None, typer.Option(min=1, help="Trials at once.")] = None,
    max_runtime_seconds: Annotated[
        int | None, typer.Option(min=1, help="Seconds before no new trial starts.")
    ] = None,
    max_failed_trials: Annotated[
        int | None, typer.Option(min=0, help="Failed trials that end the search.")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Raise or lower a search's limits, also while it runs."""
    chosen = {
        "max_trials": max_trials,
        "max_parallel": max_parallel,
        "max_runtime_seconds": max_runtime_seconds,
        "max_failed_trials": max_failed_trials,
    }
    limits = {name: value for name, value in chosen.items() if value is not None}
    if not limits:
        usage_error(
            "--max-trials", "at least one limit to change (--max-trials, --max-parallel, "
            "--max-runtime-seconds or --max-failed-trials)"
        )  # fmt: skip
    with connected(url, key) as client:
        search = client.patch_search(search_id, limits)
    shown = ", ".join(f"{name} {value}" for name, value in search["limits"].items())
    typer.echo(f"search {search_id} ({search['status']}): {shown}")


@searches_app.command("cancel")
def searches_cancel(search_id: str, url: Url = DEFAULT_URL, key: Key = None) -> None:
    """Cancel a search (its running trials stop within one epoch)."""
    with connected(url, key) as client:
        search = client.cancel_search(search_id)
    if search["status"] in ("queued", "running"):
        typer.echo(f"search {search_id}: cancelling (running trials stop within one epoch)")
    else:
        typer.echo(f"search {search_id}: {search['status']}")


def search_request(spec: Path, dataset: str | None) -> dict[str, Any]:
    """The POST /v1/searches body from a --spec file, `--dataset` laid over it; the server
    checks the rest (naming the field), the CLI only what it needs to send it."""
    body = read_spec(spec)
    if dataset is not None:
        body["dataset_id"] = dataset
    if not body.get("dataset_id"):
        usage_error("--dataset", "a dataset id (ds_...), or dataset_id in the --spec file")
    for name in ("base", "space"):
        if not isinstance(body.get(name), dict):
            usage_error("--spec", f'"{name}" as a JSON object, as in {SEARCH_SPEC_EXAMPLE}')
    return body


def _started(search: SearchInfo) -> str:
    limits = search.get("limits") or {}
    objective = search.get("objective") or {}
    return (
        f"started search {search['id']} on {search.get('dataset_id')}: {search.get('strategy')}, "
        f"up to {limits.get('max_trials')} trials ({limits.get('max_parallel')} at a time), "
        f"{objective.get('goal')} {objective.get('metric')}"
    )


def _watch(client: NeuronalClient, search: SearchInfo) -> SearchInfo:
    metric = (search.get("objective") or {}).get("metric", "objective")

    def on_event(event: str, data: dict[str, Any]) -> None:
        line = trial_line(data, metric) if event == "trial" else best_line(data, metric)
        typer.echo(line)

    final = client.wait_for_search(search["id"], on_event=on_event)
    for line in outcome(final):
        typer.echo(line)
    return final
