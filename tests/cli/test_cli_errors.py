"""Every mistake typed at `neuronal` is one `error:` line naming what to fix, never a traceback:
usage mistakes exit 2, refusals by the server and an unreachable server exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_error_line, neuronal
from tests.stack import Stack, free_port

KEY = ("--key", "nrl_key_x_y")
# (arguments, files to write first, words the one line must hold)
USAGE_MISTAKES: list[tuple[list[str], dict[str, str], list[str]]] = [
    (
        ["jobs", "create", "--dataset", "ds_x", "--layers", "16,abc", *KEY],
        {},
        ["--layers", "64,32"],
    ),
    (
        ["jobs", "create", "--dataset", "ds_x", "--batch-size", "abc", *KEY],
        {},
        ["--batch-size", "full"],
    ),
    (["jobs", "create", "--dataset", "ds_x", "--epochs", "abc", *KEY], {}, ["--epochs", "integer"]),
    (
        ["jobs", "create", "--dataset", "ds_x", "--learning-rate", "fast", *KEY],
        {},
        ["--learning-rate"],
    ),
    (
        ["jobs", "create", "--dataset", "ds_x", "--activation", "relux", *KEY],
        {},
        ["--activation", "relu"],
    ),
    (
        ["jobs", "create", "--dataset", "ds_x", "--optimizer", "adma", *KEY],
        {},
        ["--optimizer", "adam"],
    ),
    (
        ["jobs", "create", "--dataset", "ds_x", "--task", "clasification", *KEY],
        {},
        ["--task", "regression"],
    ),
    (
        ["jobs", "create", "--spec", "spec.json", *KEY],
        {"spec.json": '{"network": {'},
        ["--spec", "line 1"],
    ),
    (
        ["jobs", "create", "--spec", "spec.json", *KEY],
        {"spec.json": "[1, 2]"},
        ["--spec", "JSON object"],
    ),
    (
        ["jobs", "create", "--spec", "spec.json", *KEY],
        {"spec.json": '{"network": 3}'},
        ["--spec", "network"],
    ),
    (["jobs", "create", "--spec", "missing.json", *KEY], {}, ["--spec", "missing.json"]),
    (["jobs", "create", "--epochs", "3", *KEY], {}, ["--dataset"]),
    (["jobs", "create", "--epoch", "3"], {}, ["--epoch", "--epochs"]),
    (["jobs", "creat"], {}, ["creat", "create"]),
    (["dataset", "list"], {}, ["dataset", "datasets"]),
    (["datasets", "upload", "nothere.csv", *KEY], {}, ["nothere.csv", "does not exist"]),
    (["datasets", "upload", *KEY], {}, ["file"]),
    (["predict", "mdl_x"], {}, ["file"]),
    (["predict", "mdl_x", "rows.csv", *KEY], {"rows.csv": ""}, ["FILE", "header row"]),
    (["datasets", "list", "--url", "localhost:8000", *KEY], {}, ["--url", "http://"]),
    (["datasets", "list", "--url", "http://", *KEY], {}, ["--url", "http://"]),
    (["datasets", "list"], {}, ["--key", "NEURONAL_API_KEY"]),
    (["keys", "create"], {}, ["--tenant"]),
    (["keys", "create", "--tenant", " "], {}, ["--tenant", "empty"]),
    (["--url", "http://127.0.0.1:8000", "jobs", "list"], {}, ["--url", "after the command"]),
    (["serve", "--port", "http"], {}, ["--port"]),
]


@pytest.mark.parametrize(
    ("args", "files", "words"), USAGE_MISTAKES, ids=[" ".join(m[0][:4]) for m in USAGE_MISTAKES]
)
def test_a_usage_mistake_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], files: dict[str, str], words: list[str]
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    line = assert_one_error_line(neuronal(*args, cwd=tmp_path), code=2)
    for word in words:
        assert word in line, line


def test_a_server_that_is_down_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = assert_one_error_line(neuronal("jobs", "list", "--url", url, *KEY, cwd=tmp_path))
    assert url in line and "running" in line


def test_a_refusal_by_the_server_says_each_thing_once(
    embedded_stack: Stack, tmp_path: Path
) -> None:
    key = embedded_stack.create_key("cli-errors")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"task": "clasification", "network": {"layers": [{"units": 8}]}}))
    args = ("--url", embedded_stack.url, "--key", key)
    done = neuronal(
        "jobs", "create", "--dataset", "ds_nope", "--spec", str(spec), *args, cwd=tmp_path
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ")
    messages = [line.split(": ", 1)[-1] for line in lines]
    assert len(set(messages)) == len(messages), done.stderr
    assert not any(m in lines[0] for m in messages[1:]), done.stderr
    assert "'classification' or 'regression'" in lines[0]
    wrong_key = neuronal("jobs", "list", "--url", embedded_stack.url, *KEY, cwd=tmp_path)
    assert "key" in assert_one_error_line(wrong_key).lower()
