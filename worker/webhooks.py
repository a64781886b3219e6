"""A delivery attempt on a delivery worker: claim it, sign it, post it, record the outcome."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.queue import Producer
from service.core.webhook_secrets import SecretBox, SecretKeyError, sign
from service.core.webhook_urls import BlockedAddress, resolve
from service.domain.webhooks.attempts import (
    Claimed,
    Outcome,
    claim,
    mark_sent,
    next_waiting,
    record,
)
from worker.webhook_http import Poster

log = logging.getLogger("neuronal.webhooks")

# a retry due this soon is sent with a countdown by the worker; later ones by the sweep
SOONEST_BY_SWEEP_SECONDS = 60.0


@dataclass
class Deliverer:
    """What a delivery worker shares between its attempts: settings, key, HTTP pool."""

    settings: Settings
    producer: Producer
    box: SecretBox = field(init=False)
    poster: Poster = field(init=False)

    def __post_init__(self) -> None:
        self.box = SecretBox(self.settings)
        self.poster = Poster(
            self.settings.webhook_timeout_seconds, self.settings.webhook_max_concurrent_deliveries
        )

    def deliver(self, delivery_id: str) -> str:
        """One attempt of `delivery_id` if it is due; what happened, for the logs."""
        with transaction() as session:
            claimed = claim(session, delivery_id, self.settings)
        if claimed is None:
            return "skipped"
        outcome = self.attempt(claimed)
        with transaction() as session:
            delay = record(session, claimed, outcome, self.settings)
            waiting = next_waiting(session, claimed.endpoint_id)
        if waiting is not None:
            self.producer.enqueue_delivery(waiting)
        if delay is not None and delay <= SOONEST_BY_SWEEP_SECONDS:
            self.send_later(delivery_id, delay)
        log.info(
            "delivery %s attempt %d: %s", delivery_id, claimed.attempt,
            outcome.status_code or outcome.error,
        )  # fmt: skip
        return outcome.label

    def attempt(self, claimed: Claimed) -> Outcome:
        start = time.perf_counter()
        try:
            target = resolve(claimed.url, allow_private=self.settings.webhook_allow_private_urls)
        except BlockedAddress as exc:
            return Outcome(None, f"not sent: {exc}", time.perf_counter() - start)
        try:
            secret = self.box.open(claimed.secret_encrypted)
        except SecretKeyError as exc:  # retried: the operator can restart with the right key
            return Outcome(None, f"not sent: {exc}", time.perf_counter() - start)
        timestamp = int(time.time())
        headers = {
            "webhook-id": claimed.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, claimed.event_id, timestamp, claimed.body),
        }
        sent_at = utcnow()
        status, error, seconds = self.poster.post(target, headers, claimed.body)
        return Outcome(status, error, seconds, sent_at)

    def send_later(self, delivery_id: str, delay: float) -> None:
        if self.producer.enqueue_delivery(delivery_id, countdown=delay):
            with transaction() as session:
                mark_sent(session, delivery_id, delay)


_deliverer: Deliverer | None = None
_lock = threading.Lock()


def deliverer_for(settings: Settings, producer: Producer) -> Deliverer:
    """The process's one Deliverer (its HTTP pool is shared by the pool's threads)."""
    global _deliverer
    with _lock:
        if _deliverer is None:
            _deliverer = Deliverer(settings, producer)
        return _deliverer
