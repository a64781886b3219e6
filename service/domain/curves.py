"""A job's learning curves as a standalone SVG image, for embedding in pages and reports.

One panel for the loss (train and validation) and, for classifiers, one for the accuracy;
each series that has at least one value is one `<polyline>` with a `data-series` attribute.
Hand-written SVG keeps the image small, dependency-free and deterministic.
"""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy.orm import Session

from service.core.tables import EpochMetric
from service.domain import jobs

WIDTH, PANEL_HEIGHT = 640, 240
MARGIN = {"left": 56, "right": 16, "top": 28, "bottom": 36}
COLOURS = {"train": "#2563eb", "val": "#f97316"}
PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"))


def curves_svg(rows: list[EpochMetric], *, title: str) -> str:
    """The SVG document for a job's per-epoch metric rows."""
    panels = [(key, label) for key, label in PANELS if _has(rows, f"train_{key}")]
    panels = panels or [PANELS[0]]
    height = PANEL_HEIGHT * len(panels) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    for i, (key, label) in enumerate(panels):
        parts.append(_panel(rows, key, label, top=24 + i * PANEL_HEIGHT))
    parts.append("</svg>")
    return "\n".join(parts)


def _has(rows: list[EpochMetric], field: str) -> bool:
    return any(_finite(getattr(row, field)) for row in rows)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _panel(rows: list[EpochMetric], key: str, label: str, *, top: float) -> str:
    fields = [f"{split}_{key}" for split in COLOURS if _has(rows, f"{split}_{key}")]
    values = [getattr(row, f) for row in rows for f in fields if _finite(getattr(row, f))]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    epochs = [row.epoch for row in rows] or [1]
    first, last = min(epochs), max(max(epochs), min(epochs) + 1)
    left, right = MARGIN["left"], WIDTH - MARGIN["right"]
    y0, y1 = top + MARGIN["top"], top + PANEL_HEIGHT - MARGIN["bottom"]

    def x_of(epoch: float) -> float:
        return left + (epoch - first) / (last - first) * (right - left)

    def y_of(value: float) -> float:
        return y1 - (value - low) / (high - low) * (y1 - y0)

    out = [
        f'<g data-panel="{key}">',
        f'<text x="{left}" y="{y0 - 8}" font-size="12">{label}</text>',
        f'<rect x="{left}" y="{y0}" width="{right - left}" height="{y1 - y0}" '
        'fill="none" stroke="#d1d5db"/>',
        f'<text x="{left - 6}" y="{y0 + 4}" text-anchor="end">{high:.3g}</text>',
        f'<text x="{left - 6}" y="{y1}" text-anchor="end">{low:.3g}</text>',
        f'<text x="{left}" y="{y1 + 16}">epoch {first}</text>',
        f'<text x="{right}" y="{y1 + 16}" text-anchor="end">{last}</text>',
    ]
    for n, field in enumerate(fields):
        split = field.split("_", 1)[0]
        points = " ".join(
            f"{x_of(row.epoch):.1f},{y_of(getattr(row, field)):.1f}"
            for row in rows
            if _finite(getattr(row, field))
        )
        out.append(
            f'<polyline data-series="{field}" points="{points}" fill="none" '
            f'stroke="{COLOURS[split]}" stroke-width="2"/>'
        )
        legend_x = right - 150 + n * 75
        out.append(
            f'<text x="{legend_x}" y="{y0 - 8}" fill="{COLOURS[split]}">'
            f"{'train' if split == 'train' else 'validation'}</text>"
        )
    out.append("</g>")
    return "\n".join(out)


def job_curves(session: Session, tenant_id: str, job_id: str) -> str:
    """The learning curves of the caller's job `job_id` so far, as SVG."""
    job = jobs.get_job(session, tenant_id, job_id)
    rows = jobs.job_metrics(session, job.id)
    return curves_svg(rows, title=f"Job {job.id} — {job.status}, {len(rows)}/{job.epochs} epochs")
