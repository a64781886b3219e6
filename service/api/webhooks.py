"""Webhook routes: endpoints, a test ping, the delivery log and manual redelivery."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from service.api.deps import SessionDep, SettingsDep, TenantDep
from service.api.problems import BODY_PROBLEMS, V1_PROBLEMS, problem_responses
from service.api.schemas_webhooks import (
    DeliveryOut,
    DeliveryPage,
    WebhookCreated,
    WebhookOut,
    WebhookPage,
    WebhookRequest,
    WebhookUpdate,
)
from service.domain.webhooks import deliveries, endpoints

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=V1_PROBLEMS)


@router.post("", status_code=201, response_model=WebhookCreated, responses=BODY_PROBLEMS)
def create_webhook(
    body: WebhookRequest,
    response: Response,
    session: SessionDep,
    tenant_id: TenantDep,
    settings: SettingsDep,
) -> WebhookCreated:
    """Register an endpoint; the answer holds its signing secret, shown only here."""
    created = endpoints.create_endpoint(
        session,
        tenant_id,
        url=body.url,
        events=body.events,
        description=body.description,
        settings=settings,
    )
    response.headers["Location"] = f"/v1/webhooks/{created.endpoint.id}"
    shown = WebhookOut.model_validate(created.endpoint).model_dump()
    return WebhookCreated(**shown, secret=created.secret)


@router.get("", response_model=WebhookPage)
def list_webhooks(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> WebhookPage:
    page = endpoints.list_endpoints(session, tenant_id, limit=limit, cursor=cursor)
    return WebhookPage.model_validate(page)


@router.get("/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: str, session: SessionDep, tenant_id: TenantDep) -> WebhookOut:
    return WebhookOut.model_validate(endpoints.get_endpoint(session, tenant_id, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut, responses=BODY_PROBLEMS)
def update_webhook(
    webhook_id: str,
    body: WebhookUpdate,
    session: SessionDep,
    tenant_id: TenantDep,
    settings: SettingsDep,
) -> WebhookOut:
    """Change the url, events, description, or enable/disable the endpoint."""
    changes = body.model_dump(exclude_unset=True)
    endpoint = endpoints.update_endpoint(session, tenant_id, webhook_id, changes, settings)
    return WebhookOut.model_validate(endpoint)


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    endpoints.delete_endpoint(session, tenant_id, webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    response_model=DeliveryOut,
    responses=problem_responses(409),
)
def test_webhook(webhook_id: str, session: SessionDep, tenant_id: TenantDep) -> DeliveryOut:
    """Send a `webhook.ping` event to this endpoint; follow it in its deliveries."""
    return DeliveryOut.model_validate(endpoints.ping(session, tenant_id, webhook_id))


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    webhook_id: str,
    session: SessionDep,
    tenant_id: TenantDep,
    status: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> DeliveryPage:
    page = deliveries.list_deliveries(
        session, tenant_id, webhook_id, status=status, limit=limit, cursor=cursor
    )
    return DeliveryPage.model_validate(page)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses=problem_responses(409),
)
def redeliver(
    webhook_id: str, delivery_id: str, session: SessionDep, tenant_id: TenantDep
) -> DeliveryOut:
    """Deliver the event again now (same `webhook-id`, a fresh retry schedule)."""
    delivery = deliveries.redeliver(session, tenant_id, webhook_id, delivery_id)
    return DeliveryOut.model_validate(delivery)
