"""Test accuracy of the engine against PyTorch, and where a difference comes from.

Run: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/accuracy.py`
(`--batches 1024`, `--seeds 5`, `--threads 2`, `--inits glorot he`, `--epsilon`,
`--no-lockstep`). The synthetic 784-256-256-10 workload of `benchmarks/engine.py`, 3 epochs
of Adam (learning rate 0.001), the same rows for every run.

Two parts:
- lockstep: PyTorch's initial weights copied into the engine's network, then both take the
  same batches in the same order for one epoch. If the loss (a mean over the batch), Adam
  (epsilon, bias correction) and the gradients agree, the parameters stay equal up to
  float32 rounding, which small batches amplify over an epoch, and so do the accuracies:
  whatever differs in the full runs is the start.
- per seed, the engine with its default initializer (and the `--inits` named, and with
  `--epsilon` Adam's epsilon at 1e-7) against PyTorch's default start; per batch size, the
  median over the seeds of the engine's accuracy minus PyTorch's, its spread, and a
  MET/MISSED line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine import ACCURACY_POINTS, split, synthetic_data  # noqa: E402
from benchmarks.sections import Results  # noqa: E402
from service.engine import fit  # noqa: E402
from service.engine.initializers import default_init  # noqa: E402
from service.engine.network import Network  # noqa: E402
from service.engine.optimizers import OPTIMIZERS  # noqa: E402

ROWS = 60_000
EPOCHS = 3
ADAM = {"name": "adam", "learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
DEFAULT = default_init(["relu", "relu"])


def engine(data, batch: int, seed: int, init: str, epsilon: float = 1e-8) -> float:
    Xtr, ytr, Xte, yte = data
    network = {"layers": [{"units": 256, "activation": "relu"}] * 2, "init": init}
    training = {
        "epochs": EPOCHS,
        "batch_size": batch,
        "validation_fraction": 0.0,
        "optimizer": {**ADAM, "epsilon": epsilon},
        "scaling": "none",
        "seed": seed,
    }
    model, _ = fit(Xtr, ytr, network, training, task="classification")
    return float((model.predict(Xte) == yte).mean())


def torch_model(seed: int, n_in: int):
    """784-256-256-10 with PyTorch's default start (±1/sqrt(fan_in), weights and biases)."""
    import torch

    torch.manual_seed(seed)
    layers, fan_in = [], n_in
    for units in (256, 256):
        layers += [torch.nn.Linear(fan_in, units), torch.nn.ReLU()]
        fan_in = units
    return torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, 10))


def torch_adam(model):
    import torch

    return torch.optim.Adam(
        model.parameters(), lr=ADAM["learning_rate"], betas=(0.9, 0.999), eps=ADAM["epsilon"]
    )


def torch_accuracy(model, Xte, yte) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(Xte)).argmax(1).numpy()
    return float((pred == yte).mean())


def torch_run(data, batch: int, seed: int) -> float:
    import torch

    Xtr, ytr, Xte, yte = data
    model = torch_model(seed, Xtr.shape[1])
    opt, loss_fn = torch_adam(model), torch.nn.CrossEntropyLoss()
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr.astype(np.int64))
    for _ in range(EPOCHS):
        perm = torch.randperm(len(X))
        for s in range(0, len(X), batch):
            idx = perm[s : s + batch]
            opt.zero_grad()
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()
    return torch_accuracy(model, Xte, yte)


def lockstep(data, batch: int, seed: int) -> str:
    """One epoch from PyTorch's start in both, the same batches in the same order."""
    import torch

    Xtr, ytr, Xte, yte = data
    model = torch_model(seed, Xtr.shape[1])
    linears = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
    net = Network([Xtr.shape[1], 256, 256, 10], ["relu", "relu", "softmax"], "cross_entropy",
                  np.float32)  # fmt: skip
    for W, b, layer in zip(net.W, net.b, linears, strict=True):
        W[...] = layer.weight.detach().numpy().T  # torch keeps (fan_out, fan_in)
        b[...] = layer.bias.detach().numpy()
    ours, theirs = OPTIMIZERS["adam"](net.params, ADAM), torch_adam(model)
    loss_fn = torch.nn.CrossEntropyLoss()
    Y = np.eye(10, dtype=np.float32)[ytr]
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr.astype(np.int64))
    perm = np.random.default_rng(seed).permutation(len(Xtr))
    worst_first = 0.0
    for s in range(0, len(Xtr), batch):
        idx = perm[s : s + batch]
        net.loss_and_grad(Xtr[idx], Y[idx], net.buffers(len(idx)))
        ours.step(net.grad)
        theirs.zero_grad()
        loss_fn(model(X[idx]), y[idx]).backward()
        theirs.step()
        if s == 0:
            worst_first = _largest_difference(net, linears)
    worst = _largest_difference(net, linears)
    ours_acc = float((net.forward(Xte, net.buffers(len(Xte))).argmax(1) == yte).mean())
    theirs_acc = torch_accuracy(model, Xte, yte)
    return (
        f"after 1 step the parameters differ by at most {worst_first:.1e}, after one epoch "
        f"by {worst:.1e}; test accuracy engine {ours_acc:.4f}, PyTorch {theirs_acc:.4f} "
        f"({100 * (ours_acc - theirs_acc):+.2f} points)"
    )


def _largest_difference(net: Network, linears) -> float:
    worst = 0.0
    for W, b, layer in zip(net.W, net.b, linears, strict=True):
        worst = max(worst, float(np.abs(W - layer.weight.detach().numpy().T).max()))
        worst = max(worst, float(np.abs(b - layer.bias.detach().numpy()).max()))
    return worst


def variants(data, inits: list[str], epsilon: bool):
    """The engine's runs to compare with PyTorch's, by name: the default initializer first."""
    chosen = {f"engine {DEFAULT} (default)": lambda b, s: engine(data, b, s, DEFAULT)}
    for init in inits:
        if init != DEFAULT:
            chosen[f"engine {init}"] = lambda b, s, init=init: engine(data, b, s, init)
    if epsilon:
        chosen[f"engine {DEFAULT}, eps 1e-7"] = lambda b, s: engine(data, b, s, DEFAULT, 1e-7)
    return chosen


def compare(data, batch: int, seeds: int, runs: dict, results: Results) -> None:
    scores: dict[str, list[float]] = {name: [] for name in [*runs, "pytorch"]}
    for seed in range(seeds):  # contenders alternate within each seed
        for name, run in runs.items():
            scores[name].append(run(batch, seed))
        scores["pytorch"].append(torch_run(data, batch, seed))
    reference = scores["pytorch"]
    for name, values in scores.items():
        gaps = [100 * (v - r) for v, r in zip(values, reference, strict=True)]
        print(
            f"  {name:32s} median {statistics.median(values):.4f} "
            f"({', '.join(f'{v:.4f}' for v in values)})"
            + (
                ""
                if name == "pytorch"
                else f"; minus PyTorch's, seed by seed: median {statistics.median(gaps):+.2f} "
                f"points, from {min(gaps):+.2f} to {max(gaps):+.2f}"
            )
        )
    default = [100 * (v - r) for v, r in zip(scores[next(iter(runs))], reference, strict=True)]
    gap = statistics.median(default)
    results.check(
        f"test accuracy vs PyTorch, batch {batch}, median of {seeds} seeds",
        f"{gap:+.2f} points",
        f">= -{ACCURACY_POINTS} points",
        gap >= -ACCURACY_POINTS,
    )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="*", default=[32, 128, 1024])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    parser.add_argument("--inits", nargs="*", default=[], help="other initializers to run")
    parser.add_argument("--epsilon", action="store_true", help="also Adam's epsilon at 1e-7")
    parser.add_argument("--no-lockstep", action="store_true")
    args = parser.parse_args()
    import threadpoolctl
    import torch

    torch.set_num_threads(args.threads)  # accuracy does not depend on it; speed on a busy
    threadpoolctl.threadpool_limits(args.threads)  # machine does: spinning threads thrash
    data = split(*synthetic_data(ROWS + 10_000), 10_000 / (ROWS + 10_000))
    print(f"load average {os.getloadavg()[0]:.1f}; {ROWS} training rows, {EPOCHS} epochs")
    results = Results()
    for batch in args.batches:
        print(f"== batch {batch}")
        if not args.no_lockstep:
            print(f"  lockstep from PyTorch's start: {lockstep(data, batch, 0)}", flush=True)
        compare(data, batch, args.seeds, variants(data, args.inits, args.epsilon), results)
    results.summary()


if __name__ == "__main__":
    main()
