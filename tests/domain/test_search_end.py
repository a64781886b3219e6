"""A search's ending, through `end_search` on SQLite and PostgreSQL: its best trial's model
registered when the search asked for it (moving the alias), and the webhook events of the
ending, the new version and the alias move written in the same transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.lifecycle import JobStatus
from service.core.tables import Search, TrainedModel
from service.core.webhook_tables import WebhookEndpoint, WebhookEvent
from service.domain import registry
from service.domain.search_end import end_search
from tests.domain.test_models_and_batch_predictions import model_id  # noqa: F401 (fixture)

EVENTS = ["search.succeeded", "search.failed", "model_version.created", "alias.moved"]


def a_search(session: Session, model_id: str, register: dict[str, str] | None) -> Search:  # noqa: F811
    model = session.get(TrainedModel, model_id)
    assert model is not None
    search = Search(
        id="srch_1", tenant_id=model.tenant_id, dataset_id=model.dataset_id, base={},
        space={}, strategy="random", objective={"metric": "val_loss", "goal": "minimize"},
        limits={}, register=register, status="running", best_job_id=model.job_id,
        best_trial=3, best_model_id=model_id, best_params={"training.l2": 0.0},
        best_objective=0.25,
    )  # fmt: skip
    session.add(search)
    session.add(WebhookEndpoint(id="whk_1", tenant_id=model.tenant_id, url="http://x.test/",
                                events=EVENTS, secret_encrypted=b"sealed"))  # fmt: skip
    session.flush()
    return search


def events(session: Session) -> dict[str, dict[str, object]]:
    rows = session.scalars(select(WebhookEvent)).all()
    return {row.type: row.payload["data"] for row in rows}


def test_a_succeeded_search_registers_its_best_model_and_says_so(
    session: Session,
    model_id: str,  # noqa: F811
) -> None:
    search = a_search(session, model_id, {"name": "churn", "alias": "best"})
    end_search(session, search, JobStatus.SUCCEEDED)

    assert search.status == "succeeded" and search.finished_at is not None
    assert search.register == {"name": "churn", "alias": "best", "version": 1}
    registered = registry.get_registered_model(session, search.tenant_id, "churn")
    assert registered.latest_version == 1
    sent = events(session)
    assert set(sent) == {"search.succeeded", "model_version.created", "alias.moved"}
    assert sent["search.succeeded"]["best"]["model_id"] == model_id  # type: ignore[index]
    assert sent["model_version.created"] == {"name": "churn", "version": 1, "model_id": model_id}
    assert sent["alias.moved"]["version"] == 1 and sent["alias.moved"]["previous_version"] is None


def test_a_failed_search_registers_nothing(session: Session, model_id: str) -> None:  # noqa: F811
    search = a_search(session, model_id, {"name": "churn"})
    end_search(session, search, JobStatus.FAILED, error="every trial failed")

    assert search.register == {"name": "churn"}
    assert set(events(session)) == {"search.failed"}
    assert events(session)["search.failed"]["error"] == "every trial failed"


def test_a_refused_registration_does_not_change_the_ending(
    session: Session,
    model_id: str,  # noqa: F811
) -> None:
    search = a_search(session, model_id, {"name": "churn"})
    search.best_model_id = "mdl_gone"  # deleted before the search ended
    end_search(session, search, JobStatus.SUCCEEDED)

    assert search.status == "succeeded"
    assert search.register is not None and "version" not in search.register
    assert "error" in search.register
    assert set(events(session)) == {"search.succeeded"}
