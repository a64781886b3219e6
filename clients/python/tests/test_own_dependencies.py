"""The client needs nothing but httpx, httpx-sse and the standard library: in a fresh virtual
environment that holds only the client and the distributions its pyproject declares (with
theirs), it imports and talks to a real server. Importing anything else there fails."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.stack import Stack

CLIENT = Path(__file__).resolve().parent.parent
PROBE = r"""
import json, os, sys
from neuronal_client import NeuronalClient, NotFoundError

with NeuronalClient(os.environ["NEURONAL_URL"], os.environ["NEURONAL_API_KEY"]) as client:
    assert client.health() == {"status": "ok"}
    dataset = client.upload_dataset(b"a,b,label\n1,2,x\n2,1,y\n3,3,x\n0,1,y\n", target="label")
    try:
        client.get_job("job_missing")
    except NotFoundError as error:
        missing = error.status
loaded = {name.split(".")[0] for name in sys.modules} - {*sys.stdlib_module_names, "__main__"}
print(json.dumps({"dataset_id": dataset["id"], "missing": missing, "loaded": sorted(loaded)}))
"""


def declared_closure(name: str) -> dict[str, metadata.Distribution]:
    """The installed distributions `name` requires, theirs, and so on (markers honoured)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [name]
    while todo:
        wanted = canonicalize_name(todo.pop())
        if wanted in found:
            continue
        found[wanted] = metadata.distribution(wanted)
        for text in found[wanted].requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def top_level_entries(dist: metadata.Distribution) -> set[str]:
    """The names a distribution puts straight into site-packages (packages, modules and
    its .dist-info), from its RECORD."""
    names = {Path(str(file)).parts[0] for file in dist.files or []}
    return {n for n in names if n not in ("..", "__pycache__") and not n.endswith(".pth")}


def fresh_environment(root: Path) -> Path:
    """A virtual environment with only the client and its declared dependencies; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    site = Path(purelib)
    for dist_name, dist in declared_closure("neuronal-client").items():
        if dist_name == "neuronal-client":
            continue
        installed = Path(str(dist.locate_file("")))
        for entry in top_level_entries(dist):
            (site / entry).symlink_to(installed / entry)
    (site / "neuronal_client").symlink_to(CLIENT / "neuronal_client")
    return python


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_environment(tmp_path_factory.mktemp("own-deps") / "venv")


def test_the_declared_dependencies_are_httpx_and_httpx_sse() -> None:
    requires = [Requirement(text).name for text in metadata.requires("neuronal-client") or []]
    assert sorted(requires) == ["httpx", "httpx-sse"]


def test_the_fresh_environment_holds_nothing_else(python: Path) -> None:
    for module in ("numpy", "service", "pydantic", "typer"):
        done = subprocess.run(
            [str(python), "-I", "-c", f"import {module}"], capture_output=True, text=True, cwd="/"
        )
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, module


def test_the_client_alone_talks_to_a_real_server(python: Path, server: Stack, key: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "NEURONAL_URL": server.url,
        "NEURONAL_API_KEY": key,
    }
    done = subprocess.run(
        [str(python), "-I", "-c", PROBE], capture_output=True, text=True, env=env, cwd="/",
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["missing"] == 404
    closure = declared_closure("neuronal-client").values()
    allowed = set().union(*(top_level_entries(dist) for dist in closure))
    assert set(answer["loaded"]) - {"neuronal_client"} <= allowed, answer["loaded"]
    assert {"httpx", "httpx_sse"} <= set(answer["loaded"])
    with server.client(key) as http:
        assert http.get(f"/v1/datasets/{answer['dataset_id']}").json()["n_rows"] == 4
