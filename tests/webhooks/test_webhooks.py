"""Webhooks end to end on embedded defaults (the API's webhook thread), on SQLite and PostgreSQL:
a real receiver on 127.0.0.1 verifies every message with the `standardwebhooks` package.

Changes are written the way the services write them (`tests.factories`): a record's new status
and revision and its `record_event` in one transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from intake import dispatch
from intake.api import create_app
from intake.batches import inprocess
from intake.config import Settings
from intake.db.models import (
    AuditEntry,
    RecordEventKind,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from intake.db.session import get_db
from intake.webhooks import sender
from tests.conftest import PASSWORD, make_users, session_headers
from tests.factories import change, new_record
from tests.webhooks.receiver import Receiver

API = "/api/v1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def whs(request: pytest.FixtureRequest) -> Settings:
    """Settings with quick retries, and the embedded dispatcher made from them."""
    base = request.getfixturevalue("settings" if request.param == "sqlite" else "pg_settings")
    s = base.model_copy(update={"webhook_backoff_s": 0.2, "webhook_max_attempts": 4, "webhook_poll_s": 0.5,
                                "webhook_timeout_s": 5.0})
    dispatch.install(s, inprocess.ThreadDispatcher(s))
    return s


@pytest.fixture
def admin(whs: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    make_users(whs)
    with TestClient(create_app(whs)) as c:
        r = c.post(f"{API}/auth/login", json={"name": "admin", "password": PASSWORD})
        headers = session_headers(r)
        c.cookies.clear()
        yield c, headers


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def subscribe(admin: tuple[TestClient, dict[str, str]], receiver: Receiver, **extra) -> dict:  # noqa: ANN003
    client, headers = admin
    r = client.post(f"{API}/webhooks", headers=headers, json={"name": "county", "url": receiver.url, **extra})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["secret"].startswith("whsec_") and body["active"]
    receiver.secrets.append(body["secret"])
    return body


def test_a_change_is_delivered_signed_and_verified(whs: Settings, admin, receiver: Receiver) -> None:
    sub = subscribe(admin, receiver)
    with get_db(whs).session() as s:
        rec = new_record(s, data={"family_address": "臺北市大安區", "referrer_name": "王小明"})
        rec_id, rev = rec.id, rec.revision
    got = receiver.wait_for(1)[0]
    payload = got.verified[sub["secret"]]
    assert not isinstance(payload, Exception), payload
    assert payload["type"] == "record.created"
    assert payload["data"] == {"event_id": payload["data"]["event_id"], "record_id": rec_id, "revision": rev,
                               "status": "accepted", "template": "vulnerable_family", "template_version": 1,
                               "url": f"/api/v1/records/{rec_id}"}
    assert "王小明".encode() not in got.body  # ids and the revision only
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.headers["webhook-id"] == f"msg_{sub['id']}_{payload['data']['event_id']}"
    # a tampered body does not verify
    from standardwebhooks import Webhook, WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(got.body.replace(b"accepted", b"approved"), got.headers)
    # the review station's kinds map to their event types
    with get_db(whs).session() as s:
        change(s, rec_id, RecordEventKind.CORRECTED, "needs_review")
    with get_db(whs).session() as s:
        change(s, rec_id, RecordEventKind.APPROVED, "approved")
    with get_db(whs).session() as s:
        change(s, rec_id, RecordEventKind.REJECTED, "rejected")
    types = [r.verified[sub["secret"]]["type"] for r in receiver.wait_for(4)]
    assert sorted(types) == sorted(["record.created", "record.corrected", "record.approved", "record.rejected"])
    assert wait_until(lambda: _count(whs, WebhookDelivery.status == "succeeded") == 4)


def _count(s: Settings, *where) -> int:  # noqa: ANN002
    with get_db(s).read_session() as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0


def wait_until(cond, timeout: float = 10.0) -> bool:  # noqa: ANN001
    """The receiver answers before the sender writes the attempt down: wait for that too."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def test_include_data_and_filters(whs: Settings, admin, receiver: Receiver) -> None:
    sub = subscribe(admin, receiver, template="child_protection", statuses=["approved"],
                    event_types=["record.approved"], include_data=True)
    with get_db(whs).session() as s:
        vf = new_record(s, template="vulnerable_family")
        cp = new_record(s, template="child_protection", status="needs_review", data={"child_name": "陳小華"})
    with get_db(whs).session() as s:
        change(s, vf.id, RecordEventKind.APPROVED, "approved")  # other template
        change(s, cp.id, RecordEventKind.CORRECTED, "needs_review")  # other event type
    with get_db(whs).session() as s:
        change(s, cp.id, RecordEventKind.APPROVED, "approved")
    got = receiver.wait_for(1)
    time.sleep(1.0)
    assert len(receiver.received) == 1
    payload = got[0].verified[sub["secret"]]
    assert payload["type"] == "record.approved" and payload["data"]["record_id"] == cp.id
    assert payload["data"]["record"]["data"] == {"child_name": "陳小華"}


def test_a_failing_receiver_sees_the_documented_retries_and_the_log_shows_each(whs: Settings, admin) -> None:
    receiver = Receiver(fail_first=3)
    try:
        sub = subscribe(admin, receiver)
        with get_db(whs).session() as s:
            new_record(s)
        got = receiver.wait_for(4, timeout=30)
        assert [r.status for r in got] == [500, 500, 500, 200]
        assert len({r.headers["webhook-id"] for r in got}) == 1  # one message, four tries
        for r in got:  # every try is signed afresh and verifies
            assert not isinstance(r.verified[sub["secret"]], Exception)
        gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
        for n, gap in enumerate(gaps, 1):  # backoff_s * 4**(n-1) times a jitter in [0.5, 1]
            assert 0.5 * 0.2 * 4 ** (n - 1) - 0.05 <= gap <= 0.2 * 4 ** (n - 1) + 1.0, gaps
        client, headers = admin
        assert wait_until(lambda: _count(whs, WebhookDelivery.status == "succeeded") == 1)
        deliveries = client.get(f"{API}/webhooks/{sub['id']}/deliveries", headers=headers).json()["items"]
        assert len(deliveries) == 1
        d = deliveries[0]
        assert d["status"] == "succeeded" and d["attempts"] == 4
        assert [a["outcome"] for a in d["log"]] == ["http_500", "http_500", "http_500", "ok"]
        assert [a["status_code"] for a in d["log"]] == [500, 500, 500, 200]
        assert all(a["next_attempt_at"] for a in d["log"][:3]) and d["log"][3]["next_attempt_at"] is None
        assert client.get(f"{API}/webhooks/deliveries/{d['id']}", headers=headers).json()["log"] == d["log"]
        assert client.get(f"{API}/webhooks/{sub['id']}", headers=headers).json()["failure_run"] == 0
    finally:
        receiver.close()


def test_a_duplicate_message_never_makes_a_retry_early(whs: Settings, admin) -> None:
    """A delivery's message can come twice (the first message and the poller both find a new
    delivery; a stale retry timer): the copy that comes before the next attempt is due does
    nothing, so the receiver still sees the documented backoff."""
    receiver = Receiver(fail_first=2)
    try:
        subscribe(admin, receiver)
        with get_db(whs).session() as s:
            new_record(s)
        receiver.wait_for(1)
        with get_db(whs).read_session() as s:
            d_id = s.scalar(select(WebhookDelivery.id))
        for _ in range(3):  # the thread takes these after it has written attempt 1 down
            dispatch.enqueue_webhook(d_id, settings=whs)
        got = receiver.wait_for(3, timeout=30)
        assert [r.status for r in got] == [500, 500, 200]
        assert wait_until(lambda: _count(whs, WebhookDelivery.status == "succeeded") == 1)
        with get_db(whs).read_session() as s:
            tries = list(s.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == d_id)
                                   .order_by(WebhookAttempt.number)))
        assert [t.number for t in tries] == [1, 2, 3]
        for before, after in zip(tries, tries[1:], strict=False):
            assert after.at >= before.next_attempt_at - timedelta(seconds=0.05), (before.next_attempt_at, after.at)
        assert got[1].at - got[0].at >= 0.5 * 0.2 - 0.05
    finally:
        receiver.close()


def test_retries_run_out(whs: Settings, admin) -> None:
    receiver = Receiver(fail_first=100, status=503)
    try:
        sub = subscribe(admin, receiver)
        with get_db(whs).session() as s:
            new_record(s)
        receiver.wait_for(4, timeout=30)
        assert wait_until(lambda: _count(whs, WebhookDelivery.status == "failed") == 1)
        time.sleep(1.0)
        assert len(receiver.received) == 4  # INTAKE_WEBHOOK_MAX_ATTEMPTS
        with get_db(whs).read_session() as s:
            d = s.scalar(select(WebhookDelivery))
            assert d is not None and (d.status, d.reason, d.last_outcome) == ("failed", "retries_exhausted", "http_503")
            sub_row = s.get(WebhookSubscription, sub["id"])
            assert sub_row is not None and sub_row.active and sub_row.failure_run == 4
    finally:
        receiver.close()


def test_no_webhook_for_a_rolled_back_change(whs: Settings, admin, receiver: Receiver) -> None:
    subscribe(admin, receiver)
    with get_db(whs).session() as s:
        rec_id = new_record(s, event=False).id

    class Boom(Exception):
        pass

    with pytest.raises(Boom), get_db(whs).session() as s:
        change(s, rec_id, RecordEventKind.APPROVED, "approved")
        s.flush()  # the event and its delivery rows exist in the transaction...
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
        raise Boom  # ...and are rolled back with the change
    time.sleep(1.5)  # the webhook thread and its poller had time to send anything there was
    assert receiver.received == []
    with get_db(whs).read_session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert sender.due(whs) == []
    with get_db(whs).session() as s:  # and a committed change still goes out
        change(s, rec_id, RecordEventKind.APPROVED, "approved")
    assert len(receiver.wait_for(1)) == 1


def test_replay_one_delivery_and_everything_since(whs: Settings, admin, receiver: Receiver) -> None:
    client, headers = admin
    sub = subscribe(admin, receiver)
    with get_db(whs).session() as s:
        early = new_record(s).id
    receiver.wait_for(1)
    mid = utcnow()
    time.sleep(0.05)
    with get_db(whs).session() as s:
        later = [new_record(s).id for _ in range(2)]
    receiver.wait_for(3)
    first = client.get(f"{API}/webhooks/{sub['id']}/deliveries", headers=headers).json()["items"][-1]
    assert first["record_id"] == early
    r = client.post(f"{API}/webhooks/deliveries/{first['id']}/replay", headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["replay_of"] == first["id"] and r.json()["msg_id"] == first["msg_id"]
    got = receiver.wait_for(4)
    assert got[3].headers["webhook-id"] == first["msg_id"]
    assert got[3].verified[sub["secret"]]["data"]["record_id"] == early
    r = client.post(f"{API}/webhooks/{sub['id']}/replay", headers=headers, json={"since": mid.isoformat()})
    assert r.status_code == 202 and r.json() == {"deliveries": 2}
    got = receiver.wait_for(6)
    assert sorted(g.verified[sub["secret"]]["data"]["record_id"] for g in got[4:]) == sorted(later)
    # replays are admin work, audited
    with get_db(whs).read_session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "webhook.replay")) == 2
    naive = client.post(f"{API}/webhooks/{sub['id']}/replay", headers=headers, json={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["error"] == "invalid_request"


def test_a_subscription_is_disabled_after_a_run_of_failures_with_the_reason(whs: Settings, admin) -> None:
    s2 = whs.model_copy(update={"webhook_disable_after_failures": 3, "webhook_disable_after_s": 0.0,
                                "webhook_max_attempts": 2})
    dispatch.dispatcher_for(whs).stop()
    dispatch.install(s2, inprocess.ThreadDispatcher(s2))
    client, headers = admin
    receiver = Receiver(fail_first=1000)
    try:
        sub = subscribe(admin, receiver)
        with get_db(s2).session() as s:
            new_record(s)
            new_record(s)
            new_record(s)
        receiver.wait_for(3, timeout=30)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            body = client.get(f"{API}/webhooks/{sub['id']}", headers=headers).json()
            if not body["active"]:
                break
            time.sleep(0.1)
        assert not body["active"] and body["disabled_at"]
        assert body["disabled_reason"].startswith("3 failed attempts in a row since ")
        assert "(last: http_500)" in body["disabled_reason"]
        time.sleep(1.0)
        n = len(receiver.received)
        assert n == 3  # nothing more is sent
        items = client.get(f"{API}/webhooks/{sub['id']}/deliveries", headers=headers).json()["items"]
        assert {(d["status"], d["reason"]) for d in items} <= {("failed", "subscription_disabled"),
                                                              ("failed", "retries_exhausted")}
        assert any(d["reason"] == "subscription_disabled" for d in items)
        # a replay is refused while disabled; enabled again, it sends
        r = client.post(f"{API}/webhooks/deliveries/{items[0]['id']}/replay", headers=headers)
        assert r.status_code == 409 and "enable it first" in r.json()["detail"]
        receiver.fail_first = 0
        assert client.post(f"{API}/webhooks/{sub['id']}/enable", headers=headers).json()["active"]
        assert client.post(f"{API}/webhooks/deliveries/{items[0]['id']}/replay", headers=headers).status_code == 201
        assert receiver.wait_for(n + 1)[-1].status == 200
    finally:
        receiver.close()


def test_key_rotation_signs_with_both_secrets_until_the_old_one_expires(whs: Settings, admin,
                                                                        receiver: Receiver) -> None:
    client, headers = admin
    sub = subscribe(admin, receiver)
    old = sub["secret"]
    rotated = client.post(f"{API}/webhooks/{sub['id']}/rotate-secret", headers=headers).json()
    new = rotated["secret"]
    assert new != old and rotated["secrets"] == 2
    receiver.secrets.append(new)
    with get_db(whs).session() as s:
        new_record(s)
    got = receiver.wait_for(1)[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert not isinstance(got.verified[old], Exception) and not isinstance(got.verified[new], Exception)
    with get_db(whs).session() as s:  # the overlap ends
        row = s.get(WebhookSubscription, sub["id"])
        assert row is not None
        row.secrets = [row.secrets[0], row.secrets[1] | {"expires_at": (utcnow() - timedelta(seconds=1)).isoformat()}]
    with get_db(whs).session() as s:
        new_record(s)
    got = receiver.wait_for(2)[1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    assert isinstance(got.verified[old], Exception) and not isinstance(got.verified[new], Exception)


def test_only_admins_manage_webhooks_and_bad_input_is_named(whs: Settings, admin, receiver: Receiver) -> None:
    client, headers = admin
    r = client.post(f"{API}/auth/login", json={"name": "supervisor", "password": PASSWORD})
    sup = session_headers(r)
    client.cookies.clear()
    assert client.get(f"{API}/webhooks", headers=sup).status_code == 403
    assert client.post(f"{API}/webhooks", headers=sup, json={"name": "x", "url": receiver.url}).status_code == 403
    bad = client.post(f"{API}/webhooks", headers=headers, json={"name": "x", "url": "ftp://example.org/x"})
    assert bad.status_code == 422 and "url" in bad.json()["detail"]
    bad = client.post(f"{API}/webhooks", headers=headers, json={"name": "x", "url": "http://user:pw@example.org/"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
    bad = client.post(f"{API}/webhooks", headers=headers, json={"name": "x", "url": receiver.url,
                                                                 "event_types": ["record.exploded"]})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
    bad = client.post(f"{API}/webhooks", headers=headers, json={"name": "x", "url": receiver.url,
                                                                 "template": "no_such_form"})
    assert bad.status_code == 404 and bad.json()["error"] == "template_not_found"
    sub = subscribe(admin, receiver)
    r = client.patch(f"{API}/webhooks/{sub['id']}", headers=headers, json={"statuses": ["approved"]})
    assert r.status_code == 200 and r.json()["statuses"] == ["approved"]
    assert client.delete(f"{API}/webhooks/{sub['id']}", headers=headers).status_code == 204
    assert client.get(f"{API}/webhooks/{sub['id']}", headers=headers).status_code == 404
    with get_db(whs).read_session() as s:
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "webhook")))
    assert {"webhook.create", "webhook.update", "webhook.delete"} <= actions


def test_delivery_attempts_are_claimed_once(whs: Settings, admin, receiver: Receiver) -> None:
    """Two senders at once (a Celery redelivery, the poller): one attempt, not two."""
    subscribe(admin, receiver)
    dispatch.dispatcher_for(whs).stop()  # no background sender: this test sends
    dispatch.install(whs, inprocess.InlineDispatcher(whs))
    with get_db(whs).session() as s:
        new_record(s)
    [d] = sender.due(whs)
    import threading

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(sender.deliver(d, settings=whs))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count("ok") == 1, results
    assert len(receiver.received) == 1
    with get_db(whs).read_session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookAttempt)) == 1
