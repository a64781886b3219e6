"""`neuronal datasets|jobs|models|predict` run as real subprocesses against a real server."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import ROOT, Stack


def cli(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "NEURONAL_URL": stack.url, "NEURONAL_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def key(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("cli-human")


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory: pytest.TempPathFactory, iris_bytes: bytes) -> Path:
    path = tmp_path_factory.mktemp("cli") / "iris.csv"
    path.write_bytes(iris_bytes)
    return path


@pytest.fixture(scope="module")
def dataset_id(embedded_stack: Stack, key: str, iris_file: Path) -> str:
    done = cli(embedded_stack, key, "datasets", "upload", str(iris_file), "--target", "species")
    assert done.returncode == 0, done.stderr
    assert "150 rows, 4 features, target species (3 classes)" in done.stdout
    return done.stdout.strip().splitlines()[-1]


def test_upload_then_list(embedded_stack: Stack, key: str, dataset_id: str) -> None:
    assert dataset_id.startswith("ds_")
    listed = cli(embedded_stack, key, "datasets", "list")
    assert listed.returncode == 0 and dataset_id in listed.stdout


def test_create_wait_predict_and_list_models(
    embedded_stack: Stack, key: str, dataset_id: str, iris_file: Path, tmp_path: Path
) -> None:
    done = cli(
        embedded_stack, key, "jobs", "create", "--dataset", dataset_id, "--layers", "16,8",
        "--activation", "tanh", "--optimizer", "adam", "--learning-rate", "0.01",
        "--epochs", "30", "--batch-size", "16", "--wait",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == [
        f"{n}/30" for n in range(1, 31)
    ]
    assert "succeeded after 30/30 epochs" in done.stdout
    model_id = lines[-1].split()[-1]
    assert model_id.startswith("mdl_")

    out = tmp_path / "predictions.csv"
    predicted = cli(embedded_stack, key, "predict", model_id, str(iris_file), "--output", str(out))
    assert predicted.returncode == 0, predicted.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 150
    assert {r["prediction"] for r in rows} <= {"setosa", "versicolor", "virginica"}
    correct = sum(r["prediction"] == r["species"] for r in rows)
    assert correct >= 120
    total = float(rows[0]["probability_setosa"]) + float(rows[0]["probability_versicolor"])
    assert abs(total + float(rows[0]["probability_virginica"]) - 1.0) < 1e-4

    features_only = tmp_path / "features.csv"
    features_only.write_text("petal_width,sepal_length,sepal_width,petal_length\n0.2,5.1,3.5,1.4\n")
    to_stdout = cli(embedded_stack, key, "predict", model_id, str(features_only))
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert list(csv.DictReader(to_stdout.stdout.splitlines()))[0]["prediction"] == "setosa"

    models = cli(embedded_stack, key, "models", "list")
    assert models.returncode == 0 and model_id in models.stdout


def test_spec_file_and_watch(
    embedded_stack: Stack, key: str, dataset_id: str, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "network": {"layers": [{"units": 8, "activation": "relu"}]},
                "training": {"epochs": 6, "batch_size": 8, "optimizer": {"name": "sgd"}},
            }
        )
    )
    created = cli(
        embedded_stack, key, "jobs", "create", "--dataset", dataset_id, "--spec", str(spec)
    )
    assert created.returncode == 0, created.stderr
    job_id = created.stdout.strip().splitlines()[-1]
    assert job_id.startswith("job_")

    watched = cli(embedded_stack, key, "jobs", "watch", job_id)
    assert watched.returncode == 0, watched.stderr
    epochs = [line for line in watched.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 6 and "loss" in epochs[0] and "accuracy" in epochs[0]
    assert f"job {job_id} succeeded after 6/6 epochs" in watched.stdout

    listed = cli(embedded_stack, key, "jobs", "list", "--status", "succeeded")
    assert listed.returncode == 0 and job_id in listed.stdout


def test_errors_print_the_detail_and_exit_1(
    embedded_stack: Stack, key: str, dataset_id: str
) -> None:
    missing = cli(embedded_stack, key, "jobs", "watch", "job_nope")
    assert missing.returncode == 1 and "no job 'job_nope'" in missing.stderr

    invalid = cli(embedded_stack, key, "jobs", "create", "--dataset", dataset_id, "--layers", "0")
    assert invalid.returncode == 1 and "units" in invalid.stderr

    unsendable = cli(embedded_stack, key, "jobs", "watch", "job_\x01")
    assert unsendable.returncode == 1 and "error: cannot send" in unsendable.stderr
    assert "Traceback" not in unsendable.stderr

    denied = cli(embedded_stack, "nrl_key_wrong", "models", "list")
    assert denied.returncode == 1 and denied.stderr.startswith("error: ")
    assert "Traceback" not in denied.stderr
