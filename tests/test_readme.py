"""The README, run: every `sh` and `python` block in order, exactly as written, in a fresh
directory against the `./scripts/serve` its first block starts, so that every snippet stays
true. A block is left out only when a `<!-- readme-test: skip (why) -->` line precedes it.

The snippets talk to http://127.0.0.1:8000, as a reader's would. Where the test may (as root)
it runs them in a network namespace of its own, whose loopback nobody else uses; otherwise it
needs port 8000 free on this machine.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stack import ROOT

README = ROOT / "README.md"
BLOCK = re.compile(
    r"(?:^<!-- readme-test: (?P<marker>\w+)(?P<why>[^>]*)-->\n)?"
    r"^```(?P<lang>\w*)\n(?P<code>.*?)^```$",
    re.S | re.M,
)
MARKERS = {"skip", "background"}
SERVER = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    marker: str | None
    why: str


def blocks() -> list[Block]:
    found = [
        Block(m["lang"], m["code"], m["marker"], (m["why"] or "").strip())
        for m in BLOCK.finditer(README.read_text())
    ]
    for block in found:
        assert block.marker is None or block.marker in MARKERS, block.marker
        assert block.marker != "skip" or block.why, "a skipped block says why"
    return found


def walk_script(found: list[Block]) -> str:
    """One bash script: the background block started and waited for, then every other
    runnable block as it is written (a python block through `.venv/bin/python`)."""
    lines = ["set -euo pipefail", "ip link set lo up 2>/dev/null || true"]
    for number, block in enumerate(found, 1):
        if block.marker == "skip" or block.lang not in ("sh", "python"):
            continue
        lines.append(f"echo '--- README block {number}' >&2")
        if block.marker == "background":
            lines += [
                f"(\n{block.code.strip()}\n) > serve.log 2>&1 &",
                "for _ in $(seq 600); do",
                f"  curl -sf {SERVER}/healthz > /dev/null && break; sleep 0.1",
                "done",
                f"curl -sf {SERVER}/healthz > /dev/null",
            ]
        elif block.lang == "python":
            lines += [".venv/bin/python - <<'README_PYTHON'", block.code.rstrip(), "README_PYTHON"]
        else:
            lines.append(block.code.rstrip())
    lines.append("echo '--- README done' >&2")
    return "\n".join(lines) + "\n"


def test_the_readme_marks_only_what_cannot_run_here() -> None:
    found = blocks()
    skipped = [b.why for b in found if b.marker == "skip"]
    assert len(skipped) <= 4, skipped
    assert [b.marker for b in found].count("background") == 1
    runnable = [b for b in found if b.marker is None and b.lang in ("sh", "python")]
    assert len(runnable) >= 5
    assert all(b.lang in ("sh", "python", "text", "json") for b in found), "label every block"


def _own_network() -> list[str] | None:
    """A command prefix that runs in a fresh network namespace, when this user may."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        return None
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True)
    return [unshare, "-n"] if probe.returncode == 0 else None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_every_readme_snippet_runs_as_written(tmp_path: Path) -> None:
    namespace = _own_network()
    if namespace is None and not _port_free(8000):
        pytest.skip("port 8000 is taken and no network namespace of our own can be made")
    walk = tmp_path / "walk"
    walk.mkdir()
    (walk / ".venv").symlink_to(ROOT / ".venv")
    (walk / "scripts").symlink_to(ROOT / "scripts")
    script = walk_script(blocks())
    (tmp_path / "readme.sh").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURONAL_")}
    process = subprocess.Popen(
        [*(namespace or []), "bash", str(tmp_path / "readme.sh")],
        cwd=walk, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=420)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the server the first block started
        process.wait(timeout=30)
    log = walk / "serve.log"
    serve_log = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    assert process.returncode == 0, f"{err[-4000:]}\n--- serve.log\n{serve_log}"
    assert "--- README done" in err
    assert (walk / "neuronal-data" / "neuronal.db").exists(), "a fresh data directory"
    assert "'predictions'" in out and "'probabilities'" in out, out[-2000:]
    with (walk / "predictions.csv").open() as handle:
        table = list(csv.reader(handle))
    assert table[0] == [
        "x", "y", "colour", "label", "prediction", "probability_inside", "probability_outside"
    ]  # fmt: skip
    assert len(table) == 601
    assert sum(row[3] == row[4] for row in table[1:]) > 450, "the model learnt the circle"
