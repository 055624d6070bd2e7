"""Webhook subscriptions (admins), replays and the delivery log."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.config import Settings
from intake.db.models import WebhookAttempt, WebhookDelivery, WebhookSubscription, utcnow
from intake.errors import Conflict, InvalidRequest, NotFound
from intake.forms.registry import Registry
from intake.webhooks import SECRET_PREFIX, outbox, sender
from intake.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)

MAX_REPLAY = 100_000


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("the webhook URL must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidRequest("the webhook URL must not carry a user name or password")
    return url


def _check_template(template: str | None, registry: Registry) -> str | None:
    if template:
        registry.get(template)  # TemplateNotFound (404) names the problem
    return template or None


def out(sub: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut(id=sub.id, name=sub.name, url=sub.url, template=sub.template_id,
                           statuses=list(sub.statuses or []), event_types=list(sub.event_types or []),
                           include_data=sub.include_data, active=sub.active, disabled_at=sub.disabled_at,
                           disabled_reason=sub.disabled_reason, failure_run=sub.failure_run,
                           failing_since=sub.failing_since, secrets=len(sender.valid_secrets(sub, utcnow())),
                           created_at=sub.created_at)


def create(session: Session, body: SubscriptionIn, registry: Registry, actor: str,
           user_id: int | None) -> tuple[WebhookSubscription, str]:
    secret = new_secret()
    now = utcnow()
    sub = WebhookSubscription(
        name=body.name, url=check_url(body.url), template_id=_check_template(body.template, registry),
        statuses=sorted(set(body.statuses)), event_types=sorted(set(body.event_types)),
        include_data=body.include_data, active=True, failure_run=0, created_by_id=user_id,
        secrets=[{"secret": secret, "created_at": now.isoformat(), "expires_at": None}], created_at=now)
    session.add(sub)
    session.flush()
    audit(session, actor, "webhook.create", "webhook", sub.id, template=sub.template_id,
          include_data=sub.include_data)
    return sub, secret


def get(session: Session, sub_id: int, lock: bool = False) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, sub_id, with_for_update=lock)
    if sub is None:
        raise NotFound(f"there is no webhook subscription {sub_id}")
    return sub


def update(session: Session, sub_id: int, body: SubscriptionPatch, registry: Registry,
           actor: str) -> WebhookSubscription:
    sub = get(session, sub_id, lock=True)
    fields = body.model_fields_set
    if "name" in fields and body.name is not None:
        sub.name = body.name
    if "url" in fields and body.url is not None:
        sub.url = check_url(body.url)
    if "template" in fields:
        sub.template_id = _check_template(body.template, registry)
    if "statuses" in fields:
        sub.statuses = sorted(set(body.statuses or []))
    if "event_types" in fields and body.event_types is not None:
        sub.event_types = sorted(set(body.event_types))
    if "include_data" in fields and body.include_data is not None:
        sub.include_data = body.include_data
    audit(session, actor, "webhook.update", "webhook", sub.id, fields=sorted(fields))
    return sub


def delete(session: Session, sub_id: int, actor: str) -> None:
    sub = get(session, sub_id, lock=True)
    session.delete(sub)
    audit(session, actor, "webhook.delete", "webhook", sub_id)


def rotate_secret(session: Session, sub_id: int, settings: Settings, actor: str) -> tuple[WebhookSubscription, str]:
    """A new secret signs from now on; the previous ones keep signing for
    ``INTAKE_WEBHOOK_SECRET_OVERLAP_S`` (a second signature), so the receiver can switch over."""
    sub = get(session, sub_id, lock=True)
    now = utcnow()
    expires = (now + timedelta(seconds=settings.webhook_secret_overlap_s)).isoformat()
    kept: list[dict[str, Any]] = []
    for item in sub.secrets or []:
        if item.get("expires_at") is None or datetime.fromisoformat(item["expires_at"]) > now:
            kept.append(item | {"expires_at": item.get("expires_at") or expires})
    secret = new_secret()
    sub.secrets = [{"secret": secret, "created_at": now.isoformat(), "expires_at": None}, *kept]
    audit(session, actor, "webhook.rotate_secret", "webhook", sub.id, count=len(sub.secrets))
    return sub, secret


def enable(session: Session, sub_id: int, actor: str) -> WebhookSubscription:
    sub = get(session, sub_id, lock=True)
    sub.active, sub.disabled_at, sub.disabled_reason = True, None, None
    sub.failure_run, sub.failing_since = 0, None
    audit(session, actor, "webhook.enable", "webhook", sub.id)
    return sub


def disable(session: Session, sub_id: int, actor: str) -> WebhookSubscription:
    sub = get(session, sub_id, lock=True)
    if sub.active:
        sender.disable(session, sub, "disabled by an admin", actor)
    return sub


def delivery_out(d: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    return DeliveryOut(id=d.id, subscription_id=d.subscription_id, event_id=d.event_id, record_id=d.record_id,
                       event_type=d.event_type, msg_id=d.msg_id, status=d.status, attempts=d.attempts,
                       next_attempt_at=d.next_attempt_at, last_outcome=d.last_outcome, reason=d.reason,
                       replay_of=d.replay_of_id, created_at=d.created_at, finished_at=d.finished_at,
                       log=[AttemptOut(number=a.number, at=a.at, duration_ms=a.duration_ms, status_code=a.status_code,
                                       outcome=a.outcome, next_attempt_at=a.next_attempt_at) for a in attempts])


def deliveries(session: Session, sub_id: int, status: str | None, limit: int,
               before: int | None) -> tuple[list[DeliveryOut], int | None]:
    get(session, sub_id)
    q = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id)
    if status:
        q = q.where(WebhookDelivery.status == status)
    if before:
        q = q.where(WebhookDelivery.id < before)
    rows = list(session.scalars(q.order_by(WebhookDelivery.id.desc()).limit(limit)))
    logs: dict[int, list[WebhookAttempt]] = {d.id: [] for d in rows}
    if rows:
        for a in session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(logs))
                                 .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number, WebhookAttempt.id)):
            logs[a.delivery_id].append(a)
    items = [delivery_out(d, logs[d.id]) for d in rows]
    return items, (rows[-1].id if len(rows) == limit else None)


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery:
    d = session.get(WebhookDelivery, delivery_id)
    if d is None:
        raise NotFound(f"there is no webhook delivery {delivery_id}")
    return d


def delivery_detail(session: Session, delivery_id: int) -> DeliveryOut:
    d = get_delivery(session, delivery_id)
    attempts = list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == d.id)
                                    .order_by(WebhookAttempt.number, WebhookAttempt.id)))
    return delivery_out(d, attempts)


def _active(sub: WebhookSubscription) -> None:
    if not sub.active:
        raise Conflict(f"webhook subscription {sub.id} is disabled ({sub.disabled_reason}); enable it first")


def replay_one(session: Session, delivery_id: int, actor: str) -> WebhookDelivery:
    original = get_delivery(session, delivery_id)
    sub = get(session, original.subscription_id)
    _active(sub)
    d = outbox.replay_delivery(session, original, sub)
    audit(session, actor, "webhook.replay", "webhook", sub.id, count=1, replay_of=original.id)
    return d


def replay_since(session: Session, sub_id: int, since: datetime, actor: str) -> int:
    if since.tzinfo is None:
        raise InvalidRequest("'since' needs a timezone, e.g. 2026-05-01T00:00:00Z")
    try:
        since = since.astimezone(UTC)
    except OverflowError:  # before the year 1 in UTC: everything
        since = datetime.min.replace(tzinfo=UTC)
    sub = get(session, sub_id)
    _active(sub)
    n = outbox.replay_since(session, sub, since, MAX_REPLAY)
    audit(session, actor, "webhook.replay", "webhook", sub.id, count=n)
    return n
