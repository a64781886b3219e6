"""`neuronal models register`, `neuronal aliases` and `neuronal predict NAME@ALIAS` run as real
subprocesses against a real server; mistakes end in one `error:` line, never a traceback."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.cli.test_cli_client import cli
from tests.inputs.helpers import train_iris
from tests.stack import Stack


@pytest.fixture(scope="module")
def key(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("cli-registry")


@pytest.fixture(scope="module")
def models(embedded_stack: Stack, key: str, iris_bytes: bytes) -> list[str]:
    return [str(train_iris(embedded_stack, key, iris_bytes)["model_id"]) for _ in range(2)]


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory: pytest.TempPathFactory, iris_bytes: bytes) -> Path:
    path = tmp_path_factory.mktemp("cli-registry") / "iris.csv"
    path.write_bytes(iris_bytes)
    return path


def test_register_alias_and_predict_by_name(
    embedded_stack: Stack, key: str, models: list[str], iris_file: Path, tmp_path: Path
) -> None:
    first, second = models
    done = cli(embedded_stack, key, "models", "register", first, "--name", "flowers",
               "--alias", "production")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "1"
    assert f"registered {first} as flowers version 1, alias production" in done.stdout
    again = cli(embedded_stack, key, "models", "register", second, "--name", "flowers")
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == "2"

    out = tmp_path / "by-alias.csv"
    predicted = cli(embedded_stack, key, "predict", "flowers@production", str(iris_file),
                    "-o", str(out))  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    assert f"flowers version 1 (alias production), model {first}" in predicted.stderr
    by_id = tmp_path / "by-id.csv"
    plain = cli(embedded_stack, key, "predict", first, str(iris_file), "-o", str(by_id))
    assert plain.returncode == 0, plain.stderr
    assert out.read_text() == by_id.read_text()

    moved = cli(embedded_stack, key, "aliases", "set", "flowers", "production", "2")
    assert moved.returncode == 0 and "version 2" in moved.stdout
    by_version = cli(embedded_stack, key, "predict", "flowers@2", str(iris_file))
    assert by_version.returncode == 0 and f"version 2, model {second}" in by_version.stderr
    rows = list(csv.DictReader(by_version.stdout.splitlines()))
    assert len(rows) == 150 and "prediction" in rows[0]

    history = cli(embedded_stack, key, "aliases", "history", "flowers", "production")
    assert history.returncode == 0
    lines = [line for line in history.stdout.splitlines() if "Z" in line]
    assert len(lines) == 2 and "2" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["aliases", "set", "flowers-missing", "production", "1"], "no registered model"),
        (["aliases", "set", "flowers", "production", "9"], "no version 9"),
        (["aliases", "set", "flowers", "production", "1", "--if-match", "7"], "moved since"),
        (["predict", "flowers@nope", "FILE"], "no alias 'nope'"),
        (["predict", "flowers@", "FILE"], "NAME@ALIAS or NAME@VERSION"),
        (["models", "register", "mdl_none", "--name", "flowers"], "no model"),
    ],
)
def test_mistakes_are_one_line(
    embedded_stack: Stack, key: str, models: list[str], iris_file: Path,
    args: list[str], message: str,
) -> None:  # fmt: skip
    cli(embedded_stack, key, "models", "register", models[0], "--name", "flowers")
    done = cli(embedded_stack, key, *[str(iris_file) if a == "FILE" else a for a in args])
    assert done.returncode in (1, 2), done.stdout
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error:")
