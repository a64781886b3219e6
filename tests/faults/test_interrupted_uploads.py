"""Uploads cut short: a client that leaves mid-body is not a server error (nothing logged
at ERROR, its folder removed), and the folder of an upload whose API process was killed
(kill -9) is removed when the API starts again."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import Stack, wait_until


@pytest.fixture
def upload_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path, {}, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


def _start_upload(stack: Stack, key: str, path: str = "/v1/datasets") -> socket.socket:
    """A multipart upload that declares 50 MB and sends the first 2 MB of it."""
    sock = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: multipart/form-data; boundary=xx\r\nContent-Length: 50000000\r\n\r\n"
        '--xx\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        "a,b\n".encode()
        + b"1,2\n" * 500_000
    )
    return sock


def _upload_folders(stack: Stack) -> list[Path]:
    root = stack.tmp / "data" / "uploads"
    return sorted(root.iterdir()) if root.is_dir() else []


def _error_lines(stack: Stack) -> list[str]:
    lines = (stack.tmp / "api.log").read_text(errors="replace").splitlines()
    return [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line]


def test_a_client_that_leaves_mid_upload_is_not_an_error(upload_stack: Stack) -> None:
    key = upload_stack.create_key("leaver")
    for path in ("/v1/datasets", "/v1/models/mdl_nope/predictions"):
        sock = _start_upload(upload_stack, key, path)
        time.sleep(0.5)
        sock.close()
    wait_until(lambda: not _upload_folders(upload_stack), timeout=10, what="folders to go")
    time.sleep(0.5)  # the log line of the second request, if any
    assert _error_lines(upload_stack) == []
    log = (upload_stack.tmp / "api.log").read_text()
    assert "client disconnected before its request was read" in log


def test_a_killed_uploads_folder_is_removed_at_the_next_start(upload_stack: Stack) -> None:
    key = upload_stack.create_key("killed")
    sock = _start_upload(upload_stack, key)
    folders = wait_until(
        lambda: [f for f in _upload_folders(upload_stack) if any(f.iterdir())],
        timeout=10,
        what="the upload's folder to fill",
    )
    assert upload_stack.api is not None
    os.killpg(upload_stack.api.pid, signal.SIGKILL)
    upload_stack.api.wait(timeout=10)
    sock.close()
    assert all(folder.exists() for folder in folders)  # kill -9: nothing could clean up
    upload_stack.start_api()
    assert _upload_folders(upload_stack) == []
    with upload_stack.client(key) as client:  # and uploads work as before
        answer = client.post("/v1/datasets", files={"file": ("a.csv", b"a,b\n1,x\n2,y\n")})
        assert answer.status_code == 201, answer.text
        assert json.loads(answer.text)["n_rows"] == 2
    assert _upload_folders(upload_stack) == []
