"""Real Redis, real Celery worker processes, the API served by uvicorn, a synthetic batch uploaded
over HTTP: every page reaches its final state and the records are in the database — also when a
worker's pool process is SIGKILLed mid-batch, and when Redis restarts mid-batch (the sweeper
re-enqueues what Redis lost).

Shared Redis: ``INTAKE_TEST_REDIS_URL`` (database 15 by default; only that database is flushed).
The Redis-restart test starts its own private ``redis-server`` on a free port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intake.config import PROJECT_ROOT, Settings
from intake.db.models import FINAL_PAGE_STATES, FormInstance, Page, PageEvent, Record
from intake.db.session import get_db
from tests.conftest import REDIS_URL, make_token

pytestmark = [pytest.mark.redis, pytest.mark.slow]
API = "/api/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def shared_redis() -> Iterator[str]:
    if not redis_ping(REDIS_URL):
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()  # our own database number only
    yield REDIS_URL
    r.flushdb()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"--- {self.name} ---\n" + "\n".join(lines[-n:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)  # warm shutdown of the main process
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)


def start(name: str, cmd: list[str], env: dict[str, str], logdir: Path) -> Proc:
    log = logdir / f"{name}.log"
    fh = log.open("ab")
    popen = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                             start_new_session=True)
    fh.close()
    return Proc(name, popen, log)


def worker_cmd(tmp: Path, name: str, concurrency: int = 2, beat: bool = True) -> list[str]:
    cmd = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--loglevel=INFO",
           f"--concurrency={concurrency}", "-n", f"{name}@%h", "--without-gossip", "--without-mingle"]
    if beat:
        cmd += ["--beat", f"--schedule={tmp / f'beat-{name}'}"]
    return cmd


@dataclass
class Stack:
    base: str
    headers: dict[str, str]
    settings: Settings
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=30)

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.procs)


@contextmanager
def stack(settings: Settings, broker: str, tmp: Path, workers: int = 1) -> Iterator[Stack]:
    """The API (uvicorn) and Celery workers as subprocesses, on `settings`' database and storage."""
    env = {**os.environ, "INTAKE_ENV": "test", "INTAKE_DATA_DIR": str(tmp), "INTAKE_BROKER_URL": broker,
           "INTAKE_DATABASE_URL": settings.database_url or "", "INTAKE_STORAGE_DIR": str(settings.storage_dir),
           "INTAKE_TASK_TIME_LIMIT_S": "60", "INTAKE_VISIBILITY_TIMEOUT_S": "120", "INTAKE_STUCK_AFTER_S": "5",
           "INTAKE_SWEEP_INTERVAL_S": "2", "OMP_THREAD_LIMIT": "1", "PYTHONUNBUFFERED": "1"}
    port = free_port()
    st = Stack(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {make_token(settings, 'batches:write', 'batches:read', 'records:read')}"},
               settings, env=env)
    try:
        st.procs.append(start("api", [sys.executable, "-m", "uvicorn", "--factory", "intake.api:create_app",
                                      "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                              env, tmp))
        for i in range(workers):
            st.procs.append(start(f"worker{i}", worker_cmd(tmp, f"w{i}", beat=i == 0), env, tmp))
        wait_for(st, "the API to start", lambda: healthy(st.base), timeout=30)
        yield st
    finally:
        for p in reversed(st.procs):
            p.stop()


def upload(st: Stack, paths: list[Path]) -> int:
    with st.client() as c:
        r = c.post(f"{API}/batches", files=[("files", (p.name, p.read_bytes(), "application/pdf")) for p in paths])
    assert r.status_code == 202, r.text
    return r.json()["id"]


def batch(st: Stack, batch_id: int) -> dict[str, Any]:
    with st.client() as c:
        return c.get(f"{API}/batches/{batch_id}").json()


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}{API}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(st: Stack, what: str, predicate, timeout: float = 120, interval: float = 0.2) -> Any:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}\n{st.logs()}")


def page_states(settings: Settings, batch_id: int) -> dict[str, int]:
    with get_db(settings).read_session() as s:
        return dict(s.execute(select(Page.status, func.count()).where(Page.batch_id == batch_id)
                              .group_by(Page.status)).all())


def check_completed_exactly_once(settings: Settings, batch_id: int, forms: int) -> list[Page]:
    with get_db(settings).read_session() as s:
        pages = list(s.scalars(select(Page).where(Page.batch_id == batch_id)))
        assert {p.status for p in pages} == {"read"}, [(p.id, p.status, p.error_code) for p in pages]
        finals = dict(s.execute(select(PageEvent.page_id, func.count()).where(
            PageEvent.batch_id == batch_id, PageEvent.stage == "done",
            PageEvent.status.in_([str(x) for x in FINAL_PAGE_STATES])).group_by(PageEvent.page_id)).all())
        assert finals == {p.id: 1 for p in pages}, "a page completed more than once"
        records = list(s.scalars(select(Record).where(Record.batch_id == batch_id)))
        assert len(records) == forms, [(r.id, r.instance_id) for r in records]
        assert len({r.instance_id for r in records}) == forms
        keys = list(s.scalars(select(FormInstance.key).where(FormInstance.batch_id == batch_id)))
        assert len(keys) == len(set(keys)) == forms
        assert all(r.template_id == "child_protection" for r in records)
        return pages


def _pool_children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.fixture(params=["postgres", "sqlite"])
def service_settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("pg_settings")
    return request.getfixturevalue("settings")


def test_a_batch_uploaded_over_http_is_read_by_celery_workers(service_settings: Settings, shared_redis: str,
                                                               synth_forms: list[Path], tmp_path: Path) -> None:
    with stack(service_settings, shared_redis, tmp_path) as st:
        batch_id = upload(st, synth_forms)
        body = wait_for(st, "the batch to finish", lambda: (b := batch(st, batch_id))["status"] == "done" and b)
        assert body["progress"]["done"] == body["progress"]["total"] == 2 * len(synth_forms)
        assert all(p["record_url"] and p["status"] == "read" for p in body["pages"])
        with st.client() as c:
            feed = c.get(f"{API}/records").json()
        assert len(feed["items"]) == len(synth_forms)
    check_completed_exactly_once(service_settings, batch_id, len(synth_forms))


@pytest.mark.postgres
def test_sigkill_of_a_pool_process_mid_batch_loses_and_duplicates_nothing(
        pg_settings: Settings, shared_redis: str, synth_forms: list[Path], tmp_path: Path) -> None:
    forms = synth_forms  # 6 pages
    with stack(pg_settings, shared_redis, tmp_path) as st:
        worker = st.procs[1]
        batch_id = upload(st, forms)
        wait_for(st, "two pages being read", lambda: page_states(pg_settings, batch_id).get("processing", 0) >= 2,
                 interval=0.05)
        children = _pool_children(worker.popen.pid)
        assert children, "no pool processes found\n" + st.logs()
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        wait_for(st, "the batch to finish", lambda: batch(st, batch_id)["status"] == "done", timeout=150)
        assert worker.popen.poll() is None  # the worker itself survived and replaced its pool
    pages = check_completed_exactly_once(pg_settings, batch_id, len(forms))
    assert max(p.attempts for p in pages) >= 2, "no page was interrupted: the kill came too late"


@pytest.mark.postgres
def test_redis_restart_mid_batch_the_sweeper_finishes_the_batch(pg_settings: Settings, synth_forms: list[Path],
                                                                tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(tmp_path)]
    env = dict(os.environ)
    redis_proc = start("redis", redis_cmd, env, tmp_path)
    try:
        wait_for_redis(url)
        forms = synth_forms
        with stack(pg_settings, url, tmp_path) as st:
            st.procs.append(redis_proc)
            batch_id = upload(st, forms)
            wait_for(st, "a page read", lambda: page_states(pg_settings, batch_id).get("read", 0) >= 1, interval=0.05)
            os.killpg(redis_proc.popen.pid, signal.SIGKILL)  # queued messages are gone with it
            redis_proc.popen.wait(5)
            time.sleep(1.0)
            redis_proc = start("redis", redis_cmd, env, tmp_path)
            st.procs[-1] = redis_proc
            wait_for_redis(url)
            states = page_states(pg_settings, batch_id)
            assert states.get("queued", 0) + states.get("processing", 0) > 0, "the batch finished before the restart"
            restarted: list[str] = []

            def done() -> bool:
                # A worker can exit when a task's acknowledgement meets the dead broker: kombu's
                # Redis transport then raises AttributeError ("'NoneType' object has no attribute
                # 'hostname'", celery/kombu#582) and Celery calls it unrecoverable. Production
                # restarts it (docker-compose.yml: restart: unless-stopped); so does this test,
                # and the sweeper must still finish the batch.
                for i, p in enumerate(st.procs):
                    if p.name == "worker0" and p.popen.poll() is not None:
                        restarted.append(p.name)
                        st.procs[i] = start(p.name, worker_cmd(tmp_path, "w0", beat=True), st.env, tmp_path)
                return batch(st, batch_id)["status"] == "done"

            wait_for(st, "the batch to finish", done, timeout=150)
            assert len(restarted) <= 1, restarted  # one restart at most: it then stays up
        check_completed_exactly_once(pg_settings, batch_id, len(forms))
    finally:
        redis_proc.stop()


def wait_for_redis(url: str) -> None:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if redis_ping(url):
            return
        time.sleep(0.05)
    raise AssertionError(f"redis at {url} did not start")
