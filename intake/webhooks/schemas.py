"""What the webhook endpoints take and return."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from intake.webhooks import EVENT_TYPE_NAMES

URL_PATTERN = r"^https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?(/[!-~]*)?$"
EventType = Literal[EVENT_TYPE_NAMES]  # type: ignore[valid-type]
Status = Literal["accepted", "needs_review", "approved", "rejected", "superseded"]


class SubscriptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=8, max_length=2048, pattern=URL_PATTERN, description="http(s) URL that receives the POSTs")
    template: str | None = Field(None, max_length=64, description="only records of this template (default: all)")
    statuses: list[Status] = Field([], description="only changes that leave the record in one of these statuses "
                                                   "(default: any)")
    event_types: list[EventType] = Field(list(EVENT_TYPE_NAMES), min_length=1,
                                         description="record.created, record.updated, record.corrected, "
                                                     "record.approved, record.rejected, record.reopened, "
                                                     "record.superseded (default: all)")
    include_data: bool = Field(False, description="the payload carries the record's data (personal data); "
                                                  "otherwise ids and the revision only")


class SubscriptionPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64)
    url: str | None = Field(None, min_length=8, max_length=2048, pattern=URL_PATTERN)
    template: str | None = Field(None, max_length=64, description="empty string: all templates")
    statuses: list[Status] | None = None
    event_types: list[EventType] | None = Field(None, min_length=1)
    include_data: bool | None = None


class SubscriptionOut(BaseModel):
    id: int
    name: str
    url: str
    template: str | None
    statuses: list[str]
    event_types: list[str]
    include_data: bool
    active: bool
    disabled_at: datetime | None
    disabled_reason: str | None = Field(description="why it was disabled (automatically after a run of failures, "
                                                     "or by an admin)")
    failure_run: int = Field(description="failed attempts in a row since the last success")
    failing_since: datetime | None
    secrets: int = Field(description="how many secrets sign each message now (2 during a key rotation)")
    created_at: datetime


class SubscriptionWithSecret(SubscriptionOut):
    secret: str = Field(description="the new signing secret (whsec_...); shown this once")


class AttemptOut(BaseModel):
    number: int
    at: datetime
    duration_ms: int
    status_code: int | None
    outcome: str = Field(description='"ok", "http_<status>", "timeout", "connection_error" or "request_error"')
    next_attempt_at: datetime | None = Field(description="the retry this failure scheduled")


class DeliveryOut(BaseModel):
    id: int
    subscription_id: int
    event_id: int
    record_id: int
    event_type: str
    msg_id: str = Field(description="the webhook-id header; the same on retries and replays")
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_outcome: str | None
    reason: str | None = Field(description="why it failed: retries_exhausted or subscription_disabled")
    replay_of: int | None
    created_at: datetime
    finished_at: datetime | None
    log: list[AttemptOut] = Field(description="every attempt, oldest first")


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_before: int | None = Field(description="ask again with ?before=<this> for older deliveries")


class ReplayIn(BaseModel):
    since: datetime = Field(description="replay every event at or after this time (ISO 8601 with a timezone)")


class ReplayOut(BaseModel):
    deliveries: int = Field(description="how many deliveries were queued")
