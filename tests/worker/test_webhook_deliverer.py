"""One delivery attempt in-process, on a real database and a real receiver on loopback: the
address is checked again when the attempt is made (a URL accepted earlier is not sent to once
the server refuses private addresses), and the attempt connects to the checked address with
the URL's own host in the Host header."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from service.core.config import Settings
from service.core.db import dispose_engines, transaction, use_database
from service.core.outbox import add_event
from service.core.queue import Producer
from service.core.schema import migrate_database
from service.core.tables import Tenant, WebhookDelivery, WebhookEndpoint
from service.core.webhook_secrets import SecretBox, new_secret
from tests.worker.webhook_receiver import Receiver
from worker.webhooks import Deliverer


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    migrate_database(url)
    use_database(url)
    yield url
    use_database(None)
    dispose_engines()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def one_delivery(settings: Settings, url: str, secret: str) -> str:
    with transaction() as session:
        session.add(Tenant(id="ten_1", name="t"))
        endpoint = WebhookEndpoint(
            id="wh_1",
            tenant_id="ten_1",
            url=url,
            events=["job.succeeded"],
            secret_encrypted=SecretBox(settings).seal(secret),
            enabled=True,
        )
        session.add(endpoint)
        session.flush()
        add_event(session, "ten_1", "job.succeeded", {"job_id": "job_1"}, [endpoint])
        session.flush()
        return session.query(WebhookDelivery).one().id


def test_an_attempt_is_signed_and_sent_to_the_checked_address(
    database: str, receiver: Receiver, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, webhook_allow_private_urls=True)
    secret = new_secret()
    port = receiver.url("/in", 200).rsplit(":", 1)[1].split("/")[0]
    delivery_id = one_delivery(settings, f"http://localhost:{port}/in", secret)
    assert Deliverer(settings, Producer(settings)).deliver(delivery_id) == "delivered"
    (got,) = receiver.at("/in")
    assert got.headers["host"] == f"localhost:{port}"
    assert Webhook(secret).verify(got.body, got.headers)["data"] == {"job_id": "job_1"}
    with transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None and delivery.status == "delivered"
        (line,) = delivery.log
        assert datetime.fromisoformat(line["sent_at"]) <= datetime.fromisoformat(line["at"])
        assert line["status_code"] == 200


def test_the_address_is_checked_again_at_delivery_time(
    database: str, receiver: Receiver, tmp_path: Path
) -> None:
    accepted = Settings(data_dir=tmp_path, webhook_allow_private_urls=True)
    delivery_id = one_delivery(accepted, receiver.url("/private"), new_secret())
    strict = Settings(data_dir=tmp_path, webhook_allow_private_urls=False)
    assert Deliverer(strict, Producer(strict)).deliver(delivery_id) == "error"
    assert receiver.at("/private") == []
    with transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None and delivery.status == "pending"
        assert "not sent" in (delivery.last_error or "") and delivery.last_status_code is None


def test_a_key_that_cannot_open_the_secret_is_a_failure_in_the_delivery_log(
    database: str, receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A delivery worker started without the API's NEURONAL_WEBHOOK_KEY (here: its own key
    file) sends nothing and says why in the delivery's log, attempt by attempt, with no
    traceback; once the schedule is spent the delivery fails."""
    api = Settings(data_dir=tmp_path / "api", webhook_allow_private_urls=True)
    delivery_id = one_delivery(api, receiver.url("/in"), new_secret())
    worker = Settings(
        data_dir=tmp_path / "worker", webhook_allow_private_urls=True, webhook_retry_schedule=[0, 0]
    )
    deliverer = Deliverer(worker, Producer(worker))
    with caplog.at_level("INFO", logger="neuronal.webhooks"):
        assert [deliverer.deliver(delivery_id) for _ in range(2)] == ["error", "error"]
    assert receiver.at("/in") == []
    assert not [record for record in caplog.records if record.exc_info]
    with transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None and delivery.status == "failed"
        assert [line["attempt"] for line in delivery.log] == [1, 2]
        for line in delivery.log:
            assert line["status_code"] is None and line["sent_at"] is None
            assert line["error"].startswith("not sent: a webhook secret cannot be decrypted")
            assert "NEURONAL_WEBHOOK_KEY" in line["error"]
