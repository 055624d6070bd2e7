"""Uploads over real HTTP (uvicorn in a thread, raw sockets so the body can be streamed from a
generator and the answer read while it is still being sent): nothing written before sign-in,
limits enforced while receiving, rate and volume limits, temporary files removed on every path;
and duplicates across users."""

from __future__ import annotations

import logging
import os
import select
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy import select as sql_select

from intake import dispatch
from intake.api import create_app
from intake.batches import service
from intake.batches.inprocess import InlineDispatcher
from intake.batches.receive import collect_stale
from intake.config import Settings
from intake.db.models import Batch, Page, Record
from intake.db.session import get_db
from tests.conftest import PASSWORD, make_users, session_headers

API = "/api/v1"
BOUNDARY = "intake-test-boundary-7f3a"
MiB = 2**20


def du(*folders: Path) -> int:
    """Bytes an upload made the server (this process: uvicorn runs in a thread) write under
    `folders`: the files there, and files it holds open there that have no name (O_TMPFILE, or
    unlinked after creation, as spooled temporary files are)."""
    seen: dict[tuple[int, int], int] = {}
    for folder in folders:
        for root, _, names in os.walk(folder):
            for n in names:
                try:
                    st = os.lstat(os.path.join(root, n))
                except FileNotFoundError:
                    continue
                seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    prefixes = tuple(str(f.resolve()) for f in folders)
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(prefixes):
                st = os.stat(f"/proc/self/fd/{fd}")
                seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
        except OSError:
            continue
    return sum(seen.values())


@dataclass
class Server:
    host: str
    port: int
    settings: Settings
    spool: Path  # the process's temporary folder (where a framework would spool a body)


@pytest.fixture
def server(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    spool = tmp_path / "system-tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    s = settings.model_copy(update={"max_upload_bytes": 3 * MiB})
    make_users(s)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(create_app(s), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not uv.started and time.monotonic() < end:
        time.sleep(0.05)
    assert uv.started
    yield Server("127.0.0.1", port, s, spool)
    uv.should_exit = True
    thread.join(15)


def login(server: Server, name: str) -> dict[str, str]:
    """The headers of a signed-in user: the session cookie and its CSRF token."""
    with TestClient(create_app(server.settings)) as c:
        return session_headers(c.post(f"{API}/auth/login", json={"name": name, "password": PASSWORD}))


def gigabyte_of_scan() -> Iterator[bytes]:
    """A 1 GiB multipart body, made as it is sent (never held in memory)."""
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"huge.tif\"\r\n"
           "Content-Type: image/tiff\r\n\r\n").encode() + b"II*\0"
    chunk = b"\0" * MiB
    for _ in range(1024):
        yield chunk


@dataclass
class Sent:
    status: int
    headers: dict[str, str]
    body: bytes
    bytes_sent: int
    max_disk: int


def stream_upload(server: Server, body: Iterator[bytes], *, auth: dict[str, str] | None = None, path: str = f"{API}/batches",
                  content_length: int | None = None, watch_disk: bool = True) -> Sent:
    """Send a chunked (or Content-Length) multipart POST chunk by chunk, measuring the server's
    upload folders after each chunk, until the server answers or the body ends."""
    folders = [server.spool, Path(server.settings.data_dir)]
    head = [f"POST {path} HTTP/1.1", f"Host: {server.host}:{server.port}",
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}"]
    head += [f"Content-Length: {content_length}"] if content_length is not None else ["Transfer-Encoding: chunked"]
    head += [f"{k}: {v}" for k, v in (auth or {}).items()]
    sock = socket.create_connection((server.host, server.port))
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent, max_disk, answer = 0, 0, b""
    try:
        for piece in body:
            data = piece if content_length is not None else f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            if watch_disk:
                max_disk = max(max_disk, du(*folders))
                assert max_disk < 10 * MiB, f"{max_disk} bytes reached the disk before an answer"
            if select.select([sock], [], [], 0)[0]:
                break
        else:
            if content_length is None:
                sock.sendall(b"0\r\n\r\n")
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        head_bytes, _, rest = answer.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        size = int(headers.get("content-length", "0"))
        while len(rest) < size:
            more = sock.recv(65536)
            if not more:
                break
            rest += more
        return Sent(int(lines[0].split()[1]), headers, rest, sent, max_disk)
    finally:
        sock.close()


def wait_empty(folder: Path, timeout: float = 10) -> list[str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = [p.name for p in folder.iterdir()] if folder.exists() else []
        if not left:
            return []
        time.sleep(0.1)
    return left


def test_an_anonymous_gigabyte_is_answered_before_10_mb_reach_the_disk(server: Server) -> None:
    sent = stream_upload(server, gigabyte_of_scan(), content_length=1024 * MiB + 200)
    assert sent.status == 401, sent.body
    assert sent.max_disk < 10 * MiB
    assert sent.bytes_sent < 100 * MiB  # answered while the body was still coming
    assert b"not_authenticated" in sent.body
    assert wait_empty(Path(server.settings.upload_tmp_dir)) == []


def test_an_oversize_file_gets_413_with_its_size_so_far_and_leaves_nothing(server: Server) -> None:
    sent = stream_upload(server, gigabyte_of_scan(), auth=login(server, "clerk"))
    assert sent.status == 413, sent.body
    assert sent.bytes_sent < 100 * MiB
    body = sent.body.decode()
    assert '"file_too_large"' in body and "huge.tif" in body
    assert "limit of 3.0 MiB a file" in body
    import re

    so_far = float(re.search(r"\((\d+\.\d) MiB of it had arrived", body).group(1))
    assert 3.0 < so_far < 3.5  # the true amount, not the limit rounded
    assert wait_empty(Path(server.settings.upload_tmp_dir)) == []
    with get_db(server.settings).read_session() as s:
        assert s.scalar(sql_select(func.count()).select_from(Batch)) == 0


def test_a_declared_body_over_the_request_limit_is_refused_before_it_is_read(server: Server) -> None:
    sent = stream_upload(server, gigabyte_of_scan(), auth=login(server, "clerk"), content_length=4096 * MiB)
    assert sent.status == 413 and b'"upload_too_large"' in sent.body and b"4096.0 MiB" in sent.body
    assert sent.bytes_sent < 100 * MiB


def test_a_client_that_disconnects_mid_upload_leaves_no_temporary_file(server: Server) -> None:
    auth = login(server, "clerk")
    sock = socket.create_connection((server.host, server.port))
    sock.sendall((f"POST {API}/batches HTTP/1.1\r\nHost: x\r\nCookie: {auth['Cookie']}\r\nX-CSRF-Token: {auth['X-CSRF-Token']}\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {50 * MiB}\r\n\r\n"
                  ).encode())
    body = gigabyte_of_scan()
    for _ in range(3):
        sock.sendall(next(body))
    tmp = Path(server.settings.upload_tmp_dir)
    end = time.monotonic() + 10
    while time.monotonic() < end and not (tmp.exists() and any(tmp.iterdir())):
        time.sleep(0.05)
    assert tmp.exists() and any(tmp.iterdir()), "the upload was being received into the upload folder"
    sock.close()
    assert wait_empty(tmp) == []


def test_rate_and_volume_limits_answer_429_with_retry_after(settings: Settings, blank_pages) -> None:
    make_users(settings)
    a, b = (p.read_bytes() for p in blank_pages)
    tight = settings.model_copy(update={"upload_rate_per_minute": 2, "upload_bytes_per_hour": len(a) + len(b) + 10})
    with TestClient(create_app(tight)) as c:
        r = c.post(f"{API}/auth/login", json={"name": "clerk", "password": PASSWORD})
        headers = session_headers(r)
        c.cookies.clear()
        assert c.post(f"{API}/batches", files=[("files", ("a.png", a))], headers=headers).status_code == 202
        assert c.post(f"{API}/batches", files=[("files", ("b.png", b))], headers=headers).status_code == 202
        r = c.post(f"{API}/batches", files=[("files", ("c.png", a + b"\0"))], headers=headers)
        assert r.status_code == 429 and r.json()["error"] == "too_many_uploads"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
    roomy = tight.model_copy(update={"upload_rate_per_minute": 100})
    with TestClient(create_app(roomy)) as c:
        r = c.post(f"{API}/batches", files=[("files", ("c.png", a + b"\0"))], headers=headers)
        assert r.status_code == 429 and "an hour" in r.json()["detail"]
        assert 3000 < int(r.headers["Retry-After"]) <= 3600
        # another user is not held back by the first one's volume
        r = c.post(f"{API}/auth/login", json={"name": "clerk2", "password": PASSWORD})
        other = session_headers(r)
        c.cookies.clear()
        assert c.post(f"{API}/batches", files=[("files", ("c.png", a + b"\0"))], headers=other).status_code == 202


def test_stale_upload_folders_are_collected(settings: Settings) -> None:
    root = Path(settings.upload_tmp_dir)
    (root / "upload-old").mkdir(parents=True)
    (root / "upload-old" / "file-1").write_bytes(b"x" * 100)
    (root / "upload-new").mkdir()
    old = time.time() - 7200
    os.utime(root / "upload-old", (old, old))
    assert collect_stale(settings) == 1
    assert [p.name for p in root.iterdir()] == ["upload-new"]


# ---------------------------------------------------------------- duplicates
def test_a_duplicate_of_another_users_file_says_only_already_received(settings: Settings, blank_pages) -> None:
    make_users(settings)
    data = blank_pages[0].read_bytes()
    with TestClient(create_app(settings)) as c:
        heads = {}
        for name in ("clerk", "clerk2", "supervisor"):
            r = c.post(f"{API}/auth/login", json={"name": name, "password": PASSWORD})
            heads[name] = session_headers(r)
            c.cookies.clear()
        first = c.post(f"{API}/batches", files=[("files", ("王小明-A123456789.png", data))], headers=heads["clerk"])
        assert first.status_code == 202
        end = time.monotonic() + 90
        while c.get(first.json()["url"], headers=heads["clerk"]).json()["status"] == "processing":
            assert time.monotonic() < end
            time.sleep(0.2)
        mine = c.get(f"{API}/batches/{first.json()['id']}", headers=heads["clerk"]).json()
        record_id = mine["pages"][0]["record_id"]
        assert record_id is not None

        other = c.post(f"{API}/batches", files=[("files", ("scan.png", data))], headers=heads["clerk2"])
        assert other.status_code == 202
        (f,) = other.json()["files"]
        assert f["status"] == "duplicate" and f["duplicate_of"] is None and f["linked_pages"] == []
        again = c.get(f"{API}/batches/{other.json()['id']}", headers=heads["clerk2"]).text
        for text in (other.text, again):
            assert "王小明" not in text and "A123456789" not in text
            assert f"/records/{record_id}" not in text and f'"record_id":{record_id}' not in text
            assert f'"batch_id":{mine["id"]}' not in text and f'"file_id":{mine["files"][0]["id"]}' not in text
            assert f'"id":{mine["pages"][0]["id"]},' not in text
        page = c.get(f"/batches/{other.json()['id']}", headers=heads["clerk2"]).text
        assert "already received" in page and "王小明" not in page and f"/batches/{mine['id']}" not in page

        own = c.post(f"{API}/batches", files=[("files", ("again.png", data))], headers=heads["clerk"]).json()
        (f,) = own["files"]
        assert f["duplicate_of"]["batch_id"] == mine["id"] and f["linked_pages"][0]["record_id"] == record_id
        sup = c.get(f"{API}/batches/{other.json()['id']}", headers=heads["supervisor"]).json()
        assert sup["files"][0]["duplicate_of"]["batch_id"] == mine["id"]


def test_one_form_stays_one_record_whatever_was_cancelled_in_between(any_settings: Settings, blank_pages) -> None:
    settings = any_settings
    runner = InlineDispatcher(settings)
    dispatch.install(settings, runner)
    from intake.auth.service import SYSTEM

    a = blank_pages[1].read_bytes()  # a form's last page: its record is made without waiting for the next
    a2 = blank_pages[0].read_bytes()
    first = service.create_batch(iter([("a.png", a), ("a2.png", a2)]), SYSTEM, settings)
    with get_db(settings).read_session() as s:
        page_a2 = s.scalar(sql_select(Page.id).where(Page.batch_id == first, Page.position == 1))
    held = [item for item in runner.pending if item == ("page", page_a2)]
    assert held
    runner.pending.remove(held[0])  # a2 waits: the batch is cancelled before it is read
    while runner.run_next() is not None:
        pass

    def records() -> int:
        with get_db(settings).read_session() as s:
            return s.scalar(sql_select(func.count()).select_from(Record)) or 0

    assert records() == 1  # a's record exists
    service.cancel_batch(first, SYSTEM, settings)
    second = service.create_batch(iter([("a.png", a), ("a2.png", a2)]), SYSTEM, settings)
    while runner.run_next() is not None:
        pass
    with get_db(settings).read_session() as s:
        view = service.batch_view(s, s.get(Batch, second))
    assert [f.status for f in view.files] == ["duplicate", "accepted"]  # a2 was never read: read now
    assert view.files[0].duplicate_of.batch_id == first and view.files[0].linked_pages[0].record_id
    assert records() == 2  # one for a, one for a2: never a second one for a
    third = service.create_batch(iter([("a.png", a)]), SYSTEM, settings)
    while runner.run_next() is not None:
        pass
    assert records() == 2
    with get_db(settings).read_session() as s:
        assert s.scalar(sql_select(func.count()).select_from(Page).where(Page.batch_id == third)) == 0


# ---------------------------------------------------------------- budgets
def huge_tiff(frames: int = 500, width: int = 8000, height: int = 10000) -> bytes:
    """A real multi-page TIFF: `frames` white 1-bit pages of width x height pixels (80 megapixels
    by default, the per-page limit), each with its own directory, all pointing at one shared
    PackBits strip (legal TIFF, and why a file of a few hundred KB can claim 40 gigapixels)."""
    import struct

    row_bytes = (width + 7) // 8
    row = b""
    left = row_bytes
    while left:
        n = min(128, left)
        row += bytes([257 - n, 0]) if n > 1 else b"\x00\x00"
        left -= n
    strip = row * height
    header = b"II*\x00" + struct.pack("<I", 0)  # the first IFD's offset, patched below
    res_at = len(header)
    body = header + struct.pack("<IIII", 300, 1, 300, 1)
    strip_at = len(body)
    body += strip
    tags = lambda next_ifd: [  # noqa: E731
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 1), (259, 3, 1, 32773), (262, 3, 1, 0),
        (273, 4, 1, strip_at), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, len(strip)),
        (282, 5, 1, res_at), (283, 5, 1, res_at + 8), (296, 3, 1, 2)]
    ifd_size = 2 + 12 * 12 + 4
    first = len(body) + (len(body) % 2)
    body += b"\0" * (first - len(body))
    for i in range(frames):
        at = first + i * ifd_size
        nxt = at + ifd_size if i + 1 < frames else 0
        entries = b"".join(struct.pack("<HHII", t, typ, cnt, val) if typ != 3 else
                           struct.pack("<HHIHH", t, typ, cnt, val, 0) for t, typ, cnt, val in tags(nxt))
        body += struct.pack("<H", 12) + entries + struct.pack("<I", nxt)
    return body[:4] + struct.pack("<I", first) + body[8:]


@pytest.fixture
def runner(settings: Settings) -> InlineDispatcher:
    r = InlineDispatcher(settings)
    dispatch.install(settings, r)
    return r


def test_a_500_frame_tiff_is_refused_from_its_headers_before_any_page_is_queued(settings: Settings, runner,
                                                                                 blank_pages) -> None:
    import io
    import tracemalloc

    from PIL import Image

    from intake.auth.service import SYSTEM

    data = huge_tiff()
    assert len(data) < 3 * MiB
    with Image.open(io.BytesIO(data)) as im:  # a real TIFF: Pillow reads its frames
        assert im.n_frames == 500 and im.size == (8000, 10000)
        im.seek(499)
        assert im.size == (8000, 10000)
    small = blank_pages[0].read_bytes()
    roomy = settings.model_copy(update={"max_pages_per_file": 1000})  # the megapixel budget alone
    tracemalloc.start()
    batch_id = service.create_batch(iter([("stack.tif", data), ("form.png", small)]), SYSTEM, roomy)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50 * MiB  # headers read, no frame decoded (one would be 10 MB, 500 are 5 GB)
    with get_db(settings).read_session() as s:
        view = service.batch_view(s, s.get(Batch, batch_id))
        assert s.scalar(sql_select(func.count()).select_from(Page).where(Page.batch_id == batch_id)) == 1
    big, ok = view.files
    assert (big.status, big.error.code) == ("refused", "over_budget")
    assert "500 pages add up to 40,000 megapixels" in big.error.message and "3,000 a file" in big.error.message
    assert ok.status == "accepted" and view.pages_count == 1
    # with the default settings the page count already refuses it
    with pytest.raises(Exception) as exc:
        service.create_batch(iter([("stack.tif", data)]), SYSTEM, settings)
    assert exc.value.code == "too_many_pages" and "500 pages" in exc.value.message


def test_the_batch_budget_counts_pages_and_megapixels_across_files(settings: Settings, runner, blank_pages) -> None:
    from intake.auth.service import SYSTEM

    a, b = (p.read_bytes() for p in blank_pages)
    ten = huge_tiff(frames=10, width=2480, height=3508)  # ten A4 pages at 300 dpi: 87 megapixels
    tight = settings.model_copy(update={"max_batch_pages": 12})
    batch_id = service.create_batch(iter([("ten.tif", ten), ("a.png", a), ("ten-again.tif", ten + b"\0"),
                                          ("b.png", b)]), SYSTEM, tight)
    with get_db(settings).read_session() as s:
        files = {f.filename: f for f in service.batch_view(s, s.get(Batch, batch_id)).files}
    assert {n: f.status for n, f in files.items()} == {
        "ten.tif": "accepted", "a.png": "accepted", "ten-again.tif": "refused", "b.png": "accepted"}
    assert "would have 21" in files["ten-again.tif"].error.message
    tight = settings.model_copy(update={"max_batch_megapixels": 100.0})
    batch_id = service.create_batch(iter([("ten.tif", ten + b"\0\0"), ("ten-again.tif", ten + b"\0\0\0")]),
                                    SYSTEM, tight)
    with get_db(settings).read_session() as s:
        files = {f.filename: f for f in service.batch_view(s, s.get(Batch, batch_id)).files}
    assert (files["ten.tif"].status, files["ten-again.tif"].status) == ("accepted", "refused")
    assert "174 megapixels" in files["ten-again.tif"].error.message


# ---------------------------------------------------------------- what a killed process leaves
def test_orphans_and_temporary_files_are_collected_and_nothing_else(settings: Settings, runner, blank_pages) -> None:
    """The state a kill leaves (an original stored before its transaction committed, a ``.tmp-*``
    file of a write cut short, an upload folder) is collected; files with rows and young files
    (an upload in progress elsewhere) are kept."""
    from intake.auth.service import SYSTEM
    from intake.collect import collect_orphans
    from intake.storage import get_storage, original_key, preview_key

    kept = service.create_batch(iter([("a.png", blank_pages[0].read_bytes())]), SYSTEM, settings)
    while runner.run_next() is not None:
        pass
    storage = get_storage(settings)
    root = Path(settings.storage_dir)
    sha, key = storage.put_original(b"%PDF-1.4 an original whose row was never committed")
    storage.put(preview_key(sha, 1), b"jpeg")
    young_sha, young_key = storage.put_original(b"%PDF-1.4 an upload in progress")
    tmp = root / "originals" / "ab" / ".tmp-killed"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"half a file")
    upload_dir = Path(settings.upload_tmp_dir) / "upload-killed"
    upload_dir.mkdir(parents=True)
    (upload_dir / "file-1").write_bytes(b"x")
    before = {p for p in root.rglob("*") if p.is_file()}
    old = time.time() - 7200
    for p in [*before, upload_dir]:
        if young_sha[2:] not in str(p):
            os.utime(p, (old, old))
    assert collect_orphans(settings, dry_run=True)["originals"] == 1 and tmp.exists()
    counts = collect_orphans(settings)
    assert counts == {"tmp": 1, "originals": 1, "previews": 1, "crops": 0, "uploads": 1}
    after = {p for p in root.rglob("*") if p.is_file()}
    assert before - after == {tmp, root / key, root / preview_key(sha, 1)}
    assert (root / young_key).exists() and not upload_dir.exists()
    with get_db(settings).read_session() as s:
        (page,) = s.scalars(sql_select(Page).where(Page.batch_id == kept))
        assert storage.exists(page.preview_key)
    assert storage.exists(original_key(page_sha(settings, kept)))


def page_sha(settings: Settings, batch_id: int) -> str:
    from intake.db.models import BatchFile

    with get_db(settings).read_session() as s:
        return s.scalar(sql_select(BatchFile.sha256).where(BatchFile.batch_id == batch_id))


def test_the_events_stream_of_another_users_batch_is_a_plain_404_not_an_exception(
        settings: Settings, blank_pages, caplog: pytest.LogCaptureFixture) -> None:
    from tests.conftest import make_token

    make_users(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        heads = {}
        for name in ("clerk", "clerk2"):
            r = c.post(f"{API}/auth/login", json={"name": name, "password": PASSWORD})
            heads[name] = session_headers(r)
            c.cookies.clear()
        heads["token"] = {"Authorization": f"Bearer {make_token(settings, 'records:read')}"}
        batch = c.post(f"{API}/batches", files=[("files", ("a.png", blank_pages[0].read_bytes()))],
                       headers=heads["clerk"]).json()["id"]
        caplog.clear()
        for who, status, code in (("clerk2", 404, "not_found"), ("token", 403, "forbidden")):
            r = c.get(f"{API}/batches/{batch}/events", headers={**heads[who], "Accept": "text/event-stream"})
            assert r.status_code == status and r.headers["content-type"] == "application/json"
            assert r.json()["error"] == code
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


KILLER = r"""
import os, signal, sys
from pathlib import Path
from intake.auth.service import SYSTEM
from intake.batches import service, upload
from intake.config import Settings
import intake.storage as storage

settings = Settings(env="test", data_dir=Path(sys.argv[1]), database_url=sys.argv[2], storage_dir=Path(sys.argv[3]))
where = sys.argv[4]
if where == "before-commit":  # the original is stored, its rows are not committed yet
    upload._write = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
else:  # mid-write: the temporary file exists, it is not renamed into place yet
    storage.os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
service.create_batch(iter([("a.png", Path(sys.argv[5]).read_bytes())]), SYSTEM, settings)
"""


@pytest.mark.parametrize("where", ["before-commit", "mid-write"])
def test_a_process_killed_while_storing_leaves_files_the_collector_removes(settings: Settings, blank_pages,
                                                                           tmp_path: Path, where: str) -> None:
    import signal
    import subprocess
    import sys

    from intake.collect import collect_orphans

    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(script), str(settings.data_dir), settings.database_url,
                           str(settings.storage_dir), where, str(blank_pages[0])], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    root = Path(settings.storage_dir)
    left = [p for p in root.rglob("*") if p.is_file()]
    assert len(left) == 1 and (left[0].name.startswith(".tmp-") == (where == "mid-write"))
    with get_db(settings).read_session() as s:
        assert s.scalar(sql_select(func.count()).select_from(Batch)) == 0
    assert collect_orphans(settings)["originals"] + collect_orphans(settings)["tmp"] == 0  # young: kept
    counts = collect_orphans(settings, older_than_s=0)
    assert counts["tmp" if where == "mid-write" else "originals"] == 1
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_a_pdf_of_huge_pages_is_budgeted_from_its_page_sizes_without_rendering(settings: Settings, runner) -> None:
    import io
    import tracemalloc

    from reportlab.lib.pagesizes import A0
    from reportlab.pdfgen import canvas

    from intake.auth.service import SYSTEM
    from intake.errors import OverBudget
    from intake.pipeline.load import measure

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A0)
    for _ in range(30):
        c.drawString(100, 100, "x")
        c.showPage()
    c.save()
    data = buf.getvalue()
    tracemalloc.start()
    kind, pages, megapixels = measure(data, settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (kind, pages) == ("pdf", 30) and 30 * 139 < megapixels < 30 * 141  # A0 at 300 dpi: 140 MP a page
    assert peak < 20 * MiB  # one A0 page rendered would be 140 MB
    with pytest.raises(OverBudget) as exc:
        service.create_batch(iter([("a0.pdf", data)]), SYSTEM, settings.model_copy(update={"max_file_megapixels": 2000}))
    assert "30 pages add up to 4,185 megapixels" in exc.value.message
