"""The soak's load: tenants uploading, training, predicting, watching event streams and
cancelling, each in a thread of its own, every request recorded. Bounded by a deadline and by
the per-tenant caps the service itself enforces (429 is an answer, not a failure)."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

TERMINAL = ("succeeded", "failed", "cancelled")
MAX_STREAMS_PER_TENANT = 3


def synthetic_csv(rows: int, seed: int) -> bytes:
    """Two classes from four numeric features and a colour, as CSV."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4)).round(4)
    colours = rng.choice(["red", "green", "blue"], size=rows)
    label = np.where(X[:, 0] + X[:, 1] * X[:, 2] + (colours == "red") > 0.5, "yes", "no")
    lines = ["a,b,c,d,colour,label"]
    rows_text = zip(X, colours, label, strict=True)
    lines += [",".join(map(str, x)) + f",{c},{y}" for x, c, y in rows_text]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Record:
    """Everything the load saw, shared by every tenant thread (guarded by `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter[str] = field(default_factory=Counter)  # "POST /v1/jobs 202" → count
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)  # job id → tenant key
    datasets: dict[str, str] = field(default_factory=dict)  # dataset id → tenant key
    cancelled: set[str] = field(default_factory=set)
    streams: list[tuple[str, list[str], str | None]] = field(default_factory=list)
    predictions: int = 0

    def answer(self, method: str, route: str, response: httpx.Response) -> None:
        with self.lock:
            self.answers[f"{method} {route} {response.status_code}"] += 1
            if response.status_code >= 500:
                try:
                    text = response.text[:200]
                except httpx.ResponseNotRead:  # a stream: its status says enough
                    text = ""
                self.server_errors.append(f"{method} {route} {response.status_code}: {text}")

    def failed(self, method: str, route: str, exc: Exception) -> None:
        with self.lock:
            self.transport_errors.append(f"{method} {route}: {exc!r}")


class Tenant(threading.Thread):
    """One tenant's mixed load until `deadline` (time.monotonic)."""

    def __init__(self, url: str, key: str, record: Record, deadline: float, seed: int) -> None:
        super().__init__(daemon=True, name=f"tenant-{seed}")
        self.url, self.key, self.record, self.deadline = url, key, record, deadline
        self.rng = random.Random(seed)
        self.seed = seed
        self.datasets: list[str] = []
        self.jobs: list[str] = []
        self.models: list[str] = []
        self.streams: list[threading.Thread] = []
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def call(self, method: str, route: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.record.failed(method, route, exc)
            return None
        self.record.answer(method, route, response)
        return response

    def run(self) -> None:
        for _ in range(2):
            self.upload()
        actions = [
            (self.submit, 30), (self.predict, 25), (self.look, 20), (self.watch, 10),
            (self.upload, 5), (self.cancel, 10),
        ]  # fmt: skip
        choices, weights = zip(*actions, strict=True)
        while time.monotonic() < self.deadline:
            self.rng.choices(choices, weights)[0]()
            time.sleep(self.rng.uniform(0.2, 1.0))
        for stream in self.streams:
            stream.join(timeout=1)
        self.client.close()

    def upload(self) -> None:
        rows = self.rng.randint(300, 1500)
        data = synthetic_csv(rows, self.rng.randint(0, 10**6))
        files = {"file": ("soak.csv", data, "text/csv")}
        answer = self.call("POST", "/v1/datasets", "/v1/datasets", files=files)
        if answer is not None and answer.status_code == 201:
            dataset_id = answer.json()["id"]
            self.datasets.append(dataset_id)
            with self.record.lock:
                self.record.datasets[dataset_id] = self.key

    def submit(self) -> None:
        if not self.datasets:
            return
        units = self.rng.choice([8, 16, 32])
        long = self.rng.random() < 0.3  # long enough for a kill or a cancel to land mid-job
        body = {
            "dataset_id": self.rng.choice(self.datasets),
            "network": {"layers": [{"units": units, "activation": "relu"}]},
            "training": {
                "epochs": self.rng.randint(100, 300) if long else self.rng.randint(5, 40),
                "batch_size": self.rng.choice([4, 8] if long else [16, 32, 64]),
                "optimizer": {"name": "adam", "learning_rate": 0.01},
                "seed": self.rng.randint(0, 1000),
            },
        }
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        for _ in range(1 + (self.rng.random() < 0.2)):  # sometimes a client retry: same job
            answer = self.call("POST", "/v1/jobs", "/v1/jobs", json=body, headers=headers)
            if answer is not None and answer.status_code == 202:
                job_id = answer.json()["id"]
                with self.record.lock:
                    self.record.jobs[job_id] = self.key
                if job_id not in self.jobs:
                    self.jobs.append(job_id)

    def predict(self) -> None:
        if not self.models:
            self.look()
            return
        model_id = self.rng.choice(self.models)
        records = [
            {"a": self.rng.gauss(0, 1), "b": self.rng.gauss(0, 1), "c": 0.1, "d": -0.2,
             "colour": self.rng.choice(["red", "blue"])}
            for _ in range(self.rng.randint(1, 20))
        ]  # fmt: skip
        path = f"/v1/models/{model_id}/predict"
        answer = self.call("POST", "/v1/models/{id}/predict", path, json={"records": records})
        if answer is not None and answer.status_code == 200:
            with self.record.lock:
                self.record.predictions += len(records)

    def look(self) -> None:
        answer = self.call("GET", "/v1/jobs", "/v1/jobs", params={"limit": 50})
        if answer is not None and answer.status_code == 200:
            for job in answer.json()["items"]:
                if job["model_id"] and job["model_id"] not in self.models:
                    self.models.append(job["model_id"])
        if self.jobs:
            job_id = self.rng.choice(self.jobs)
            self.call("GET", "/v1/jobs/{id}", f"/v1/jobs/{job_id}")
            self.call("GET", "/v1/jobs/{id}/metrics", f"/v1/jobs/{job_id}/metrics")
        self.call("GET", "/v1/datasets", "/v1/datasets", params={"limit": 20})

    def cancel(self) -> None:
        if self.jobs:
            job_id = self.rng.choice(self.jobs[-10:])
            answer = self.call("POST", "/v1/jobs/{id}/cancel", f"/v1/jobs/{job_id}/cancel")
            if answer is not None and answer.status_code == 202:
                with self.record.lock:
                    self.record.cancelled.add(job_id)

    def watch(self) -> None:
        self.streams = [s for s in self.streams if s.is_alive()]
        if not self.jobs or len(self.streams) >= MAX_STREAMS_PER_TENANT:
            return
        stream = threading.Thread(target=self._follow, args=(self.rng.choice(self.jobs),))
        stream.daemon = True
        stream.start()
        self.streams.append(stream)

    def _follow(self, job_id: str) -> None:
        """Read the job's events until its `status` event (or the deadline plus a drain)."""
        names: list[str] = []
        final: str | None = None
        route = "/v1/jobs/{id}/events"
        try:
            headers = {"Authorization": f"Bearer {self.key}"}
            client = httpx.Client(base_url=self.url, headers=headers, timeout=60)
            with client, client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
                self.record.answer("GET", route, response)
                event = None
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                        names.append(event)
                    elif line.startswith("data:") and event == "status":
                        final = json.loads(line.split(":", 1)[1])["status"]
                    if time.monotonic() > self.deadline + 300:
                        break
        except httpx.HTTPError as exc:
            self.record.failed("GET", route, exc)
            return
        with self.record.lock:
            self.record.streams.append((job_id, names, final))
