"""The API and the workers use the settings they were built from, whatever the environment
says; importing the worker builds nothing; a misspelt environment name stops start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from service.core.config import InvalidSettings, Settings, get_settings, load_settings
from service.core.queue import QUEUE, TRAIN_TASK
from tests.stack import REDIS_HOST, REDIS_PORT, ROOT, free_port, redis_url, wait_until

IRIS_JOB = {
    "network": {"layers": [{"units": 4, "activation": "relu"}]},
    "training": {"epochs": 1, "batch_size": 16, "seed": 1},
}


@pytest.fixture
def environment_names_another_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The Redis URL the environment names (and `get_settings()` would read)."""
    url = redis_url()
    monkeypatch.setenv("NEURONAL_BROKER_URL", url)
    monkeypatch.setenv("NEURONAL_DATA_DIR", str(tmp_path / "environment"))
    get_settings.cache_clear()
    assert get_settings().broker_url == url
    yield url
    get_settings.cache_clear()


def queued_messages(url: str) -> list[dict[str, object]]:
    import redis

    db = int(url.rsplit("/", 1)[1])
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    return [json.loads(raw) for raw in client.lrange(QUEUE, 0, -1)]


def test_the_app_enqueues_to_the_broker_of_its_settings(
    tmp_path: Path, environment_names_another_broker: str, iris_bytes: bytes
) -> None:
    import uvicorn

    from service.api.app import create_app
    from service.core.db import Database
    from service.core.schema import migrate_database
    from service.domain.keys import create_key

    ours = redis_url()
    settings = Settings(data_dir=tmp_path / "ours", broker_url=ours)
    migrate_database(settings.database_url)
    with Database(settings.database_url).transaction() as session:
        key = create_key(session, "injected").key
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=30, what="the API to start")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            upload = client.post(
                "/v1/datasets", files={"file": ("iris.csv", iris_bytes, "text/csv")}
            )
            assert upload.status_code == 201, upload.text
            created = client.post("/v1/jobs", json={"dataset_id": upload.json()["id"], **IRIS_JOB})
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            ready = client.get("/readyz").json()
            assert ready["checks"] == {"database": True, "broker": True}, ready
        messages = wait_until(lambda: queued_messages(ours), timeout=10, what="the message")
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert [m["headers"]["task"] for m in messages] == [TRAIN_TASK]  # type: ignore[index]
    assert job_id in str(messages[0]["headers"]["argsrepr"])  # type: ignore[index]
    assert queued_messages(environment_names_another_broker) == []
    assert not (tmp_path / "environment").exists()


def python(code: str, data_dir: Path) -> str:
    """`code` run by a fresh interpreter whose environment names only `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURONAL_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "NEURONAL_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)},
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_worker_creates_no_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    python("import worker.celery_app, worker.tasks, worker.reaper", data)
    assert not data.exists()


def test_the_worker_app_is_built_on_first_use_with_its_folders_and_tasks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code = (
        "from worker import celery_app\n"
        "app = celery_app.celery\n"
        "assert app is celery_app.celery\n"
        "app.loader.import_default_modules()\n"
        "task = app.tasks['neuronal.train_job']\n"
        "print(task.app is app, app.conf.worker_pool, app.conf.worker_concurrency)\n"
    )
    assert python(code, data) == "True threads 1"
    assert sorted(p.name for p in (data / "broker").iterdir()) == ["control", "processed", "queue"]


def test_make_celery_uses_the_settings_it_is_given(tmp_path: Path) -> None:
    from worker.celery_app import make_celery

    settings = Settings(data_dir=tmp_path / "given", worker_concurrency=3)
    app = make_celery(settings)
    assert app.settings is settings and app.conf.worker_concurrency == 3
    assert (tmp_path / "given" / "broker" / "queue").is_dir()


def test_the_worker_command_passes_only_what_was_chosen() -> None:
    from service.cli.main import worker_command

    default = worker_command()
    assert "--pool" not in default and "-Q" not in default and "-c" not in default
    chosen = worker_command(4, "DEBUG")
    assert chosen[chosen.index("-c") + 1] == "4" and "DEBUG" in chosen


@pytest.mark.parametrize("name", ["development", "production"])
def test_the_environment_names_we_know_are_accepted(tmp_path: Path, name: str) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert Settings(environment=name, database_url=url).environment == name


@pytest.mark.parametrize("name", ["prod", "Production", "dev", ""])
def test_a_misspelt_environment_is_refused(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    with pytest.raises(ValidationError):
        Settings(environment=name)
    monkeypatch.setenv("NEURONAL_ENVIRONMENT", name)
    monkeypatch.setenv("NEURONAL_DATABASE_URL", "sqlite:///unused.db")
    with pytest.raises(InvalidSettings) as refused:
        load_settings()
    message = str(refused.value)
    assert "NEURONAL_ENVIRONMENT" in message and repr(name) in message, message
    assert "'development' or 'production'" in message, message


def test_production_without_a_database_url_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEURONAL_ENVIRONMENT", "production")
    monkeypatch.delenv("NEURONAL_DATABASE_URL", raising=False)
    with pytest.raises(InvalidSettings, match="NEURONAL_DATABASE_URL must be set in production"):
        load_settings()
