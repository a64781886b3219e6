"""`neuronal searches` as real subprocesses against a real server on PostgreSQL + Redis with
a real worker: create and watch a search to its end, watch it again, list it, show its
leaderboard, change the limits of a running one and cancel it; the server's refusals are one
error line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from neuronal_client import NeuronalClient

from tests.search_helpers import base_body
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.services
LR = "training.optimizer.learning_rate"


def cli(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "NEURONAL_URL": stack.url, "NEURONAL_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def key(production_stack: Stack) -> str:
    return production_stack.create_key("cli-searches")


@pytest.fixture(scope="module")
def dataset_id(production_stack: Stack, key: str, tmp_path_factory: pytest.TempPathFactory,
               iris_bytes: bytes) -> str:  # fmt: skip
    path = tmp_path_factory.mktemp("cli-searches") / "iris.csv"
    path.write_bytes(iris_bytes)
    done = cli(production_stack, key, "datasets", "upload", str(path), "--target", "species")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def spec_file(tmp_path: Path, body: dict[str, Any]) -> str:
    path = tmp_path / "search.json"
    path.write_text(json.dumps(body))
    return str(path)


def test_create_watch_list_and_show_a_search(
    production_stack: Stack, key: str, dataset_id: str, tmp_path: Path
) -> None:
    body = {
        "base": base_body(epochs=3),
        "space": {LR: {"log_uniform": [0.01, 0.3]}, "network.layers[*].units": {"choice": [4, 8]}},
        "strategy": "random",
        "seed": 5,
        "limits": {"max_trials": 4, "max_parallel": 2},
    }
    spec = spec_file(tmp_path, body)
    done = cli(production_stack, key, "searches", "create", "--spec", spec,
               "--dataset", dataset_id, "--watch")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    started = re.match(r"started search (\S+) on (\S+): random, up to 4 trials \(2 at a time\)",
                       lines[0])  # fmt: skip
    assert started and started.group(2) == dataset_id, lines[0]
    search_id = started.group(1)
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert sorted(int(line.split()[1]) for line in trial_lines) == [1, 2, 3, 4]
    assert all(" succeeded  val_loss " in line and "learning_rate=" in line for line in trial_lines)
    assert any(line.startswith("best so far: trial ") for line in lines)
    assert f"search {search_id} succeeded: 4 in all (4 succeeded)" in lines
    assert lines[-1].startswith("model mdl_")

    with NeuronalClient(production_stack.url, key) as client:
        search = client.get_search(search_id)
        board = client.search_trials(search_id)
    assert search["status"] == "succeeded" and search["best"] is not None
    assert lines[-1] == f"model {search['best']['model_id']}"
    assert [row["trial"] for row in board][0] == search["best"]["trial"]

    watched = cli(production_stack, key, "searches", "watch", search_id)  # replays its trials
    assert watched.returncode == 0, watched.stderr
    assert len([line for line in watched.stdout.splitlines() if line.startswith("trial ")]) == 4
    assert watched.stdout.splitlines()[-1] == lines[-1]

    listed = cli(production_stack, key, "searches", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if search_id in line)
    assert "succeeded" in row and "random" in row and "4/4" in row and "minimize val_loss" in row

    shown = cli(production_stack, key, "searches", "show", search_id)
    assert shown.returncode == 0, shown.stderr
    assert f"search {search_id}  succeeded  on {dataset_id}" in shown.stdout
    assert "strategy random (seed 5), minimize val_loss" in shown.stdout
    assert "trials: 4 in all (4 succeeded)" in shown.stdout
    ranked = [
        line for line in shown.stdout.splitlines() if re.match(r"^\W*\d+\W+\d+\W+succeeded", line)
    ]
    assert len(ranked) == 4
    first = ranked[0].split()
    assert f"{board[0]['objective']:.4f}" in first and board[0]["job_id"] in ranked[0]


def test_change_limits_then_cancel_a_running_search(
    production_stack: Stack, key: str, dataset_id: str, tmp_path: Path
) -> None:
    body = {
        "dataset_id": dataset_id,
        "base": base_body(epochs=200, learning_rate=0.01),
        "space": {LR: {"log_uniform": [0.001, 0.01]}},
        "limits": {"max_trials": 30, "max_parallel": 1},
    }
    done = cli(production_stack, key, "searches", "create", "--spec", spec_file(tmp_path, body))
    assert done.returncode == 0, done.stderr
    search_id = done.stdout.strip().splitlines()[-1]
    assert search_id.startswith("srch_") and search_id in done.stdout.splitlines()[0]

    raised = cli(production_stack, key, "searches", "limits", search_id, "--max-trials", "40")
    assert raised.returncode == 0, raised.stderr
    assert "max_trials 40" in raised.stdout and "max_parallel 1" in raised.stdout

    cancelled = cli(production_stack, key, "searches", "cancel", search_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"search {search_id}: " in cancelled.stdout
    with NeuronalClient(production_stack.url, key) as client:
        final = client.wait_for_search(search_id, timeout=120)
    assert final["status"] == "cancelled"


def test_refusals_by_the_server_are_error_lines_without_a_traceback(
    production_stack: Stack, key: str, dataset_id: str, tmp_path: Path
) -> None:
    missing = cli(production_stack, key, "searches", "show", "srch_nope")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("error: ") and "srch_nope" in missing.stderr

    body = {"dataset_id": dataset_id, "base": base_body(),
            "space": {"training.optimiser.learning_rate": {"choice": [0.1, 0.2]}}}  # fmt: skip
    refused = cli(production_stack, key, "searches", "create", "--spec", spec_file(tmp_path, body))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.startswith("error: ") and "optimiser" in refused.stderr.splitlines()[0]
