"""Logs at DEBUG hold no personal data: `intake serve --log-level debug` and `python -m workers
worker --log-level debug` (real Redis, a real Celery worker), a synthetic batch (`intake synth`)
uploaded by a clerk, read, reviewed (a correction and an approval through the API) and exported;
none of the forms' values and none of the file names appear in anything either process wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from intake.config import PROJECT_ROOT, Settings
from intake.db.session import forget_db
from tests.conftest import PASSWORD, make_users
from tests.workers.test_workers import free_port, shared_redis, start  # noqa: F401 - the fixture

pytestmark = [pytest.mark.redis, pytest.mark.slow]
API = "/api/v1"
INTAKE = [sys.executable, "-c", "from intake.cli import main; main()"]
CORRECTED = "測試更正地址值"  # a value typed by the supervisor: must not be logged either


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def _telling(s: str) -> bool:
    """A value that would mean something found in a log (not a lone digit or a code like "yes")."""
    s = s.strip()
    if len(s) < 3 or s.isascii() and s.isalpha() and s.islower():  # option codes: "male", "yes", ...
        return False
    return not (s.isdigit() and len(s) < 6)


def _login(base: str, name: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60)
    r = c.post(f"{API}/auth/login", json={"name": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def test_nothing_personal_reaches_the_logs_at_debug(settings: Settings, shared_redis: str,  # noqa: F811
                                                    tmp_path: Path) -> None:
    make_users(settings)
    forget_db(settings.database_url or "")
    env = {**os.environ, "INTAKE_ENV": "test", "INTAKE_DATA_DIR": str(tmp_path), "INTAKE_BROKER_URL": shared_redis,
           "INTAKE_DATABASE_URL": settings.database_url or "", "INTAKE_STORAGE_DIR": str(settings.storage_dir),
           "INTAKE_REVIEW_SPOT_CHECK_SHARE": "1.0",  # every record goes to review: there is one to correct
           "OMP_THREAD_LIMIT": "1", "PYTHONUNBUFFERED": "1"}
    scans = tmp_path / "scans"
    subprocess.run([*INTAKE, "synth", "child_protection", "--count", "2", "--out", str(scans), "--seed", "31",
                    "--profile", "office", "--format", "pdf"], env=env, check=True, capture_output=True, timeout=300)
    files, truths = [], {}
    for i, pdf in enumerate(sorted(scans.glob("*.pdf"))):
        truth = json.loads(pdf.with_suffix(".json").read_text(encoding="utf-8"))
        named = pdf.with_name(f"通報-{truth['fields'].get('child_name') or i}-案{i}.pdf")  # names as clerks name files
        pdf.rename(named)
        files.append(named)
        truths[named.name] = truth["fields"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = [start("serve", [*INTAKE, "serve", "--port", str(port), "--log-level", "debug"], env, logs),
             start("worker", [sys.executable, "-m", "workers", "worker", "--concurrency", "1", "--log-level", "debug"],
                   env, logs)]
    try:
        end = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}{API}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < end, "\n".join(p.tail() for p in procs)
            time.sleep(0.3)
        with closing(_login(base, "clerk")) as clerk:
            r = clerk.post(f"{API}/batches", files=[("files", (p.name, p.read_bytes(), "application/pdf"))
                                                     for p in files])
            assert r.status_code == 202, r.text
            batch_id = r.json()["id"]
            end = time.monotonic() + 300
            while (body := clerk.get(f"{API}/batches/{batch_id}").json())["status"] != "done":
                assert time.monotonic() < end, "\n".join(p.tail() for p in procs)
                time.sleep(1)
            assert {p["status"] for p in body["pages"]} == {"read"}
        with closing(_login(base, "supervisor")) as sup:
            queue = sup.get(f"{API}/review/queue", params={"batch": batch_id}).json()
            record_id = queue["items"][0]["id"]
            record = sup.get(f"{API}/records/{record_id}").json()
            text_field = next(p for p, f in record["fields"].items() if f["type"] == "address")
            record = sup.patch(f"{API}/records/{record_id}/fields/{text_field}",
                               json={"value": CORRECTED, "revision": record["revision"]})
            assert record.status_code == 200, record.text
            record = record.json()
            truth = truths[record["pages"][0]["file"]]
            for path, f in record["fields"].items():  # put the rest of what needs a person right
                if f["status"] == "needs_review":
                    r = sup.patch(f"{API}/records/{record_id}/fields/{path}",
                                  json={"value": truth.get(path, f["value"]), "revision": record["revision"]})
                    assert r.status_code == 200, r.text
                    record = r.json()
            r = sup.post(f"{API}/records/{record_id}/approve", json={"revision": record["revision"]})
            assert r.status_code == 200 and r.json()["status"] == "approved", r.text
            export = sup.get(f"{API}/templates/child_protection/versions/1/export", params={"format": "csv"})
            assert export.status_code == 200 and CORRECTED in export.text
            assert sup.post(f"{API}/auth/logout").status_code == 204
    finally:
        for p in reversed(procs):
            p.stop()
    text = "\n".join(p.log.read_text(errors="replace") for p in procs)
    assert " DEBUG " in text or "DEBUG/" in text, "nothing was logged at DEBUG"
    assert "GET /api/v1/batches/" in text  # the server's own log is in there (access lines)
    secrets = {CORRECTED} | {p.name for p in files} | {p.stem for p in files}
    for fields in truths.values():
        secrets |= {s.strip() for s in _strings(fields) if _telling(s)}
    found = sorted(s for s in secrets if s in text)
    assert not found, f"personal data in the logs: {len(found)} values, e.g. {found[0][:2]}…"
    assert len(secrets) > 20


def test_an_unknown_log_level_is_refused_by_name(tmp_path: Path) -> None:
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path), "INTAKE_BROKER_URL": "redis://127.0.0.1:1/0"}
    workers = [sys.executable, "-m", "workers"]
    for cmd in ([*INTAKE, "serve", "--log-level", "loud"], [*workers, "beat", "--log-level", "loud"],
                [*workers, "worker", "--log-level", "loud"]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
        assert r.returncode == 2 and "unknown log level 'loud'; choose debug, info, warning" in r.stderr, r.stderr
