"""`neuronal serve` on the embedded default owns its worker: it starts it and stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from tests.stack import ROOT, free_port, wait_for_job, wait_until


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


def test_serve_replaces_a_worker_that_dies(tmp_path: Path, iris_bytes: bytes) -> None:
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
        first = wait_until(lambda: _workers(process), timeout=60, what="the first worker")
        first[0].kill()
        replacement = wait_until(
            lambda: [w for w in _workers(process) if w.pid != first[0].pid],
            timeout=30,
            what="a replacement worker",
        )
        assert replacement
        key = subprocess.run(
            [sys.executable, "-m", "service.cli", "keys", "create", "--tenant", "t"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=60,
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            wait_until(lambda: _healthy(client), timeout=60, what="the API")
            dataset = client.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
            job = client.post(
                "/v1/jobs",
                json={
                    "dataset_id": dataset["id"],
                    "network": {"layers": [{"units": 4}]},
                    "training": {"epochs": 3},
                },
            ).json()
            assert wait_for_job(client, job["id"], timeout=90)["status"] == "succeeded"
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()


def _workers(process: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in process.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "celery" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # it died while we looked
            continue
    return found


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False
