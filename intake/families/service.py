"""Keys, links and families (see `intake.families`)."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from typing import Any

from sqlalchemy import delete, or_, select, text
from sqlalchemy.orm import Session

from intake.db.models import (
    Family,
    FamilyKey,
    FamilyLink,
    FamilyMember,
    Record,
    RecordState,
    utcnow,
)
from intake.db.session import session_settings
from intake.errors import NotFound
from intake.forms.model import Template
from intake.forms.registry import Registry
from intake.values import normalize_text

EXCLUDED = (RecordState.REJECTED, RecordState.SUPERSEDED)
_LOCK_KEY = 0x14FA111E5  # PostgreSQL advisory lock: one relink at a time


def _hash(secret: str, kind: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def person_slots(t: Template) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Where a template names people: national ID fields (paths), (name, birth date) field pairs,
    and tables' (table, name column, birth date column)."""
    ids: list[str] = []
    pairs: list[tuple[str, str]] = []
    tables: list[tuple[str, str, str]] = []
    fields = {f.name: f for _, f in t.fields()}
    for name, f in fields.items():
        if f.type == "national_id":
            ids.append(name)
        elif f.type == "name" and name.endswith("_name"):
            birth = fields.get(name[: -len("_name")] + "_birth_date")
            if birth is not None and birth.type == "date":
                pairs.append((name, birth.name))
        elif f.type == "table":
            ids += [f"{name}[].{c.name}" for c in f.columns if c.type == "national_id"]
            names = [c.name for c in f.columns if c.type == "name"]
            births = [c.name for c in f.columns if c.type == "date" and "birth" in c.name]
            if names and births:
                tables.append((name, names[0], births[0]))
    return ids, pairs, tables


def record_keys(t: Template, data: dict[str, Any], secret: str) -> list[tuple[str, str, str]]:
    """(kind, key hash, path) for every person the record names by ID or by name and birth date."""
    ids, pairs, tables = person_slots(t)
    out: set[tuple[str, str, str]] = set()
    for path in ids:
        if "[]." in path:
            table, col = path.split("[].")
            for i, row in enumerate(data.get(table) or []):
                if isinstance(row, dict) and row.get(col):
                    out.add(("national_id", _hash(secret, "nid", str(row[col]).upper()), f"{table}[{i}].{col}"))
        elif data.get(path):
            out.add(("national_id", _hash(secret, "nid", str(data[path]).upper()), path))
    for name_f, birth_f in pairs:
        if data.get(name_f) and data.get(birth_f):
            out.add(("person", _hash(secret, "person", f"{normalize_text(str(data[name_f]))}|{data[birth_f]}"), name_f))
    for table, name_c, birth_c in tables:
        for i, row in enumerate(data.get(table) or []):
            if isinstance(row, dict) and row.get(name_c) and row.get(birth_c):
                value = f"{normalize_text(str(row[name_c]))}|{row[birth_c]}"
                out.add(("person", _hash(secret, "person", value), f"{table}[{i}].{name_c}"))
    return sorted(out)


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def strength(reasons: list[dict[str, str]]) -> str:
    if any(r["kind"] == "national_id" for r in reasons):
        return "strong"
    return "medium" if len(reasons) >= 2 else "weak"


def relink(session: Session, record: Record, registry: Registry | None = None) -> int | None:
    """Recompute `record`'s keys, links and family (see `intake.families`); its family id."""
    settings = session_settings(session)
    if registry is None:
        from intake.batches.processing import registry_for

        registry = registry_for(settings)
    _lock(session)
    session.flush()
    session.execute(delete(FamilyKey).where(FamilyKey.record_id == record.id))
    old_links = list(session.scalars(select(FamilyLink).where(
        or_(FamilyLink.record_a_id == record.id, FamilyLink.record_b_id == record.id))))
    touched = {record.id} | {x for lk in old_links for x in (lk.record_a_id, lk.record_b_id)}
    for lk in old_links:
        session.delete(lk)
    keys: list[tuple[str, str, str]] = []
    if record.status not in [str(x) for x in EXCLUDED]:
        try:
            t = registry.get(record.template_id, record.template_version)
        except Exception:  # noqa: BLE001 - a template no longer loadable: the record links by nothing
            t = None
        if t is not None:
            keys = record_keys(t, record.data or {}, settings.secret_key)
    for kind, key_hash, path in keys:
        session.add(FamilyKey(record_id=record.id, kind=kind, key_hash=key_hash, path=path))
    session.flush()
    if keys:
        mine = {h: (k, p) for k, h, p in keys}
        reasons: dict[int, list[dict[str, str]]] = {}
        for other in session.scalars(select(FamilyKey).where(FamilyKey.key_hash.in_(list(mine)),
                                                             FamilyKey.record_id != record.id)):
            kind, path = mine[other.key_hash]
            reasons.setdefault(other.record_id, []).append({"kind": kind, "this": path, "other": other.path})
        for other_id, rs in reasons.items():
            a, b = sorted((record.id, other_id))
            rs = [{"kind": r["kind"], "a": r["this"] if a == record.id else r["other"],
                   "b": r["other"] if a == record.id else r["this"]} for r in rs]
            rs.sort(key=lambda r: (r["kind"], r["a"], r["b"]))
            session.add(FamilyLink(record_a_id=a, record_b_id=b, strength=strength(rs), reasons=rs,
                                   created_at=utcnow()))
            touched.add(other_id)
        session.flush()
    return _regroup(session, touched).get(record.id)


def _neighbours(session: Session, rid: int) -> set[int]:
    rows = session.execute(select(FamilyLink.record_a_id, FamilyLink.record_b_id).where(
        or_(FamilyLink.record_a_id == rid, FamilyLink.record_b_id == rid))).all()
    return {x for a, b in rows for x in (a, b)} - {rid}


def _regroup(session: Session, touched: set[int]) -> dict[int, int]:
    """Give every group of linked records around `touched` one family; records left alone none."""
    members = dict(session.execute(select(FamilyMember.record_id, FamilyMember.family_id)
                                   .where(FamilyMember.record_id.in_(touched))).all())
    old_families = set(members.values())
    if old_families:  # everyone in the families concerned takes part (a split needs them all)
        touched = touched | set(session.scalars(select(FamilyMember.record_id)
                                                .where(FamilyMember.family_id.in_(old_families))))
        members = dict(session.execute(select(FamilyMember.record_id, FamilyMember.family_id)
                                       .where(FamilyMember.record_id.in_(touched))).all())
    seen: set[int] = set()
    groups: list[set[int]] = []
    for start in sorted(touched):
        if start in seen:
            continue
        group, todo = set(), [start]
        while todo:
            n = todo.pop()
            if n in group:
                continue
            group.add(n)
            todo += list(_neighbours(session, n) - group)
        seen |= group
        groups.append(group)
    for g in groups:  # members may be outside `touched` (a record linked to a touched one)
        for rid, fid in session.execute(select(FamilyMember.record_id, FamilyMember.family_id)
                                        .where(FamilyMember.record_id.in_(g - set(members)))).all():
            members[rid] = fid
    result: dict[int, int] = {}
    used: set[int] = set()
    now = utcnow()
    for g in sorted(groups, key=len, reverse=True):
        if len(g) < 2:
            rid = next(iter(g))
            if rid in members:
                session.execute(delete(FamilyMember).where(FamilyMember.record_id == rid))
            continue
        votes = Counter(members[r] for r in g if r in members and members[r] not in used)
        fid = min(votes, key=lambda f: (-votes[f], f)) if votes else None
        if fid is None:
            fam = Family(created_at=now, updated_at=now)
            session.add(fam)
            session.flush()
            fid = fam.id
        else:
            fam = session.get(Family, fid)
            assert fam is not None
            fam.updated_at = now
        used.add(fid)
        for rid in g:
            if members.get(rid) != fid:
                session.merge(FamilyMember(record_id=rid, family_id=fid))
            result[rid] = fid
    session.flush()
    for fid in old_families - used:  # families whose records all went elsewhere
        if session.scalar(select(FamilyMember.record_id).where(FamilyMember.family_id == fid).limit(1)) is None:
            session.execute(delete(Family).where(Family.id == fid))
    return result


def family_of(session: Session, record_id: int) -> int | None:
    return session.scalar(select(FamilyMember.family_id).where(FamilyMember.record_id == record_id))


def family_out(session: Session, family_id: int, registry: Registry) -> dict[str, Any]:
    """A family's records in time order (the form's report date, else when it was read) and the
    links between them with their reasons and strength."""
    from intake.stats.service import spec_for

    fam = session.get(Family, family_id)
    if fam is None:
        raise NotFound(f"there is no family {family_id}")
    ids = list(session.scalars(select(FamilyMember.record_id).where(FamilyMember.family_id == family_id)))
    recs = list(session.scalars(select(Record).where(Record.id.in_(ids)))) if ids else []
    items = []
    for r in recs:
        date = None
        try:
            spec = spec_for(registry.get(r.template_id, r.template_version))
            date = (r.data or {}).get(spec.month) if spec.month else None
        except Exception:  # noqa: BLE001 - an unknown template: no report date
            date = None
        items.append({"id": r.id, "template": r.template_id, "template_version": r.template_version,
                      "status": r.status, "revision": r.revision, "report_date": date, "created_at": r.created_at,
                      "url": f"/api/v1/records/{r.id}"})
    items.sort(key=lambda i: (i["report_date"] or i["created_at"].date().isoformat(), i["created_at"], i["id"]))
    links = list(session.scalars(select(FamilyLink).where(FamilyLink.record_a_id.in_(ids))
                                 .order_by(FamilyLink.record_a_id, FamilyLink.record_b_id))) if ids else []
    return {"id": fam.id, "created_at": fam.created_at, "updated_at": fam.updated_at, "records": items,
            "links": [{"record_a": lk.record_a_id, "record_b": lk.record_b_id, "strength": lk.strength,
                       "reasons": lk.reasons} for lk in links]}


def rebuild(session: Session, registry: Registry) -> int:
    """Recompute every record's keys, links and family (after INTAKE_SECRET_KEY changed)."""
    session.execute(delete(FamilyLink))
    session.execute(delete(FamilyKey))
    session.execute(delete(FamilyMember))
    session.execute(delete(Family))
    n = 0
    for rec in session.scalars(select(Record).order_by(Record.id)).all():
        relink(session, rec, registry)
        n += 1
    return n
