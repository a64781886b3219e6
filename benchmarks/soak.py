"""A soak: PostgreSQL + a private Redis, one API, two workers, a mixed load from several
tenants, while a worker is killed (-9) and restarted every few minutes and Redis is restarted
once. At the end every job must be in a terminal state exactly once, with nothing lost and no
5xx answered; the API's and workers' resident memory is printed as a curve.

Run: `.venv/bin/python benchmarks/soak.py` (`--minutes 30` by default; `--minutes 3` for a
quick look). Needs PostgreSQL on 127.0.0.1:5432 (a scratch database is created and dropped)
and `redis-server` on the PATH (a private instance on a free port, never the shared one).
Loopback only; bounded by `--minutes` plus a drain of at most `--drain-minutes`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.soak_load import TERMINAL, Record, Tenant  # noqa: E402
from benchmarks.stack import ROOT, Stack, free_port, port_open, scratch_database, wait_until  # noqa: E402

SOAK_TIMINGS = {
    "NEURONAL_HEARTBEAT_SECONDS": "1",
    "NEURONAL_STALE_AFTER_SECONDS": "10",
    "NEURONAL_REAPER_INTERVAL_SECONDS": "2",
    "NEURONAL_REQUEUE_AFTER_SECONDS": "10",
    "NEURONAL_CHECKPOINT_INTERVAL_SECONDS": "2",
    "NEURONAL_API_KEY_CACHE_SECONDS": "5",
}


class PrivateRedis:
    """`redis-server` without persistence on a free port: a restart loses every message."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not installed")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), timeout=10, what="redis-server", every=0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def tree_rss(procs: list[psutil.Process]) -> float:
    """Resident MB of some processes and their children."""
    total = 0
    for root in procs:
        try:
            for proc in [root, *root.children(recursive=True)]:
                total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


class Chaos(threading.Thread):
    """Kill -9 and restart a worker every `every` seconds; restart Redis once, half-way;
    sample resident memory every `sample_every` seconds."""

    def __init__(
        self,
        stack: Stack,
        redis: PrivateRedis,
        slots: list[subprocess.Popen[bytes]],
        database_url: str,
        deadline: float,
        every: float,
        sample_every: float,
    ) -> None:
        super().__init__(daemon=True, name="chaos")
        self.database_url = database_url
        self.stack, self.redis, self.slots = stack, redis, slots
        self.deadline, self.every, self.sample_every = deadline, every, sample_every
        self.start_time = time.monotonic()
        self.events: list[str] = []
        self.curve: list[tuple[float, float, list[float]]] = []
        self.kills = 0
        self.redis_restarts = 0

    def run(self) -> None:
        next_kill = self.start_time + self.every
        redis_at = self.start_time + (self.deadline - self.start_time) / 2
        next_sample = self.start_time
        rng = random.Random(11)
        while time.monotonic() < self.deadline:
            now = time.monotonic()
            if now >= next_sample:
                self.sample()
                next_sample = now + self.sample_every
            if now >= next_kill:
                self.kill_worker(self.busy_slot() if rng.random() < 0.75 else rng.randrange(2))
                next_kill = now + self.every
            if self.redis_restarts == 0 and now >= redis_at:
                self.redis.stop()
                time.sleep(2)
                self.redis.start()
                self.redis_restarts += 1
                self.note("redis restarted (every message in it lost)")
            time.sleep(0.5)
        self.sample()

    def note(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.start_time:7.0f} s  {what}")

    def busy_slot(self) -> int:
        """A worker slot training a job right now (the worker's hostname holds its pid)."""
        from sqlalchemy import create_engine, select

        from service.core.tables import TrainingJob

        engine = create_engine(self.database_url)
        with engine.connect() as db:
            owners = db.scalars(select(TrainingJob.worker).where(TrainingJob.status == "running"))
            pids = {int(w.split("@")[0].rsplit("-", 1)[1]) for w in owners if w}
        engine.dispose()
        busy = [i for i, proc in enumerate(self.slots) if proc.pid in pids]
        return busy[0] if busy else 0

    def kill_worker(self, slot: int) -> None:
        proc = self.slots[slot]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        self.slots[slot] = self.stack.start_worker()
        self.kills += 1
        self.note(f"worker {slot} killed -9 (pid {proc.pid}), restarted as {self.slots[slot].pid}")

    def sample(self) -> None:
        api = tree_rss(self.stack.api_processes())
        workers = [tree_rss([psutil.Process(p.pid)]) for p in self.slots if p.poll() is None]
        self.curve.append((time.monotonic() - self.start_time, api, workers))


def drain(url: str, record: Record, limit: float) -> dict[str, dict]:
    """Wait (at most `limit` s) until every submitted job is terminal; their final views."""
    views: dict[str, dict] = {}
    deadline = time.monotonic() + limit
    pending = set(record.jobs)
    while pending and time.monotonic() < deadline:
        for job_id in sorted(pending):
            key = record.jobs[job_id]
            answer = httpx.get(
                f"{url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            if answer.status_code == 200 and answer.json()["status"] in TERMINAL:
                views[job_id] = answer.json()
                pending.discard(job_id)
        time.sleep(2)
    return views


def check(url: str, database_url: str, record: Record, views: dict[str, dict]) -> list[str]:
    """Every invariant the soak promises; the list of what broke."""
    from sqlalchemy import create_engine, func, select

    from service.core.tables import Dataset, EpochMetric, TrainedModel, TrainingJob

    problems = [f"5xx: {line}" for line in record.server_errors[:20]]
    problems += [f"transport error: {line}" for line in record.transport_errors[:20]]
    not_final = set(record.jobs) - set(views)
    problems += [f"job {job_id} not terminal after the drain" for job_id in sorted(not_final)]
    engine = create_engine(database_url)
    with engine.connect() as db:
        stored_jobs = dict(db.execute(select(TrainingJob.id, TrainingJob.status)).all())
        models = Counter(db.scalars(select(TrainedModel.job_id)).all())
        stored_datasets = set(db.scalars(select(Dataset.id)).all())
        epochs = db.execute(
            select(
                EpochMetric.job_id, func.count(), func.count(func.distinct(EpochMetric.epoch))
            ).group_by(EpochMetric.job_id)
        ).all()
    engine.dispose()
    problems += [f"job {j} lost" for j in record.jobs if j not in stored_jobs]
    problems += [f"dataset {d} lost" for d in record.datasets if d not in stored_datasets]
    for job_id, view in views.items():
        want = 1 if view["status"] == "succeeded" else 0
        if models[job_id] != want:
            problems.append(f"job {job_id} {view['status']} with {models[job_id]} models")
        if view["status"] == "succeeded" and view["progress"]["epoch"] < 1:
            problems.append(f"job {job_id} succeeded without an epoch")
    problems += [f"job {j}: {n} metric rows for {d} epochs" for j, n, d in epochs if n != d]
    for job_id, names, final in record.streams:
        if names.count("status") != 1 or names[-1] != "status":
            problems.append(f"stream of {job_id} ended with {names[-3:]} ({len(names)} events)")
        elif job_id in views and final != views[job_id]["status"]:
            problems.append(
                f"stream of {job_id} said {final}, the job is {views[job_id]['status']}"
            )
    return problems


def report(record: Record, views: dict[str, dict], chaos: Chaos, problems: list[str]) -> None:
    print("\nresident memory (MB) over time; workers by slot, a slot restarts after each kill")
    print(f"{'t (s)':>7}  {'API':>7}  workers")
    for at, api, workers in chaos.curve:
        print(f"{at:7.0f}  {api:7.1f}  " + "  ".join(f"{w:7.1f}" for w in workers))
    apis = [api for _, api, _ in chaos.curve]
    if len(apis) >= 4:
        settled, end = apis[len(apis) // 4], apis[-1]
        print(
            f"API: {settled:.1f} MB at a quarter of the run, {end:.1f} MB at the end "
            f"({end / settled:.2f}x); peak {max(apis):.1f} MB"
        )
    print("\nchaos:")
    for line in chaos.events:
        print("  " + line)
    finals = Counter(view["status"] for view in views.values())
    codes = Counter(view.get("error_code") for view in views.values() if view["status"] == "failed")
    attempts = Counter(view["attempts"] for view in views.values())
    print("\ncounts:")
    print(
        f"  requests answered {sum(record.answers.values()):,}; "
        f"5xx {len(record.server_errors)}; transport errors {len(record.transport_errors)}"
    )
    for line, count in sorted(record.answers.items()):
        print(f"    {line}: {count:,}")
    print(
        f"  datasets uploaded {len(record.datasets)}; jobs {len(record.jobs)} "
        f"(terminal {len(views)}: {dict(finals)}; failure codes {dict(codes)})"
    )
    print(
        f"  attempts per job {dict(sorted(attempts.items()))}; cancels accepted "
        f"{len(record.cancelled)}; rows predicted {record.predictions:,}; "
        f"event streams read to the end {len(record.streams)}"
    )
    print(f"  worker kills {chaos.kills}; redis restarts {chaos.redis_restarts}")
    print(
        "\nverdict: " + ("OK, every check held" if not problems else f"{len(problems)} problem(s)")
    )
    for line in problems[:60]:
        print("  " + line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the load")
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=4.0, help="minutes between kills")
    parser.add_argument(
        "--sample-every", type=float, default=30.0, help="seconds between RSS samples"
    )
    parser.add_argument("--drain-minutes", type=float, default=8.0)
    args = parser.parse_args()
    print(
        f"soak: {args.minutes} min, {args.tenants} tenants, a worker killed every "
        f"{args.kill_every} min, Redis restarted once; started {time.strftime('%H:%M:%S')}"
    )
    redis = PrivateRedis()
    redis.start()
    folder = Path(tempfile.mkdtemp(prefix="neuronal-soak-"))
    try:
        with scratch_database("neuronal_soak") as database_url:
            env = {
                **SOAK_TIMINGS,
                "NEURONAL_DATABASE_URL": database_url,
                "NEURONAL_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
            }
            stack = Stack(folder, env, embedded=False)
            subprocess.run(
                [sys.executable, "-m", "service.cli", "migrate"],
                env=stack.env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                timeout=120,
            )
            return soak(stack, redis, database_url, args)
    finally:
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


def soak(stack: Stack, redis: PrivateRedis, database_url: str, args: argparse.Namespace) -> int:
    url = f"http://127.0.0.1:{stack.port}"
    try:
        slots = [stack.start_worker(), stack.start_worker()]
        stack.start_api()
        keys = [stack.create_key(f"soak-{i}") for i in range(args.tenants)]
        record = Record()
        deadline = time.monotonic() + args.minutes * 60
        chaos = Chaos(
            stack, redis, slots, database_url, deadline, args.kill_every * 60, args.sample_every
        )
        tenants = [Tenant(url, key, record, deadline, seed=i) for i, key in enumerate(keys)]
        chaos.start()
        for tenant in tenants:
            tenant.start()
        for tenant in [*tenants, chaos]:
            tenant.join()
        views = drain(url, record, args.drain_minutes * 60)
        for tenant in tenants:
            for stream in tenant.streams:
                stream.join(timeout=30)
        problems = check(url, database_url, record, views)
        report(record, views, chaos, problems)
        return 1 if problems else 0
    except BaseException:
        print(stack.log_tail(), file=sys.stderr)
        raise
    finally:
        stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
