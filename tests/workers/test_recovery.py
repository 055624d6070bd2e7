"""Recovery and fairness with the DEFAULT work-queue settings (issue 12, items 2 and 3): the API
(uvicorn), Celery beat (`python -m workers beat`, the sweeper) and Celery worker processes, on
real Redis and on SQLite and PostgreSQL; only URLs and folders are set, every timing is the
default (`assert_default_timings`).

- a whole worker (its main process and its pool, the process group) SIGKILLed mid-batch and
  another one started: every page done within 90 s, exactly one record per form;
- Redis (a private ``redis-server`` on a free port, never the shared one) killed and restarted
  empty mid-batch: the same;
- one worker, a big batch from one user, then a small one from another: the small one finishes
  first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from intake.config import Settings
from tests.conftest import make_token
from tests.workers.test_workers import (
    API,
    Proc,
    Stack,
    batch,
    check_completed_exactly_once,
    free_port,
    healthy,
    page_states,
    start,
    upload,
    wait_for,
    wait_for_redis,
    worker_cmd,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]
RECOVERY_S = 90


def default_env(settings: Settings, broker: str, tmp: Path) -> dict[str, str]:
    """The environment of every process: URLs and folders only (no INTAKE_* timing of the
    caller's environment leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return env | {"INTAKE_ENV": "test", "INTAKE_DATA_DIR": str(tmp), "INTAKE_BROKER_URL": broker,
                  "INTAKE_DATABASE_URL": settings.database_url or "", "INTAKE_STORAGE_DIR": str(settings.storage_dir),
                  "OMP_THREAD_LIMIT": "1", "PYTHONUNBUFFERED": "1"}


def assert_default_timings(env: dict[str, str]) -> Settings:
    out = subprocess.run([sys.executable, "-c", "from intake.config import get_settings as g; "
                          "print(g().model_dump_json())"], env=env, capture_output=True, text=True, check=True)
    s = Settings.model_validate_json(out.stdout)
    defaults = Settings(env="test")
    for name in ("page_lease_s", "sweep_interval_s", "stuck_after_s", "task_time_limit_s", "page_time_limit_s",
                 "visibility_timeout_s", "max_page_attempts"):
        assert getattr(s, name) == getattr(defaults, name), name
    return s


@contextmanager
def default_stack(settings: Settings, broker: str, tmp: Path, concurrency: int = 2) -> Iterator[Stack]:
    env = default_env(settings, broker, tmp)
    assert_default_timings(env)
    port = free_port()
    st = Stack(f"http://127.0.0.1:{port}",
               {"Authorization": f"Bearer {make_token(settings, 'batches:write', 'batches:read', 'records:read')}"},
               settings)
    st.env = env
    try:
        st.procs.append(start("api", [sys.executable, "-m", "uvicorn", "--factory", "intake.api:create_app",
                                      "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env, tmp))
        st.procs.append(start("beat", [sys.executable, "-m", "workers", "beat"], env, tmp))
        st.procs.append(start("worker0", worker_cmd(tmp, "w0", concurrency=concurrency, beat=False), env, tmp))
        wait_for(st, "the API to start", lambda: healthy(st.base), timeout=30)
        yield st
    finally:
        for p in reversed(st.procs):
            p.stop()


@pytest.fixture(params=["postgres", "sqlite"])
def service_settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("pg_settings")
    return request.getfixturevalue("settings")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, list[str], list[Proc]]]:
    """A private redis-server on a free port, without persistence (a restart comes back empty)."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(tmp_path)]
    procs = [start("redis", cmd, dict(os.environ), tmp_path)]
    try:
        wait_for_redis(url)
        yield url, cmd, procs
    finally:
        for p in procs:
            p.stop()


def test_a_whole_worker_killed_mid_batch_is_recovered_within_90_s_with_default_settings(
        service_settings: Settings, own_redis, synth_forms: list[Path], tmp_path: Path) -> None:
    url, _, _ = own_redis
    settings = service_settings
    with default_stack(settings, url, tmp_path) as st:
        worker = st.procs[-1]
        batch_id = upload(st, synth_forms)  # 3 forms, 6 pages
        wait_for(st, "a page read and one being read", lambda: (
            (states := page_states(settings, batch_id)).get("read", 0) >= 1 and states.get("processing", 0) >= 1),
            interval=0.05)
        os.killpg(worker.popen.pid, signal.SIGKILL)  # the main process and its pool: nothing acks or requeues
        worker.popen.wait(5)
        killed = time.monotonic()
        assert page_states(settings, batch_id).get("processing", 0) >= 1
        st.procs.append(start("worker1", worker_cmd(tmp_path, "w1", beat=False), st.env, tmp_path))
        wait_for(st, "the batch to finish", lambda: batch(st, batch_id)["status"] == "done", timeout=RECOVERY_S)
        took = time.monotonic() - killed
    pages = check_completed_exactly_once(settings, batch_id, len(synth_forms))
    assert max(p.attempts for p in pages) >= 2, "no page was interrupted: the kill came too late"
    print(f"whole-worker SIGKILL: batch done {took:.1f} s after the kill")  # noqa: T201 - the figure, with -s


def test_a_redis_restart_mid_batch_is_recovered_within_90_s_with_default_settings(
        service_settings: Settings, own_redis, synth_forms: list[Path], tmp_path: Path) -> None:
    url, cmd, procs = own_redis
    settings = service_settings
    with default_stack(settings, url, tmp_path) as st:
        batch_id = upload(st, synth_forms)
        wait_for(st, "a page read", lambda: page_states(settings, batch_id).get("read", 0) >= 1, interval=0.05)
        os.killpg(procs[0].popen.pid, signal.SIGKILL)  # the queued messages are gone with it
        procs[0].popen.wait(5)
        time.sleep(1.0)
        procs[0] = start("redis", cmd, dict(os.environ), tmp_path)
        wait_for_redis(url)
        restarted = time.monotonic()
        states = page_states(settings, batch_id)
        assert states.get("queued", 0) + states.get("processing", 0) > 0, "the batch finished before the restart"
        wait_for(st, "the batch to finish", lambda: batch(st, batch_id)["status"] == "done", timeout=RECOVERY_S)
        took = time.monotonic() - restarted
    check_completed_exactly_once(settings, batch_id, len(synth_forms))
    print(f"Redis restart: batch done {took:.1f} s after the restart")  # noqa: T201


def test_one_worker_reads_a_second_users_small_batch_before_the_first_users_big_one(
        settings: Settings, own_redis, synth_forms: list[Path], blank_pages: list[Path], tmp_path: Path) -> None:
    url, _, _ = own_redis
    blank = [p.read_bytes() for p in blank_pages]
    with default_stack(settings, url, tmp_path, concurrency=1) as st:
        other = {"Authorization": f"Bearer {make_token(settings, 'batches:write', 'batches:read')}"}
        files = [("files", (p.name, p.read_bytes(), "application/pdf")) for p in synth_forms]
        files += [("files", (f"extra-{i}.png", blank[i % 2] + b"\0" * (i + 1), "image/png")) for i in range(6)]
        with st.client() as c:
            r = c.post(f"{API}/batches", files=files)  # user A: 12 pages
        assert r.status_code == 202, r.text
        big = r.json()["id"]
        wait_for(st, "A's first page read", lambda: page_states(settings, big).get("read", 0) >= 1, interval=0.05)
        with httpx.Client(base_url=st.base, headers=other, timeout=30) as c:
            r = c.post(f"{API}/batches", files=[("files", (p.name, p.read_bytes(), "image/png")) for p in blank_pages])
        assert r.status_code == 202, r.text
        small = r.json()["id"]  # user B: 2 pages, after A's

        def b_batch() -> dict:
            with httpx.Client(base_url=st.base, headers=other, timeout=30) as c:
                return c.get(f"{API}/batches/{small}").json()

        wait_for(st, "B's batch to finish", lambda: b_batch()["status"] == "done", timeout=120)
        left = sum(n for s, n in page_states(settings, big).items() if s in ("queued", "processing"))
        assert left >= 6, f"B's batch waited behind A's: only {left} of A's pages were left"
        wait_for(st, "A's batch to finish", lambda: batch(st, big)["status"] == "done", timeout=180)
        assert b_batch()["finished_at"] < batch(st, big)["finished_at"]


def test_intake_serve_without_a_broker_killed_mid_batch_resumes_at_its_next_start(
        settings: Settings, synth_forms: list[Path], tmp_path: Path) -> None:
    """The embedded default (no broker: `intake serve` reads pages on a thread, in fair order):
    the server SIGKILLed mid-batch and started again finishes the batch, each page once."""
    env = default_env(settings, "", tmp_path)
    env.pop("INTAKE_BROKER_URL")
    assert_default_timings(env)
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "intake.api:create_app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    st = Stack(f"http://127.0.0.1:{port}",
               {"Authorization": f"Bearer {make_token(settings, 'batches:write', 'batches:read', 'records:read')}"},
               settings)

    def serve(name: str) -> Proc:
        proc = start(name, cmd, env, tmp_path)
        st.procs.append(proc)
        wait_for(st, "the API", lambda: healthy(st.base), timeout=30)
        return proc

    try:
        first = serve("serve1")
        batch_id = upload(st, synth_forms)
        wait_for(st, "a page read", lambda: page_states(settings, batch_id).get("read", 0) >= 1, interval=0.05)
        os.killpg(first.popen.pid, signal.SIGKILL)
        first.popen.wait(5)
        states = page_states(settings, batch_id)
        assert states.get("queued", 0) + states.get("processing", 0) > 0, "the batch finished before the kill"
        serve("serve2")
        wait_for(st, "the batch to finish", lambda: batch(st, batch_id)["status"] == "done", timeout=RECOVERY_S)
    finally:
        for p in reversed(st.procs):
            p.stop()
    check_completed_exactly_once(settings, batch_id, len(synth_forms))


def _close_after_redis_died_mid_poll(url: str, procs: list[Proc], transport: str) -> None:
    """What Celery's consumer does when Redis dies while it waits in BRPOP holding an unacked
    task (`Consumer.on_connection_error_after_connected`): ``collect()``, errors ignored, then
    ``close()`` through ``ignore_errors`` (connection and channel errors only). The connection
    has a second consuming channel opened after the task channel, as a worker's has (its
    remote-control channel)."""
    from kombu import Connection, Consumer, Producer, Queue
    from kombu.common import ignore_errors

    queue = Queue("recovery-probe", routing_key="recovery-probe")
    held = []
    conn = Connection(url, transport=transport)
    ch = conn.default_channel
    Producer(ch).publish({"page": 1}, routing_key=queue.routing_key, declare=[queue])
    consumer = Consumer(ch, [queue], callbacks=[lambda body, message: held.append(message)])
    consumer.consume()
    Consumer(conn.channel(), [Queue("recovery-control", routing_key="recovery-control")],
             callbacks=[lambda body, message: None]).consume()
    conn.drain_events(timeout=2)
    assert len(held) == 1, "the probe message was not delivered"
    with pytest.raises(TimeoutError):
        conn.drain_events(timeout=0.2)  # BRPOP sent, no answer yet
    assert ch._in_poll
    os.killpg(procs[0].popen.pid, signal.SIGKILL)
    procs[0].popen.wait(5)
    try:
        conn.collect(socket_timeout=1)
    except Exception:  # noqa: BLE001 - as Celery does
        pass
    ignore_errors(conn, conn.close)


def test_a_worker_connection_closed_after_redis_died_mid_poll_raises_only_a_connection_error(own_redis) -> None:
    """The worker's transport (`workers.broker`): closing the connection after Redis died with a
    task in hand and a BRPOP pending raises nothing Celery does not expect, so the consumer
    reconnects instead of stopping the worker ("Unrecoverable error")."""
    from workers import broker

    url, _, procs = own_redis
    _close_after_redis_died_mid_poll(url, procs, broker.NAME)


def test_kombus_own_redis_transport_still_stops_a_worker_there(own_redis) -> None:
    """The fault `workers.broker` works around, on kombu's own transport. When an upgrade of
    kombu makes this fail, the fault is fixed upstream: drop `workers.broker`."""
    url, _, procs = own_redis
    with pytest.raises(AttributeError, match="hostname"):
        _close_after_redis_died_mid_poll(url, procs, "redis")
