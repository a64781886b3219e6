"""Where the engine's test accuracy differs from PyTorch's: initial weights or Adam's epsilon.

Run: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/accuracy.py`
(`--batches 1024`, `--seeds 3`, `--threads 2`). The synthetic 784-256-256-10 workload of
`benchmarks/engine.py`, 3 epochs of Adam (learning rate 0.001), the same rows for every run.
Each variant changes one thing: the engine with each initializer and two epsilons, PyTorch
with its default initialization (uniform in ±1/sqrt(fan_in), biases too) and with He-normal
weights and zero biases, as the engine's `he` starts. Prints the mean test accuracy over the seeds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine import split, synthetic_data  # noqa: E402
from service.engine import fit  # noqa: E402

ROWS = 60_000
EPOCHS = 3


def engine(data, batch: int, seed: int, init: str, epsilon: float) -> float:
    Xtr, ytr, Xte, yte = data
    network = {"layers": [{"units": 256, "activation": "relu"}] * 2, "init": init}
    training = {
        "epochs": EPOCHS,
        "batch_size": batch,
        "validation_fraction": 0.0,
        "optimizer": {"name": "adam", "learning_rate": 0.001, "epsilon": epsilon},
        "scaling": "none",
        "seed": seed,
    }
    model, _ = fit(Xtr, ytr, network, training, task="classification")
    return float((model.predict(Xte) == yte).mean())


def torch_run(data, batch: int, seed: int, he: bool) -> float:
    import torch

    Xtr, ytr, Xte, yte = data
    torch.manual_seed(seed)
    layers, fan_in = [], Xtr.shape[1]
    for units in (256, 256):
        layers += [torch.nn.Linear(fan_in, units), torch.nn.ReLU()]
        fan_in = units
    model = torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, 10))
    if he:
        for layer in model:
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = torch.nn.CrossEntropyLoss()
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr.astype(np.int64))
    for _ in range(EPOCHS):
        perm = torch.randperm(len(X))
        for s in range(0, len(X), batch):
            idx = perm[s : s + batch]
            opt.zero_grad()
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()
    with torch.no_grad():
        pred = model(torch.from_numpy(Xte)).argmax(1).numpy()
    return float((pred == yte).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="*", default=[32, 128, 1024])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    args = parser.parse_args()
    import threadpoolctl
    import torch

    torch.set_num_threads(args.threads)  # accuracy does not depend on it; speed on a busy
    threadpoolctl.threadpool_limits(args.threads)  # machine does: spinning threads thrash
    data = split(*synthetic_data(ROWS + 10_000), 10_000 / (ROWS + 10_000))
    variants = {
        "engine he, eps 1e-8": lambda b, s: engine(data, b, s, "he", 1e-8),
        "engine he, eps 1e-7": lambda b, s: engine(data, b, s, "he", 1e-7),
        "engine glorot (default), eps 1e-8": lambda b, s: engine(data, b, s, "glorot", 1e-8),
        "pytorch default init": lambda b, s: torch_run(data, b, s, he=False),
        "pytorch he-normal, zero biases": lambda b, s: torch_run(data, b, s, he=True),
    }
    print(f"load average {os.getloadavg()[0]:.1f}; {ROWS} training rows, {EPOCHS} epochs")
    for batch in args.batches:
        print(f"== batch {batch}")
        scores: dict[str, list[float]] = {name: [] for name in variants}
        for seed in range(args.seeds):  # variants alternate within each seed
            for name, run in variants.items():
                scores[name].append(run(batch, seed))
        reference = statistics.mean(scores["pytorch default init"])
        for name, values in scores.items():
            mean = statistics.mean(values)
            print(
                f"  {name:32s} test accuracy {mean:.4f} ({', '.join(f'{v:.4f}' for v in values)})"
                f"  {100 * (mean - reference):+.2f} points vs PyTorch's default"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
