"""`neuronal jobs create --init-from MODEL --mode ...` as a real subprocess against a real server:
only the options given are sent, the rest is the source model's."""

from __future__ import annotations

import pytest

from tests.cli.test_cli_client import cli
from tests.stack import Stack


@pytest.fixture(scope="module")
def key(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("cli-warm")


@pytest.fixture(scope="module")
def source_model(embedded_stack: Stack, key: str, tmp_path_factory, iris_bytes: bytes) -> str:
    path = tmp_path_factory.mktemp("cli-warm") / "iris.csv"
    path.write_bytes(iris_bytes)
    dataset = cli(embedded_stack, key, "datasets", "upload", str(path), "--target", "species")
    assert dataset.returncode == 0, dataset.stderr
    done = cli(
        embedded_stack, key, "jobs", "create", "--dataset", dataset.stdout.split()[-1],
        "--layers", "8", "--optimizer", "rmsprop", "--epochs", "3", "--wait",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()[-1].split()[-1]


def test_continue_sends_only_the_epochs(embedded_stack: Stack, key: str, source_model: str):
    done = cli(embedded_stack, key, "jobs", "create", "--init-from", source_model,
               "--mode", "continue", "--epochs", "2", "--wait")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"from {source_model}: 2 epochs" in done.stdout
    model_id = done.stdout.splitlines()[-1].split()[-1]
    with embedded_stack.client(key) as client:
        model = client.get(f"/v1/models/{model_id}").json()
    assert model["parent_model_id"] == source_model
    assert model["training"]["optimizer"]["name"] == "rmsprop"  # the source's, not adam


def test_fine_tune_with_another_optimizer(embedded_stack: Stack, key: str, source_model: str):
    done = cli(embedded_stack, key, "jobs", "create", "--init-from", source_model,
               "--mode", "fine_tune", "--optimizer", "sgd", "--learning-rate", "0.001",
               "--epochs", "1")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    job_id = done.stdout.splitlines()[-1]
    with embedded_stack.client(key) as client:
        job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["init_from"] == {"model_id": source_model, "mode": "fine_tune"}
    assert job["training"]["optimizer"]["name"] == "sgd"


def test_a_refused_continue_prints_the_reason(embedded_stack: Stack, key: str, source_model):
    done = cli(embedded_stack, key, "jobs", "create", "--init-from", source_model,
               "--mode", "continue", "--optimizer", "adam", "--epochs", "2")  # fmt: skip
    assert done.returncode == 1
    assert "training.optimizer" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--init-from", "mdl_x", "--epochs", "2"], "--mode"),
        (["--mode", "continue", "--epochs", "2"], "--init-from"),
        (["--init-from", "mdl_x", "--mode", "continue"], "--epochs"),
    ],
)
def test_a_half_given_warm_start_is_a_usage_error(
    embedded_stack: Stack, key: str, args: list[str], option: str
) -> None:
    done = cli(embedded_stack, key, "jobs", "create", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert option in done.stderr and "Traceback" not in done.stderr
