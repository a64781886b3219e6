"""`neuronal searches`: mistakes typed at it (one `error:` line, exit 2, no server needed),
and how it prints searches, the leaderboard and a watched search's lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.cli.search_tables import (
    leaderboard_rows,
    outcome,
    params_text,
    search_rows,
    summary_lines,
    trial_line,
)
from tests.cli.test_cli import assert_one_error_line, neuronal

KEY = ("--key", "nrl_key_x_y")
SPEC: dict[str, Any] = {
    "dataset_id": "ds_x",
    "base": {"network": {"layers": [{"units": 8}]}, "training": {"epochs": 3}},
    "space": {"training.optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]}},
}
USAGE_MISTAKES: list[tuple[list[str], dict[str, str], list[str]]] = [
    (["searches", "create", *KEY], {}, ["--spec"]),
    (["searches", "create", "--spec", "nothere.json", *KEY], {}, ["--spec", "nothere.json"]),
    (
        ["searches", "create", "--spec", "s.json", *KEY],
        {"s.json": '{"base": '},
        ["--spec", "line 1"],
    ),
    (
        ["searches", "create", "--spec", "s.json", *KEY],
        {"s.json": json.dumps({k: v for k, v in SPEC.items() if k != "dataset_id"})},
        ["--dataset", "dataset_id"],
    ),
    (
        ["searches", "create", "--spec", "s.json", *KEY],
        {"s.json": json.dumps({**SPEC, "space": ["training.l2"]})},
        ["--spec", '"space" as a JSON object'],
    ),
    (
        ["searches", "create", "--spec", "s.json", "--wach", *KEY],
        {"s.json": json.dumps(SPEC)},
        ["--wach", "--watch"],
    ),
    (["searches", "creat"], {}, ["creat", "create"]),
    (["search", "list"], {}, ["search", "searches"]),
    (["searches", "show", *KEY], {}, ["search_id"]),
    (["searches", "limits", "srch_x", *KEY], {}, ["--max-trials", "at least one limit"]),
    (
        ["searches", "limits", "srch_x", "--max-trials", "0", *KEY],
        {},
        ["--max-trials", "greater than or equal to 1"],
    ),
    (["searches", "limits", "srch_x", "--max-parallel", "two", *KEY], {}, ["--max-parallel"]),
    (["searches", "list"], {}, ["--key", "NEURONAL_API_KEY"]),
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


TRIALS: list[dict[str, Any]] = [
    {
        "trial": 4,
        "job_id": "job_d",
        "status": "succeeded",
        "params": {"training.optimizer.learning_rate": 0.0031622, "network.layers[*].units": 48},
        "objective": 0.12345,
        "epochs": 9,
    },
    {
        "trial": 2,
        "job_id": "job_b",
        "status": "pruned",
        "params": {"training.optimizer.learning_rate": 0.5, "network.layers[*].units": 16},
        "objective": 2.5,
        "epochs": 1,
    },
    {"trial": 3, "job_id": "job_c", "status": "failed", "params": {}, "objective": None},
]
SEARCH: dict[str, Any] = {
    "id": "srch_a",
    "status": "succeeded",
    "dataset_id": "ds_x",
    "space": SPEC["space"] | {"network.layers[*].units": {"int": [8, 64], "step": 8}},
    "strategy": "tpe",
    "seed": 7,
    "objective": {"metric": "val_loss", "goal": "minimize"},
    "early_termination": {"name": "asha", "min_epochs": 1, "reduction_factor": 3},
    "limits": {"max_trials": 20, "max_parallel": 2, "max_runtime_seconds": None},
    "trials": {"total": 3, "queued": 0, "running": 0, "succeeded": 1, "pruned": 1, "failed": 1},
    "best": {
        "trial": 4,
        "job_id": "job_d",
        "model_id": "mdl_d",
        "params": TRIALS[0]["params"],
        "objective": 0.12345,
    },
    "created_at": "2026-12-01T15:00:00.123456Z",
}


def test_params_are_shown_by_their_last_key_unless_two_share_it() -> None:
    assert params_text(TRIALS[0]["params"]) == "learning_rate=0.003162 units=48"
    two = {"network.layers[0].activation": "tanh", "network.layers[1].activation": "relu"}
    assert params_text(two) == "network.layers[0].activation=tanh network.layers[1].activation=relu"
    assert params_text({"training.optimizer": {"name": "sgd"}}) == 'optimizer={"name":"sgd"}'
    assert params_text({}) == "-"


def test_the_leaderboard_keeps_the_server_order_and_ranks_it() -> None:
    rows = leaderboard_rows(TRIALS)  # type: ignore[arg-type]
    assert [row[:5] for row in rows] == [
        [1, 4, "succeeded", "0.1235", 9],
        [2, 2, "pruned", "2.5000", 1],
        [3, 3, "failed", "-", None],
    ]
    assert rows[0][5:] == ["learning_rate=0.003162 units=48", "job_d"]


def test_a_search_row_counts_ended_trials_against_max_trials() -> None:
    (row,) = search_rows([SEARCH])  # type: ignore[list-item]
    assert row == [
        "srch_a", "succeeded", "tpe", "ds_x", "3/20", "minimize val_loss", "0.1235",
        "2026-12-01T15:00:00Z",
    ]  # fmt: skip


def test_the_summary_names_strategy_limits_counts_space_and_best() -> None:
    text = "\n".join(summary_lines(SEARCH))  # type: ignore[arg-type]
    assert "search srch_a  succeeded  on ds_x" in text
    assert "strategy tpe (seed 7), minimize val_loss" in text
    assert "limits: max_trials 20, max_parallel 2" in text and "max_runtime" not in text
    assert "trials: 3 in all (1 succeeded, 1 pruned, 1 failed)" in text
    assert "space: training.optimizer.learning_rate, network.layers[*].units" in text
    assert "early termination: asha from 1 epochs, reduction factor 3" in text
    assert "best so far: trial 4 (job_d)  val_loss 0.1235  learning_rate=0.003162" in text


def test_a_watched_search_prints_each_trial_then_the_best_model_last() -> None:
    line = trial_line(TRIALS[1], "val_loss")
    assert line == "trial 2 pruned  val_loss 2.5000  after 1 epochs  learning_rate=0.5 units=16"
    assert trial_line(TRIALS[2], "val_loss").startswith("trial 3 failed  val_loss -")
    lines = outcome(SEARCH)  # type: ignore[arg-type]
    assert lines[0] == "search srch_a succeeded: 3 in all (1 succeeded, 1 pruned, 1 failed)"
    assert lines[-1] == "model mdl_d"
