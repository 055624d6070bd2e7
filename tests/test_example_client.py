"""The example client (examples/downstream_client.py) run as a program against the API served by
uvicorn: it pulls the feed into its own SQLite, stops and resumes without missing or repeating a
record, and takes webhooks — verified with `standardwebhooks`, forged ones refused — as the cue
to pull again."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from intake.api import create_app
from intake.config import PROJECT_ROOT, Settings
from intake.db.models import RecordEventKind
from intake.db.session import get_db
from tests.conftest import PASSWORD, make_token, make_users
from tests.factories import change, new_record

CLIENT = [sys.executable, str(PROJECT_ROOT / "examples" / "downstream_client.py")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not uv.started and time.monotonic() < end:
        time.sleep(0.05)
    assert uv.started
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(15)


def rows(db: Path) -> dict[int, tuple[int, str, dict]]:
    with sqlite3.connect(db) as c:
        return {i: (rev, status, json.loads(data)) for i, rev, status, data in
                c.execute("SELECT id, revision, status, data FROM records")}


def run(*args: str) -> str:
    return subprocess.run([*CLIENT, *args], capture_output=True, text=True, check=True, timeout=60).stdout


def test_pulls_incrementally_and_resumes_after_being_stopped(settings: Settings, server: str, tmp_path: Path) -> None:
    token = make_token(settings, "records:read")
    copy = tmp_path / "copy.db"
    with get_db(settings).session() as s:
        ids = [new_record(s, data={"referrer_name": f"r{i}"}).id for i in range(7)]
    common = ["--base-url", server, "--token", token, "--db", str(copy), "--limit", "2"]
    assert run("pull", *common, "--stop-after", "2").strip() == "4 record(s) written"  # stopped midway
    assert sorted(rows(copy)) == ids[:4]
    with get_db(settings).session() as s:  # meanwhile: one seen record changes, one new record
        change(s, ids[0], RecordEventKind.APPROVED, "approved", data={"referrer_name": "r0 fixed"})
        ids.append(new_record(s).id)
    assert run("pull", *common).strip() == "5 record(s) written"  # 3 left + the change + the new one
    got = rows(copy)
    assert sorted(got) == ids and got[ids[0]][1:] == ("approved", {"referrer_name": "r0 fixed"})
    assert run("pull", *common).strip() == "0 record(s) written"  # nothing twice
    # killed hard in the middle of a page: what it had committed stays, the rest comes next time
    with get_db(settings).session() as s:
        ids += [new_record(s).id for _ in range(40)]
    p = subprocess.Popen([*CLIENT, "pull", *common], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    run("pull", *common)
    got = rows(copy)
    assert sorted(got) == ids
    with get_db(settings).read_session() as s:
        from intake.db.models import Record

        assert {r.id: r.revision for r in s.query(Record)} == {i: v[0] for i, v in got.items()}


def test_webhooks_verified_then_pulled_forgeries_refused(settings: Settings, server: str, tmp_path: Path) -> None:
    make_users(settings)
    token = make_token(settings, "records:read")
    copy = tmp_path / "copy.db"
    port = free_port()
    with httpx.Client(base_url=server) as http:
        r = http.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
        assert r.status_code == 200
        http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        sub = http.post("/api/v1/webhooks", json={"name": "example", "url": f"http://127.0.0.1:{port}/"}).json()
    listener = subprocess.Popen([*CLIENT, "listen", "--base-url", server, "--token", token, "--db", str(copy),
                                 "--secret", sub["secret"], "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and "listening" in listener.stdout.readline()
        with get_db(settings).session() as s:
            rid = new_record(s, data={"referrer_name": "via webhook"}).id
        end = time.monotonic() + 20
        while rid not in rows(copy) and time.monotonic() < end:
            time.sleep(0.1)
        assert rows(copy)[rid][2] == {"referrer_name": "via webhook"}
        with sqlite3.connect(copy) as c:
            assert c.execute("SELECT type, record_id FROM webhooks").fetchall() == [("record.created", rid)]
        # a forged message: same shape, wrong secret
        from standardwebhooks import Webhook

        body = json.dumps({"type": "record.created", "data": {"record_id": 999, "revision": 999}})
        forged = Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=").sign(
            "msg_x", datetime.now(UTC), body)
        r = httpx.post(f"http://127.0.0.1:{port}/", content=body, headers={
            "webhook-id": "msg_x", "webhook-timestamp": str(int(time.time())), "webhook-signature": forged})
        assert r.status_code == 401
        r = httpx.post(f"http://127.0.0.1:{port}/", content=body)
        assert r.status_code == 401
        with sqlite3.connect(copy) as c:
            assert c.execute("SELECT count(*) FROM webhooks").fetchone() == (1,)
    finally:
        listener.send_signal(signal.SIGINT)
        try:
            listener.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(listener.pid, signal.SIGKILL)
