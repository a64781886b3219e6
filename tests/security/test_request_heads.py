"""Request heads are bounded: huge or countless headers answer 431 and a head that trickles
in is cut off, before the application or the parser's memory are involved; meanwhile the
server keeps answering everyone else. Raw sockets on loopback, every send bounded."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.stack import Stack

HEAD_TIMEOUT = 2.0
MIB = 1 << 20


@pytest.fixture(scope="module")
def head_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"NEURONAL_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT)}
    stack = Stack(tmp_path_factory.mktemp("heads"), env, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


def _connect(stack: Stack) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    return sock


def _read_answer(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends until it closes (or `timeout` passes)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def _status_and_problem(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _stream_huge_header(stack: Stack, total: int, result: dict[str, object]) -> None:
    """Send one header of up to `total` bytes, 1 MiB at a time, until the server answers or
    closes; record how much was sent, how long it took and what came back."""
    started = time.monotonic()
    sent = 0
    answer = b""
    with _connect(stack) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ")
        chunk = b"a" * MIB
        try:
            while sent < total and time.monotonic() - started < 30:
                sock.sendall(chunk)
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    break
            answer = _read_answer(sock, 5)
        except (BrokenPipeError, ConnectionResetError):
            pass
    result.update(sent=sent, seconds=time.monotonic() - started, answer=answer)


def test_a_large_header_is_431_problem(head_stack: Stack) -> None:
    with _connect(head_stack) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n")
        answer = _read_answer(sock, 10)
    status, problem = _status_and_problem(answer)
    assert status == 431 and problem["status"] == 431
    assert "headers" in str(problem["detail"]) and "65,536" in str(problem["detail"])


def test_too_many_headers_is_431(head_stack: Stack) -> None:
    headers = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    with _connect(head_stack) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + headers + b"\r\n")
        answer = _read_answer(sock, 10)
    status, problem = _status_and_problem(answer)
    assert status == 431 and "100" in str(problem["detail"])
    assert answer.count(b"HTTP/1.1") == 1  # one answer only, not a 400 after it


def test_ordinary_heads_pass_and_keep_alive_works(head_stack: Stack) -> None:
    with httpx.Client(base_url=head_stack.url, timeout=10) as client:
        cookie = {"Cookie": "c=" + "x" * 8000}
        for _ in range(3):  # the same connection, its head timer re-armed each time
            assert client.get("/healthz", headers=cookie).status_code == 200
            time.sleep(HEAD_TIMEOUT * 0.6)


def test_a_100_mb_header_is_cut_off_and_others_are_still_served(head_stack: Stack) -> None:
    result: dict[str, object] = {}
    sender = threading.Thread(target=_stream_huge_header, args=(head_stack, 100 * MIB, result))
    sender.start()
    health_seconds = []
    with httpx.Client(base_url=head_stack.url, timeout=10) as client:
        while (sender.is_alive() or not health_seconds) and len(health_seconds) < 50:
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            health_seconds.append(time.monotonic() - started)
            time.sleep(0.05)
    sender.join(timeout=40)
    assert not sender.is_alive()
    print(
        f"100 MB header: cut off after {result['sent']:,} bytes in {result['seconds']:.2f} s; "
        f"/healthz meanwhile at most {max(health_seconds, default=0) * 1000:.0f} ms"
    )
    assert result["seconds"] < 5, result["seconds"]  # type: ignore[operator]
    assert result["sent"] < 10 * MIB, result["sent"]  # type: ignore[operator]
    answer = result["answer"]
    assert not answer or b" 431 " in answer.split(b"\r\n", 1)[0]  # type: ignore[union-attr]
    assert max(health_seconds, default=0) < 1.0, health_seconds


def test_four_huge_headers_at_once_leave_memory_flat(head_stack: Stack) -> None:
    assert head_stack.api is not None
    api = psutil.Process(head_stack.api.pid)
    before = api.memory_info().rss
    results: list[dict[str, object]] = [{} for _ in range(4)]
    senders = [
        threading.Thread(target=_stream_huge_header, args=(head_stack, 100 * MIB, result))
        for result in results
    ]
    for sender in senders:
        sender.start()
    peak = before
    while any(sender.is_alive() for sender in senders):
        peak = max(peak, api.memory_info().rss)
        time.sleep(0.02)
    print(f"four 100 MB headers at once: API RSS {before / MIB:.0f} -> peak {peak / MIB:.0f} MiB")
    assert all(result["seconds"] < 10 for result in results), results  # type: ignore[operator]
    assert peak - before < 40 * MIB, (before, peak)
    assert httpx.get(head_stack.url + "/healthz", timeout=2).status_code == 200


def test_a_trickling_head_is_closed_with_408(head_stack: Stack) -> None:
    started = time.monotonic()
    with _connect(head_stack) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
        answer = b""
        try:
            while time.monotonic() - started < HEAD_TIMEOUT + 5:
                sock.sendall(b"X")  # one byte of a header every 0.2 s: never a whole head
                if select.select([sock], [], [], 0.2)[0]:
                    answer = _read_answer(sock, 2)
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
    elapsed = time.monotonic() - started
    assert HEAD_TIMEOUT - 0.5 < elapsed < HEAD_TIMEOUT + 3, elapsed
    assert b" 408 " in answer.split(b"\r\n", 1)[0]


def test_a_silent_connection_is_closed(head_stack: Stack) -> None:
    started = time.monotonic()
    with _connect(head_stack) as sock:
        answer = _read_answer(sock, HEAD_TIMEOUT + 5)
    assert time.monotonic() - started < HEAD_TIMEOUT + 3
    assert b" 408 " in answer.split(b"\r\n", 1)[0]
