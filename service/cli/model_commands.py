"""`neuronal models` and `neuronal predict`: trained models and predictions over HTTP."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli.connect import DEFAULT_URL, Key, Url, connected
from service.cli.errors import fail, usage_error
from service.cli.model_refs import ModelRef, parse_model_ref, resolve
from service.cli.tables import figure, print_table, short_time
from service.core.spreadsheet import safe_cell

models_app = typer.Typer(help="List, download and delete trained models.", no_args_is_help=True)

PREDICT_CHUNK = 1000


def register_model_commands(app: typer.Typer) -> None:
    """Add `models` and `predict` to the `neuronal` app."""
    app.add_typer(models_app, name="models")
    app.command("predict")(predict)


# -- models ----------------------------------------------------------------------------------


@models_app.command("list")
def models_list(url: Url = DEFAULT_URL, key: Key = None) -> None:
    """List your trained models."""
    with connected(url, key) as client:
        rows = [
            [
                m["id"],
                m["task"],
                m["dataset_id"],
                len(m["features"]),
                " ".join(str(c) for c in m.get("classes") or []) or "-",
                figure(m["metrics"].get("val_loss")),
                short_time(m["created_at"]),
            ]  # fmt: skip
            for m in client.iter_models()
        ]
    print_table(
        "models", ["id", "task", "dataset", "features", "classes", "val loss", "created"], rows
    )


@models_app.command("download")
def models_download(
    model_id: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write.")] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Save the model's weights and preprocessing as .npz."""
    with connected(url, key) as client:
        data = client.download_weights(model_id)
    target = output or Path(f"{model_id}.npz")
    target.write_bytes(data)
    typer.echo(f"wrote {len(data):,} bytes to {target}")


@models_app.command("delete")
def models_delete(model_id: str, url: Url = DEFAULT_URL, key: Key = None) -> None:
    """Delete a model."""
    with connected(url, key) as client:
        client.delete_model(model_id)
    typer.echo(f"deleted {model_id}")


def predict(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL", help="Model id, or NAME@ALIAS / NAME@VERSION of a registered model."
        ),
    ],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Input CSV.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV to write (default: stdout).")
    ] = None,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch", help="Upload the file as one batch job on the workers (large files)."
        ),
    ] = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Predict every row of a CSV; writes it back with predictions and class probabilities.

    Columns are matched by the model's feature names; other columns (the target, say) are
    kept in the output and not sent. The output is the input's columns, then `prediction`,
    then `probability_<class>` per class; text that a spreadsheet would run as a formula
    gets a leading '. With --batch the file (CSV, JSON or NPZ) is uploaded as a prediction
    job and the server's CSV, which has the same columns, is written. A registered model's
    alias is read once: the whole file is predicted by the version it named then."""
    ref = parse_model_ref(model)
    if batch:
        _predict_batch(ref, file, output, url, key)
        return
    import pandas as pd

    frame = _read_rows(file)
    with connected(url, key) as client:
        model_id, predict_records, note = resolve(client, ref)
        if note:
            typer.echo(note, err=True)
        info = client.get_model(model_id)
        names = [f["name"] for f in info["features"]]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            fail(f"{file} lacks the model's feature column(s): {', '.join(missing)}")
        records = json.loads(frame[names].to_json(orient="records"))
        predictions: list[Any] = []
        probabilities: list[list[float]] = []
        for start in range(0, len(records), PREDICT_CHUNK):
            answer = predict_records(records[start : start + PREDICT_CHUNK])
            predictions.extend(answer["predictions"])
            probabilities.extend(answer.get("probabilities") or [])
    result = frame.copy()
    result["prediction"] = predictions
    for i, label in enumerate(info.get("classes") or []):
        result[f"probability_{label}"] = [p[i] for p in probabilities]
    result.columns = [safe_cell(str(name)) for name in result.columns]
    for name in result.columns:
        if not pd.api.types.is_numeric_dtype(result[name]):
            result[name] = result[name].map(safe_cell)
    if output is None:
        result.to_csv(sys.stdout, index=False)
    else:
        result.to_csv(output, index=False)
        typer.echo(f"wrote {len(result)} predictions to {output}", err=True)


def _read_rows(file: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(file)
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError and EmptyDataError
        usage_error("FILE", f"a CSV file with a header row; {file} is not one ({exc})")


def _predict_batch(
    ref: ModelRef, file: Path, output: Path | None, url: str, key: str | None
) -> None:
    with connected(url, key) as client:
        model_id, _, note = resolve(client, ref)
        if note:
            typer.echo(note, err=True)
        job = client.predict_batch(model_id, file)
        typer.echo(f"queued prediction job {job['id']}: {job['progress']['n_rows']} rows", err=True)
        final = client.wait_for_prediction_job(job["id"])
        if final["status"] != "succeeded":
            fail(f"prediction job {job['id']} {final['status']}: {final.get('error') or ''}")
        data = client.download_predictions(job["id"])
    if output is None:
        sys.stdout.write(data.decode())
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {final['progress']['n_rows']} predictions to {output}", err=True)
