"""The database: SQLAlchemy 2 typed models. The database is the source of truth; the broker only
carries ids.

Constraint names follow one naming convention so Alembic migrations are stable on SQLite and
PostgreSQL. Times are stored as UTC and always read back timezone-aware.

Tables: users, api_tokens, sessions (signed-in browsers), sign_in_failures (throttling), audit_log (who did what to which object, never field values),
counters (the revision and event sequences, see `intake.db.session.next_values`), originals
(one row per distinct uploaded file, by SHA-256), batches, batch_files (one row per uploaded file,
accepted, refused or a duplicate linked to the first upload), pages (one per page, with its
processing state), page_placements (where a supervisor placed a page the pipeline could not),
page_events (typed progress records, one per state change), form_instances
(pages assembled into one form), records (the versioned data of an instance), record_fields
(each value with its provenance, and room for a supervisor's correction), record_events (every
change to a record, written in the transaction that made it: its history and the outbox that
downstream deliveries are made from), field_corrections (every value a supervisor confirmed or
corrected, with the machine's reading and crop: the field's history and labelled examples),
review_claims (which supervisor has a record open, until when), webhook_subscriptions,
webhook_deliveries (the outbox: one row per event and subscription) and webhook_attempts (the
delivery log), families, family_members, family_keys (keyed hashes of what identifies a person)
and family_links (家庭歸戶).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use intake.db.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        Any: JSONType,
    }


class Role(StrEnum):
    CLERK = "clerk"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class PageState(StrEnum):
    """Where a page is. All but the first two are final: nothing runs for the page until it is
    re-run or placed (`PagePlacement`)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    READ = "read"
    UNIDENTIFIED = "unidentified"
    UNREGISTERED = "unregistered"
    UNREADABLE = "unreadable_file"
    BLANK = "blank"  # nothing printed or written on it
    FAILED = "failed"  # processing itself failed permanently (error_code says why)
    CANCELLED = "cancelled"
    SET_ASIDE = "set_aside"  # a supervisor set aside a page that is not part of a form


FINAL_PAGE_STATES = frozenset(
    {PageState.READ, PageState.UNIDENTIFIED, PageState.UNREGISTERED, PageState.UNREADABLE, PageState.BLANK,
     PageState.FAILED, PageState.CANCELLED, PageState.SET_ASIDE}
)
# Pages the pipeline could not place on a form: a supervisor places them (template, four
# points) or sets them aside.
UNPLACED_PAGE_STATES = frozenset({PageState.UNIDENTIFIED, PageState.UNREGISTERED, PageState.BLANK})


class PageStage(StrEnum):
    """What was last done to a page (`Page.stage`, and each `PageEvent`): finer than its state,
    for the batch page and the progress events. Compared by the batch service, processing and
    assembly, so one vocabulary for all of them."""

    QUEUED = "queued"  # uploaded, or sent to be read again
    REQUEUED = "requeued"  # sent again by the sweeper (its message was lost)
    READING = "reading"
    DONE = "done"  # read; its state says how (read, unidentified, ...)
    ASSEMBLED = "assembled"  # part of a form instance and its record
    FAILED = "failed"
    CANCELLED = "cancelled"


class BatchState(StrEnum):
    PROCESSING = "processing"
    DONE = "done"
    CANCELLED = "cancelled"


class FileState(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # same bytes as an earlier upload: linked to it, not processed again
    REFUSED = "refused"


class RecordState(StrEnum):
    ACCEPTED = "accepted"  # every field read with confidence and valid: straight through
    NEEDS_REVIEW = "needs_review"
    APPROVED = "approved"  # a supervisor checked what needed a person and approved it
    REJECTED = "rejected"  # a supervisor rejected it (with a reason): not a usable record
    SUPERSEDED = "superseded"  # its pages now belong to another record (after a re-run)


class FieldState(StrEnum):
    """A record field's status. The first two are the machine's (`FieldStatus`); `verified` is a
    person's: a supervisor confirmed or corrected the value, and a page read again keeps it."""

    ACCEPTED = "accepted"
    NEEDS_REVIEW = "needs_review"
    VERIFIED = "verified"


class CorrectionKind(StrEnum):
    CONFIRMED = "confirmed"  # the value shown was right: kept as it was
    CORRECTED = "corrected"  # the value was changed


class RecordEventKind(StrEnum):
    """What happened to a record (`RecordEvent.kind`)."""

    CREATED = "created"  # first assembled from its pages
    UPDATED = "updated"  # assembled again with other content (a page was read again)
    CORRECTED = "corrected"  # a supervisor corrected or confirmed field values
    APPROVED = "approved"
    REJECTED = "rejected"
    REOPENED = "reopened"  # an admin sent an approved or rejected record back to review
    SUPERSEDED = "superseded"


def _in(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in enum)})"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A token for a downstream system. Only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))  # shown to admins to tell tokens apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]  # set on use, at most once a minute
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # always set on new tokens (INTAKE_TOKEN_DEFAULT_DAYS)


class UserSession(Base):
    """A signed-in browser (server-side session). The cookie holds a random token; only its
    SHA-256 is stored. A session ends at `expires_at` (absolute), after `INTAKE_SESSION_IDLE_S`
    without a request (`last_seen_at`, written at most once a minute), or when revoked (sign-out,
    a password change, the user deactivated): `revoked_reason` says which."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class SignInFailure(Base):
    """A failed sign-in, kept for throttling (`INTAKE_SIGNIN_WINDOW_S`). Account and address are
    keyed hashes (HMAC with the secret key): a name typed by mistake, perhaps a password, and
    the client's address are never stored."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    account_key: Mapped[str] = mapped_column(String(64), index=True)
    address_key: Mapped[str] = mapped_column(String(64), index=True)


class AuditEntry(Base):
    """Who read or changed what. `detail` holds ids, codes and counts only, never field values."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # "user:3", "token:5", "system"
    action: Mapped[str] = mapped_column(String(64))  # "record.read", "batch.create", ...
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Counter(Base):
    """Named monotonically increasing sequences whose order is commit order (row-locked)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Original(Base):
    """One distinct uploaded file, stored unmodified under its SHA-256."""

    __tablename__ = "originals"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(8))  # pdf, tiff, png, jpeg
    pages: Mapped[int]
    storage_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # when retention deleted its stored file, previews and crops (intake.retention); rows are kept
    purged_at: Mapped[datetime | None] = mapped_column(default=None)


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (CheckConstraint(_in("status", BatchState), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=BatchState.PROCESSING, index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_by_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    files_count: Mapped[int] = mapped_column(default=0)
    pages_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]  # when the first of its pages started processing
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BatchFile(Base):
    __tablename__ = "batch_files"
    __table_args__ = (
        UniqueConstraint("batch_id", "position"),
        CheckConstraint(_in("status", FileState), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]  # 0-based order in the upload
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str | None] = mapped_column(String(8))
    pages: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("batch_files.id"))


class Page(Base):
    """One page of an accepted file, and where its processing stands (a typed progress record)."""

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint("batch_id", "position"),
        CheckConstraint(_in("status", PageState), name="status"),
        Index("ix_pages_status_updated_at", "status", "updated_at"),
        Index("ix_pages_status_batch_id", "status", "batch_id"),  # queued pages per batch (fair order)
        Index("ix_pages_batch_id_started_at", "batch_id", "started_at"),  # a batch's last claim (fair order)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("batch_files.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]  # 0-based order in the batch: file order, then page order
    index: Mapped[int]  # 1-based page number in its file
    status: Mapped[str] = mapped_column(String(16), default=PageState.QUEUED)
    stage: Mapped[str] = mapped_column(String(16), default=PageStage.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    template_id: Mapped[str | None] = mapped_column(String(64))
    template_version: Mapped[int | None]
    template_page: Mapped[int | None]
    pages_in_form: Mapped[int | None]
    alignment: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any] | None]  # PageResult.to_dict() of the last completed run
    preview_key: Mapped[str | None] = mapped_column(String(255))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("form_instances.id", ondelete="SET NULL"))
    needs_assembly: Mapped[bool] = mapped_column(Boolean, default=False)
    run_id: Mapped[str | None] = mapped_column(String(32))
    # the run reading the page holds it until `lease_until` and renews it while it reads; a lease
    # that lapsed means its worker died (`intake.batches.processing`, the sweeper)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PagePlacement(Base):
    """Where a supervisor said a page belongs, for a page the pipeline could not place: a template
    page, and optionally the four points (fractions of the page image's width and height) where the
    page shows the template's reference points (`intake.pipeline.place`). Processing reads a page
    that has one with it instead of searching (`intake.batches.processing`). One per page; placing
    the page again replaces it."""

    __tablename__ = "page_placements"

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), unique=True)
    template_id: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int]
    template_page: Mapped[int]  # 1-based
    points: Mapped[list[Any] | None]  # [[x, y] x 4] clockwise from the form's top-left, or null
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)


class PageEvent(Base):
    """A typed progress record: a page's state changed. `seq` orders events in commit order."""

    __tablename__ = "page_events"
    __table_args__ = (Index("ix_page_events_batch_id_seq", "batch_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(128))


class FormInstance(Base):
    """Consecutive pages of one form. `key` makes assembly idempotent: batch id and first page id."""

    __tablename__ = "form_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    errors: Mapped[list[Any]] = mapped_column(default=list)
    page_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Record(Base):
    """The data read from one form instance. Every change gets a new, larger `revision`."""

    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_status_urgent_created_at", "status", "urgent", "created_at"),  # the review queue
        # one template's records in revision order (the feed with ?template=, exports) without a sort
        Index("ix_records_template_id_revision", "template_id", "revision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("form_instances.id"), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    template_id: Mapped[str] = mapped_column(String(64), index=True)
    template_version: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    revision: Mapped[int] = mapped_column(BigInteger, unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))  # of the machine's reading (see assembly)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Review: what the template calls urgent (`urgent_when`), the reason codes of what needs a
    # person (" code code ", for the queue's filter), a straight-through record sampled for a
    # spot check (never shown as such to supervisors), and why a record was rejected.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    reason_codes: Mapped[str] = mapped_column(Text, default="")
    spot_check: Mapped[bool] = mapped_column(Boolean, default=False)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # an admin's legal hold: retention keeps the record's original, previews and crops
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RecordField(Base):
    """One value of a record with its provenance, and a supervisor's correction if any."""

    __tablename__ = "record_fields"
    __table_args__ = (UniqueConstraint("record_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[Any | None]
    text: Mapped[str | None] = mapped_column(Text)  # what the engine read, before normalising
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16))
    errors: Mapped[list[Any]] = mapped_column(default=list)
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id", ondelete="SET NULL"))
    template_page: Mapped[int] = mapped_column(Integer, default=0)  # 0-based page of the template
    box: Mapped[list[Any]] = mapped_column(default=list)  # mm on the template page
    engine: Mapped[str] = mapped_column(String(64), default="")
    crop_key: Mapped[str | None] = mapped_column(String(255))
    # The machine's reading as read (value, text, confidence, status and errors before the
    # record-level checks, engine, details: every engine's reading or the marks' fills).
    reading: Mapped[dict[str, Any] | None]
    # Corrections (review station): the machine's value is kept in original_value; a field a
    # person confirmed or corrected has status `verified` (see FieldState).
    original_value: Mapped[Any | None]
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    corrected_at: Mapped[datetime | None]


class RecordEvent(Base):
    """One change to a record, written by `intake.records.events.record_event` in the same
    transaction as the change: the record's revision history, and the outbox from which changes
    are delivered downstream (nothing is sent for a change that was rolled back). `detail` holds
    ids, codes, counts and field paths only, never values."""

    __tablename__ = "record_events"
    __table_args__ = (CheckConstraint(_in("kind", RecordEventKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(BigInteger, index=True)  # the record's revision after the change
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # the record's status after the change
    actor: Mapped[str] = mapped_column(String(64))  # "user:3", "token:5", "system"
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FieldCorrection(Base):
    """A supervisor confirmed or corrected one field: who, when, from what, to what, with the
    machine's reading and crop at that moment. The field's history, and a labelled example for
    calibration (`intake review export`). Holds values: personal data, like record_fields."""

    __tablename__ = "field_corrections"
    __table_args__ = (CheckConstraint(_in("kind", CorrectionKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    template_id: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    from_value: Mapped[Any | None]  # the value before this change
    to_value: Mapped[Any | None]
    machine_value: Mapped[Any | None]
    machine_status: Mapped[str] = mapped_column(String(16))  # the machine's own status for the field
    reading: Mapped[dict[str, Any] | None]
    crop_key: Mapped[str | None] = mapped_column(String(255))
    spot_check: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int] = mapped_column(BigInteger)  # the record's revision this change made
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ReviewClaim(Base):
    """A supervisor has a record open: others skip it until `expires_at` (renewed while working,
    deleted on leaving, ignored once expired)."""

    __tablename__ = "review_claims"

    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
# ---------------------------------------------------------------- downstream: webhooks
class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
    SUCCEEDED = "succeeded"  # the receiver answered 2xx
    FAILED = "failed"  # given up: retries ran out, or the subscription was disabled or deleted (reason)


class WebhookSubscription(Base):
    """A downstream receiver of signed webhooks (Standard Webhooks), managed by admins.

    `secrets` holds the signing secrets, newest first, each ``{"secret": "whsec_...", "created_at",
    "expires_at"}``: after a rotation the previous secret keeps signing (a second signature in the
    ``webhook-signature`` header) until it expires. `template_id` None means every template; empty
    `statuses` every status. `include_data`: the payload carries the record's data (personal data),
    not only ids and the revision."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    template_id: Mapped[str | None] = mapped_column(String(64))
    statuses: Mapped[list[Any]] = mapped_column(default=list)
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    include_data: Mapped[bool] = mapped_column(Boolean, default=False)
    secrets: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failure_run: Mapped[int] = mapped_column(default=0)  # failed attempts since the last success
    failing_since: Mapped[datetime | None]  # first failed attempt of that run
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One message to one subscription about one record event: the outbox row, written in the
    transaction of the change (or by a replay). `msg_id` is the ``webhook-id`` header: the same
    for every attempt and for replays of the same event to the same subscription, so a receiver
    can drop duplicates."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DeliveryState), name="status"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
                                                 index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("record_events.id", ondelete="CASCADE"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    msg_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]  # an attempt is under way until then
    last_outcome: Mapped[str | None] = mapped_column(String(64))  # "http_500", "timeout", ...
    reason: Mapped[str | None] = mapped_column(String(64))  # why it failed for good
    replay_of_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """The delivery log: one row per try, with what came back (status code or an error code;
    never the receiver's response body)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]  # 1 for the first try
    at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int] = mapped_column(default=0)
    status_code: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(64))  # "ok", "http_500", "timeout", "connection_error"
    next_attempt_at: Mapped[datetime | None]  # the retry this failure scheduled, if any


# ---------------------------------------------------------------- downstream: families (家庭歸戶)
class Family(Base):
    """Records that concern the same child or household (see `intake.families`)."""

    __tablename__ = "families"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FamilyMember(Base):
    """Which family a record belongs to (a record with no link to another has no row)."""

    __tablename__ = "family_members"

    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"), index=True)


class FamilyKey(Base):
    """A keyed hash (HMAC-SHA256 with the secret key) of something that identifies a person in a
    record: a national ID, or a name with a date of birth. Never the value itself."""

    __tablename__ = "family_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "national_id" | "person"
    key_hash: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(128))  # where in the record, e.g. household_members[2].national_id


class FamilyLink(Base):
    """Two records linked, with why (the field paths and kinds that matched) and how strongly."""

    __tablename__ = "family_links"
    __table_args__ = (UniqueConstraint("record_a_id", "record_b_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_a_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)  # smaller id
    record_b_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    strength: Mapped[str] = mapped_column(String(8))  # strong | medium | weak
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
