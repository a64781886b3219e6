"""`neuronal datasets|jobs` (and `models|predict`, from `model_commands`): the service for
humans, over HTTP with the client.

The server and key come from NEURONAL_URL / NEURONAL_API_KEY or --url / --key
(`service.cli.connect`). An error answer prints the problem's detail (and any field errors
it does not already say) to stderr and exits 1; a usage mistake prints one `error:` line and
exits 2; commands that create something print its id alone on the last line, for scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from neuronal_client import JobInfo, NeuronalClient

from service.cli.connect import DEFAULT_URL, Key, Url, connected
from service.cli.errors import usage_error
from service.cli.job_spec import job_request, read_spec
from service.cli.model_commands import register_model_commands
from service.cli.search_commands import register_search_commands
from service.cli.tables import figure, print_table, short_time
from service.engine import ACTIVATIONS, OPTIMIZERS

datasets_app = typer.Typer(help="Upload, list and delete data sets.", no_args_is_help=True)
jobs_app = typer.Typer(help="Create, list, watch and cancel training jobs.", no_args_is_help=True)


def register_client_commands(app: typer.Typer) -> None:
    """Add the HTTP commands to the `neuronal` app."""
    app.add_typer(datasets_app, name="datasets")
    app.add_typer(jobs_app, name="jobs")
    register_model_commands(app)
    register_search_commands(app)


# -- datasets --------------------------------------------------------------------------------


@datasets_app.command("upload")
def datasets_upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, JSON or NPZ.")],
    target: Annotated[str | None, typer.Option(help="Target column (default: last).")] = None,
    name: Annotated[str | None, typer.Option(help="A name (default: the file name).")] = None,
    layout: Annotated[
        str | None, typer.Option(help="'series' for a time series (default: a table).")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Series: the column that orders the rows.")
    ] = None,
    group_column: Annotated[
        str | None, typer.Option(help="Series: the column naming each row's series.")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Upload a data set; its id is printed alone on the last line."""
    with connected(url, key) as client:
        dataset = client.upload_dataset(
            file, name=name, target=target, layout=layout, time_column=time_column,
            group_column=group_column,
        )  # fmt: skip
    described = dataset["target"]
    classes = described.get("classes")
    kind = f"{len(classes)} classes" if classes else described.get("kind", "")
    shape = f"{dataset['n_rows']} rows, {dataset['n_features']} features"
    if dataset.get("layout") == "sequences":
        shape = (
            f"{dataset['n_rows']} sequences of up to {dataset['sequence_length']} steps, "
            f"{dataset['n_features']} features per step"
        )
    elif dataset.get("layout") == "series":
        shape += f" in {(dataset.get('series') or {}).get('n_series')} series"
    typer.echo(f"uploaded {dataset['name']}: {shape}, target {described['name']} ({kind})")
    typer.echo(dataset["id"])


@datasets_app.command("list")
def datasets_list(url: Url = DEFAULT_URL, key: Key = None) -> None:
    """List your data sets."""
    with connected(url, key) as client:
        rows = [
            [
                d["id"],
                d["name"],
                d["n_rows"],
                d["n_features"],
                d["target"]["name"],
                d["format"],
                short_time(d["created_at"]),
            ]  # fmt: skip
            for d in client.iter_datasets()
        ]
    print_table("datasets", ["id", "name", "rows", "features", "target", "format", "created"], rows)


@datasets_app.command("delete")
def datasets_delete(dataset_id: str, url: Url = DEFAULT_URL, key: Key = None) -> None:
    """Delete a data set."""
    with connected(url, key) as client:
        client.delete_dataset(dataset_id)
    typer.echo(f"deleted {dataset_id}")


# -- jobs ------------------------------------------------------------------------------------


@jobs_app.command("create")
def jobs_create(
    dataset: Annotated[str | None, typer.Option(help="Dataset id (or in --spec).")] = None,
    spec: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="JSON file with network and training."),
    ] = None,
    layers: Annotated[
        str | None, typer.Option(help="Hidden units, e.g. 64,32; or lstm:32 (default 64).")
    ] = None,
    activation: Annotated[
        str | None,
        typer.Option(help=f"Hidden activation: {', '.join(ACTIVATIONS)} (default relu)."),
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option(help=f"Optimizer: {', '.join(OPTIMIZERS)} (default adam).")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Learning rate (default 0.001).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default 20).")] = None,
    batch_size: Annotated[
        str | None, typer.Option(help="Rows per step, or 'full' for batch GD (default 32).")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="classification or regression (default: from the target)."),
    ] = None,
    window: Annotated[
        int | None, typer.Option(help="Series: past rows each forecast reads.")
    ] = None,
    horizon: Annotated[
        int | None, typer.Option(help="Series: rows ahead to forecast (default 1).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the job until it ends.")] = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Submit a training job from flags or a --spec file; prints the job id last."""
    network, training = job_request(
        spec, layers, activation, optimizer, learning_rate, epochs, batch_size, window, horizon
    )
    base = read_spec(spec)
    if task is not None and task not in ("classification", "regression"):
        usage_error("--task", f"classification or regression, not {task!r}")
    dataset_id: str = dataset or base.get("dataset_id") or ""
    if not dataset_id:
        usage_error("--dataset", "a dataset id (ds_...), or dataset_id in the --spec file")
    with connected(url, key) as client:
        job = client.create_job(dataset_id, network, training, task=task or base.get("task"))
        typer.echo(f"queued job {job['id']} on {dataset_id}: {training['epochs']} epochs")
        if wait:
            job = _watch(client, job["id"])
    if not wait:
        typer.echo(job["id"])
    elif job["status"] != "succeeded":
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status.")] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """List your training jobs, newest first."""
    with connected(url, key) as client:
        rows = [
            [
                j["id"],
                j["status"],
                j["dataset_id"],
                f"{j['progress']['epoch']}/{j['progress']['epochs']}",
                figure(j["metrics"].get("val_loss")),
                j.get("model_id"),
                short_time(j["created_at"]),
            ]  # fmt: skip
            for j in client.iter_jobs(status=status)  # type: ignore[arg-type]
        ]
    print_table("jobs", ["id", "status", "dataset", "epoch", "val loss", "model", "created"], rows)


@jobs_app.command("watch")
def jobs_watch(job_id: str, url: Url = DEFAULT_URL, key: Key = None) -> None:
    """Follow a job live (epoch, loss, accuracy) until it ends; exit 1 unless it succeeded."""
    with connected(url, key) as client:
        final = _watch(client, job_id)
    if final["status"] != "succeeded":
        raise typer.Exit(1)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, url: Url = DEFAULT_URL, key: Key = None) -> None:
    """Cancel a job (it stops within one epoch)."""
    with connected(url, key) as client:
        job = client.cancel_job(job_id)
    if job["status"] in ("queued", "running"):
        typer.echo(f"job {job_id}: cancelling (it stops within one epoch; see jobs watch)")
    else:
        typer.echo(f"job {job_id}: {job['status']}")


def _watch(client: NeuronalClient, job_id: str) -> JobInfo:
    """A live progress bar on a terminal, one line per epoch otherwise; then the outcome."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    job = client.get_job(job_id)
    console.print(f"watching job {job_id} ({job['status']})", highlight=False)
    live = console.is_terminal
    bar = Progress(
        TextColumn("epoch"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not live,
    )
    task = bar.add_task(job_id, total=job["progress"]["epochs"] or None, figures="")

    def on_progress(row: dict[str, Any]) -> None:
        bar.update(task, completed=row["epoch"], total=row["epochs"], figures=_short(row))
        if not live:
            line = f"epoch {row['epoch']}/{row['epochs']}  {_epoch_figures(row)}"
            console.print(line, highlight=False, soft_wrap=True)

    with bar:
        final = client.wait_for_job(job_id, on_progress=on_progress)
    console.print(_outcome(final), highlight=False, soft_wrap=True)
    return final


def _epoch_figures(row: dict[str, Any]) -> str:
    parts = [f"loss {figure(row.get('train_loss'))}"]
    if row.get("val_loss") is not None:
        parts.append(f"val_loss {figure(row['val_loss'])}")
    for name in ("train_accuracy", "val_accuracy"):
        if row.get(name) is not None:
            parts.append(f"{name.replace('train_', '')} {figure(row[name])}")
    return "  ".join(parts)


def _short(row: dict[str, Any]) -> str:
    """Loss and the best-known accuracy, narrow enough for an 80-column bar."""
    text = f"loss {figure(row.get('train_loss'))}"
    accuracy = row.get("val_accuracy", row.get("train_accuracy"))
    return text + (f" acc {figure(accuracy)}" if accuracy is not None else "")


def _outcome(job: JobInfo) -> str:
    progress = job["progress"]
    line = f"job {job['id']} {job['status']} after {progress['epoch']}/{progress['epochs']} epochs"
    if job.get("metrics"):
        line += f"  {_epoch_figures(job['metrics'])}"
    if job.get("model_id"):
        line += f"\nmodel {job['model_id']}"
    if job.get("error"):
        line += f"\nerror: {job['error']}"
    return line
