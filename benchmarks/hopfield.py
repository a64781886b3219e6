"""Speed of Hopfield recall: 100 noisy probes of a 100-unit network storing 10 patterns.

Run: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/hopfield.py`
(`--repeats N`). Target: the engine recalls the whole batch (100 units x 100 patterns) in at
most 5 ms (median), under either update mode. Two contenders run in the same repeats, in
alternation, so that background load hits them alike: the engine called once per probe, and
a textbook NumPy loop (one probe, one unit at a time, same update order). BLAS runs one
thread, as in the worker (`NEURONAL_WORKER_BLAS_THREADS` defaults to 1).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.engine import HopfieldModel  # noqa: E402

N_UNITS, N_STORED, N_PROBES, NOISE = 100, 10, 100, 0.1
TARGET_MS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    import threadpoolctl

    threadpoolctl.threadpool_limits(1)
    environment(threadpoolctl)
    patterns, probes = workload()
    print(f"{N_PROBES} probes x {N_UNITS} units, {N_STORED} stored patterns, "
          f"{NOISE:.0%} of bits flipped; {args.repeats} repeats, times in ms\n")  # fmt: skip
    verdicts = []
    for rule in ("hebbian", "storkey"):
        for update in ("async", "sync"):
            model = HopfieldModel.store(
                patterns, {"kind": "hopfield", "rule": rule, "update": update}
            )
            verdicts.append(run(model, patterns, probes, args.repeats))
    print(f"\ntarget: batch recall median <= {TARGET_MS} ms in every configuration: "
          f"{'MET' if all(verdicts) else 'MISSED'}")  # fmt: skip


def workload() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    patterns = rng.choice(np.array([-1, 1]), size=(N_STORED, N_UNITS))
    probes = patterns[rng.integers(0, N_STORED, N_PROBES)]
    flips = rng.random(probes.shape) < NOISE
    return patterns, np.where(flips, -probes, probes)


def run(model: HopfieldModel, patterns: np.ndarray, probes: np.ndarray, repeats: int) -> bool:
    contenders: dict[str, Callable[[], np.ndarray]] = {
        "engine, whole batch": lambda: model.recall(probes, seed=1).states,
        "engine, one probe per call": lambda: np.vstack(
            [model.recall(probe, seed=1).states for probe in probes]
        ),
        "textbook loop": lambda: textbook(model, probes, seed=1),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    answers = {}
    for _ in range(repeats):
        for name, call in contenders.items():
            start = time.perf_counter()
            answers[name] = call()
            times[name].append((time.perf_counter() - start) * 1e3)
    result = model.recall(probes, seed=1)
    truth = patterns[result.nearest_pattern]
    recalled = (result.states == truth).mean()
    print(
        f"{model.network['rule']}/{model.network['update']}: {result.iterations.max()} sweeps "
        f"at most, {result.converged.mean():.0%} converged, {recalled:.2%} of bits equal the "
        "nearest stored pattern"
    )
    batch = statistics.median(times["engine, whole batch"])
    for name, samples in times.items():
        median = statistics.median(samples)
        same = "same states" if np.array_equal(answers[name], result.states) else "OTHER STATES"
        print(f"  {name:28s} median {median:7.2f}  min {min(samples):7.2f}  "
              f"max {max(samples):7.2f}  x{median / batch:5.1f} the batch  ({same})")  # fmt: skip
    met = batch <= TARGET_MS
    print(f"  -> {batch:.2f} ms <= {TARGET_MS} ms: {'MET' if met else 'MISSED'}")
    return met


def textbook(model: HopfieldModel, probes: np.ndarray, seed: int) -> np.ndarray:
    """One probe at a time, one unit at a time, the engine's rule and update orders."""
    W, n, sync = model.weights, model.n_units, model.network["update"] == "sync"
    out = []
    for probe in probes.astype(np.float64):
        rng, s = np.random.default_rng(seed), probe.copy()
        tie = 1e-9 * np.abs(W).sum(axis=1).max()
        for _ in range(model.network["max_iterations"]):
            fields = W @ s
            if np.all(np.copysign(1.0, fields + tie * s) == s):
                break
            if sync:
                s = np.copysign(1.0, fields + tie * s)
                continue
            for i in rng.permutation(n):
                s[i] = 1.0 if W[i] @ s + tie * s[i] >= 0 else -1.0
        out.append(s.astype(np.int64))
    return np.array(out)


def environment(threadpoolctl) -> None:
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    for lib in threadpoolctl.threadpool_info():
        print(f"  {lib['internal_api']} {lib.get('version')} kernel={lib.get('architecture')} "
              f"threads={lib['num_threads']}")  # fmt: skip


if __name__ == "__main__":
    main()
