"""The review station's service: the queue, claims, corrections, approval, history, statistics.

Every change to a record here happens in one transaction that (1) locks the record's batch row
and then the record row — the lock order assembly uses (batch, pages, revision counter), so a
page being read again and a correction never deadlock, and one of them waits for the other —
(2) checks the revision the supervisor saw (409 with the record as it is now, nothing written),
(3) changes the fields and recomputes the record with `intake.records.state.refresh` (the
pipeline's own checks), (4) takes a new revision late, and writes the record event (with its
webhook deliveries: the outbox) and the audit entry, (5) recomputes the record's family
(`intake.families.service.relink`, last: its lock comes after the revision counter, as in
assembly). So the change feed and the webhooks carry every correction, approval and rejection,
with who made it, and a corrected ID joins or leaves a family at once.

Claims: opening a record claims it for ``review_claim_s`` seconds (renewed by every write and by
the page while it is open, released on leaving or approving). A live claim of another user makes
writes answer 409 ``record_claimed``; an expired one is ignored, so a supervisor who walks away
blocks nobody for long. Tokens with ``records:review`` may write but never hold claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.auth.service import Principal
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.db.models import (
    Batch,
    CorrectionKind,
    FieldCorrection,
    FieldState,
    Record,
    RecordEvent,
    RecordEventKind,
    RecordField,
    RecordState,
    ReviewClaim,
    User,
    utcnow,
)
from intake.db.session import get_db, next_values
from intake.errors import (
    Conflict,
    InvalidRequest,
    InvalidValue,
    NotFound,
    RecordClaimed,
    ReviewIncomplete,
    StaleRevision,
)
from intake.families.service import relink
from intake.forms.model import TEXT_TYPES, Field, Template
from intake.records.events import record_event
from intake.records.service import record_out
from intake.records.state import VERIFY, machine_state, refresh, same_value
from intake.review import schemas as sc
from intake.review.reasons import reason_words
from intake.values import normalize, normalize_checkbox, validate

API = "/api/v1"
REVIEWABLE = (RecordState.NEEDS_REVIEW,)


# ---------------------------------------------------------------- values
def parse_value(f: Field, path: str, raw: Any) -> Any:
    """A supervisor's value for field `f`, normalised and validated by the pipeline's own code
    (`intake.values.normalize` and `validate`); InvalidValue with the validator's code otherwise."""

    def bad(code: str, en: str) -> InvalidValue:
        zh = reason_words(code)[0]
        return InvalidValue(f"{path}: {en}", code=code, extra={"field": path, "detail_zh": zh})

    if isinstance(raw, str):
        raw = raw.strip()
    if raw in (None, "") and f.type not in ("checkbox", "signature", "choice"):
        return None
    if f.type in ("checkbox", "signature"):
        if isinstance(raw, bool) or raw is None:
            return bool(raw)
        try:
            return normalize_checkbox(str(raw))
        except ValueError:
            raise bad(f"{f.type}.type", "expected true or false") from None
    if f.type == "choice":
        allowed = [o.value for o in f.options]
        if f.multiple:
            items = raw if isinstance(raw, list) else ([] if raw in (None, "") else str(raw).split(","))
            items = [str(i).strip() for i in items if str(i).strip()]
            unknown = [i for i in items if i not in allowed]
            if unknown:
                raise bad("choice.unknown", f"{unknown[0]!r} is not an option ({', '.join(allowed)})")
            return [v for v in allowed if v in items]
        if raw in (None, ""):
            return None
        if not isinstance(raw, str) or raw not in allowed:
            raise bad("choice.unknown", f"{raw!r} is not an option ({', '.join(allowed)})")
        return raw
    if f.type not in TEXT_TYPES:
        raise bad("invalid_value", f"a {f.type} field cannot be corrected here")
    if f.type == "number" and isinstance(raw, int | float) and not isinstance(raw, bool):
        value: Any = raw
    else:
        value, problems = normalize(f.type, str(raw))
        if problems:
            raise bad(problems[0].code, problems[0].message)
    problems = validate(f.type, value)
    if problems:
        raise bad(problems[0].code, problems[0].message)
    if f.max_length and isinstance(value, str) and len(value) > f.max_length:
        raise bad("text.too_long", f"at most {f.max_length} characters")
    return value


# ---------------------------------------------------------------- claims
def _user_names(s: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return dict(s.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}


def live_claim(s: Session, record_id: int, now: datetime | None = None) -> ReviewClaim | None:
    c = s.get(ReviewClaim, record_id)
    return c if c is not None and c.expires_at > (now or utcnow()) else None


def _mine(c: ReviewClaim | None, principal: Principal) -> bool:
    return c is not None and principal.kind == "user" and c.user_id == principal.id


def _refuse_if_claimed(s: Session, rec: Record, principal: Principal, now: datetime) -> None:
    c = live_claim(s, rec.id, now)
    if c is not None and not _mine(c, principal):
        name = _user_names(s, {c.user_id}).get(c.user_id, f"user {c.user_id}")
        raise RecordClaimed(f"{name} has record {rec.id} open until {c.expires_at:%H:%M:%S} UTC; take another one",
                            extra={"claimed_by": name, "until": c.expires_at.isoformat()})


def _hold(s: Session, rec: Record, principal: Principal, settings: Settings, now: datetime) -> ReviewClaim | None:
    """Claim or renew the record for a user (tokens hold no claims)."""
    if principal.kind != "user":
        return None
    c = s.get(ReviewClaim, rec.id)
    until = now + timedelta(seconds=settings.review_claim_s)
    if c is None:
        c = ReviewClaim(record_id=rec.id, user_id=principal.id, claimed_at=now, expires_at=until)
        s.add(c)
    else:
        if c.user_id != principal.id or c.expires_at <= now:
            c.claimed_at = now
        c.user_id, c.expires_at = principal.id, until
    return c


def _lock(s: Session, record_id: int) -> Record:
    """The record, locked after its batch (the lock order of assembly)."""
    rec = s.get(Record, record_id)
    if rec is None:
        raise NotFound(f"there is no record {record_id}")
    s.get(Batch, rec.batch_id, with_for_update=True)
    rec = s.get(Record, record_id, with_for_update=True, populate_existing=True)
    assert rec is not None
    return rec


def claim_out(s: Session, c: ReviewClaim) -> sc.ClaimOut:
    return sc.ClaimOut(record_id=c.record_id, user_id=c.user_id,
                       user=_user_names(s, {c.user_id}).get(c.user_id, ""), claimed_at=c.claimed_at,
                       expires_at=c.expires_at)


def claim(settings: Settings, record_id: int, principal: Principal) -> sc.ClaimOut:
    """Claim (or renew) a record for this supervisor; 409 if another one has it open."""
    if principal.kind != "user":
        raise InvalidRequest("only a signed-in supervisor can claim a record")
    with get_db(settings).session() as s:
        rec = s.get(Record, record_id, with_for_update=True)
        if rec is None:
            raise NotFound(f"there is no record {record_id}")
        if rec.status not in REVIEWABLE:
            raise Conflict(f"record {rec.id} is {rec.status}, not waiting for review", code="not_in_review")
        now = utcnow()
        _refuse_if_claimed(s, rec, principal, now)
        c = _hold(s, rec, principal, settings, now)
        assert c is not None
        audit(s, principal.actor, "review.claim", "record", rec.id)
        s.flush()
        return claim_out(s, c)


def release(settings: Settings, record_id: int, principal: Principal) -> bool:
    """Give a record back (only one's own claim). True if a claim was released."""
    with get_db(settings).session() as s:
        c = s.get(ReviewClaim, record_id)
        if c is None or not (principal.kind == "user" and c.user_id == principal.id):
            return False
        s.delete(c)
        audit(s, principal.actor, "review.release", "record", record_id)
        return True


# ---------------------------------------------------------------- writes
def _fields(s: Session, rec: Record) -> list[RecordField]:
    return list(s.scalars(select(RecordField).where(RecordField.record_id == rec.id).order_by(RecordField.id)))


def _template(settings: Settings, rec: Record) -> Template:
    return registry_for(settings).get(rec.template_id, rec.template_version)


def _check_revision(s: Session, rec: Record, revision: int) -> None:
    if rec.revision != revision:
        current = record_out(s, rec).model_dump(mode="json")
        raise StaleRevision(f"record {rec.id} changed since you saw it (revision {revision}, now {rec.revision}); "
                            "nothing was written: look at it again", extra={"record": current})


def _bump(s: Session, rec: Record, now: datetime) -> None:
    rec.revision = next_values(s, "revision")[0]
    rec.updated_at = now


@dataclass
class Corrected:
    record: Any  # RecordOut
    kind: str
    revision: int


def correct_field(settings: Settings, record_id: int, path: str, raw: Any, revision: int,
                  principal: Principal, *, hold: bool = True) -> Corrected:
    """Confirm or correct one field (see the module docstring). Confirming (the value shown sent
    back) makes the field verified, like a correction. `hold`: claim the record for the writer
    (a record being worked on); group verification touches many records and claims none."""
    with get_db(settings).session() as s:
        rec = _lock(s, record_id)
        now = utcnow()
        _refuse_if_claimed(s, rec, principal, now)
        _check_revision(s, rec, revision)
        if rec.status not in REVIEWABLE:
            raise Conflict(f"record {rec.id} is {rec.status}: only records waiting for review can be corrected"
                           + ("; an admin can reopen it" if rec.status != RecordState.SUPERSEDED else ""),
                           code="not_in_review")
        fields = _fields(s, rec)
        f = next((x for x in fields if x.path == path), None)
        if f is None:
            raise NotFound(f"record {rec.id} has no field {path!r}")
        t = _template(settings, rec)
        value = parse_value(t.field_at(path), path, raw)
        before = f.value
        kind = CorrectionKind.CONFIRMED if same_value(before, value) else CorrectionKind.CORRECTED
        machine_status, _ = machine_state(f)
        if f.corrected_at is None:
            f.original_value = f.value  # the machine's value
        f.value = value
        f.corrected_by_id = principal.id if principal.kind == "user" else None
        f.corrected_at = now
        refresh(rec, t, fields)
        _bump(s, rec, now)
        s.add(FieldCorrection(
            record_id=rec.id, path=path, type=f.type, template_id=rec.template_id,
            template_version=rec.template_version, kind=str(kind), from_value=before, to_value=value,
            machine_value=f.original_value, machine_status=machine_status, reading=f.reading, crop_key=f.crop_key,
            spot_check=bool(rec.spot_check), revision=rec.revision,
            user_id=principal.id if principal.kind == "user" else None, actor=principal.actor, at=now))
        record_event(s, rec, RecordEventKind.CORRECTED, principal.actor, fields=[path], code=str(kind))
        relink(s, rec, registry_for(settings))  # a corrected ID or name may join or leave a family
        audit(s, principal.actor, "record.correct", "record", rec.id, field=path, kind=str(kind),
              revision=rec.revision)
        if hold:
            _hold(s, rec, principal, settings, now)
        s.flush()
        return Corrected(record_out(s, rec), str(kind), rec.revision)


def approve(settings: Settings, record_id: int, revision: int, principal: Principal) -> Any:
    """Approve a record whose every field is accepted or verified and whose rules hold."""
    with get_db(settings).session() as s:
        rec = _lock(s, record_id)
        now = utcnow()
        _refuse_if_claimed(s, rec, principal, now)
        _check_revision(s, rec, revision)
        if rec.status not in REVIEWABLE:
            raise Conflict(f"record {rec.id} is {rec.status}, not waiting for review", code="not_in_review")
        fields = _fields(s, rec)
        left = [f.path for f in fields if f.status == FieldState.NEEDS_REVIEW]
        errors = [str(e.get("code")) for e in rec.errors or []]
        if left or errors:
            parts = []
            if left:
                parts.append(f"{len(left)} field(s) still need a person ({', '.join(left[:5])}"
                             + (", ..." if len(left) > 5 else "") + ")")
            if errors:
                parts.append(f"the record still fails {', '.join(sorted(set(errors)))}")
            raise ReviewIncomplete(f"record {rec.id} cannot be approved yet: " + "; ".join(parts),
                                   extra={"fields": left, "errors": errors})
        rec.status = RecordState.APPROVED
        _bump(s, rec, now)
        record_event(s, rec, RecordEventKind.APPROVED, principal.actor,
                     verified=sum(f.status == FieldState.VERIFIED for f in fields))
        relink(s, rec, registry_for(settings))
        audit(s, principal.actor, "record.approve", "record", rec.id, revision=rec.revision)
        if (c := s.get(ReviewClaim, rec.id)) is not None:
            s.delete(c)
        s.flush()
        return record_out(s, rec)


def reject(settings: Settings, record_id: int, revision: int, reason: str, principal: Principal) -> Any:
    """Reject a record (not a usable notification: a test page, a duplicate...) with a reason."""
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidRequest("say why the record is rejected")
    with get_db(settings).session() as s:
        rec = _lock(s, record_id)
        now = utcnow()
        _refuse_if_claimed(s, rec, principal, now)
        _check_revision(s, rec, revision)
        if rec.status not in (RecordState.NEEDS_REVIEW, RecordState.ACCEPTED):
            raise Conflict(f"record {rec.id} is {rec.status}: only records waiting for review or accepted can be "
                           "rejected", code="not_in_review")
        rec.status, rec.rejection_reason = RecordState.REJECTED, reason
        _bump(s, rec, now)
        record_event(s, rec, RecordEventKind.REJECTED, principal.actor)
        relink(s, rec, registry_for(settings))  # a rejected record leaves its family
        audit(s, principal.actor, "record.reject", "record", rec.id, revision=rec.revision, reason_length=len(reason))
        if (c := s.get(ReviewClaim, rec.id)) is not None:
            s.delete(c)
        s.flush()
        return record_out(s, rec)


def reopen(settings: Settings, record_id: int, revision: int, principal: Principal) -> Any:
    """(Admins) send an approved, rejected or accepted record back to review; values a person
    verified stay verified."""
    with get_db(settings).session() as s:
        rec = _lock(s, record_id)
        now = utcnow()
        _check_revision(s, rec, revision)
        if rec.status not in (RecordState.APPROVED, RecordState.REJECTED, RecordState.ACCEPTED):
            raise Conflict(f"record {rec.id} is {rec.status}: only approved, rejected or accepted records can be "
                           "reopened", code="not_reopenable")
        fields = _fields(s, rec)
        refresh(rec, _template(settings, rec), fields)
        rec.status, rec.rejection_reason = RecordState.NEEDS_REVIEW, None
        _bump(s, rec, now)
        record_event(s, rec, RecordEventKind.REOPENED, principal.actor)
        relink(s, rec, registry_for(settings))
        audit(s, principal.actor, "record.reopen", "record", rec.id, revision=rec.revision)
        s.flush()
        return record_out(s, rec)


# ---------------------------------------------------------------- history
def _readings(reading: dict[str, Any] | None) -> list[dict[str, Any]]:
    details = (reading or {}).get("details") or {}
    if "attempts" in details:
        return list(details["attempts"])
    if "fills" in details:
        return [{"option": k, "fill": v, "state": (details.get("states") or {}).get(k)}
                for k, v in details["fills"].items()]
    if "fill" in details:
        return [{"fill": details["fill"], "state": details.get("state")}]
    if "ink_mm2" in details:
        return [{"ink_mm2": details["ink_mm2"]}]
    return []


def history(s: Session, record_id: int) -> sc.HistoryOut:
    rec = s.get(Record, record_id)
    if rec is None:
        raise NotFound(f"there is no record {record_id}")
    events = list(s.scalars(select(RecordEvent).where(RecordEvent.record_id == rec.id)
                            .order_by(RecordEvent.revision, RecordEvent.id)))
    fields = _fields(s, rec)
    corrections = list(s.scalars(select(FieldCorrection).where(FieldCorrection.record_id == rec.id)
                                 .order_by(FieldCorrection.at, FieldCorrection.id)))
    actor_ids = {int(e.actor.split(":")[1]) for e in events if e.actor.startswith("user:")}
    names = _user_names(s, actor_ids | {c.user_id for c in corrections})
    by_path: dict[str, list[sc.CorrectionOut]] = {}
    for c in corrections:
        by_path.setdefault(c.path, []).append(sc.CorrectionOut(
            kind=c.kind, from_value=c.from_value, to_value=c.to_value,
            by=names.get(c.user_id, c.actor) if c.user_id else c.actor, user_id=c.user_id, at=c.at,
            revision=c.revision))
    out_fields = {}
    for f in fields:
        r = f.reading
        machine = None
        if r is not None:
            machine = sc.MachineReading(value=r.get("value"), text=r.get("text"), confidence=round(float(r.get("confidence") or 0), 4),
                                        engine=r.get("engine") or "", status=r.get("status") or "",
                                        errors=list(r.get("errors") or []), readings=_readings(r))
        out_fields[f.path] = sc.FieldHistory(path=f.path, type=f.type, value=f.value, status=f.status,
                                             machine=machine, corrections=by_path.get(f.path, []))
    revisions = [sc.RevisionOut(revision=e.revision, kind=e.kind, status=e.status, actor=e.actor,
                                by=names.get(int(e.actor.split(":")[1])) if e.actor.startswith("user:") else None,
                                at=e.at, detail=e.detail) for e in events]
    return sc.HistoryOut(record_id=rec.id, revision=rec.revision, status=rec.status,
                         rejection_reason=rec.rejection_reason, revisions=revisions, fields=out_fields)


# ---------------------------------------------------------------- queue
@dataclass(frozen=True)
class Filters:
    batch: int | None = None
    template: str | None = None
    reason: str | None = None

    def apply(self, q):  # noqa: ANN001, ANN201 - a Select
        q = q.where(Record.status == RecordState.NEEDS_REVIEW)
        if self.batch is not None:
            q = q.where(Record.batch_id == self.batch)
        if self.template:
            q = q.where(Record.template_id == self.template)
        if self.reason:
            q = q.where(Record.reason_codes.contains(f" {self.reason} "))
        return q

    def query(self) -> dict[str, str]:
        return {k: str(v) for k, v in (("batch", self.batch), ("template", self.template), ("reason", self.reason))
                if v not in (None, "")}


ORDER = (Record.urgent.desc(), Record.created_at, Record.id)


def _claims(s: Session, ids: list[int], now: datetime) -> dict[int, ReviewClaim]:
    if not ids:
        return {}
    return {c.record_id: c for c in s.scalars(select(ReviewClaim).where(ReviewClaim.record_id.in_(ids),
                                                                         ReviewClaim.expires_at > now))}


def to_check_counts(s: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    return dict(s.execute(select(RecordField.record_id, func.count()).where(
        RecordField.record_id.in_(ids), RecordField.status == FieldState.NEEDS_REVIEW)
        .group_by(RecordField.record_id)).all())


def queue(s: Session, principal: Principal, filters: Filters, limit: int = 50, offset: int = 0) -> sc.QueueOut:
    """Records waiting for review: urgent first (the template says what is urgent), then oldest."""
    now = utcnow()
    rows = s.execute(filters.apply(select(Record.id, Record.template_id, Record.batch_id, Record.urgent,
                                          Record.reason_codes))).all()
    all_ids = [r.id for r in rows]
    claims = _claims(s, all_ids, now)
    by_template: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    by_batch: dict[str, int] = {}
    for r in rows:
        by_template[r.template_id] = by_template.get(r.template_id, 0) + 1
        by_batch[str(r.batch_id)] = by_batch.get(str(r.batch_id), 0) + 1
        for code in r.reason_codes.split():
            by_reason[code] = by_reason.get(code, 0) + 1
    counts = sc.QueueCounts(total=len(rows), urgent=sum(bool(r.urgent) for r in rows),
                            claimed=sum(1 for c in claims.values() if not _mine(c, principal)),
                            by_template=dict(sorted(by_template.items())),
                            by_reason=dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
                            by_batch=dict(sorted(by_batch.items(), key=lambda kv: int(kv[0]))))
    page = list(s.scalars(filters.apply(select(Record)).order_by(*ORDER).offset(offset).limit(limit)))
    ids = [r.id for r in page]
    n_check = to_check_counts(s, ids)
    names = _user_names(s, {c.user_id for c in claims.values()})
    items = []
    for r in page:
        c = claims.get(r.id)
        mine = _mine(c, principal)
        items.append(sc.QueueItem(
            id=r.id, revision=r.revision, template=r.template_id, template_version=r.template_version,
            batch_id=r.batch_id, created_at=r.created_at, urgent=bool(r.urgent), reasons=r.reason_codes.split(),
            to_check=n_check.get(r.id, 0), claimed_by=names.get(c.user_id) if c and not mine else None,
            claimed_until=c.expires_at if c and not mine else None, mine=mine, url=f"{API}/records/{r.id}"))
    more = offset + len(page) < len(rows)
    return sc.QueueOut(items=items, counts=counts, next_offset=offset + len(page) if more else None)


def next_record(settings: Settings, principal: Principal, filters: Filters, skip: tuple[int, ...] = ()) -> int | None:
    """Claim the first record in queue order that nobody else has open (and not in `skip`);
    its id, or None when there is none."""
    for _ in range(20):  # another supervisor may take a candidate first: try the next one
        with get_db(settings).read_session() as s:
            now = utcnow()
            q = filters.apply(select(Record.id)).order_by(*ORDER)
            if skip:
                q = q.where(Record.id.not_in(skip))
            others = select(ReviewClaim.record_id).where(ReviewClaim.expires_at > now)
            if principal.kind == "user":
                others = others.where(ReviewClaim.user_id != principal.id)
            candidate = s.scalar(q.where(Record.id.not_in(others)).limit(1))
        if candidate is None:
            return None
        try:
            claim(settings, candidate, principal)
            return candidate
        except (RecordClaimed, Conflict):  # taken, or decided, meanwhile
            skip = (*skip, candidate)
    return None


# ---------------------------------------------------------------- group verification
def group_cells(s: Session, settings: Settings, principal: Principal, *, template: str | None, field: str | None,
                ftype: str | None, batch: int | None, limit: int = 60) -> sc.GroupView:
    """The fields that need a person, of one field (by name; table cells by column) or one type,
    across the queued records of a template and/or batch that nobody else has open."""
    if not (field or ftype):
        raise InvalidRequest("choose a field or a type to verify as a group")
    if field and not template:
        raise InvalidRequest("a field is chosen within a template: give template too")
    now = utcnow()
    recs = list(s.scalars(Filters(batch=batch, template=template).apply(select(Record)).order_by(*ORDER)))
    claims = _claims(s, [r.id for r in recs], now)
    recs = [r for r in recs if r.id not in claims or _mine(claims[r.id], principal)]
    by_id = {r.id: r for r in recs}
    q = select(RecordField).where(RecordField.record_id.in_(list(by_id)), RecordField.status == FieldState.NEEDS_REVIEW)
    if ftype:
        q = q.where(RecordField.type == ftype)
    cells = []
    registry = registry_for(settings)
    used: set[int] = set()
    for f in s.scalars(q.order_by(RecordField.record_id, RecordField.id)):
        if field and f.path != field and _column(f.path) != field:
            continue
        rec = by_id[f.record_id]
        t = registry.get(rec.template_id, rec.template_version)
        fd = t.field_at(f.path)
        cells.append(sc.GroupCell(
            record_id=rec.id, revision=rec.revision, path=f.path, type=f.type, label_zh=fd.label.zh or "",
            label_en=fd.label.en or "", value=f.value, reasons=list(f.errors),
            crop_url=f"{API}/records/{rec.id}/fields/{f.path}/crop" if f.crop_key else None,
            options=[{"value": o.value, "zh": o.label.zh or "", "en": o.label.en or ""} for o in fd.options],
            multiple=fd.multiple))
        used.add(rec.id)
        if len(cells) >= limit:
            break
    return sc.GroupView(template=template, field=field, type=ftype, cells=cells, records=len(used))


def _column(path: str) -> str | None:
    """"household_members[2].name" -> "household_members.name" (a table column across rows)."""
    if "[" not in path:
        return None
    table, _, rest = path.partition("[")
    return f"{table}.{rest.split('].', 1)[1]}" if "]." in rest else None


def apply_group(settings: Settings, items: list[sc.GroupItemIn], principal: Principal, *,
                hold: bool = False) -> sc.GroupOut:
    """Each item as its own correction (its own transaction: one stale record does not undo the
    others). Several items of one record chain: after the first, the revision it left is used."""
    results = []
    latest: dict[int, int] = {}
    for it in items:
        revision = latest.get(it.record_id, it.revision)
        try:
            done = correct_field(settings, it.record_id, it.path, it.value, revision, principal, hold=hold)
        except (InvalidValue, Conflict, NotFound, InvalidRequest) as exc:
            results.append(sc.GroupResult(record_id=it.record_id, path=it.path, ok=False, status=exc.http_status,
                                          error=exc.code, detail=exc.message))
            continue
        latest[it.record_id] = done.revision
        results.append(sc.GroupResult(record_id=it.record_id, path=it.path, ok=True, kind=done.kind,
                                      revision=done.revision, status=200))
    return sc.GroupOut(results=results, confirmed=sum(r.kind == "confirmed" for r in results),
                       corrected=sum(r.kind == "corrected" for r in results), failed=sum(not r.ok for r in results))


# ---------------------------------------------------------------- spot checks
def wilson(wrong: int, n: int, z: float = 1.959964) -> tuple[float | None, float | None]:
    """The Wilson score interval (95% by default) of a proportion wrong/n; (None, None) for n=0."""
    if n == 0:
        return None, None
    p = wrong / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _stat(ftype: str, n: int, wrong: int) -> sc.TypeStat:
    low, high = wilson(wrong, n)
    return sc.TypeStat(type=ftype, checked=n, wrong=wrong, rate=(wrong / n) if n else None, low=low, high=high)


def spot_check_stats(s: Session, settings: Settings, template: str | None = None) -> sc.StatsOut:
    """The measured silent-error rate per field type: among the fields the machine accepted in
    approved spot-check records, how many the supervisor changed. Records still in the queue are
    not counted (their checks are not finished)."""
    q = select(Record.id).where(Record.spot_check.is_(True))
    if template:
        q = q.where(Record.template_id == template)
    approved = list(s.scalars(q.where(Record.status == RecordState.APPROVED)))
    waiting = s.scalar(select(func.count()).select_from(Record).where(
        Record.spot_check.is_(True), Record.status == RecordState.NEEDS_REVIEW,
        *([Record.template_id == template] if template else [])))
    per: dict[str, list[int]] = {}
    for f in s.scalars(select(RecordField).where(RecordField.record_id.in_(approved))) if approved else []:
        status, _ = machine_state(f)
        if status != FieldState.ACCEPTED:
            continue
        machine = f.original_value if f.corrected_at is not None else f.value
        n_wrong = per.setdefault(f.type, [0, 0])
        n_wrong[0] += 1
        n_wrong[1] += 0 if same_value(machine, f.value) else 1
    types = [_stat(t, n, w) for t, (n, w) in sorted(per.items())]
    total = _stat("all", sum(v[0] for v in per.values()), sum(v[1] for v in per.values()))
    return sc.StatsOut(spot_check_share=settings.review_spot_check_share, records_checked=len(approved),
                       records_waiting=waiting or 0, types=types, total=total)


def labelled_examples(s: Session) -> list[dict[str, Any]]:
    """One example per field a person checked in an approved record: the field's crop key, the
    machine's reading (each engine's text and confidence, the agreement), the machine's value and
    the final value. What `intake review export` writes and `bench/accuracy --from-examples`
    calibrates from."""
    rows = s.execute(select(FieldCorrection, Record.status, RecordField.value, RecordField.reading,
                            RecordField.crop_key)
                     .join(Record, Record.id == FieldCorrection.record_id)
                     .join(RecordField, (RecordField.record_id == FieldCorrection.record_id)
                           & (RecordField.path == FieldCorrection.path))
                     .where(Record.status == RecordState.APPROVED)
                     .order_by(FieldCorrection.record_id, FieldCorrection.path, FieldCorrection.id)).all()
    latest: dict[tuple[int, str], Any] = {}
    for c, _status, value, reading, crop in rows:
        latest[(c.record_id, c.path)] = (c, value, reading, crop)
    out = []
    for (record_id, path), (c, value, reading, crop) in latest.items():
        details = (reading or {}).get("details") or {}
        out.append({"record_id": record_id, "path": path, "type": c.type, "template": c.template_id,
                    "version": c.template_version, "spot_check": c.spot_check, "machine_status": c.machine_status,
                    "machine_value": (reading or {}).get("value", c.machine_value), "final_value": value,
                    "correct": same_value((reading or {}).get("value", c.machine_value), value),
                    "engine_conf": details.get("engine_conf"), "agreement": details.get("agreement"),
                    "errors": list((reading or {}).get("errors") or []), "attempts": details.get("attempts"),
                    "marks": {k: details[k] for k in ("fill", "state", "fills", "states") if k in details} or None,
                    "crop_key": crop, "at": c.at.isoformat()})
    return out


__all__ = ["VERIFY", "Filters", "approve", "apply_group", "claim", "correct_field", "group_cells", "history",
           "labelled_examples", "next_record", "parse_value", "queue", "reject", "release", "reopen",
           "spot_check_stats", "wilson"]
