"""`neuronal migrate` and `neuronal keys ...` run as the real command on fresh data directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.stack import ROOT

SCRIPT = Path(sys.executable).parent / "neuronal"


def neuronal(
    *args: str, cwd: Path, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `neuronal` command, as a user types it, with no NEURONAL_ settings but
    the data directory (when given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURONAL_")}
    if data_dir is not None:
        env["NEURONAL_DATA_DIR"] = str(data_dir)
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "service.cli"]
    return subprocess.run(
        [*command, *args], cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def assert_one_error_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return lines[0]


def test_keys_on_a_data_directory_with_no_database_say_so_and_create_nothing(
    tmp_path: Path,
) -> None:
    listed = neuronal("keys", "list", cwd=tmp_path)
    line = assert_one_error_line(listed)
    assert str(tmp_path / "neuronal-data" / "neuronal.db") in line and "NEURONAL_DATA_DIR" in line
    revoked = neuronal("keys", "revoke", "key_nope", cwd=tmp_path)
    assert_one_error_line(revoked)
    assert not (tmp_path / "neuronal-data" / "neuronal.db").exists()


def test_keys_create_on_a_fresh_directory_migrates_and_names_the_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    created = neuronal("keys", "create", "--tenant", "demo", cwd=elsewhere)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.strip().splitlines()
    assert lines[0].startswith("tenant demo (ten_")
    assert f"data directory {elsewhere / 'neuronal-data'}" in lines[1]
    assert lines[-1].startswith("nrl_")
    listed = neuronal("keys", "list", cwd=elsewhere)
    assert listed.returncode == 0 and "\tdemo\t" in listed.stdout, listed.stderr
    key_id = listed.stdout.split("\t")[0]
    assert neuronal("keys", "revoke", key_id, cwd=elsewhere).stdout.strip() == f"revoked {key_id}"
    assert "\trevoked " in neuronal("keys", "list", cwd=elsewhere).stdout


def test_the_data_directory_setting_wins_over_the_current_directory(tmp_path: Path) -> None:
    data = tmp_path / "chosen"
    created = neuronal("keys", "create", "--tenant", "t", cwd=tmp_path / ".", data_dir=data)
    assert created.returncode == 0 and f"data directory {data}" in created.stdout
    assert (data / "neuronal.db").exists() and not (tmp_path / "neuronal-data").exists()


def test_migrate_says_what_it_did(tmp_path: Path) -> None:
    data = tmp_path / "new" / "dir"
    first = neuronal("migrate", cwd=tmp_path, data_dir=data)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created the schema at revision ") and str(data) in first.stdout
    again = neuronal("migrate", cwd=tmp_path, data_dir=data)
    assert again.stdout.startswith("the schema is already up to date (revision ")


def test_migrate_upgrades_an_older_schema(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from service.core.schema import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = f"sqlite:///{tmp_path / 'neuronal.db'}"
    command.upgrade(config, "0001")
    done = neuronal("migrate", cwd=tmp_path, data_dir=tmp_path)
    assert done.stdout.startswith("upgraded the schema from revision 0001 to "), done.stdout


def test_a_database_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = neuronal("keys", "create", "--tenant", "t", cwd=tmp_path, data_dir=blocker / "data")
    assert_one_error_line(done)


def test_a_database_server_that_is_down_is_one_line(tmp_path: Path) -> None:
    from tests.stack import free_port

    url = f"postgresql+psycopg://neuronal:secret@127.0.0.1:{free_port()}/neuronal"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURONAL_")}
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "service.cli"]
    for args in (["migrate"], ["keys", "create", "--tenant", "t"], ["keys", "list"]):
        done = subprocess.run(
            [*command, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={**env, "NEURONAL_DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        line = assert_one_error_line(done)
        assert "cannot use the database" in line and "secret" not in line, line


def test_a_misspelt_environment_stops_start_up_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURONAL_")}
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "service.cli"]
    done = subprocess.run(
        [*command, "migrate"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**env, "NEURONAL_ENVIRONMENT": "prod", "NEURONAL_DATA_DIR": str(tmp_path / "data"),
             "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    line = assert_one_error_line(done, code=2)
    assert "NEURONAL_ENVIRONMENT" in line and "'prod'" in line and "'production'" in line, line
    assert not (tmp_path / "data").exists()  # refused before anything was made
