"""Webhook endpoints (admins): subscriptions, secret rotation, the delivery log, replay."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from intake.auth.deps import app_settings, db_session, require_role
from intake.auth.service import Principal
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.webhooks import service
from intake.webhooks.schemas import (
    DeliveryList,
    DeliveryOut,
    ReplayIn,
    ReplayOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    SubscriptionWithSecret,
)

router = APIRouter(tags=["webhooks"])
Admin = Annotated[Principal, Depends(require_role("admin"))]
DbSession = Annotated[Session, Depends(db_session)]
AppSettings = Annotated[Settings, Depends(app_settings)]


@router.get("/webhooks/deliveries/{delivery_id}", response_model=DeliveryOut)
def get_delivery(delivery_id: int, admin: Admin, session: DbSession) -> DeliveryOut:
    """One delivery with its log: every attempt, its outcome and the retry it scheduled."""
    return service.delivery_detail(session, delivery_id)


@router.post("/webhooks/deliveries/{delivery_id}/replay", response_model=DeliveryOut, status_code=201)
def replay_delivery(delivery_id: int, admin: Admin, session: DbSession) -> DeliveryOut:
    """Send this delivery's message again, as a new delivery (same webhook-id, new attempts)."""
    d = service.replay_one(session, delivery_id, admin.actor)
    session.commit()
    return service.delivery_out(d, [])


@router.get("/webhooks", response_model=list[SubscriptionOut])
def list_subscriptions(admin: Admin, session: DbSession) -> list[SubscriptionOut]:
    from sqlalchemy import select

    from intake.db.models import WebhookSubscription

    return [service.out(s) for s in session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))]


@router.post("/webhooks", response_model=SubscriptionWithSecret, status_code=201)
def create_subscription(body: SubscriptionIn, admin: Admin, session: DbSession,
                        settings: AppSettings) -> SubscriptionWithSecret:
    """Subscribe a URL to record changes. The answer carries the signing secret, once: the
    receiver verifies every message with it (Standard Webhooks)."""
    sub, secret = service.create(session, body, registry_for(settings), admin.actor,
                                 admin.id if admin.kind == "user" else None)
    session.commit()
    return SubscriptionWithSecret(**service.out(sub).model_dump(), secret=secret)


@router.get("/webhooks/{subscription_id}", response_model=SubscriptionOut)
def get_subscription(subscription_id: int, admin: Admin, session: DbSession) -> SubscriptionOut:
    return service.out(service.get(session, subscription_id))


@router.patch("/webhooks/{subscription_id}", response_model=SubscriptionOut)
def update_subscription(subscription_id: int, body: SubscriptionPatch, admin: Admin, session: DbSession,
                        settings: AppSettings) -> SubscriptionOut:
    sub = service.update(session, subscription_id, body, registry_for(settings), admin.actor)
    session.commit()
    return service.out(sub)


@router.delete("/webhooks/{subscription_id}", status_code=204, response_class=Response)
def delete_subscription(subscription_id: int, admin: Admin, session: DbSession) -> Response:
    """Delete a subscription with its deliveries and their log."""
    service.delete(session, subscription_id, admin.actor)
    session.commit()
    return Response(status_code=204)


@router.post("/webhooks/{subscription_id}/rotate-secret", response_model=SubscriptionWithSecret)
def rotate_secret(subscription_id: int, admin: Admin, session: DbSession,
                  settings: AppSettings) -> SubscriptionWithSecret:
    """A new signing secret (shown once). The previous one keeps signing too, as a second
    signature, for INTAKE_WEBHOOK_SECRET_OVERLAP_S (24 h by default)."""
    sub, secret = service.rotate_secret(session, subscription_id, settings, admin.actor)
    session.commit()
    return SubscriptionWithSecret(**service.out(sub).model_dump(), secret=secret)


@router.post("/webhooks/{subscription_id}/enable", response_model=SubscriptionOut)
def enable_subscription(subscription_id: int, admin: Admin, session: DbSession) -> SubscriptionOut:
    """Enable a disabled subscription (resets its run of failures). Events from while it was
    disabled are not sent by this: replay them with POST /webhooks/{id}/replay."""
    sub = service.enable(session, subscription_id, admin.actor)
    session.commit()
    return service.out(sub)


@router.post("/webhooks/{subscription_id}/disable", response_model=SubscriptionOut)
def disable_subscription(subscription_id: int, admin: Admin, session: DbSession) -> SubscriptionOut:
    """Stop sending; pending deliveries fail with reason subscription_disabled."""
    sub = service.disable(session, subscription_id, admin.actor)
    session.commit()
    return service.out(sub)


@router.get("/webhooks/{subscription_id}/deliveries", response_model=DeliveryList)
def list_deliveries(subscription_id: int, admin: Admin, session: DbSession,
                    status: Annotated[Literal["pending", "succeeded", "failed"] | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    before: Annotated[int | None, Query(ge=1)] = None) -> DeliveryList:
    """The subscription's deliveries, newest first, each with its log of attempts."""
    items, nxt = service.deliveries(session, subscription_id, status, limit, before)
    return DeliveryList(items=items, next_before=nxt)


@router.post("/webhooks/{subscription_id}/replay", response_model=ReplayOut, status_code=202)
def replay_since(subscription_id: int, body: ReplayIn, admin: Admin, session: DbSession) -> ReplayOut:
    """Queue a new delivery of every record event at or after `since` that the subscription
    wants now, including events from while it was disabled."""
    n = service.replay_since(session, subscription_id, body.since, admin.actor)
    session.commit()
    return ReplayOut(deliveries=n)
