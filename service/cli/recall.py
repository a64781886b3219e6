"""`neuronal recall MODEL patterns.csv`: settle the rows of a CSV in a stored Hopfield network.

The CSV's header names the units, as the columns of the data set the network was stored from
(any order; other columns are ignored). The output CSV has the recalled state of every unit,
then `converged`, `iterations`, `nearest_pattern` and `hamming` per row. Every failure is an
`error: ...` message on stderr and exit code 1 (a missing key or a malformed --url: exit 2).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli.connect import DEFAULT_URL, Key, Url, connected
from service.cli.errors import fail

CHUNK = 1000  # the server's default NEURONAL_MAX_RECALL_PATTERNS
RESULT_COLUMNS = ("converged", "iterations", "nearest_pattern", "hamming")


def recall(
    model_id: Annotated[str, typer.Argument(help="Id of a Hopfield model.")],
    file: Annotated[Path, typer.Argument(help="CSV of probes, a header of unit names.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV to write (default: stdout).")
    ] = None,
    max_iterations: Annotated[
        int | None, typer.Option("--max-iterations", help="Sweeps at most (default: the model's).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the update order.")] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Recall stored patterns from the rows of a CSV (damaged or partial patterns)."""
    with connected(url, key) as client:
        model = client.get_model(model_id)
        if (model.get("network") or {}).get("kind") != "hopfield":
            fail(f"model {model_id} is not a Hopfield network; use neuronal predict")
        names = [str(f["name"]) for f in model.get("features") or []]
        rows = read_probes(file, names)
        results: list[list[Any]] = []
        for start in range(0, len(rows), CHUNK):
            answer = client.recall(model_id, rows[start : start + CHUNK], max_iterations, seed)
            results.extend(
                [*state, answer["converged"][i], answer["iterations"][i],
                 answer["nearest_pattern"][i], answer["hamming"][i]]  # RESULT_COLUMNS
                for i, state in enumerate(answer["states"])
            )  # fmt: skip
    write_results(output, [*names, *RESULT_COLUMNS], results)
    if output is not None:
        converged = sum(1 for row in results if row[len(names)])
        typer.echo(f"wrote {len(results)} recalled patterns ({converged} converged) to {output}",
                   err=True)  # fmt: skip


def read_probes(file: Path, names: list[str]) -> list[list[int | float]]:
    """The CSV's rows as lists of numbers in the model's unit order."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            first = next(reader, None)
            if first is None:
                fail(f"{file} is empty; it needs a header row of unit names")
            header = [name.strip() for name in first or []]
            missing = [name for name in names if name not in header]
            if missing:
                shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
                fail(f"{file} lacks the network's unit column(s): {shown}")
            where = [header.index(name) for name in names]
            rows = [
                _numbers(file, line, row, where, names)
                for line, row in enumerate(reader, start=2)
                if any(cell.strip() for cell in row)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        fail(f"cannot read {file}: {exc}")
    if not rows:
        fail(f"{file} has no rows to recall")
    return rows


def _numbers(
    file: Path, line: int, row: list[str], where: list[int], names: list[str]
) -> list[int | float]:
    values: list[int | float] = []
    for position, name in zip(where, names, strict=True):
        cell = row[position].strip() if position < len(row) else ""
        try:
            number = float(cell)
        except ValueError:
            fail(f"{file} line {line}, column {name!r}: {cell!r} is not a number")
        values.append(int(number) if number.is_integer() else number)
    return values


def write_results(output: Path | None, header: list[str], rows: list[list[Any]]) -> None:
    try:
        handle = sys.stdout if output is None else output.open("w", newline="")
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    writer = csv.writer(handle)
    writer.writerow(header)
    writer.writerows(
        [*row[: -len(RESULT_COLUMNS)], str(row[-4]).lower(), *row[-3:]] for row in rows
    )
    if output is not None:
        handle.close()
