"""The batch service in-process: upload -> pages -> records, dedupe, bad uploads, progress,
cancel, re-run, the sweeper, and assembly's idempotence. Real files, real pipeline."""

from __future__ import annotations

import io
import json
import re
import struct
import tracemalloc
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas
from sqlalchemy import func, select, update

from intake import dispatch
from intake.auth.service import SYSTEM
from intake.batches import service
from intake.batches.assembly import assemble_batch
from intake.batches.inprocess import InlineDispatcher
from intake.batches.processing import process_page
from intake.batches.progress import batch_progress
from intake.config import Settings
from intake.db.models import (
    Batch,
    BatchFile,
    Page,
    PageEvent,
    Record,
    RecordEvent,
    RecordField,
    utcnow,
)
from intake.db.session import get_db
from intake.errors import EmptyFile, InputError, TooManyFiles, UnsupportedFileType
from intake.storage import get_storage


@pytest.fixture
def runner(settings: Settings) -> InlineDispatcher:
    r = InlineDispatcher(settings)
    dispatch.install(settings, r)
    return r


@pytest.fixture
def any_runner(any_settings: Settings) -> tuple[Settings, InlineDispatcher]:
    """(settings, runner) on SQLite and on PostgreSQL."""
    r = InlineDispatcher(any_settings)
    dispatch.install(any_settings, r)
    return any_settings, r


def drain(r: InlineDispatcher) -> int:
    n = 0
    while r.run_next() is not None:
        n += 1
    return n


def upload(settings: Settings, *files: tuple[str, bytes]) -> int:
    return service.create_batch(iter(files), SYSTEM, settings)


def rows(settings: Settings, model, *where):  # noqa: ANN001, ANN201
    with get_db(settings).read_session() as s:
        return list(s.scalars(select(model).where(*where)))


def png_bomb(w: int = 100_000, h: int = 100_000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def encrypted_pdf() -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt="secret")
    c.drawString(100, 100, "hello")
    c.showPage()
    c.save()
    return buf.getvalue()


# ---------------------------------------------------------------- the whole way
@pytest.mark.slow
def test_synthetic_batch_becomes_records_with_provenance(settings: Settings, runner, synth_forms: list[Path]) -> None:
    batch_id = upload(settings, *[(p.name, p.read_bytes()) for p in synth_forms])
    with get_db(settings).read_session() as s:
        assert batch_progress(s, s.get(Batch, batch_id)).eta_seconds is None  # nothing read yet: no guess
    drain(runner)
    pages = rows(settings, Page, Page.batch_id == batch_id)
    assert len(pages) == 2 * len(synth_forms)
    assert {p.status for p in pages} == {"read"}
    records = rows(settings, Record, Record.batch_id == batch_id)
    assert len(records) == len(synth_forms)
    assert sorted(r.revision for r in records) == [r.revision for r in sorted(records, key=lambda r: r.id)]
    storage = get_storage(settings)
    for rec, path in zip(sorted(records, key=lambda r: r.id), synth_forms, strict=True):
        assert rec.template_id == "child_protection" and rec.status in ("accepted", "needs_review")
        truth_file = path.with_suffix(".json")
        if truth_file.exists():  # synthetic truth: most accepted values are right
            truth = json.loads(truth_file.read_text())["fields"]
            fields = rows(settings, RecordField, RecordField.record_id == rec.id)
            accepted = [f for f in fields if f.status == "accepted" and "[" not in f.path]
            right = [f for f in accepted if f.value == truth.get(f.path)]
            assert len(right) >= 0.8 * len(accepted), [(f.path, f.value, truth.get(f.path)) for f in accepted
                                                       if f not in right]
    fields = rows(settings, RecordField, RecordField.record_id == records[0].id)
    with_crop = [f for f in fields if f.crop_key]
    assert with_crop and all(storage.exists(f.crop_key) for f in with_crop)
    assert all(f.page_id in {p.id for p in pages} and len(f.box) == 4 and f.engine for f in fields)
    assert all(p.preview_key and storage.exists(p.preview_key) for p in pages)
    with get_db(settings).read_session() as s:
        batch = s.get(Batch, batch_id)
        assert batch.status == "done"
        prog = batch_progress(s, batch)
        assert (prog.done, prog.total, prog.eta_seconds) == (len(pages), len(pages), 0.0)


def test_two_pages_in_two_files_assemble_into_one_record(settings: Settings, runner, blank_pages) -> None:
    batch_id = upload(settings, *[(p.name, p.read_bytes()) for p in blank_pages])
    drain(runner)
    records = rows(settings, Record, Record.batch_id == batch_id)
    assert len(records) == 1
    pages = rows(settings, Page, Page.batch_id == batch_id)
    assert {p.instance_id for p in pages} == {records[0].instance_id}
    assert records[0].status == "needs_review"  # a blank form lacks required fields


def test_pages_in_the_wrong_order_make_two_records(settings: Settings, runner, blank_pages) -> None:
    batch_id = upload(settings, *[(p.name, p.read_bytes()) for p in reversed(blank_pages)])
    drain(runner)
    records = rows(settings, Record, Record.batch_id == batch_id)
    assert len(records) == 2
    assert all(any(e["code"] == "pages_missing" for e in r.errors) for r in records)


# ---------------------------------------------------------------- idempotence
def test_every_stage_can_run_again_without_duplicates(any_runner, blank_pages) -> None:
    settings, runner = any_runner
    batch_id = upload(settings, *[(p.name, p.read_bytes()) for p in blank_pages])
    drain(runner)
    (rec,) = rows(settings, Record, Record.batch_id == batch_id)
    pages = rows(settings, Page, Page.batch_id == batch_id)
    events_before = len(rows(settings, PageEvent))
    for p in pages:
        assert process_page(p.id, settings=settings) == "already_final"  # a redelivered message
    assert assemble_batch(batch_id, settings=settings)["records_changed"] == 0
    assert len(rows(settings, PageEvent)) == events_before  # nothing happened, nothing recorded
    # a re-run reads the page again; the same content keeps the same record and revision
    service.rerun_page(pages[1].id, SYSTEM, settings)
    assert drain(runner) == 1
    (again,) = rows(settings, Record, Record.batch_id == batch_id)
    assert (again.id, again.revision) == (rec.id, rec.revision)
    (batch,) = rows(settings, Batch, Batch.id == batch_id)
    assert batch.status == "done"


def test_revision_moves_only_when_content_changes_and_regrouping_supersedes(settings: Settings, runner,
                                                                            blank_pages) -> None:
    batch_id = upload(settings, *[(p.name, p.read_bytes()) for p in blank_pages])
    drain(runner)
    (rec,) = rows(settings, Record, Record.batch_id == batch_id)
    p1, p2 = sorted(rows(settings, Page, Page.batch_id == batch_id), key=lambda p: p.position)
    db = get_db(settings)

    def set_result(page_id: int, **changes) -> None:  # noqa: ANN003
        with db.session() as s:
            page = s.get(Page, page_id)
            page.result = {**page.result, **changes}
            for k in ("status", "template_page"):
                if k in changes:
                    setattr(page, k, changes[k])
            if "form_id" in changes:
                page.template_id = changes["form_id"]
            page.needs_assembly = True

    original = dict(p1.result)
    # page 1 turns out not to be a form: its record (keyed by page 1) is superseded, page 2 stands alone
    set_result(p1.id, status="unidentified", form_id=None, version=None, template_page=None, fields=[])
    assemble_batch(batch_id, settings=settings)
    recs = {r.id: r for r in rows(settings, Record, Record.batch_id == batch_id)}
    assert recs[rec.id].status == "superseded" and recs[rec.id].revision > rec.revision
    (alone,) = [r for r in recs.values() if r.id != rec.id]
    assert alone.status == "needs_review"
    # back as it was: the first record returns with a newer revision; page 2's own is superseded
    set_result(p1.id, **original)
    assemble_batch(batch_id, settings=settings)
    recs = {r.id: r for r in rows(settings, Record, Record.batch_id == batch_id)}
    assert recs[rec.id].status == rec.status and recs[rec.id].revision > alone.revision
    assert recs[alone.id].status == "superseded"
    assert len(recs) == 2
    top = max(r.revision for r in recs.values())
    assert assemble_batch(batch_id, settings=settings)["records_changed"] == 0
    assert max(r.revision for r in rows(settings, Record)) == top
    # every revision a record took has its event, written with it (the history and the outbox)
    events = sorted(rows(settings, RecordEvent), key=lambda e: e.revision)
    assert [(e.record_id, e.kind, e.status) for e in events] == [
        (rec.id, "created", rec.status), (alone.id, "created", "needs_review"), (rec.id, "superseded", "superseded"),
        (rec.id, "updated", rec.status), (alone.id, "superseded", "superseded")]
    assert [e.revision for e in events if e.record_id == rec.id][-1] == recs[rec.id].revision
    assert all(e.actor == "system" for e in events)


# ---------------------------------------------------------------- dedupe
def test_the_same_file_twice_is_linked_not_processed_again(any_runner, blank_pages) -> None:
    settings, runner = any_runner
    a, b = (p.read_bytes() for p in blank_pages)
    first = upload(settings, ("a.png", a), ("b.png", b), ("a-again.png", a))
    assert drain(runner) == 2  # two pages, not three
    second = upload(settings, ("scan-copy.png", a))
    assert drain(runner) == 0
    assert rows(settings, Page, Page.batch_id == second) == []
    files = {f.filename: f for f in rows(settings, BatchFile)}
    assert files["a-again.png"].status == files["scan-copy.png"].status == "duplicate"
    assert files["a-again.png"].duplicate_of_id == files["scan-copy.png"].duplicate_of_id == files["a.png"].id
    with get_db(settings).read_session() as s:
        view = service.batch_view(s, s.get(Batch, second))
        assert view.status == "done" and view.progress.total == 0
        (f,) = view.files
        assert f.duplicate_of.batch_id == first
        (linked,) = f.linked_pages
        assert linked.status == "read" and linked.record_id is not None
        assert s.scalar(select(func.count()).select_from(Record)) == 1


def test_a_file_from_a_cancelled_batch_is_read_when_uploaded_again(settings: Settings, runner, blank_pages) -> None:
    data = blank_pages[0].read_bytes()
    first = upload(settings, ("a.png", data))
    service.cancel_batch(first, SYSTEM, settings)
    drain(runner)
    second = upload(settings, ("a.png", data))
    assert drain(runner) == 1
    assert [p.status for p in rows(settings, Page, Page.batch_id == second)] == ["read"]


# ---------------------------------------------------------------- bad uploads
def test_bad_files_are_refused_with_named_reasons_and_good_ones_kept(settings: Settings, runner,
                                                                     blank_pages) -> None:
    good = blank_pages[0].read_bytes()
    truncated = good[: len(good) * 6 // 10]
    batch_id = upload(
        settings,
        ("good.png", good),
        ("empty.pdf", b""),
        ("really-a-png.pdf", blank_pages[1].read_bytes()),
        ("notes.png", b"Dear colleague,\nplease find the scans attached.\n"),
        ("truncated.png", truncated),
        ("locked.pdf", encrypted_pdf()),
        ("bomb.png", png_bomb()),
        ("archive.tif", b"PK\x03\x04" + b"\0" * 100),
    )
    drain(runner)
    files = {f.filename: f for f in rows(settings, BatchFile, BatchFile.batch_id == batch_id)}
    assert {n: (f.status, f.error_code) for n, f in files.items()} == {
        "good.png": ("accepted", None),
        "empty.pdf": ("refused", "empty_file"),
        "really-a-png.pdf": ("accepted", None),
        "notes.png": ("refused", "unsupported_file_type"),
        "truncated.png": ("accepted", None),
        "locked.pdf": ("refused", "encrypted_file"),
        "bomb.png": ("refused", "page_too_large"),
        "archive.tif": ("refused", "unsupported_file_type"),
    }
    assert files["really-a-png.pdf"].kind == "png"
    assert all(f.error_message and len(f.error_message) > 15 for f in files.values() if f.status == "refused")
    pages = {files_by_id.filename: p for p in rows(settings, Page, Page.batch_id == batch_id)
             for files_by_id in [next(f for f in files.values() if f.id == p.file_id)]}
    assert pages["good.png"].status == pages["really-a-png.pdf"].status == "read"
    assert (pages["truncated.png"].status, pages["truncated.png"].error_code) == ("unreadable_file", "corrupt_file")
    assert "damaged" in pages["truncated.png"].error_message
    assert len(rows(settings, Record, Record.batch_id == batch_id)) == 1  # pages 1 and 2 of one form


def test_a_decompression_bomb_is_refused_without_allocating(settings: Settings) -> None:
    from intake.batches.upload import judge

    bomb = png_bomb()
    tracemalloc.start()
    j = judge(0, "bomb.png", bomb, settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert j.error is not None and j.error.code == "page_too_large"
    assert peak < 5 * 2**20  # 10^10 pixels would need 10 GB


def test_limits_on_pages_size_and_files(settings: Settings) -> None:
    from intake.forms.registry import default_registry
    from intake.forms.render import render_pdf

    three_pages = render_pdf(default_registry().get("domestic_violence"))
    tight = settings.model_copy(update={"max_pages_per_file": 2, "max_upload_bytes": 50_000, "max_files_per_batch": 2})
    with pytest.raises(InputError) as exc:
        upload(tight, ("dv.pdf", three_pages))
    assert exc.value.code in ("too_many_pages", "file_too_large")
    tight = settings.model_copy(update={"max_pages_per_file": 2})
    with pytest.raises(InputError) as exc:
        upload(tight, ("dv.pdf", three_pages))
    assert exc.value.code == "too_many_pages" and "dv.pdf" in exc.value.message
    tight = settings.model_copy(update={"max_upload_bytes": 1000})
    with pytest.raises(InputError) as exc:
        upload(tight, ("dv.pdf", three_pages))
    assert exc.value.code == "file_too_large"
    tight = settings.model_copy(update={"max_files_per_batch": 2})
    with pytest.raises(TooManyFiles):
        upload(tight, ("a.pdf", three_pages), ("b.pdf", three_pages), ("c.pdf", three_pages))
    assert rows(settings, Batch) == []  # nothing half-made


def test_an_upload_with_no_acceptable_file_creates_nothing(settings: Settings) -> None:
    with pytest.raises(EmptyFile):
        upload(settings, ("empty.png", b""))
    with pytest.raises(UnsupportedFileType) as exc:
        upload(settings, ("a.txt", b"hello there, this is text"), ("b.png", b""))
    assert "a.txt" in exc.value.message and "b.png" in exc.value.message
    assert rows(settings, Batch) == []


# ---------------------------------------------------------------- progress, cancel, sweeper
def test_progress_eta_is_null_until_a_page_is_done_then_from_the_observed_rate(settings: Settings, runner,
                                                                                blank_pages) -> None:
    data = [p.read_bytes() for p in blank_pages]
    batch_id = upload(settings, ("1.png", data[0]), ("2.png", data[1]),
                      ("1b.png", data[0] + b"\0"), ("2b.png", data[1] + b"\0"))
    with get_db(settings).read_session() as s:
        p = batch_progress(s, s.get(Batch, batch_id))
    assert (p.done, p.total, p.eta_seconds) == (0, 4, None)
    runner.run_next()
    with get_db(settings).read_session() as s:
        batch = s.get(Batch, batch_id)
        p = batch_progress(s, batch, now=batch.started_at + timedelta(seconds=10))
    assert (p.done, p.total) == (1, 4)
    assert p.eta_seconds == pytest.approx(30.0)  # 1 page in 10 s, 3 to go
    drain(runner)
    with get_db(settings).read_session() as s:
        p = batch_progress(s, s.get(Batch, batch_id))
    assert (p.done, p.total, p.eta_seconds) == (4, 4, 0.0)


def test_cancel_stops_the_pages_not_yet_read(settings: Settings, runner, blank_pages) -> None:
    batch_id = upload(settings, *[(p.name, p.read_bytes()) for p in blank_pages])
    runner.run_next()
    service.cancel_batch(batch_id, SYSTEM, settings)
    drain(runner)
    pages = sorted(rows(settings, Page, Page.batch_id == batch_id), key=lambda p: p.position)
    assert [p.status for p in pages] == ["read", "cancelled"]
    (batch,) = rows(settings, Batch, Batch.id == batch_id)
    assert batch.status == "cancelled"
    from intake.errors import Conflict

    with pytest.raises(Conflict):
        service.cancel_batch(batch_id, SYSTEM, settings)
    with pytest.raises(Conflict):
        service.rerun_page(pages[0].id, SYSTEM, settings)


def test_sweeper_re_enqueues_lost_work_and_a_poison_page_fails(settings: Settings, runner, blank_pages) -> None:
    batch_id = upload(settings, *[(p.name, p.read_bytes()) for p in blank_pages])
    runner.pending.clear()  # the broker lost both messages
    old = utcnow() - timedelta(seconds=settings.stuck_after_s + 5)
    with get_db(settings).session() as s:
        p1, p2 = s.scalars(select(Page).where(Page.batch_id == batch_id).order_by(Page.position))
        p1.updated_at = p1.enqueued_at = old
        # read by a worker that died: its lease lapsed a moment ago (nobody renews it)
        p2.status, p2.stage, p2.attempts = "processing", "reading", 1
        p2.lease_until = utcnow() - timedelta(seconds=1)
    assert service.sweep(settings=settings) == {"queued": 1, "processing": 1, "assemblies": 0}
    assert sorted(runner.pending) == sorted([("page", p1.id), ("page", p2.id)])
    assert service.sweep(settings=settings)["queued"] == 0  # fresh again: not swept twice
    drain(runner)
    assert {p.status for p in rows(settings, Page, Page.batch_id == batch_id)} == {"read"}
    assert len(rows(settings, Record, Record.batch_id == batch_id)) == 1
    # a page whose every attempt kills the worker: fails after max_page_attempts, with a reason
    service.rerun_page(p2.id, SYSTEM, settings)
    runner.pending.clear()
    with get_db(settings).session() as s:
        s.execute(update(Page).where(Page.id == p2.id).values(attempts=settings.max_page_attempts))
    assert process_page(p2.id, settings=settings) == "failed"
    (page,) = rows(settings, Page, Page.id == p2.id)
    assert (page.status, page.error_code) == ("failed", "too_many_attempts")
    assemble_batch(batch_id, settings=settings)
    (batch,) = rows(settings, Batch, Batch.id == batch_id)
    assert batch.status == "done"


def test_a_second_message_for_a_page_being_read_is_dropped_but_a_redelivery_takes_over(
        settings: Settings, runner, blank_pages) -> None:
    from intake.batches import processing

    upload(settings, ("1.png", blank_pages[0].read_bytes()))
    (_, page_id) = runner.pending.popleft()
    claim = processing._claim(page_id, settings, "w1", "msgA")
    assert isinstance(claim, processing.Claim)
    # the sweeper's copy arrives while message-a is being worked on: nothing is counted or done
    assert processing.process_page(page_id, settings=settings, delivery_id="msgB") == "busy"
    (page,) = rows(settings, Page, Page.id == page_id)
    assert (page.status, page.attempts, page.run_id) == ("processing", 1, "msgA")
    # the worker running message-a died; the broker delivers message-a again: it takes over
    assert processing.process_page(page_id, settings=settings, delivery_id="msgA") == "done"
    (page,) = rows(settings, Page, Page.id == page_id)
    assert (page.status, page.attempts) == ("read", 2)
    finals = [e for e in rows(settings, PageEvent, PageEvent.page_id == page_id) if e.stage == "done"]
    assert len(finals) == 1


def test_lost_assembly_is_re_enqueued(settings: Settings, runner, blank_pages) -> None:
    batch_id = upload(settings, ("1.png", blank_pages[0].read_bytes()))
    (kind, page_id) = runner.pending.popleft()
    process_page(page_id, settings=settings)  # read, but the assembly message was lost
    with get_db(settings).session() as s:
        s.execute(update(Page).where(Page.id == page_id).values(
            finished_at=utcnow() - timedelta(seconds=settings.stuck_after_s + 1)))
    assert service.sweep(settings=settings)["assemblies"] == 1
    drain(runner)
    (batch,) = rows(settings, Batch, Batch.id == batch_id)
    assert batch.status == "done" and len(rows(settings, Record)) == 1


def test_work_is_enqueued_only_after_commit(settings: Settings, runner, blank_pages) -> None:
    with pytest.raises(RuntimeError), get_db(settings).session() as s:
        dispatch.enqueue_page(123, settings=settings, session=s)
        assert not runner.pending  # not before the commit
        raise RuntimeError("rolled back")
    assert not runner.pending  # and never after a rollback
    with get_db(settings).session() as s:
        dispatch.enqueue_page(124, settings=settings, session=s)
        assert not runner.pending
    assert list(runner.pending) == [("page", 124)]
    runner.pending.clear()


def test_without_a_broker_the_process_that_runs_the_work_installs_its_dispatcher(settings: Settings) -> None:
    """The seam knows no job: with no broker and no in-process dispatcher, enqueueing is refused
    by name instead of going nowhere; `intake serve` (the app) installs a thread that runs the
    jobs, once per settings, and stops it at shutdown."""
    from intake.api import create_app
    from intake.batches import inprocess
    from intake.errors import ConfigError

    with pytest.raises(ConfigError, match="INTAKE_BROKER_URL is not set"):
        dispatch.dispatcher_for(settings)
    with pytest.raises(ConfigError), get_db(settings).session() as s:
        dispatch.enqueue_page(1, settings=settings, session=s)
    create_app(settings)
    d = dispatch.dispatcher_for(settings)
    assert isinstance(d, inprocess.ThreadDispatcher)
    create_app(settings)
    assert dispatch.dispatcher_for(settings) is d
    inprocess.stop(settings)
    assert dispatch.installed(settings) is None


def test_too_many_files_is_checked(settings: Settings) -> None:
    tight = settings.model_copy(update={"max_files_per_batch": 1})
    with pytest.raises(TooManyFiles):
        upload(tight, ("a.png", b"x"), ("b.png", b"y"))


def test_intake_process_reads_a_folder_with_a_progress_bar(settings: Settings, blank_pages, tmp_path: Path) -> None:
    from rich.console import Console

    from intake.batches.cli import process_paths

    folder = tmp_path / "scans"
    folder.mkdir()
    for p in blank_pages:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "truth.json").write_text("{}")  # not a scan: left out of a folder
    out = io.StringIO()
    assert process_paths([folder], settings, Console(file=out, width=120)) == 0
    text = out.getvalue()
    assert "2 page(s) (2 read), 1 record(s)" in text and str(tmp_path / "intake.db") in text
    # a line per record: form, status, accepted fields and why the rest need a person (a blank
    # form: its required fields are missing), never a value
    row = next(line for line in text.splitlines() if line.startswith("1 "))
    assert "needs_review" in row and "required" in row and re.search(r"\d+ / \d+", row), row
    (folder / "notes.png").write_text("just some words")
    out = io.StringIO()
    assert process_paths([folder / "notes.png"], settings, Console(file=out, width=120)) == 2
    assert "unsupported_file_type" in out.getvalue()
