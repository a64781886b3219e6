"""Prometheus figures of webhook deliveries, read from the database at scrape time (like the
job figures in metrics.py): every API process reports the same truth, whichever delivery
workers made the attempts.

- `neuronal_webhook_deliveries_total{outcome}`: deliveries that ended delivered or failed
  (they only grow while endpoints are kept: deleting an endpoint deletes its deliveries).
- `neuronal_webhook_deliveries_pending`: deliveries not yet delivered or failed (a gauge).
- `neuronal_webhook_delivery_attempts_total{outcome}`: attempts made, by the delivery's state
  (delivered, failed or pending).
- `neuronal_webhook_delivery_lag_seconds`: from the event's commit to its receiver's 2xx.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.core.db import session_factory
from service.core.webhook_tables import WebhookDelivery

OUTCOMES = ("delivered", "failed")
STATES = (*OUTCOMES, "pending")
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000)


class WebhookCollector(Collector):
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily("neuronal_webhook_deliveries", "", labels=["outcome"])
        yield GaugeMetricFamily("neuronal_webhook_deliveries_pending", "")
        yield CounterMetricFamily("neuronal_webhook_delivery_attempts", "", labels=["outcome"])
        yield HistogramMetricFamily("neuronal_webhook_delivery_lag_seconds", "")

    def collect(self) -> Iterator[Metric]:
        try:
            with session_factory(self.database_url)() as session:
                by_status = _by_status(session)
                lag = _lag_buckets(session)
        except Exception:  # a scrape must not fail because the database is down
            by_status, lag = {}, ([0] * len(LAG_BUCKETS), 0, 0.0)
        deliveries = CounterMetricFamily(
            "neuronal_webhook_deliveries",
            "Webhook deliveries that ended, by outcome",
            labels=["outcome"],
        )
        attempts = CounterMetricFamily(
            "neuronal_webhook_delivery_attempts",
            "Webhook delivery attempts, by the outcome of their delivery",
            labels=["outcome"],
        )
        for state in STATES:
            count, made = by_status.get(state, (0, 0))
            if state in OUTCOMES:
                deliveries.add_metric([state], count)
            attempts.add_metric([state], made)
        yield deliveries
        yield GaugeMetricFamily(
            "neuronal_webhook_deliveries_pending",
            "Webhook deliveries not yet delivered or failed",
            value=by_status.get("pending", (0, 0))[0],
        )
        yield attempts
        cumulative, count, total = lag
        histogram = HistogramMetricFamily(
            "neuronal_webhook_delivery_lag_seconds",
            "Seconds from an event's commit to its receiver's 2xx answer",
        )
        pairs = [
            (floatToGoString(b), float(c)) for b, c in zip(LAG_BUCKETS, cumulative, strict=True)
        ]
        histogram.add_metric([], [*pairs, ("+Inf", float(count))], sum_value=total)
        yield histogram


def _by_status(session: Session) -> dict[str, tuple[int, int]]:
    rows = session.execute(
        select(
            WebhookDelivery.status,
            func.count(),
            func.coalesce(func.sum(WebhookDelivery.attempts), 0),
        ).group_by(WebhookDelivery.status)
    ).all()
    return {status: (int(count), int(made)) for status, count, made in rows}


def _lag_buckets(session: Session) -> tuple[list[int], int, float]:
    lag = WebhookDelivery.lag_seconds
    le = [func.sum(case((lag <= bound, 1), else_=0)) for bound in LAG_BUCKETS]
    row = session.execute(
        select(*le, func.count(lag), func.coalesce(func.sum(lag), 0.0)).where(lag.is_not(None))
    ).one()
    *cumulative, count, total = row
    return [int(c or 0) for c in cumulative], int(count or 0), float(total or 0.0)


_collector: WebhookCollector | None = None


def register_webhook_collector(database_url: str) -> None:
    """Register once per process; the latest app's database is the one reported."""
    global _collector
    if _collector is None:
        _collector = WebhookCollector(database_url)
        REGISTRY.register(_collector)
    _collector.database_url = database_url
