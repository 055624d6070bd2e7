"""The review station's API on SQLite and PostgreSQL: corrections (normalised and validated by the
pipeline's code, 422 in words, 409 on a stale revision), cross-field rules, approval, rejection,
reopening, history, the change feed and the audit log, and who may do what."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from intake.db.models import AuditEntry, FieldCorrection, RecordEvent, ReviewClaim, utcnow
from intake.db.session import get_db
from tests.review.conftest import API, Env, doubt


def needing(env: Env, record_id: int) -> dict[str, dict]:
    return {p: f for p, f in env.get(record_id)["fields"].items() if f["status"] == "needs_review"}


def rows(env: Env, model, *where):  # noqa: ANN001, ANN201
    with get_db(env.settings).read_session() as s:
        return list(s.scalars(select(model).where(*where)))


def test_correct_and_confirm_fields_with_history_feed_and_audit(env: Env) -> None:
    rid = env.record(0)
    rec = env.get(rid)
    assert rec["status"] == "needs_review"
    todo = needing(env, rid)
    assert todo, "the seed-7 office form 1 has fields that need a person"
    rev0 = rec["revision"]

    # an ID with a wrong check digit: 422 with the validator's code, in English and Chinese
    good_id = rec["fields"]["child_national_id"]["value"]
    assert good_id
    wrong = good_id[:-1] + str((int(good_id[-1]) + 1) % 10)
    r = env.patch(rid, "child_national_id", wrong, rev0)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "national_id.checksum" and body["field"] == "child_national_id"
    assert "check digit" in body["detail"] and "檢查碼" in body["detail_zh"]
    assert env.get(rid)["revision"] == rev0  # nothing written

    # a date typed as on paper, ROC compact: normalised by the pipeline's code
    r = env.patch(rid, "child_birth_date", "1050302", rev0)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["fields"]["child_birth_date"]["value"] == "2016-03-02"
    assert after["fields"]["child_birth_date"]["status"] == "verified"
    rev1 = after["revision"]
    assert rev1 > rev0
    corrected = after["fields"]["child_birth_date"]["correction"]
    assert corrected["original_value"] == rec["fields"]["child_birth_date"]["value"]
    assert corrected["corrected_by"] == env.users["supervisor"]
    assert env.patch(rid, "child_birth_date", "113/2/30", rev1).json()["error"] == "date.invalid"

    # confirming a field that needs a person: the value shown, sent back, makes it verified
    path, f = next(iter(todo.items()))
    r = env.patch(rid, path, f["value"], rev1)
    assert r.status_code == 200, r.text
    assert r.json()["fields"][path]["status"] == "verified"
    rev2 = r.json()["revision"]

    # a stale revision: 409 with the record as it is now; nothing overwritten
    r = env.patch(rid, "child_birth_date", "1040101", rev1)
    assert r.status_code == 409 and r.json()["error"] == "stale_revision"
    assert r.json()["record"]["revision"] == rev2
    assert r.json()["record"]["fields"]["child_birth_date"]["value"] == "2016-03-02"

    # history: revisions from the record events, per field the machine's readings and each change
    h = env.client.get(f"{API}/records/{rid}/history", headers=env.headers["supervisor"]).json()
    assert [v["kind"] for v in h["revisions"]] == ["created", "corrected", "corrected"]
    assert [v["revision"] for v in h["revisions"]][-2:] == [rev1, rev2]
    assert h["revisions"][1]["by"] == "supervisor" and h["revisions"][1]["detail"]["fields"] == ["child_birth_date"]
    bd = h["fields"]["child_birth_date"]
    assert bd["machine"]["value"] == rec["fields"]["child_birth_date"]["value"]
    assert bd["machine"]["readings"] and {"engine", "text"} <= set(bd["machine"]["readings"][0])
    (c,) = bd["corrections"]
    assert (c["kind"], c["from"], c["to"], c["by"], c["revision"]) == (
        "corrected", rec["fields"]["child_birth_date"]["value"], "2016-03-02", "supervisor", rev1)
    assert h["fields"][path]["corrections"][0]["kind"] == "confirmed"
    if f["type"] in ("choice", "checkbox"):
        assert h["fields"][path]["machine"]["readings"][0].keys() >= {"fill", "state"}

    # the change feed carries the corrected record once, at its newest revision
    feed = env.client.get(f"{API}/records?after=", headers=env.headers["reader"]).json()
    mine = [i for i in feed["items"] if i["id"] == rid]
    assert [i["revision"] for i in mine] == [rev2] and mine[0]["data"]["child_birth_date"] == "2016-03-02"

    # audit: every write, ids and codes only (no values)
    entries = rows(env, AuditEntry, AuditEntry.action == "record.correct")
    assert len(entries) == 2 and all(e.actor == f"user:{env.users['supervisor']}" for e in entries)
    assert {e.detail["field"] for e in entries} == {"child_birth_date", path}
    assert "2016" not in str([e.detail for e in entries])
    events = rows(env, RecordEvent, RecordEvent.record_id == rid)
    assert [e.kind for e in sorted(events, key=lambda e: e.revision)] == ["created", "corrected", "corrected"]


def test_a_correction_can_break_and_fix_a_cross_field_rule(env: Env) -> None:
    rid = env.record(0)
    rec = env.get(rid)
    report = rec["fields"]["report_date"]["value"]
    assert report
    # the incident after the report: the rule fails on both dates and on the record
    r = env.patch(rid, "incident_date", "2099-01-01", rec["revision"])
    assert r.status_code == 200, r.text
    rec = r.json()
    assert "rule.not_after" in rec["fields"]["incident_date"]["errors"]
    assert rec["fields"]["incident_date"]["status"] == "needs_review"  # verified, but a rule fails on it
    assert "rule.not_after" in rec["fields"]["report_date"]["errors"]
    assert rec["fields"]["report_date"]["status"] == "needs_review"
    assert any(e["code"] == "rule.not_after" and set(e["fields"]) == {"incident_date", "report_date"}
               for e in rec["errors"])
    q = env.client.get(f"{API}/review/queue?reason=rule.not_after", headers=env.headers["supervisor"]).json()
    assert [i["id"] for i in q["items"]] == [rid]
    # fixing the report date instead clears the rule from both fields and the record
    r = env.patch(rid, "report_date", "2099-01-02", rec["revision"])
    rec = r.json()
    assert not any(e["code"] == "rule.not_after" for e in rec["errors"])
    assert rec["fields"]["incident_date"]["status"] == "verified" and rec["fields"]["incident_date"]["errors"] == []
    assert "rule.not_after" not in rec["fields"]["report_date"]["errors"]


def test_approve_only_when_nothing_is_left_then_reject_and_reopen(env: Env) -> None:
    rid = env.record(0)
    rec = env.get(rid)
    r = env.post(f"/records/{rid}/approve", revision=rec["revision"])
    assert r.status_code == 409 and r.json()["error"] == "review_incomplete"
    assert set(r.json()["fields"]) == set(needing(env, rid))
    # put each field that needs a person right, from the synthetic form's truth
    rev = rec["revision"]
    checked = list(needing(env, rid))
    for path in checked:
        r = env.patch(rid, path, env.truth(0, path), rev)
        assert r.status_code == 200, r.text
        rev = r.json()["revision"]
    r = env.post(f"/records/{rid}/approve", revision=rev)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "approved" and approved["revision"] > rev
    assert env.patch(rid, "child_name", "王小明", approved["revision"]).json()["error"] == "not_in_review"
    assert env.post(f"/records/{rid}/reject", revision=approved["revision"], reason="x").json()["error"] == \
        "not_in_review"
    assert env.post(f"/review/records/{rid}/claim").json()["error"] == "not_in_review"
    assert rows(env, ReviewClaim, ReviewClaim.record_id == rid) == []  # approving gave the claim back
    # reopening is for admins; what a person verified stays verified
    assert env.post(f"/records/{rid}/reopen", revision=approved["revision"]).status_code == 403
    r = env.post(f"/records/{rid}/reopen", who="admin", revision=approved["revision"])
    assert r.status_code == 200 and r.json()["status"] == "needs_review"
    reopened = r.json()
    assert checked and all(reopened["fields"][p]["status"] == "verified" for p in checked)
    # reject with a reason (kept on the record, in words; never in the audit log)
    r = env.post(f"/records/{rid}/reject", revision=reopened["revision"], reason="duplicate of an earlier report")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    h = env.client.get(f"{API}/records/{rid}/history", headers=env.headers["admin"]).json()
    assert h["rejection_reason"] == "duplicate of an earlier report"
    assert [v["kind"] for v in h["revisions"]][-3:] == ["approved", "reopened", "rejected"]
    assert [v["status"] for v in h["revisions"]][-3:] == ["approved", "needs_review", "rejected"]
    audit = rows(env, AuditEntry, AuditEntry.action == "record.reject")
    assert "duplicate" not in str(audit[0].detail)


def test_clerks_and_tokens_without_the_scope_get_403_on_every_write(env: Env) -> None:
    rid = env.record(0)
    rec = env.get(rid)
    rev = rec["revision"]
    writes = [
        ("PATCH", f"/records/{rid}/fields/child_name", {"value": "王小明", "revision": rev}),
        ("POST", f"/records/{rid}/approve", {"revision": rev}),
        ("POST", f"/records/{rid}/reject", {"revision": rev, "reason": "test"}),
        ("POST", f"/records/{rid}/reopen", {"revision": rev}),
        ("POST", f"/review/records/{rid}/claim", None),
        ("DELETE", f"/review/records/{rid}/claim", None),
        ("POST", "/review/next", None),
        ("POST", "/review/group", {"items": [{"record_id": rid, "path": "child_name", "value": "王小明",
                                               "revision": rev}]}),
    ]
    for who in ("clerk", "reader"):
        for method, url, body in writes:
            r = env.client.request(method, f"{API}{url}", json=body, headers=env.headers[who])
            assert r.status_code == 403, (who, method, url, r.text)
            assert r.json()["error"] == "forbidden"
        for url in ("/review/queue", "/review/group?type=checkbox", "/review/stats", "/review/pages/1/preview"):
            assert env.client.get(f"{API}{url}", headers=env.headers[who]).status_code == 403
    assert env.client.get(f"{API}/review/stats", headers=env.headers["supervisor"]).status_code == 403
    assert env.get(rid)["revision"] == rev  # nothing changed
    # a token given records:review may correct (it holds no claims)
    r = env.patch(rid, "child_name", env.get(rid)["fields"]["child_name"]["value"], rev, who="reviewer")
    assert r.status_code == 200, r.text
    (c,) = rows(env, FieldCorrection, FieldCorrection.record_id == rid)
    assert c.user_id is None and c.actor.startswith("token:")
    assert rows(env, ReviewClaim) == []


def test_two_supervisors_on_one_record(env: Env) -> None:
    rid = env.record(0)
    rec = env.get(rid)
    seen = rec["revision"]
    r = env.post(f"/review/records/{rid}/claim")
    assert r.status_code == 200 and r.json()["user"] == "supervisor"
    assert [a.actor for a in rows(env, AuditEntry, AuditEntry.action == "review.claim")] == [
        f"user:{env.users['supervisor']}"]
    # the second supervisor is told the record is open, and nothing is written
    r = env.patch(rid, "child_name", "王大明", seen, who="supervisor2")
    assert r.status_code == 409 and r.json()["error"] == "record_claimed"
    assert r.json()["claimed_by"] == "supervisor"
    assert env.post(f"/review/records/{rid}/claim", who="supervisor2").json()["error"] == "record_claimed"
    # "next" skips it
    assert env.post("/review/next", who="supervisor2").status_code == 204
    # the claim expires on its own: then the second supervisor takes it and corrects
    with get_db(env.settings).session() as s:
        s.execute(update(ReviewClaim).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = env.post("/review/next", who="supervisor2")
    assert r.status_code == 200 and r.json()["record_id"] == rid and r.json()["user"] == "supervisor2"
    r = env.patch(rid, "child_name", "王大明", seen, who="supervisor2")
    assert r.status_code == 200, r.text
    # the first supervisor's correction made on what they saw is stale: told, nothing overwritten
    r = env.client.delete(f"{API}/review/records/{rid}/claim", headers=env.headers["supervisor2"])
    assert r.status_code == 204
    r = env.patch(rid, "child_name", "王小華", seen)
    assert r.status_code == 409 and r.json()["error"] == "stale_revision"
    assert r.json()["record"]["fields"]["child_name"]["value"] == "王大明"
    assert env.get(rid)["fields"]["child_name"]["value"] == "王大明"


def test_queue_urgent_first_then_oldest_with_filters_and_counts(env: Env) -> None:
    first = env.record(0)
    second = env.record(1, change=doubt("child_name"))  # form 1 reads straight through: one field doubted
    accepted = env.record(2)
    q = env.client.get(f"{API}/review/queue", headers=env.headers["supervisor"]).json()
    ids = [i["id"] for i in q["items"]]
    assert accepted not in ids and ids == [first, second]  # oldest first
    assert q["counts"]["total"] == 2 and q["counts"]["urgent"] == 0
    assert q["counts"]["by_template"] == {"child_protection": 2}
    assert all(i["to_check"] >= 1 and i["reasons"] for i in q["items"])
    # marking the urgent box (a correction) makes the record urgent: it goes first
    rec = env.get(second)
    r = env.patch(second, "urgent", True, rec["revision"])
    assert r.status_code == 200, r.text
    q = env.client.get(f"{API}/review/queue", headers=env.headers["supervisor"]).json()
    assert [i["id"] for i in q["items"]] == [second, first]
    assert q["items"][0]["urgent"] and q["counts"]["urgent"] == 1
    assert q["items"][0]["mine"]  # the correction claimed it
    # filters
    batch_of_first = q["items"][1]["batch_id"]
    q = env.client.get(f"{API}/review/queue?batch={batch_of_first}", headers=env.headers["supervisor"]).json()
    assert [i["id"] for i in q["items"]] == [first]
    assert env.client.get(f"{API}/review/queue?template=domestic_violence",
                          headers=env.headers["supervisor"]).json()["counts"]["total"] == 0
    some_reason = next(iter(env.client.get(f"{API}/review/queue", headers=env.headers["supervisor"])
                            .json()["counts"]["by_reason"]))
    q = env.client.get(f"{API}/review/queue?reason={some_reason}", headers=env.headers["supervisor"]).json()
    assert q["items"] and all(some_reason in i["reasons"] for i in q["items"])
    assert env.client.get(f"{API}/review/queue?reason=DROP%20TABLE", headers=env.headers["supervisor"]).status_code == 422
    # another supervisor sees who has it open and is given the other one by "next"
    q = env.client.get(f"{API}/review/queue", headers=env.headers["supervisor2"]).json()
    assert q["items"][0]["claimed_by"] == "supervisor" and q["counts"]["claimed"] == 1
    r = env.post("/review/next", who="supervisor2")
    assert r.json()["record_id"] == first
    assert env.post("/review/next", who="supervisor2").status_code == 200  # its own claim: renewed
    assert env.client.post(f"{API}/review/next?skip={first}", headers=env.headers["supervisor2"]).status_code == 204


def test_group_verification_applies_each_item_alone(env: Env) -> None:
    a = env.record(0)
    b = env.record(1)
    # the first field type these two records have cells of (choices, until the tick-box reader
    # of issue 13 accepted the heavy crosses it used to send to review)
    for ftype in ("choice", "checkbox", "text", "name"):
        view = env.client.get(f"{API}/review/group?type={ftype}", headers=env.headers["supervisor"]).json()
        cells = view["cells"]
        if cells:
            break
    assert cells and all(c["type"] == ftype for c in cells)
    assert {c["record_id"] for c in cells} <= {a, b}
    # confirm all of them as shown, except one put right from the truth
    items = [{"record_id": c["record_id"], "path": c["path"], "value": c["value"], "revision": c["revision"]}
             for c in cells]
    items[0]["value"] = env.truth(0 if cells[0]["record_id"] == a else 1, cells[0]["path"])
    stale = dict(items[0], revision=1)  # the same record with an old revision after the first: chained
    r = env.post("/review/group", items=[*items, stale])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["failed"] == 0 and out["confirmed"] + out["corrected"] == len(items) + 1
    for c in cells:
        assert env.get(c["record_id"])["fields"][c["path"]]["status"] == "verified"
    # a group item for a record with a bad value fails alone
    rec = env.get(a)
    r = env.post("/review/group", items=[
        {"record_id": a, "path": "child_national_id", "value": "A123456780", "revision": rec["revision"]},
        {"record_id": a, "path": "child_name", "value": rec["fields"]["child_name"]["value"],
         "revision": rec["revision"]}])
    res = r.json()["results"]
    assert (res[0]["ok"], res[0]["status"], res[0]["error"]) == (False, 422, "national_id.checksum")
    assert res[1]["ok"] and res[1]["kind"] == "confirmed"


def test_the_openapi_document_describes_every_review_endpoint(env: Env) -> None:
    doc = env.client.get(f"{API}/openapi.json").json()
    paths = doc["paths"]
    wanted = {("/api/v1/review/queue", "get"), ("/api/v1/review/next", "post"),
              ("/api/v1/review/records/{record_id}/claim", "post"), ("/api/v1/review/records/{record_id}/claim", "delete"),
              ("/api/v1/records/{record_id}/fields/{path}", "patch"), ("/api/v1/records/{record_id}/approve", "post"),
              ("/api/v1/records/{record_id}/reject", "post"), ("/api/v1/records/{record_id}/reopen", "post"),
              ("/api/v1/records/{record_id}/history", "get"), ("/api/v1/review/group", "get"),
              ("/api/v1/review/group", "post"), ("/api/v1/review/stats", "get")}
    for path, method in wanted:
        op = paths[path][method]
        assert len(op.get("description", "")) > 40, (path, method)
    assert "records:review" in str(paths["/api/v1/records/{record_id}/fields/{path}"]["patch"]["responses"]["403"])
    assert "stale_revision" in str(paths["/api/v1/records/{record_id}/fields/{path}"]["patch"]["responses"]["409"])
    assert "records:review" in env.client.get(f"{API}/auth/me", headers=env.headers["supervisor"]).json()["scopes"]


def test_responses_are_compressed_but_never_the_event_stream(env: Env) -> None:
    rid = env.record(0)
    batch_id = env.get(rid)["batch_id"]
    gz = {"Accept-Encoding": "gzip"}
    r = env.client.get(f"{API}/records/{rid}", headers={**env.headers["supervisor"], **gz})
    assert r.headers.get("content-encoding") == "gzip"
    r = env.client.get(f"/review/records/{rid}", headers={**env.headers["supervisor"], **gz})
    assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip"
    with env.client.stream("GET", f"{API}/batches/{batch_id}/events", headers={**env.headers["supervisor"], **gz}) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in s.headers
        assert "event: progress" in "".join(s.iter_text())


def test_a_corrected_id_joins_and_leaves_a_family_at_once(env: Env) -> None:
    """Families are recomputed by the review service itself: a supervisor's correction of a
    national ID links the record to another notification about the same child, and undoing it
    unlinks it, each in the transaction of the correction."""
    target, rid = env.record(2), env.record(0)
    other_id = env.get(target)["fields"]["child_national_id"]["value"]
    rec = env.get(rid)
    own_id = rec["fields"]["child_national_id"]["value"]
    assert other_id and own_id and other_id != own_id

    def family_members(record_id: int) -> set[int]:
        r = env.client.get(f"{API}/records/{record_id}/family", headers=env.headers["supervisor"])
        return set() if r.status_code == 404 else {x["id"] for x in r.json()["records"]}

    assert rid not in family_members(target)
    r = env.patch(rid, "child_national_id", other_id, rec["revision"])
    assert r.status_code == 200, r.text
    assert {rid, target} <= family_members(target)
    r = env.patch(rid, "child_national_id", own_id, r.json()["revision"])
    assert r.status_code == 200, r.text
    assert rid not in family_members(target)
