"""How the `neuronal searches` commands print: searches, the leaderboard, the lines of a
watched search, and a trial's parameters in a short form."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from neuronal_client import SearchInfo, TrialInfo

from service.cli.tables import figure, short_time

ENDED = ("succeeded", "pruned", "failed", "cancelled")


def params_text(params: Mapping[str, Any] | None) -> str:
    """`learning_rate=0.003162 units=48`: each path by its last key where that is unique."""
    if not params:
        return "-"
    names = {path: _last_key(path) for path in params}
    counts = Counter(names.values())
    return " ".join(
        f"{names[path] if counts[names[path]] == 1 else path}={_value(value)}"
        for path, value in params.items()
    )


def search_rows(searches: Sequence[SearchInfo]) -> list[list[Any]]:
    """One row per search for `searches list`."""
    rows = []
    for search in searches:
        objective = search.get("objective") or {}
        best = search.get("best") or {}
        rows.append(
            [
                search["id"],
                search["status"],
                search.get("strategy"),
                search.get("dataset_id"),
                _progress(search),
                f"{objective.get('goal', '')} {objective.get('metric', '')}".strip(),
                figure(best.get("objective")),
                short_time(search.get("created_at")),
            ]
        )
    return rows


def leaderboard_rows(trials: Sequence[TrialInfo]) -> list[list[Any]]:
    """The leaderboard as the server orders it (best first), ranked from 1."""
    return [
        [
            rank,
            trial.get("trial"),
            trial.get("status"),
            figure(trial.get("objective")),
            trial.get("epochs"),
            params_text(trial.get("params")),
            trial.get("job_id"),
        ]
        for rank, trial in enumerate(trials, start=1)
    ]


def summary_lines(search: SearchInfo) -> list[str]:
    """The head of `searches show`: what is searched, how far it got, the best so far."""
    objective = search.get("objective") or {}
    limits = search.get("limits") or {}
    counts = search.get("trials") or {}
    shown_limits = ", ".join(f"{k} {v}" for k, v in limits.items() if v is not None)
    lines = [
        f"search {search['id']}  {search['status']}  on {search.get('dataset_id')}",
        f"strategy {search.get('strategy')} (seed {search.get('seed')}), "
        f"{objective.get('goal')} {objective.get('metric')}",
        f"limits: {shown_limits or 'none'}",
        f"trials: {_counts_text(counts)}",
        f"space: {', '.join(search.get('space') or {}) or '-'}",
    ]
    rule = search.get("early_termination")
    if rule:
        lines.append(
            f"early termination: {rule.get('name')} from {rule.get('min_epochs')} epochs, "
            f"reduction factor {rule.get('reduction_factor')}"
        )
    best = search.get("best")
    if best:
        metric = objective.get("metric", "objective")
        lines.append(best_line(dict(best), metric))
    if search.get("error"):
        lines.append(f"error: {search['error']}")
    return lines


def trial_line(trial: Mapping[str, Any], metric: str) -> str:
    """One ended trial as `searches create --watch` prints it."""
    value = trial.get("objective")
    figures = f"{metric} {figure(value)}" if value is not None else f"{metric} -"
    return (
        f"trial {trial.get('trial')} {trial.get('status')}  {figures}  after "
        f"{trial.get('epochs')} epochs  {params_text(trial.get('params'))}"
    )


def best_line(best: Mapping[str, Any], metric: str) -> str:
    where = f"trial {best['trial']}" if best.get("trial") is not None else "trial"
    return (
        f"best so far: {where} ({best.get('job_id')})  {metric} {figure(best.get('objective'))}"
        f"  {params_text(best.get('params'))}"
    )


def outcome(search: SearchInfo) -> list[str]:
    """The end of a watched search: its status and counts, then the best model's id last."""
    lines = [f"search {search['id']} {search['status']}: {_counts_text(search.get('trials'))}"]
    best = search.get("best")
    if best:
        metric = (search.get("objective") or {}).get("metric", "objective")
        lines.append(best_line(dict(best), metric))
        if best.get("model_id"):
            lines.append(f"model {best['model_id']}")
    if search.get("error"):
        lines.append(f"error: {search['error']}")
    return lines


def _progress(search: SearchInfo) -> str:
    counts = search.get("trials") or {}
    ended = sum(int(counts.get(status, 0) or 0) for status in ENDED)  # type: ignore[misc]
    cap = (search.get("limits") or {}).get("max_trials")
    return f"{ended}/{cap}" if cap is not None else str(ended)


def _counts_text(counts: Mapping[str, Any] | None) -> str:
    counts = counts or {}
    parts = [f"{counts[k]} {k}" for k in ("running", "queued", *ENDED) if counts.get(k)]
    return f"{counts.get('total', 0)} in all" + (f" ({', '.join(parts)})" if parts else "")


def _last_key(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
