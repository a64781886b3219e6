"""The model registry's rules through its domain functions, on SQLite and PostgreSQL: names,
immutable numbered versions, aliases and their history, the 409 on deleting a registered
model's model, `register` on jobs, resolution and its lease."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from service.domain import registry, registry_aliases
from service.domain.jobs import create_job
from service.domain.registry_resolve import Resolver, read_resolution
from service.domain.trained_models import delete_model
from tests.domain.conftest import add_tenant, points_csv, upload
from tests.domain.test_models_and_batch_predictions import model_id  # noqa: F401 (fixture)


@pytest.fixture
def two_models(session: Session, model_id: str) -> tuple[str, str]:  # noqa: F811
    """Two stored models of tenant ten_a (the second a copy of the first's bytes)."""
    from service.core.db import new_id
    from service.core.tables import ModelBlob, TrainedModel, TrainingJob
    from service.domain.trained_models import add_trained_model

    first = session.get(TrainedModel, model_id)
    blob = session.get(ModelBlob, model_id)
    assert first is not None and blob is not None
    job = session.get(TrainingJob, first.job_id)
    assert job is not None
    twin = TrainingJob(**{c.key: getattr(job, c.key) for c in TrainingJob.__table__.columns})
    twin.id = new_id("job")
    session.add(twin)
    session.flush()
    second = new_id("mdl")
    add_trained_model(session, twin, second, blob.data, features=first.features,
                      classes=first.classes, metrics=first.metrics)  # fmt: skip
    session.flush()
    return model_id, second


@pytest.mark.parametrize("name", ["", "-lead", "has space", "a/b", "x" * 101, "é"])
def test_a_bad_name_is_refused_naming_the_rule(session: Session, name: str) -> None:
    with pytest.raises(InvalidInput, match="not a registered model name"):
        registry.create_registered_model(session, "ten_a", name)


@pytest.mark.parametrize("alias", ["", "Prod", "1", "123", "9lives", "a" * 65, "with.dot"])
def test_a_bad_alias_is_refused(alias: str) -> None:
    with pytest.raises(InvalidInput, match="not an alias"):
        registry_aliases.check_alias(alias)


def test_names_are_unique_per_tenant(session: Session) -> None:
    add_tenant(session, "ten_a")
    add_tenant(session, "ten_b")
    registry.create_registered_model(session, "ten_a", "churn.v2_x-1")
    with pytest.raises(Conflict, match="already have"):
        registry.create_registered_model(session, "ten_a", "churn.v2_x-1")
    registry.create_registered_model(session, "ten_b", "churn.v2_x-1")  # another tenant's
    with pytest.raises(NotFound):
        registry.get_registered_model(session, "ten_b", "nope")


def test_versions_count_up_and_aliases_move_with_history(
    session: Session, two_models: tuple[str, str]
) -> None:
    first, second = two_models
    v1 = registry.register_model(session, "ten_a", "churn", first, alias="production")
    v2 = registry.register_model(session, "ten_a", "churn", second)
    assert (v1.version, v2.version) == (1, 2)
    registered = registry.get_registered_model(session, "ten_a", "churn")
    assert registered.latest_version == 2
    assert registry_aliases.aliases_of(session, registered) == {"production": 1}

    moved = registry_aliases.move_alias(session, "ten_a", "churn", "production", 2, "1")
    assert (moved.version, moved.model_id) == (2, second)
    with pytest.raises(PreconditionFailed, match="points at version 2"):
        registry_aliases.move_alias(session, "ten_a", "churn", "production", 1, "1")
    with pytest.raises(PreconditionFailed, match="does not exist"):
        registry_aliases.move_alias(session, "ten_a", "churn", "staging", 1, "*")
    with pytest.raises(InvalidInput, match="If-Match"):
        registry_aliases.move_alias(session, "ten_a", "churn", "production", 1, "latest")
    with pytest.raises(InvalidInput, match="no version 7"):
        registry_aliases.move_alias(session, "ten_a", "churn", "production", 7, None)
    registry_aliases.move_alias(session, "ten_a", "churn", "production", 2, '"2"')  # no move
    registry_aliases.delete_alias(session, "ten_a", "churn", "production", "2")

    page = registry_aliases.alias_history(
        session, "ten_a", "churn", "production", limit=50, cursor=None
    )
    assert [(m.version, m.previous_version) for m in page.items] == [(None, 2), (2, 1), (1, None)]
    first_page = registry_aliases.alias_history(
        session, "ten_a", "churn", "production", limit=2, cursor=None
    )
    rest = registry_aliases.alias_history(
        session, "ten_a", "churn", "production", limit=2, cursor=first_page.next_cursor
    )
    assert [m.version for m in first_page.items + rest.items] == [None, 2, 1]
    with pytest.raises(NotFound, match="no alias 'never'"):
        registry_aliases.alias_history(session, "ten_a", "churn", "never", limit=5, cursor=None)


def test_a_model_a_version_names_cannot_be_deleted(
    session: Session, two_models: tuple[str, str]
) -> None:
    first, _ = two_models
    registry.register_model(session, "ten_a", "churn", first)
    with pytest.raises(Conflict, match="version 1 of 'churn'"):
        delete_model(session, "ten_a", first)
    registry.delete_registered_model(session, "ten_a", "churn")
    delete_model(session, "ten_a", first)  # nothing refers to it any more


def test_registering_another_tenants_model_is_refused(
    session: Session,
    model_id: str,  # noqa: F811
) -> None:
    add_tenant(session, "ten_b")
    with pytest.raises(InvalidInput, match="no model"):
        registry.register_model(session, "ten_b", "churn", model_id)


def test_resolution_is_kept_for_the_lease_only(
    session: Session, two_models: tuple[str, str]
) -> None:
    first, second = two_models
    registry.register_model(session, "ten_a", "churn", first, alias="production")
    registry.register_model(session, "ten_a", "churn", second)
    resolver = Resolver(lease=0.3)
    assert resolver.resolve(session, "ten_a", "churn", "production").model_id == first
    assert resolver.resolve(session, "ten_a", "churn", 2).model_id == second
    registry_aliases.move_alias(session, "ten_a", "churn", "production", 2, None)
    assert resolver.cached("ten_a", "churn", "production") is not None  # still within the lease
    time.sleep(0.35)
    assert resolver.cached("ten_a", "churn", "production") is None
    again = resolver.resolve(session, "ten_a", "churn", "production")
    assert (again.model_id, again.version, again.alias) == (second, 2, "production")
    for ref, message in (("staging", "no alias"), (3, "no version 3")):
        with pytest.raises(NotFound, match=message):
            read_resolution(session, "ten_a", "churn", ref)
    with pytest.raises(NotFound, match="no registered model"):
        read_resolution(session, "ten_b", "churn", "production")


def test_a_job_submitted_with_register_keeps_the_request(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    add_tenant(session, "ten_c")
    dataset = upload(session, "ten_c", points_csv(tmp_path / "p.csv"))
    body = {
        "dataset_id": dataset.id,
        "network": {"layers": [{"units": 4, "activation": "tanh"}]},
        "training": {"epochs": 2},
    }
    job, _ = create_job(session, "ten_c", {**body, "register": {"name": "pts"}}, settings)
    assert job.register == {"name": "pts"}
    for bad, field in (({"name": "a b"}, "name"), ({"name": "ok", "alias": "12"}, "alias")):
        with pytest.raises(InvalidInput) as caught:
            create_job(session, "ten_c", {**body, "register": bad}, settings)
        assert caught.value.errors and caught.value.errors[0]["loc"] == ["body", "register", field]
    with pytest.raises(Conflict, match="is queued"):
        registry.register_succeeded_job(session, "ten_c", job.id, "pts")
