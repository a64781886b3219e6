"""One error tree: no module of the service raises the web framework's HTTP errors or writes a
problem document of its own; `service.api.problems` renders every one. And an unexpected
exception answers a 500 problem that names the request, not the bug, which goes to the log."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"
RENDERER = SERVICE / "api" / "problems.py"
FRAMEWORK_ERRORS = {"HTTPException", "RequestValidationError"}


def modules() -> list[Path]:
    found = sorted(SERVICE.rglob("*.py"))
    assert RENDERER in found and len(found) > 50  # the walk really reads the service
    return found


def _raised_name(node: ast.Raise) -> str | None:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if isinstance(exc, ast.Name):
        return exc.id
    if isinstance(exc, ast.Attribute):
        return exc.attr
    return None


def _docstrings(tree: ast.Module) -> set[int]:
    owners = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    return {
        id(owner.body[0].value)
        for owner in owners
        if owner.body
        and isinstance(owner.body[0], ast.Expr)
        and isinstance(owner.body[0].value, ast.Constant)
    }


def test_no_module_raises_the_frameworks_http_errors() -> None:
    raising = []
    for path in modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and _raised_name(node) in FRAMEWORK_ERRORS:
                raising.append(f"{path.relative_to(SERVICE)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and path != RENDERER:
                imported = {alias.name for alias in node.names} & FRAMEWORK_ERRORS
                if imported:
                    raising.append(f"{path.relative_to(SERVICE)}:{node.lineno} imports {imported}")
    assert raising == []


def test_only_the_renderer_writes_problem_documents() -> None:
    """A problem's type URL or media type spelt out elsewhere is a problem built by hand."""
    writers = []
    for path in modules():
        if path == RENDERER:
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and ("application/problem+json" in node.value or "/problems/" in node.value)
            ):
                writers.append(f"{path.relative_to(SERVICE)}:{node.lineno}")
    assert writers == []


def test_the_scan_sees_a_raise_and_a_hand_built_problem(tmp_path: Path) -> None:
    source = (
        '"""A module."""\n'
        "def f():\n"
        "    raise HTTPException(400, 'bad')\n"
        "BODY = {'type': 'https://neuronal.dev/problems/bad'}\n"
    )
    tree = ast.parse(source)
    raises = [n for n in ast.walk(tree) if isinstance(n, ast.Raise)]
    assert [_raised_name(n) for n in raises] == ["HTTPException"]
    strings = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in _docstrings(tree)
    ]
    assert any("/problems/" in s for s in strings) and "A module." not in strings


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from service.api.app import create_app
    from service.core.config import get_settings

    monkeypatch.setenv("NEURONAL_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield create_app(get_settings())
    get_settings.cache_clear()


async def _get(app, path: str, request_id: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get(path, headers={"X-Request-ID": request_id})


def test_an_unexpected_exception_is_a_500_problem_naming_the_request(
    app, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> bool:
        raise KeyError("secret internal detail")

    monkeypatch.setattr(app.state.producer, "reachable", broken)
    with caplog.at_level(logging.ERROR, logger="neuronal.api"):
        response = asyncio.run(_get(app, "/readyz", "req-bug-1"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/internal") and problem["status"] == 500
    assert problem["request_id"] == "req-bug-1" == response.headers["x-request-id"]
    assert "secret" not in json.dumps(problem)
    logged = [r for r in caplog.records if r.name == "neuronal.api" and r.exc_info]
    assert len(logged) == 1 and logged[0].request_id == "req-bug-1"
    assert "secret internal detail" in str(logged[0].exc_info[1])
