"""`neuronal serve` on the embedded default owns its worker: it starts it and stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.stack import ROOT, free_port, wait_until


def test_serve_starts_a_worker_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "NEURONAL_DATA_DIR": str(tmp_path / "data")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        process = psutil.Process(serve.pid)
        workers = wait_until(
            lambda: [c for c in process.children() if "celery" in " ".join(c.cmdline())],
            timeout=60,
            what="the embedded worker to start",
        )
        assert (tmp_path / "data" / "neuronal.db").exists()  # migrated at start
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, f"worker processes outlived serve: {alive}"
    finally:
        if serve.poll() is None:
            serve.kill()
