"""The import contracts catch what they promise to: a copy of the tree with one bad import added
fails `lint-imports`, and the unchanged copy passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    for part in ("service", "worker", "scripts"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    client = ROOT / "clients" / "python" / "neuronal_client"
    shutil.copytree(client, copy / "clients" / "python" / "neuronal_client",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tree}/clients/python:{tree}"},
    )


def with_line(tree: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    path = tree / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # noqa\n")
    try:
        return lint(tree)
    finally:
        path.write_text(original)


def test_the_unchanged_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("service/engine/spec.py", "import sklearn", "the engine imports only"),
        ("service/engine/spec.py", "import pandas", "the engine imports only"),
        ("service/engine/spec.py", "import service.domain.jobs", "layers"),
        ("service/core/db.py", "import service.api.app", "layers"),
        ("service/domain/jobs.py", "import service.cli.main", "layers"),
        ("service/api/app.py", "import worker.tasks", "never imports worker"),
        ("service/domain/ingest/detect.py", "import service.domain.ingest.formats", "circle"),
        ("service/cli/client_commands.py", "import httpx", "only through neuronal_client"),
        ("clients/python/neuronal_client/waiting.py", "import numpy", "the client imports only"),
        (
            "clients/python/neuronal_client/errors.py",
            "import service.core.errors",
            "the client imports only",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    result = with_line(tree, module, line)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout
