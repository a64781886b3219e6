"""`neuronal datasets upload --layout series` and `jobs create --layers lstm:…` as real
subprocesses against a real server."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli.test_cli_client import cli
from tests.sequence_data import SERIES_ROWS, sequences_npz, series_csv
from tests.stack import Stack


def upload_series(
    stack: Stack, key: str, tmp_path: Path, *columns: str
) -> subprocess.CompletedProcess[str]:
    """`neuronal datasets upload --layout series` of `series_csv()`, with `columns` such as
    `--time-column day`."""
    path = tmp_path / "load.csv"
    path.write_bytes(series_csv())
    return cli(stack, key, "datasets", "upload", str(path), "--layout", "series", *columns)


def test_series_upload_and_lstm_job_from_the_cli(embedded_stack: Stack, tmp_path: Path) -> None:
    key = embedded_stack.create_key("cli-recurrent")
    done = upload_series(
        embedded_stack, key, tmp_path, "--time-column", "day", "--group-column", "site"
    )
    assert done.returncode == 0, done.stderr
    assert f"{2 * SERIES_ROWS} rows, 1 features in 2 series, target load" in done.stdout
    dataset_id = done.stdout.strip().splitlines()[-1]

    done = cli(
        embedded_stack,
        key,
        "jobs",
        "create",
        "--dataset",
        dataset_id,
        "--layers",
        "lstm:8,gru:4,4",
        "--window",
        "6",
        "--horizon",
        "2",
        "--epochs",
        "2",
        "--wait",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded after 2/2 epochs" in done.stdout

    blob, *_ = sequences_npz(n=30)
    npz = tmp_path / "seq.npz"
    npz.write_bytes(blob)
    done = cli(embedded_stack, key, "datasets", "upload", str(npz))
    assert done.returncode == 0, done.stderr
    assert "30 sequences of up to 10 steps, 2 features per step" in done.stdout


def test_cli_refuses_bad_layers_and_layouts_without_a_traceback(
    embedded_stack: Stack, tmp_path: Path
) -> None:
    key = embedded_stack.create_key("cli-recurrent-errors")
    done = cli(embedded_stack, key, "jobs", "create", "--dataset", "ds_x", "--layers", "lstm:x")
    assert done.returncode == 2 and "Traceback" not in done.stderr  # a usage error
    assert "--layers" in done.stderr and "'lstm:x'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = cli(embedded_stack, key, "jobs", "create", "--dataset", "ds_x", "--layers", "conv:3")
    assert done.returncode == 2 and "gru:32, lstm:32, rnn:32" in done.stderr
    done = upload_series(embedded_stack, key, tmp_path, "--time-column", "when")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "time_column 'when'" in done.stderr
