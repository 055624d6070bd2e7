"""One delivery attempt, retries with exponential backoff and jitter, and automatic disabling.

`deliver(delivery_id)` is idempotent and safe to run twice at once: it claims the row (status
pending, due, not already claimed) in one short transaction, sends the request outside any
transaction, then records the attempt in a second one. The message follows the Standard Webhooks
specification, signed by the `standardwebhooks` package:

- headers ``webhook-id`` (`outbox.msg_id`), ``webhook-timestamp`` (Unix seconds) and
  ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per valid secret
  of the subscription, space-separated (two during a key rotation);
- body ``{"type": "record.approved", "timestamp": ..., "data": {"event_id", "record_id",
  "revision", "status", "template", "template_version", "url"}}``: ids and the revision only,
  unless the subscription has ``include_data``, when ``data.record`` is the record as the feed
  gives it *now* (its ``revision`` may be newer than the event's).

Outcomes: a 2xx answer is success; anything else (another status, a timeout, a refused
connection) is a failed attempt, logged in `WebhookAttempt` with its code. Attempt n+1 waits
``backoff_s * 4**(n-1)`` seconds, capped at ``backoff_max_s``, times a random factor in [0.5, 1]
(with the defaults: about 10 s, 40 s, 2.7 min, 11 min, 43 min, 2.8 h, 6 h); after
``INTAKE_WEBHOOK_MAX_ATTEMPTS`` (8) tries the delivery fails with reason ``retries_exhausted``.
A subscription is disabled, with the reason shown to admins, when
``INTAKE_WEBHOOK_DISABLE_AFTER_FAILURES`` (20) attempts in a row have failed and the first of them
is at least ``INTAKE_WEBHOOK_DISABLE_AFTER_S`` (24 h) old; its pending deliveries then fail with
reason ``subscription_disabled`` (an admin enables it again and replays what it missed). Any
success resets the run.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from standardwebhooks import Webhook

from intake import dispatch
from intake.auth.audit import audit
from intake.config import Settings, get_settings
from intake.db.models import (
    DeliveryState,
    Record,
    RecordEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from intake.db.session import get_db

log = logging.getLogger(__name__)
USER_AGENT = "form-intake-webhooks/1"
_CLAIM_SLACK_S = 30.0
# How early a message may arrive and still make its attempt: timers and countdowns fire on time,
# so this covers clock rounding only. A duplicate or stale message (the first message and the
# poller both sending a new delivery, an earlier retry's timer) finds the next attempt not yet
# due and does nothing; the retry's own message or the poller makes it on time.
_EARLY_S = 0.05


def backoff_s(attempt: int, settings: Settings, rnd: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based), jitter included."""
    base = min(settings.webhook_backoff_max_s, settings.webhook_backoff_s * 4 ** (attempt - 1))
    return base * (rnd or random).uniform(0.5, 1.0)


def valid_secrets(sub: WebhookSubscription, now: datetime) -> list[str]:
    """The secrets that sign now: the current one and any previous one not yet expired."""
    out = []
    for item in sub.secrets or []:
        expires = item.get("expires_at")
        if expires is None or datetime.fromisoformat(expires) > now:
            out.append(item["secret"])
    return out


def sign(secrets: list[str], msg_id: str, at: datetime, body: str) -> str:
    """The ``webhook-signature`` header value: one ``v1,...`` signature per secret."""
    return " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets)


def payload(session: Any, d: WebhookDelivery, sub: WebhookSubscription) -> dict[str, Any]:
    from intake.records.service import item_out

    ev = session.get(RecordEvent, d.event_id)
    rec = session.get(Record, d.record_id)
    data: dict[str, Any] = {"event_id": ev.id, "record_id": ev.record_id, "revision": ev.revision,
                            "status": ev.status, "template": rec.template_id,
                            "template_version": rec.template_version, "url": f"/api/v1/records/{rec.id}"}
    if sub.include_data:
        data["record"] = item_out(rec).model_dump(mode="json")
    return {"type": d.event_type, "timestamp": ev.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": data}


@dataclass
class Request:
    url: str
    body: str
    headers: dict[str, str]
    number: int


@dataclass
class Outcome:
    ok: bool
    code: str
    status_code: int | None
    duration_ms: int


def _claim(delivery_id: int, settings: Settings) -> Request | str:
    now = utcnow()
    with get_db(settings).session() as s:
        d = s.get(WebhookDelivery, delivery_id, with_for_update=True)
        if d is None:
            return "gone"
        if d.status != DeliveryState.PENDING:
            return str(d.status)
        if d.next_attempt_at is not None and d.next_attempt_at > now + timedelta(seconds=_EARLY_S):
            return "not_due"
        if d.claimed_until is not None and d.claimed_until > now:
            return "in_flight"
        sub = s.get(WebhookSubscription, d.subscription_id)
        if sub is None or not sub.active:
            d.status, d.reason, d.finished_at, d.next_attempt_at = (DeliveryState.FAILED, "subscription_disabled",
                                                                    now, None)
            return "failed"
        secrets = valid_secrets(sub, now)
        d.attempts += 1
        d.claimed_until = now + timedelta(seconds=settings.webhook_timeout_s + _CLAIM_SLACK_S)
        body = json.dumps(payload(s, d, sub), ensure_ascii=False, separators=(",", ":"))
        at = datetime.fromtimestamp(int(now.timestamp()), UTC)
        headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": d.msg_id,
                   "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": sign(secrets, d.msg_id, at, body)}
        return Request(sub.url, body, headers, d.attempts)


def _post(req: Request, settings: Settings) -> Outcome:
    start = time.monotonic()
    try:
        r = httpx.post(req.url, content=req.body.encode(), headers=req.headers, timeout=settings.webhook_timeout_s,
                       follow_redirects=False)
        ms = int((time.monotonic() - start) * 1000)
        ok = 200 <= r.status_code < 300
        return Outcome(ok, "ok" if ok else f"http_{r.status_code}", r.status_code, ms)
    except httpx.TimeoutException:
        code = "timeout"
    except httpx.ConnectError:
        code = "connection_error"
    except (httpx.HTTPError, ValueError):  # ValueError: a URL httpx cannot use
        code = "request_error"
    return Outcome(False, code, None, int((time.monotonic() - start) * 1000))


def _record(delivery_id: int, req: Request, out: Outcome, settings: Settings) -> float | None:
    """Write the attempt and what follows from it; the delay before the next attempt, if any."""
    now = utcnow()
    delay = None
    with get_db(settings).session() as s:
        d = s.get(WebhookDelivery, delivery_id, with_for_update=True)
        if d is None:
            return None
        sub = s.get(WebhookSubscription, d.subscription_id, with_for_update=True)
        attempt = WebhookAttempt(delivery_id=d.id, number=req.number, at=now, duration_ms=out.duration_ms,
                                 status_code=out.status_code, outcome=out.code)
        s.add(attempt)
        d.claimed_until, d.last_outcome = None, out.code
        if out.ok:
            d.status, d.finished_at, d.next_attempt_at = DeliveryState.SUCCEEDED, now, None
            if sub is not None:
                sub.failure_run, sub.failing_since = 0, None
            return None
        if d.attempts >= settings.webhook_max_attempts:
            d.status, d.reason, d.finished_at, d.next_attempt_at = (DeliveryState.FAILED, "retries_exhausted",
                                                                    now, None)
        else:
            delay = backoff_s(d.attempts, settings)
            d.next_attempt_at = attempt.next_attempt_at = now + timedelta(seconds=delay)
        if sub is not None:
            sub.failure_run += 1
            sub.failing_since = sub.failing_since or now
            if (sub.active and sub.failure_run >= settings.webhook_disable_after_failures
                    and (now - sub.failing_since).total_seconds() >= settings.webhook_disable_after_s):
                disable(s, sub, f"{sub.failure_run} failed attempts in a row since "
                                f"{sub.failing_since:%Y-%m-%d %H:%M:%S} UTC (last: {out.code})", "system")
                delay = None
        if delay is not None:
            dispatch.enqueue_webhook(d.id, settings=settings, session=s, delay_s=delay)
    return delay


def disable(session: Any, sub: WebhookSubscription, reason: str, actor: str) -> int:
    """Disable a subscription; its pending deliveries fail (reason ``subscription_disabled``)."""
    now = utcnow()
    sub.active, sub.disabled_at, sub.disabled_reason = False, now, reason
    n = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status == DeliveryState.PENDING)
        .values(status=DeliveryState.FAILED, reason="subscription_disabled", finished_at=now, next_attempt_at=None)
    ).rowcount
    audit(session, actor, "webhook.disable", "webhook", sub.id, count=n, code="auto" if actor == "system" else "admin")
    log.warning("webhook subscription %s disabled (%d pending deliveries failed)", sub.id, n)
    return n


def deliver(delivery_id: int, *, settings: Settings | None = None) -> str:
    """Make one attempt of delivery `delivery_id` if it is due; returns what happened."""
    settings = settings or get_settings()
    req = _claim(delivery_id, settings)
    if isinstance(req, str):
        return req
    out = _post(req, settings)
    _record(delivery_id, req, out, settings)
    log.info("webhook delivery %s attempt %d: %s", delivery_id, req.number, out.code)
    return out.code


def due(settings: Settings, limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is due and that nobody is attempting."""
    now = utcnow()
    with get_db(settings).read_session() as s:
        return list(s.scalars(
            select(WebhookDelivery.id).join(WebhookSubscription)
            .where(WebhookDelivery.status == DeliveryState.PENDING, WebhookDelivery.next_attempt_at <= now,
                   (WebhookDelivery.claimed_until.is_(None)) | (WebhookDelivery.claimed_until < now),
                   WebhookSubscription.active.is_(True))
            .order_by(WebhookDelivery.next_attempt_at).limit(limit)))


def enqueue_due(*, settings: Settings | None = None) -> int:
    """Send every due delivery to the work queue (the periodic ``intake.webhooks_due`` task):
    retries whose moment has come, and anything whose message was lost."""
    settings = settings or get_settings()
    ids = due(settings)
    for i in ids:
        dispatch.enqueue_webhook(i, settings=settings)
    return len(ids)
