"""The measurements of the service benchmark, one function per part of the run."""

from __future__ import annotations

import hashlib
import io
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import psutil

from benchmarks import jobs, load, overhead, workloads
from benchmarks.stack import (
    RssSampler,
    Stack,
    bare_app,
    cpu_seconds,
    postgres_and_redis,
    running,
    wait_until,
)

BENCH_ENV = {
    # the load generator sends far more than a tenant's default 6000 requests a minute
    "NEURONAL_RATE_LIMIT_PER_MINUTE": "100000000",
    "NEURONAL_MAX_RUNNING_JOBS_PER_TENANT": "1000",
}
CACHE = Path(tempfile.gettempdir()) / "neuronal-bench-cache"
MB = 1e6


class PlanLike(Protocol):
    quick: bool
    sequential: int
    wrk_seconds: float
    e2e_repeats: int
    overhead_rows: int
    overhead_epochs: int
    ingest_rows: int
    scale_jobs: int
    blas_seconds: float


@dataclass
class Results:
    """Every target, met or missed, for the summary at the end."""

    checks: list[tuple[str, str, str, bool]] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def check(self, name: str, figure: str, target: str, met: bool) -> None:
        self.checks.append((name, figure, target, met))
        print(f"  -> {name}: {figure} (target {target}) {'MET' if met else 'MISSED'}")

    def summary(self) -> None:
        print("== targets")
        for name, figure, target, met in self.checks:
            print(f"  {'MET   ' if met else 'MISSED'} {name}: {figure} (target {target})")


@dataclass
class Embedded:
    folder: Path
    key: str
    model_id: str
    digits_csv: bytes


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def header(title: str) -> None:
    print(f"== {title}  [{loadavg()}]", flush=True)


# --- predictions -------------------------------------------------------------------------


def digits_body(rows: int = 1) -> bytes:
    X, _ = workloads.digits()
    return json.dumps({"inputs": X[:rows].tolist()}).encode()


def predictions(
    port: int, key: str, model_id: str, plan: PlanLike, results: Results, *, processes: int
) -> None:
    path = f"/v1/models/{model_id}/predict"
    body = digits_body()
    bare_runs, predict_runs = [], []
    with bare_app(processes) as bare_port:
        bare_seq = load.sequential(
            bare_port, "/bare", body, None, count=plan.sequential, max_seconds=30
        )
        seq = load.sequential(port, path, body, key, count=plan.sequential, max_seconds=30)
        # two alternating halves each, so that a change in background load hits both alike
        for _ in range(2):
            bare_runs.append(
                load.concurrent(
                    bare_port, "/bare", body, None, connections=32, seconds=plan.wrk_seconds / 2
                )
            )
            predict_runs.append(
                load.concurrent(port, path, body, key, connections=32, seconds=plan.wrk_seconds / 2)
            )
    bare_wrk, wrk = load.combined(bare_runs), load.combined(predict_runs)
    print(f"  sequential predict (1 row):  {seq.line()}")
    print(f"  sequential bare route:       {bare_seq.line()}")
    print(f"  32 connections, predict:     {wrk.line()}  [{loadavg()}]")
    print(f"  32 connections, bare route:  {bare_wrk.line()}")
    ratio = wrk.rps / bare_wrk.rps
    print(f"  predict/bare throughput ratio {ratio:.3f}")
    results.figures[f"predict_rps_{processes}"] = wrk.rps
    results.figures[f"bare_rps_{processes}"] = bare_wrk.rps
    tag = f"{processes} API process{'es' if processes > 1 else ''}"
    if processes == 1:
        results.figures["predict_p50_idle"] = seq.p50_ms
        results.figures["predict_p99_idle"] = seq.p99_ms
        results.check(
            "sequential predict p50 over HTTP", f"{seq.p50_ms:.3f} ms", "<= 0.8 ms",
            seq.p50_ms <= 0.8,
        )  # fmt: skip
    results.check(
        f"predict throughput vs bare route ({tag})",
        f"{ratio:.3f}x ({wrk.rps:,.0f} vs {bare_wrk.rps:,.0f} req/s)",
        ">= 0.6x",
        ratio >= 0.6,
    )
    results.check(f"predict errors under load ({tag})", str(wrk.errors), "0", wrk.errors == 0)


def digits_bulk_bodies(rows: int) -> dict[str, bytes]:
    """The same rows as a JSON, a CSV (header row) and a .npy predict body."""
    X, _ = workloads.digits()
    block = X[:rows].astype(np.float64)
    names = [f"f{i}" for i in range(block.shape[1])]  # as workloads.table_csv names them
    lines = [",".join(names)] + [",".join(f"{v:g}" for v in row) for row in block]
    npy = io.BytesIO()
    np.save(npy, block, allow_pickle=False)
    return {
        "application/json": digits_body(rows),
        "text/csv": ("\n".join(lines) + "\n").encode(),
        "application/x-npy": npy.getvalue(),
    }


def server_times(http: Any, path: str, bodies: dict[str, bytes], rounds: int) -> dict[str, list]:
    """Server-Timing of each body, alternating them round by round."""
    times: dict[str, list[float]] = {kind: [] for kind in bodies}
    for _ in range(rounds):
        for kind, body in bodies.items():
            status, headers, data = http.request("POST", path, body, content_type=kind)
            assert status == 200, data[:200]
            figure = load.server_timing(headers.get("server-timing"))
            if figure is not None:
                times[kind].append(figure)
    return times


def server_time_1000_rows(port: int, key: str, model_id: str, results: Results) -> None:
    body = digits_body(1000)
    http = load.Http(port, key)
    servers, walls, auth = [], [], []
    try:
        bulk = server_times(http, f"/v1/models/{model_id}/predict", digits_bulk_bodies(1000), 25)
        for _ in range(25):
            start = time.perf_counter()
            status, headers, data = http.request("POST", f"/v1/models/{model_id}/predict", body)
            walls.append((time.perf_counter() - start) * 1000)
            assert status == 200, data[:200]
            timing = headers.get("server-timing")
            figure = load.server_timing(timing)
            if figure is not None:
                servers.append(figure)
            auth.append("auth;desc=cache" in (timing or "").replace('"', ""))
    finally:
        http.close()
    server = statistics.median(servers[5:]) if servers else float("nan")
    print(
        f"  1000-row predict: server {server:.2f} ms (Server-Timing, median), "
        f"client {statistics.median(walls[5:]):.2f} ms (with {len(body) / MB:.1f} MB of JSON)"
    )
    print(
        "  1000-row predict by body type, server time (median, alternating): "
        + ", ".join(f"{kind} {statistics.median(t[5:]):.2f} ms" for kind, t in bulk.items())
        + f"  [{loadavg()}]"
    )
    results.check("1000-row predict, server time", f"{server:.2f} ms", "<= 5 ms", server <= 5)
    results.check(
        "key verified from the cache (no database round trip)",
        f"{sum(auth[5:])}/{len(auth[5:])} requests",
        "all",
        all(auth[5:]),
    )


# --- jobs --------------------------------------------------------------------------------


def digits_end_to_end(http: Any, csv: bytes, repeats: int, results: Results, where: str) -> str:
    """Upload digits, train 64-64-10 for 30 epochs, wait for the model; returns a model id."""
    walls, queues, uploads, runs, engines, model_id = [], [], [], [], [], ""
    for attempt in range(repeats + 1):  # the first warms the worker up
        start = time.perf_counter()
        dataset = jobs.upload(http, "digits.csv", csv)
        uploaded = time.perf_counter()
        job = jobs.submit(
            http, dataset["id"], workloads.DIGITS_NETWORK, workloads.digits_training()
        )
        done = jobs.succeeded(http, job["id"], timeout=120)
        wall = time.perf_counter() - start
        model_id = done["model_id"]
        if attempt:
            walls.append(wall)
            uploads.append(uploaded - start)
            queues.append(jobs.seconds_between(done["created_at"], done["started_at"]))
            runs.append(jobs.seconds_between(done["started_at"], done["finished_at"]))
            engines.append(jobs.engine_seconds(http, job["id"]))
    median = statistics.median(walls)
    print(
        f"  digits end to end (upload, 30 epochs of 64-64-10, model ready): median "
        f"{median:.3f} s, min {min(walls):.3f} s, max {max(walls):.3f} s over {repeats}"
    )
    print(
        f"    medians: upload {statistics.median(uploads) * 1000:.0f} ms, queue "
        f"{statistics.median(queues) * 1000:.0f} ms, claimed -> succeeded "
        f"{statistics.median(runs) * 1000:.0f} ms of which the engine's epochs "
        f"{statistics.median(engines) * 1000:.0f} ms"
    )
    queue = statistics.median(queues)
    print(
        f"  queue latency (POST /v1/jobs -> running, idle worker, server clock): median "
        f"{queue * 1000:.0f} ms, max {max(queues) * 1000:.0f} ms"
    )
    results.check(f"digits end to end ({where})", f"{median:.3f} s", "<= 0.5 s", median <= 0.5)
    results.figures[f"queue_{where}"] = queue
    return model_id


def overhead_data(plan: PlanLike) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    X, y = workloads.synthetic(plan.overhead_rows)
    network = {"layers": [{"units": 64, "activation": "relu"}, {"units": 64, "activation": "relu"}]}
    training = {
        "epochs": plan.overhead_epochs,
        "batch_size": 64,
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "seed": 0,
    }
    return workloads.table_csv(X, y), network, training


def fit_alone(csv: bytes, network: dict, training: dict, blas_threads: int) -> float:
    """The engine's `fit` alone on the arrays a worker would load, in this process."""
    from threadpoolctl import threadpool_limits

    from service.domain.ingest import decode_dataset, encode_dataset, parse_dataset
    from service.engine import fit

    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(csv)
        f.flush()
        columns, target, features = decode_dataset(encode_dataset(parse_dataset(Path(f.name))))
    with threadpool_limits(blas_threads):
        start = time.perf_counter()
        fit(columns, target, network, training, task="classification", features=features)
        return time.perf_counter() - start


def job_overhead(stack: Stack, http: Any, plan: PlanLike, results: Results, where: str) -> None:
    csv, network, training = overhead_data(plan)
    dataset = jobs.upload(http, "synthetic.csv", csv)
    # fit alone right before and right after the job, and their mean as the baseline: the
    # speed of this VM drifts by 10-20% within minutes, and bracketing cancels most of it
    before = fit_alone(csv, network, training, blas_threads=1)
    api_cpu = cpu_seconds(stack.api_processes())
    worker_cpu = cpu_seconds(stack.worker_processes())
    start = time.perf_counter()
    job = jobs.submit(http, dataset["id"], network, training)
    done = jobs.succeeded(http, job["id"], timeout=600)
    wall = time.perf_counter() - start
    api_cpu = cpu_seconds(stack.api_processes()) - api_cpu
    worker_cpu = cpu_seconds(stack.worker_processes()) - worker_cpu
    after = fit_alone(csv, network, training, blas_threads=1)
    alone = (before + after) / 2
    engine = jobs.engine_seconds(http, job["id"])
    queue = jobs.seconds_between(done["created_at"], done["started_at"])
    run = jobs.seconds_between(done["started_at"], done["finished_at"])
    allowed = 0.05 * alone + 0.3
    print(
        f"  {plan.overhead_rows:,}-row job, {plan.overhead_epochs} epochs: POST -> succeeded "
        f"{wall:.2f} s; fit alone {alone:.2f} s (mean of {before:.2f} s before, {after:.2f} s "
        f"after); overhead {wall - alone:+.2f} s "
        f"({(wall - alone) / alone:+.1%})  [{loadavg()}]"
    )
    print(
        f"    in the worker: queue {queue * 1000:.0f} ms, claimed -> succeeded {run:.2f} s, "
        f"of which the engine's epochs {engine:.2f} s; CPU used meanwhile: worker "
        f"{worker_cpu:.2f} s, API {api_cpu:.2f} s (mostly answering status polls)"
    )
    results.check(
        f"job overhead ({where})",
        f"{wall - alone:+.2f} s on a {alone:.1f} s fit",
        f"<= 5% + 0.3 s = {allowed:.2f} s",
        wall - alone <= allowed,
    )


# --- the embedded default ------------------------------------------------------------------


def embedded(folder: Path, plan: PlanLike, results: Results, *, parts: set[str]) -> Embedded:
    header("embedded default (SQLite + folder broker), 1 API process, 1 worker")
    X, y = workloads.digits()
    csv = workloads.table_csv(X, y)
    stack = Stack(folder, BENCH_ENV)
    with running(stack):
        key = stack.create_key("bench")
        with jobs.client(stack.port, key) as http:
            model_id = digits_end_to_end(http, csv, plan.e2e_repeats, results, "embedded")
            if parts & {"embedded", "overhead"}:
                per_job_overhead(stack, http, csv, plan, results, "embedded")
            if parts & {"embedded", "predict", "workers", "blas"}:
                header("predictions, digits model cached, 1 API process")
                predictions(stack.port, key, model_id, plan, results, processes=1)
                server_time_1000_rows(stack.port, key, model_id, results)
            if "embedded" in parts:
                header("job overhead, embedded default")
                job_overhead(stack, http, plan, results, "embedded")
            if parts & {"embedded", "ingest"}:
                ingest(stack, http, plan, results)
    return Embedded(folder, key, model_id, csv)


def two_api_processes(state: Embedded, plan: PlanLike, results: Results) -> None:
    header("predictions, 2 API processes (neuronal serve --workers 2)")
    stack = Stack(state.folder, BENCH_ENV)
    with running(stack, workers=2):
        predictions(stack.port, state.key, state.model_id, plan, results, processes=2)
    one, two = results.figures.get("predict_rps_1"), results.figures["predict_rps_2"]
    if one:
        print(f"  predict throughput 2 vs 1 API processes: {two / one:.2f}x")


# --- ingest and training memory -------------------------------------------------------------


def ingest(stack: Stack, http: Any, plan: PlanLike, results: Results) -> None:
    import pandas as pd

    header(f"ingest, {plan.ingest_rows:,}-row CSV (10 numeric + 2 categorical, ~1% missing)")
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"mixed-{plan.ingest_rows}.csv"
    if not path.exists():
        start = time.perf_counter()
        workloads.mixed_csv(path.with_suffix(".tmp"), plan.ingest_rows)
        path.with_suffix(".tmp").rename(path)
        print(f"  (generated {path} in {time.perf_counter() - start:.1f} s)")
    size = path.stat().st_size
    bare = []
    for _ in range(2):
        start = time.perf_counter()
        frame = pd.read_csv(path)
        bare.append(time.perf_counter() - start)
        del frame
    parser = min(bare)
    before = sum(p.memory_info().rss for p in stack.api_processes())
    api_cpu, own_cpu = cpu_seconds(stack.api_processes()), time.process_time()
    threads = _thread_cpu(stack.api_processes())
    with RssSampler(stack.api_processes) as rss, path.open("rb") as f:
        start = time.perf_counter()
        answer = http.post(
            "/v1/datasets", files={"file": ("mixed.csv", f)}, data={"target": "label"}
        )
        wall = time.perf_counter() - start
    api_cpu = cpu_seconds(stack.api_processes()) - api_cpu
    own_cpu = time.process_time() - own_cpu
    print(
        f"  CPU during the upload: API {api_cpu:.2f} s, this client {own_cpu:.2f} s, against "
        f"{2 * wall:.2f} core-seconds of wall time on 2 cores  [{loadavg()}]"
    )
    loop, pool = _thread_split(stack.api_processes(), threads)
    print(
        f"  API CPU by thread: event loop {loop:.2f} s (HTTP, multipart, writing and hashing "
        f"the file), request threads {pool:.2f} s (gathering, summaries, encoding, the "
        f"insert), parsing threads {api_cpu - loop - pool:.2f} s (the rest: they end with "
        "the request)"
    )
    ingest_stages(path)
    assert answer.status_code == 201, answer.text[:300]
    dataset = answer.json()
    ratio = parser / wall
    print(
        f"  upload + parse + store: {wall:.2f} s ({size / MB / wall:.0f} MB/s); "
        f"pandas.read_csv alone {parser:.2f} s ({size / MB / parser:.0f} MB/s); ratio {ratio:.3f}"
    )
    print(
        f"  API RSS: {before / MB:.0f} MB before, peak {rss.peak / MB:.0f} MB "
        f"(+{(rss.peak - before) / MB:.0f} MB, {(rss.peak - before) / size:.1f}x the file) "
        f"for a {size / MB:.0f} MB file"
    )
    results.check("ingest throughput vs pandas.read_csv", f"{ratio:.3f}x", ">= 0.5x", ratio >= 0.5)
    results.check(
        "API peak RSS during ingest", f"{rss.peak / size:.2f}x file size", "<= 3x",
        rss.peak <= 3 * size,
    )  # fmt: skip
    training_memory(stack, http, dataset, results)


def ingest_stages(path: Path) -> None:
    """The ingest's stages in this process, one after another (no upload, no overlap), in
    CPU seconds (every thread of this process) with the wall time beside."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from service.domain.ingest import encode_dataset, parse_dataset

    one = pacsv.ReadOptions(use_threads=False)
    names = pacsv.read_csv(
        path, read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 16)
    )
    text = {name: pa.string() for name in names.schema.names}
    types = {field.name: field.type for field in names.schema}
    del names

    def read() -> None:
        with path.open("rb") as f:
            while f.read(1 << 20):
                pass

    def sha256() -> None:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)

    parsed: list[Any] = []
    stages = [
        ("pandas.read_csv (C parser, one thread)", lambda: pd.read_csv(path)),
        ("reading the file (page cache)", read),
        ("SHA-256 of the file", sha256),
        ("Arrow, one thread: tokenizing (every column as text)",
         lambda: pacsv.read_csv(path, read_options=one,
                                convert_options=pacsv.ConvertOptions(column_types=text))),
        ("Arrow, one thread: tokenizing + float conversion (types given)",
         lambda: pacsv.read_csv(path, read_options=one,
                                convert_options=pacsv.ConvertOptions(column_types=types))),
        ("Arrow, one thread: tokenizing + type inference + conversion",
         lambda: pacsv.read_csv(path, read_options=one)),
        ("ours: parse + check + summarise (pieces on every core)",
         lambda: parsed.append(parse_dataset(path, target="label"))),
        ("ours: encode the blob", lambda: encode_dataset(parsed.pop())),
    ]  # fmt: skip
    print("  stages alone, in this process, one after another (CPU s, wall s):")
    for label, stage in stages:
        cpu, start = time.process_time(), time.perf_counter()
        stage()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"    {label:64s} {cpu:5.2f} CPU  {wall:5.2f} wall")


def _thread_cpu(procs: list[psutil.Process]) -> dict[int, float]:
    seen = {}
    for proc in procs:
        for thread in proc.threads():
            seen[thread.id] = thread.user_time + thread.system_time
    return seen


def _thread_split(procs: list[psutil.Process], before: dict[int, float]) -> tuple[float, float]:
    """CPU since `before` of the main (event loop) threads, and of the other threads that
    outlived the request (the request's thread pool); threads that ended are left out."""
    after = _thread_cpu(procs)
    mains = {proc.pid for proc in procs}
    loop = sum(after[t] - before.get(t, 0.0) for t in after if t in mains)
    pool = sum(after[t] - before.get(t, 0.0) for t in after if t not in mains)
    return loop, pool


def training_memory(stack: Stack, http: Any, dataset: dict[str, Any], results: Results) -> None:
    header(f"training memory, {dataset['n_rows']:,} rows, 1 epoch of a 64-unit layer")
    before = sum(p.memory_info().rss for p in stack.worker_processes())
    training = {"epochs": 1, "batch_size": 256, "optimizer": {"name": "adam"}, "seed": 0}
    network = {"layers": [{"units": 64, "activation": "relu"}]}
    with RssSampler(stack.worker_processes, every=0.01) as rss:
        start = time.perf_counter()
        job = jobs.submit(http, dataset["id"], network, training)
        done = jobs.succeeded(http, job["id"], timeout=600)
        wall = time.perf_counter() - start
    weights = http.get(f"/v1/models/{done['model_id']}/weights").content
    with np.load(io.BytesIO(weights), allow_pickle=False) as archive:
        fan_in = int(archive["W0"].shape[0])
        params = sum(archive[k].size for k in archive.files if k[:1] in "Wb" and k[1:].isdigit())
    data = dataset["n_rows"] * fan_in * 4
    state = params * 4 * 4  # weights, gradients, Adam's two moments
    budget = 2 * (data + state) + 300 * MB
    print(
        f"  job {wall:.1f} s; worker RSS {before / MB:.0f} MB before, peak {rss.peak / MB:.0f} MB; "
        f"float32 data {data / MB:.0f} MB ({fan_in} inputs after one-hot), model + optimizer "
        f"{state / MB:.2f} MB"
    )
    results.check(
        "worker peak RSS training on 1M rows", f"{rss.peak / MB:.0f} MB",
        f"<= 2 x (data + model + optimizer) + 300 MB = {budget / MB:.0f} MB", rss.peak <= budget,
    )  # fmt: skip


# --- BLAS threads while serving --------------------------------------------------------------


def blas_limit_reaches_other_threads() -> str:
    """What a worker does: limit BLAS in the main thread (worker_ready), compute in a task
    thread. Returns the thread count the task thread sees, per BLAS library."""
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    seen: list[str] = []
    with threadpool_limits(1):
        thread = threading.Thread(
            target=lambda: seen.extend(
                f"{lib['internal_api']} ({lib.get('threading_layer')}): {lib['num_threads']}"
                for lib in threadpool_info()
            )
        )
        thread.start()
        thread.join()
    return ", ".join(seen)


def blas_threads(state: Embedded, plan: PlanLike, results: Results) -> None:
    header("predictions while a large job trains, by worker BLAS threads")
    print(
        "  a limit of 1 set in the main thread, as seen from another thread: "
        f"{blas_limit_reaches_other_threads()}\n"
        "  (OpenBLAS with pthreads, numpy's own, is limited process-wide, so the worker's limit "
        "reaches its task threads;\n   an OpenMP limit is per thread, which matters only for "
        "libraries this process loaded besides numpy)"
    )
    X, y = workloads.synthetic(60_000 if plan.quick else 100_000)
    csv = workloads.table_csv(X, y)
    network = {"layers": [{"units": 256, "activation": "relu"}] * 2}
    training = {"epochs": 500, "batch_size": 256, "optimizer": {"name": "adam"}, "seed": 0}
    body = digits_body()
    path = f"/v1/models/{state.model_id}/predict"
    for threads in (1, 2):
        stack = Stack(state.folder, {**BENCH_ENV, "NEURONAL_WORKER_BLAS_THREADS": str(threads)})
        with running(stack), jobs.client(stack.port, state.key) as http:
            dataset = jobs.upload(http, "large.csv", csv)
            job = jobs.submit(http, dataset["id"], network, training)
            wait_until(
                lambda job_id=job["id"]: http.get(f"/v1/jobs/{job_id}").json()["progress"]["epoch"]
                >= 1,
                timeout=120, what="the first epoch",
            )  # fmt: skip
            workers = stack.worker_processes()
            for proc in workers:
                proc.cpu_percent(None)
            seq = load.sequential(
                stack.port, path, body, state.key, count=100_000, max_seconds=plan.blas_seconds
            )
            cpu = sum(proc.cpu_percent(None) for proc in workers)
            http.post(f"/v1/jobs/{job['id']}/cancel")
            jobs.wait(http, job["id"], timeout=120)
            rows = http.get(f"/v1/jobs/{job['id']}/metrics").json()["items"]
            epoch = statistics.median(r["seconds"] for r in rows[1:] or rows)
        print(
            f"  BLAS threads {threads}: predict {seq.line()}; worker CPU {cpu:.0f}%, "
            f"epoch {epoch:.2f} s  [{loadavg()}]"
        )
        results.figures[f"blas{threads}_p99"] = seq.p99_ms
        results.figures[f"blas{threads}_epoch"] = epoch
    idle = results.figures.get("predict_p99_idle")
    if idle:
        print(f"  (predict p99 with an idle worker: {idle:.3f} ms)")


# --- PostgreSQL + Redis ---------------------------------------------------------------------


def worker_ready(stack: Stack, index: int) -> bool:
    log = stack.folder / f"worker-{index}.log"
    return log.exists() and "worker ready" in log.read_text(errors="replace")


def per_job_overhead(
    stack: Stack, http: Any, csv: bytes, plan: PlanLike, results: Results, where: str
) -> None:
    header(f"per-job overhead, digits jobs ({where})")
    dataset = jobs.upload(http, "digits.csv", csv)["id"]
    phases = overhead.job_phases(http, stack.folder, dataset, max(plan.e2e_repeats, 5))
    overhead.report(phases, where, results)


def postgres_redis(
    folder: Path, plan: PlanLike, results: Results, *, only_overhead: bool = False
) -> None:
    header("PostgreSQL + Redis, 1 API process, separate workers")
    X, y = workloads.digits()
    csv = workloads.table_csv(X, y)
    with postgres_and_redis() as env:
        stack = Stack(folder, {**BENCH_ENV, **env}, embedded=False)
        with running(stack):
            stack.start_worker()
            wait_until(lambda: worker_ready(stack, 0), timeout=60, what="worker 0", every=0.1)
            key = stack.create_key("bench")
            with jobs.client(stack.port, key) as http:
                digits_end_to_end(http, csv, plan.e2e_repeats, results, "postgres+redis")
                queue = results.figures["queue_postgres+redis"]
                results.check(
                    "queue latency on Redis", f"{queue * 1000:.0f} ms", "<= 200 ms", queue <= 0.2
                )
                per_job_overhead(stack, http, csv, plan, results, "postgres+redis")
                if only_overhead:
                    return
                job_overhead(stack, http, plan, results, "postgres+redis")
                header(f"scale-out: {plan.scale_jobs} digits jobs (10 epochs)")
                dataset = jobs.upload(http, "digits.csv", csv)["id"]
                one = scale_batch(http, dataset, plan.scale_jobs)
                stack.start_worker()
                wait_until(lambda: worker_ready(stack, 1), timeout=60, what="worker 1", every=0.1)
                two = scale_batch(http, dataset, plan.scale_jobs)
    print(f"  1 worker process:  {one:.0f} jobs/min")
    print(f"  2 worker processes: {two:.0f} jobs/min  (ratio {two / one:.2f})")
    results.figures["jobs_per_minute_1"] = one
    results.figures["jobs_per_minute_2"] = two


def scale_batch(http: Any, dataset_id: str, count: int) -> float:
    """Submit `count` small jobs at once; jobs per minute until the last succeeds."""
    training = {**workloads.digits_training(10)}
    start = time.perf_counter()
    ids = [
        jobs.submit(http, dataset_id, workloads.DIGITS_NETWORK, training)["id"]
        for _ in range(count)
    ]
    for job_id in ids:
        jobs.succeeded(http, job_id, timeout=300)
    return count / (time.perf_counter() - start) * 60
