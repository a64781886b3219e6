"""Where a bulk predict's server time goes, step by step, in-process.

Run: `.venv/bin/python benchmarks/predict_steps.py [--rows 1000] [--rounds 200]`.

A digits model (64-64-10) is trained in this process and put in a real application's model
cache beside a cached key, so no step waits for a database. Each step of a JSON
`{"inputs": ...}` predict is timed on its own (reading the body off the ASGI `receive` in
64 KB messages as uvicorn hands them over, parsing it, checking and predicting, encoding the
answer), then the whole application call (middleware, routing, the tenant dependency, the
route) with the same body, until the answer is handed to the server ("answered") and until
the call returns; "routing and the rest" is what the answer takes beyond the steps. The
bodies in CSV and `.npy` are timed the same way. Rounds alternate the body kinds, figures
are medians of this thread's CPU time (wall time with `--wall`), and the load average is
printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import workloads  # noqa: E402

CHUNK = 65_536  # uvicorn's read size: the body arrives in messages of at most this much
TOKEN = "bench-key"
TENANT = "bench-tenant"
MODEL_ID = "bench-model"
FAR = 1e12  # a cache entry that never expires during the run
# Every step runs on this one thread, so its CPU time is what the step costs, without the
# time the scheduler gives other processes of a loaded machine (`--wall` for wall time).
CLOCK = time.thread_time
AFTER = "freed after the answer"  # the parsed lists, dropped once the answer is out
WHOLE = ("answered", "whole app call")


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def bodies(rows: int) -> dict[str, bytes]:
    X, _ = workloads.digits()
    block = X[:rows]
    import json

    names = [f"f{i}" for i in range(block.shape[1])]
    lines = [",".join(names)] + [",".join(f"{v:g}" for v in row) for row in block]
    npy = io.BytesIO()
    np.save(npy, block, allow_pickle=False)
    return {
        "application/json": json.dumps({"inputs": block.tolist()}).encode(),
        "text/csv": ("\n".join(lines) + "\n").encode(),
        "application/x-npy": npy.getvalue(),
    }


def app_with_model(folder: Path) -> Any:
    from service.api.app import create_app
    from service.core.config import Settings
    from service.engine import fit

    X, y = workloads.digits()
    features = [{"name": f"f{i}", "kind": "numeric"} for i in range(X.shape[1])]
    model, _ = fit(
        X, y, workloads.DIGITS_NETWORK, workloads.digits_training(3),
        task="classification", features=features,
    )  # fmt: skip
    settings = Settings(data_dir=folder, rate_limit_per_minute=10**9, log_level="WARNING")
    app = create_app(settings)
    # a verified key and a loaded model, as after the first request of a client
    app.state.key_verifier._cache[TOKEN] = (TENANT, FAR)
    app.state.model_cache._entries[MODEL_ID] = (TENANT, model, FAR)
    return app


def receive_of(body: bytes) -> Callable[[], Any]:
    pieces = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)] or [b""]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
        for i, p in enumerate(pieces)
    ]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    return receive


def scope_of(app: Any, kind: str, length: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/v1/models/{MODEL_ID}/predict",
        "raw_path": f"/v1/models/{MODEL_ID}/predict".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", kind.encode()),
            (b"content-length", str(length).encode()),
            (b"authorization", f"Bearer {TOKEN}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }


async def whole_call(app: Any, kind: str, body: bytes) -> tuple[float, float]:
    """Until the answer's last byte is handed to the server, and until the call returns
    (what is done after the answer, such as freeing the parsed rows)."""
    status: list[int] = []
    answered: list[float] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif not message.get("more_body"):
            answered.append(CLOCK())

    started = CLOCK()
    await app(scope_of(app, kind, len(body)), receive_of(body), send)
    ended = CLOCK()
    assert status == [200], status
    return answered[0] - started, ended - started


async def read_body(body: bytes) -> float:
    receive = receive_of(body)
    started = CLOCK()
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    b"".join(parts)
    return CLOCK() - started


def steps(app: Any, kind: str, body: bytes) -> dict[str, float]:
    import orjson

    from service.api.predict_body import parse_predict_body
    from service.domain import online_predict

    state = app.state
    model = state.model_cache.get(MODEL_ID, TENANT)
    leftovers: list[Any] = []
    t0 = CLOCK()
    parsed = parse_predict_body(body, kind, leftovers)
    t1 = CLOCK()
    answer = online_predict.predict(
        model, MODEL_ID, parsed.inputs, parsed.records,
        max_rows=state.settings.max_predict_rows, max_cells=state.settings.max_predict_cells,
    )  # fmt: skip
    t2 = CLOCK()
    orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    t3 = CLOCK()
    del parsed, answer
    leftovers.clear()
    t4 = CLOCK()
    return {"parse": t1 - t0, "check+predict": t2 - t1, "encode": t3 - t2, AFTER: t4 - t3}


def run(rows: int, rounds: int, *, wall: bool = False) -> dict[str, dict[str, float]]:
    """Print and return the median of every step (ms) for each body kind."""
    global CLOCK
    CLOCK = time.perf_counter if wall else time.thread_time
    from service.core.blas import limit_blas_threads

    limit_blas_threads(1)
    clock = "wall" if wall else "CPU"
    print(f"== {rows}-row predict, in-process steps, {clock} time  [{loadavg()}]", flush=True)
    with tempfile.TemporaryDirectory(prefix="neuronal-steps-") as folder:
        app = app_with_model(Path(folder))
        kinds = bodies(rows)
        figures: dict[str, dict[str, list[float]]] = {k: {} for k in kinds}
        loop = asyncio.new_event_loop()
        try:
            for _ in range(rounds):
                for kind, body in kinds.items():
                    into = figures[kind]
                    into.setdefault("body read", []).append(
                        loop.run_until_complete(read_body(body))
                    )
                    for step, seconds in steps(app, kind, body).items():
                        into.setdefault(step, []).append(seconds)
                    answered, returned = loop.run_until_complete(whole_call(app, kind, body))
                    into.setdefault("answered", []).append(answered)
                    into.setdefault("whole app call", []).append(returned)
        finally:
            loop.close()
    result = {}
    for kind, into in figures.items():
        medians = {step: statistics.median(v[5:]) * 1000 for step, v in into.items()}
        parts = sum(v for step, v in medians.items() if step not in (AFTER, *WHOLE))
        medians["routing and the rest"] = medians["answered"] - parts
        size = len(kinds[kind]) / 1e6
        print(
            f"  {kind} ({size:.2f} MB): " + ", ".join(f"{s} {v:.3f} ms" for s, v in medians.items())
        )
        result[kind] = medians
    print(f"  [{loadavg()}]")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--wall", action="store_true", help="wall time instead of CPU time")
    args = parser.parse_args()
    answered = run(args.rows, args.rounds, wall=args.wall)["application/json"]["answered"]
    verdict = "MET" if answered <= 5 else "MISSED"
    print(f"  -> JSON {args.rows} rows answered in {answered:.2f} ms (target <= 5 ms) {verdict}")


if __name__ == "__main__":
    main()
