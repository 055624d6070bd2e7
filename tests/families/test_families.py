"""Families (家庭歸戶) on SQLite and PostgreSQL: links by national ID and by name and date of
birth with their reasons and strength, families that grow, split when a correction changes an
ID, and drop rejected records; who may see them."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from intake.api import create_app
from intake.config import Settings
from intake.db.models import AuditEntry, FamilyKey, Record, RecordEventKind
from intake.db.session import get_db
from intake.families.service import family_of, relink
from tests.conftest import PASSWORD, make_token, make_users, session_headers
from tests.factories import change, new_record

API = "/api/v1"
CHILD = "A123456789"
OTHER = "B223456781"
MOTHER = "F212345675"


def cp(child_id: str | None, date: str, **extra: object) -> dict:
    return {"child_name": "陳小華", "child_national_id": child_id, "child_birth_date": "2015-04-03",
            "report_date": date, "perpetrator_national_id": None, **extra}


def vf(members: list[tuple[str, str | None, str]], date: str) -> dict:
    return {"referral_date": date, "household_members": [
        {"name": n, "relation": None, "national_id": i, "birth_date": b} for n, i, b in members]}


def add(settings: Settings, template: str, data: dict, status: str = "accepted") -> int:
    with get_db(settings).session() as s:
        rec = new_record(s, template=template, status=status, data=data)
        relink(s, rec)
        return rec.id


def test_links_reasons_strength_and_family_growth(any_settings: Settings) -> None:
    s = any_settings
    a = add(s, "child_protection", cp(CHILD, "2025-03-01"))
    lone = add(s, "child_protection", cp(OTHER, "2025-01-01", child_name="林一"))
    b = add(s, "vulnerable_family", vf([("陳大明", MOTHER, "1985-01-02"), ("陳小華", CHILD, "2015-04-03")], "2025-02-01"))
    c = add(s, "vulnerable_family", vf([("陳大明", None, "1985-01-02"), ("陳小華", None, "2015-04-03")], "2025-05-01"))
    d = add(s, "domestic_violence", {"victim_name": "王美", "victim_national_id": MOTHER, "report_date": "2024-12-01"})
    with get_db(s).read_session() as session:
        fams = {r: family_of(session, r) for r in (a, b, c, d, lone)}
        # the raw IDs are never stored, only keyed hashes
        stored = [k.key_hash for k in session.scalars(select(FamilyKey))]
        assert CHILD not in "".join(stored) and all(len(h) == 64 for h in stored)
    assert fams[lone] is None
    assert len({fams[x] for x in (a, b, c, d)}) == 1 and fams[a] is not None
    with TestClient(create_app(s)) as client:
        make_users(s)
        r = client.post(f"{API}/auth/login", json={"name": "supervisor", "password": PASSWORD})
        sup = session_headers(r)
        client.cookies.clear()
        fam = client.get(f"{API}/families/{fams[a]}", headers=sup).json()
        assert [x["id"] for x in fam["records"]] == [d, b, a, c]  # by report date
        links = {(lk["record_a"], lk["record_b"]): lk for lk in fam["links"]}
        assert links[(a, b)]["strength"] == "strong"
        assert {"kind": "national_id", "a": "child_national_id", "b": "household_members[1].national_id"} in \
            links[(a, b)]["reasons"]
        assert links[(b, c)]["strength"] == "medium"  # the same two household members by name and birth
        assert links[(a, c)]["strength"] == "weak"  # the child by name and birth date
        assert links[(b, d)]["reasons"] == [{"kind": "national_id", "a": "household_members[0].national_id",
                                             "b": "victim_national_id"}]
        # a record's detail names its family, for those who may see families
        assert client.get(f"{API}/records/{a}", headers=sup).json()["family"] == {
            "id": fams[a], "url": f"/api/v1/families/{fams[a]}"}
        assert client.get(f"{API}/records/{lone}", headers=sup).json()["family"] is None
        assert client.get(f"{API}/records/{a}/family", headers=sup).json()["id"] == fams[a]
        assert client.get(f"{API}/records/{lone}/family", headers=sup).status_code == 404
        with get_db(s).read_session() as session:
            assert session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == "family.read")) == 2


def test_a_correction_that_changes_an_id_moves_the_record(any_settings: Settings) -> None:
    s = any_settings
    a = add(s, "child_protection", cp(CHILD, "2025-03-01"))
    b = add(s, "child_protection", cp(CHILD, "2025-04-01", child_name="陳小花", child_birth_date="2016-01-01"))
    c = add(s, "child_protection", cp(OTHER, "2025-05-01", child_name="林一", child_birth_date="2014-01-01"))
    with get_db(s).read_session() as session:
        first = family_of(session, a)
        assert first is not None and family_of(session, b) == first and family_of(session, c) is None
    # the review station corrects b's ID (misread): b leaves a's family and joins c
    with get_db(s).session() as session:
        rec = session.get(Record, b)
        assert rec is not None
        data = dict(rec.data) | {"child_national_id": OTHER}
        relink(session, change(session, b, RecordEventKind.CORRECTED, "needs_review", data=data))
    with get_db(s).read_session() as session:
        assert family_of(session, a) is None  # alone now: no family
        assert family_of(session, b) == family_of(session, c) is not None
    # rejected: it takes part in no family
    with get_db(s).session() as session:
        relink(session, change(session, c, RecordEventKind.REJECTED, "rejected"))
    with get_db(s).read_session() as session:
        assert family_of(session, b) is None and family_of(session, c) is None


def test_a_family_split_keeps_its_id_on_the_larger_part(any_settings: Settings) -> None:
    s = any_settings
    a = add(s, "child_protection", cp(CHILD, "2025-01-01"))
    b = add(s, "child_protection", cp(CHILD, "2025-02-01", child_name="甲", child_birth_date="2010-01-01",
                                      perpetrator_national_id=MOTHER))
    c = add(s, "domestic_violence", {"victim_national_id": MOTHER, "report_date": "2025-03-01"})
    d = add(s, "domestic_violence", {"victim_national_id": MOTHER, "report_date": "2025-04-01"})
    with get_db(s).read_session() as session:
        fid = family_of(session, a)
        assert {family_of(session, x) for x in (a, b, c, d)} == {fid}
    with get_db(s).session() as session:  # b's perpetrator ID was misread: the bridge goes
        rec = session.get(Record, b)
        assert rec is not None
        relink(session, change(session, b, RecordEventKind.CORRECTED, "needs_review",
                               data=dict(rec.data) | {"perpetrator_national_id": None}))
    with get_db(s).read_session() as session:
        left, right = {family_of(session, x) for x in (a, b)}, {family_of(session, x) for x in (c, d)}
    assert len(left) == len(right) == 1 and left != right and None not in left | right
    assert fid in left | right


def test_only_supervisors_and_families_read_tokens_see_families(settings: Settings) -> None:
    a = add(settings, "child_protection", cp(CHILD, "2025-03-01"))
    add(settings, "child_protection", cp(CHILD, "2025-04-01"))
    with get_db(settings).read_session() as session:
        fid = family_of(session, a)
    with TestClient(create_app(settings)) as client:
        make_users(settings)
        r = client.post(f"{API}/auth/login", json={"name": "clerk", "password": PASSWORD})
        clerk = session_headers(r)
        client.cookies.clear()
        reader = {"Authorization": f"Bearer {make_token(settings, 'records:read')}"}
        fam_reader = {"Authorization": f"Bearer {make_token(settings, 'records:read', 'families:read')}"}
        assert client.get(f"{API}/families/{fid}", headers=clerk).status_code == 403
        assert client.get(f"{API}/families/{fid}", headers=reader).status_code == 403
        assert client.get(f"{API}/families/{fid}", headers=fam_reader).status_code == 200
        assert client.get(f"{API}/records/{a}", headers=reader).json()["family"] is None
        assert client.get(f"{API}/records/{a}", headers=fam_reader).json()["family"]["id"] == fid
        assert client.get(f"{API}/families/99999", headers=fam_reader).status_code == 404

