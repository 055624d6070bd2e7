"""Pages the pipeline could not place, in-process on SQLite and PostgreSQL: a blank page
recognised and set aside, an unregistered page placed by four points, an unidentified page
placed by choosing its template page; and the clerk's side: what needs review, the problems-only
filter and paging. Real scans (synthetic forms), real pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from intake import dispatch
from intake.auth.service import SYSTEM, user_principal
from intake.batches import service
from intake.batches.inprocess import InlineDispatcher
from intake.config import Settings
from intake.db.models import (
    AuditEntry,
    Batch,
    FormInstance,
    Page,
    PageEvent,
    PagePlacement,
    Record,
    RecordEvent,
    RecordField,
    User,
)
from intake.db.session import get_db
from intake.errors import Conflict, PermissionDenied
from intake.pipeline.place import PlacementInvalid, check_points
from intake.placement import service as placement
from tests.conftest import make_users
from tests.placement.scans import (
    SteepForm,
    make_blank_sheet,
    make_other_version_form,
    make_steep_form,
)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def steep_form(tmp_path_factory: pytest.TempPathFactory) -> SteepForm:
    return make_steep_form(tmp_path_factory.mktemp("steep"))


@pytest.fixture(scope="session")
def other_version_form(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], dict]:
    return make_other_version_form(tmp_path_factory.mktemp("v2"))


@pytest.fixture(scope="session")
def blank_sheet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_blank_sheet(tmp_path_factory.mktemp("blank") / "back-of-sheet.png")


@pytest.fixture
def any_runner(any_settings: Settings) -> tuple[Settings, InlineDispatcher]:
    r = InlineDispatcher(any_settings)
    dispatch.install(any_settings, r)
    return any_settings, r


def drain(r: InlineDispatcher) -> int:
    n = 0
    while r.run_next() is not None:
        n += 1
    return n


def upload(settings: Settings, *paths: Path) -> int:
    return service.create_batch(iter([(p.name, p.read_bytes()) for p in paths]), SYSTEM, settings)


def rows(settings: Settings, model, *where):  # noqa: ANN001, ANN201
    with get_db(settings).read_session() as s:
        return list(s.scalars(select(model).where(*where)))


def people(settings: Settings) -> dict:
    ids = make_users(settings)
    with get_db(settings).read_session() as s:
        return {name: user_principal(s.get(User, uid)) for name, uid in ids.items()}


def pages_of(settings: Settings, batch_id: int) -> list[Page]:
    return sorted(rows(settings, Page, Page.batch_id == batch_id), key=lambda p: p.position)


def live_records(settings: Settings, batch_id: int) -> list[Record]:
    return rows(settings, Record, Record.batch_id == batch_id, Record.status != "superseded")


def review(settings: Settings, batch_id: int):  # noqa: ANN201
    with get_db(settings).read_session() as s:
        return service.review_counts(s, [batch_id])[batch_id]


# ---------------------------------------------------------------- the four points
def test_points_must_go_round_the_form_clockwise() -> None:
    good = [[0.1, 0.1], [0.9, 0.12], [0.88, 0.9], [0.12, 0.88]]
    assert check_points(good) == tuple(tuple(p) for p in good)
    upside_down = [good[2], good[3], good[0], good[1]]  # the form's top-left at the image's bottom-right
    assert check_points(upside_down)
    for bad, words in [
        (good[:3], "exactly four"),
        ([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9]], "clockwise"),  # crossing: a bow tie
        (list(reversed(good)), "clockwise"),  # anticlockwise: a mirror image
        ([[0.1, 0.1], [0.2, 0.1], [0.2, 0.2], [0.1, 0.2]], "too close"),
        ([[0.1, 0.1], [1.2, 0.1], [0.9, 0.9], [0.1, 0.9]], "inside the image"),
    ]:
        with pytest.raises(PlacementInvalid, match=words):
            check_points(bad)


# ---------------------------------------------------------------- blank pages
def test_a_blank_page_is_recognised_does_not_split_its_form_and_is_set_aside(
        any_runner, blank_pages: list[Path], blank_sheet: Path) -> None:
    """The back of page 1 scanned between the form's two pages: `blank`, not "form not
    recognised"; the form's two pages still make one record; a supervisor sets the blank page
    aside (a clerk may not), and it no longer counts as a problem of the batch."""
    settings, runner = any_runner
    who = people(settings)
    batch_id = upload(settings, blank_pages[0], blank_sheet, blank_pages[1])
    drain(runner)
    p1, blank, p2 = pages_of(settings, batch_id)
    assert (p1.status, blank.status, p2.status) == ("read", "blank", "read")
    assert blank.error_code == "blank" and "blank" in blank.error_message
    assert blank.template_id is None and blank.preview_key
    (rec,) = live_records(settings, batch_id)
    (inst,) = rows(settings, FormInstance, FormInstance.id == rec.instance_id)
    assert inst.page_ids == [p1.id, p2.id]  # one form across the blank page
    assert not any(e["code"] == "pages_missing" for e in rec.errors)
    counts = review(settings, batch_id)
    assert (counts.pages_to_place, counts.records_needs_review, counts.pages_needs_review) == (1, 1, 2)

    with pytest.raises(PermissionDenied):
        placement.set_aside(blank.id, who["clerk"], settings)
    with pytest.raises(Conflict):
        placement.set_aside(p1.id, who["supervisor"], settings)  # part of a form
    placement.set_aside(blank.id, who["supervisor"], settings)
    drain(runner)
    (aside,) = rows(settings, Page, Page.id == blank.id)
    assert aside.status == "set_aside" and aside.error_code == "blank" and not aside.needs_assembly
    assert review(settings, batch_id).pages_to_place == 0
    (again,) = live_records(settings, batch_id)
    assert (again.id, again.revision) == (rec.id, rec.revision)  # nothing about the record changed
    (entry,) = rows(settings, AuditEntry, AuditEntry.action == "page.set_aside")
    assert entry.actor == who["supervisor"].actor and entry.object_id == str(blank.id)
    assert entry.detail == {"status": "blank", "batch": batch_id}
    assert rows(settings, PageEvent, PageEvent.page_id == blank.id)[-1].status == "set_aside"
    (batch,) = rows(settings, Batch, Batch.id == batch_id)
    assert batch.status == "done"


def test_setting_aside_joins_a_form_and_reading_the_page_again_splits_it(
        any_runner, blank_pages: list[Path], other_version_form: tuple[list[Path], dict]) -> None:
    """A page that is not one of our forms between a form's two pages splits it into two records
    (each missing a page). Set aside, the two pages make one record; read again (it is still
    not a form), the form is split as before: the records follow, each change a new revision."""
    settings, runner = any_runner
    who = people(settings)
    stranger = other_version_form[0][0]  # its QR names a form version not installed: unidentified
    batch_id = upload(settings, blank_pages[0], stranger, blank_pages[1])
    drain(runner)
    p1, odd, p2 = pages_of(settings, batch_id)
    assert odd.status == "unidentified"
    first, second = sorted(live_records(settings, batch_id), key=lambda r: r.id)
    assert all(any(e["code"] == "pages_missing" for e in r.errors) for r in (first, second))

    placement.set_aside(odd.id, who["supervisor"], settings)
    drain(runner)
    (joined,) = live_records(settings, batch_id)
    assert joined.id == first.id and not any(e["code"] == "pages_missing" for e in joined.errors)
    (inst,) = rows(settings, FormInstance, FormInstance.id == joined.instance_id)
    assert inst.page_ids == [p1.id, p2.id]

    service.rerun_page(odd.id, who["supervisor"], settings)  # re-run: it is read again
    drain(runner)
    assert [p.status for p in pages_of(settings, batch_id)] == ["read", "unidentified", "read"]
    again = sorted(live_records(settings, batch_id), key=lambda r: r.id)
    assert [r.id for r in again] == [first.id, second.id]
    assert all(any(e["code"] == "pages_missing" for e in r.errors) for r in again)
    kinds = [(e.record_id, e.kind) for e in sorted(rows(settings, RecordEvent), key=lambda e: e.revision)]
    assert kinds == [(first.id, "created"), (second.id, "created"), (first.id, "updated"),
                     (second.id, "superseded"), (first.id, "updated"), (second.id, "updated")]


# ---------------------------------------------------------------- four points
@pytest.mark.slow
def test_an_unregistered_page_fixed_by_four_points_is_read_and_becomes_a_record(
        any_runner, steep_form: SteepForm) -> None:
    settings, runner = any_runner
    who = people(settings)
    batch_id = upload(settings, *steep_form.files)
    drain(runner)
    p1, p2 = pages_of(settings, batch_id)
    assert (p1.status, p2.status) == ("unregistered", "read")
    assert (p1.template_id, p1.template_page) == ("child_protection", 1)  # the form is known from its QR code
    assert p1.alignment < 0.8
    (rec,) = live_records(settings, batch_id)
    assert rec.status == "needs_review"
    unread = rows(settings, RecordField, RecordField.record_id == rec.id, RecordField.template_page == 0)
    assert unread and all("page_unreadable" in f.errors for f in unread)

    # a person's clicks land within 2 mm of the squares' centres; each is moved onto its square
    w, h = steep_form.size
    mm = 300 / 25.4
    clicks = [[x + dx * mm / w, y + dy * mm / h]
              for (x, y), (dx, dy) in zip(steep_form.marks, [(1.5, -1), (-2, 1), (1, 1.5), (-1.5, -2)], strict=True)]
    with pytest.raises(PermissionDenied):
        placement.place_page(p1.id, who["clerk"], settings, form_id="child_protection", version=1, page=1,
                             points=clicks)
    placement.place_page(p1.id, who["supervisor"], settings, form_id="child_protection", version=1, page=1,
                         points=clicks)
    (queued,) = rows(settings, Page, Page.id == p1.id)
    assert queued.status == "queued"
    drain(runner)

    (read,) = rows(settings, Page, Page.id == p1.id)
    assert read.status == "read" and read.alignment > 0.95
    assert read.result["method"] == "points:marks (4 snapped)"
    (placed,) = rows(settings, PagePlacement, PagePlacement.page_id == p1.id)
    assert placed.points == [list(p) for p in check_points(clicks)] and placed.placed_by_id == who["supervisor"].id
    (after,) = live_records(settings, batch_id)
    assert after.id == rec.id and after.revision > rec.revision  # the same record, with page 1 now read
    fields = {f.path: f for f in rows(settings, RecordField, RecordField.record_id == after.id)}
    page1 = [f for f in fields.values() if f.template_page == 0]
    assert all("page_unreadable" not in f.errors for f in page1)
    truth = steep_form.truth["fields"]
    accepted = [f for f in page1 if f.status == "accepted" and "[" not in f.path]
    assert len(accepted) >= 0.8 * len(page1)
    assert [(f.path, f.value) for f in accepted if f.value != truth.get(f.path)] == []
    assert after.data["child_national_id"] == truth["child_national_id"]
    events = rows(settings, RecordEvent, RecordEvent.record_id == rec.id)
    assert [e.kind for e in sorted(events, key=lambda e: e.revision)] == ["created", "updated"]
    (entry,) = rows(settings, AuditEntry, AuditEntry.action == "page.place")
    assert entry.detail == {"template": "child_protection", "version": 1, "template_page": 1, "kind": "points",
                            "batch": batch_id}


def test_four_points_that_cannot_be_right_leave_the_page_unregistered(any_runner, steep_form: SteepForm) -> None:
    """Points in the right order but on the wrong places (the middle of the page): nothing is
    read against that geometry; the page says the points do not line up."""
    settings, runner = any_runner
    who = people(settings)
    batch_id = upload(settings, steep_form.files[0])
    drain(runner)
    (p1,) = pages_of(settings, batch_id)
    assert p1.status == "unregistered"
    wrong = [[0.3, 0.3], [0.7, 0.3], [0.7, 0.7], [0.3, 0.7]]
    placement.place_page(p1.id, who["admin"], settings, form_id="child_protection", version=1, page=1, points=wrong)
    drain(runner)
    (again,) = rows(settings, Page, Page.id == p1.id)
    assert again.status == "unregistered" and again.alignment < 0.5
    assert "do not line up" in again.error_message and again.result["fields"] == []
    (rec,) = live_records(settings, batch_id)
    assert rec.status == "needs_review"


# ---------------------------------------------------------------- the picker
@pytest.mark.slow
def test_an_unidentified_page_is_placed_by_choosing_its_template_page(
        any_runner, other_version_form: tuple[list[Path], dict]) -> None:
    settings, runner = any_runner
    who = people(settings)
    files, truth = other_version_form
    batch_id = upload(settings, *files)
    drain(runner)
    pages = pages_of(settings, batch_id)
    assert [p.status for p in pages] == ["unidentified", "unidentified"]
    assert "names form child_protection version 2, which is not installed" in pages[0].error_message
    assert live_records(settings, batch_id) == []
    assert review(settings, batch_id).pages_to_place == 2
    for n, p in enumerate(pages, 1):
        placement.place_page(p.id, who["supervisor"], settings, form_id="child_protection", version=1, page=n)
    drain(runner)
    pages = pages_of(settings, batch_id)
    assert [p.status for p in pages] == ["read", "read"]
    assert all(p.result["method"].startswith("chosen:marks") and p.alignment > 0.95 for p in pages)
    (rec,) = live_records(settings, batch_id)
    assert (rec.template_id, rec.template_version) == ("child_protection", 1)
    (inst,) = rows(settings, FormInstance, FormInstance.id == rec.instance_id)
    assert inst.page_ids == [p.id for p in pages]
    fields = rows(settings, RecordField, RecordField.record_id == rec.id)
    accepted = [f for f in fields if f.status == "accepted" and "[" not in f.path]
    assert len(accepted) >= 0.8 * len(fields)
    assert [(f.path, f.value) for f in accepted if f.value != truth["fields"].get(f.path)] == []
    assert review(settings, batch_id).pages_to_place == 0


def test_placing_is_checked_and_only_for_pages_that_could_not_be_placed(
        any_runner, blank_pages: list[Path], blank_sheet: Path) -> None:
    settings, runner = any_runner
    who = people(settings)
    batch_id = upload(settings, blank_pages[0], blank_sheet)
    drain(runner)
    read, blank = pages_of(settings, batch_id)
    sup = who["supervisor"]
    with pytest.raises(PlacementInvalid, match="no form template nope version 1"):
        placement.place_page(blank.id, sup, settings, form_id="nope", version=1, page=1)
    with pytest.raises(PlacementInvalid, match="has 2 page"):
        placement.place_page(blank.id, sup, settings, form_id="child_protection", version=1, page=3)
    with pytest.raises(Conflict, match="this page is read"):
        placement.place_page(read.id, sup, settings, form_id="child_protection", version=1, page=1)
    with pytest.raises(PermissionDenied):
        placement.place_page(blank.id, SYSTEM, settings, form_id="child_protection", version=1, page=2)
    assert rows(settings, PagePlacement) == []
    # a blank page placed by hand is read as the chosen page; forgetting the placement reads it
    # as the pipeline sees it again (blank)
    placement.place_page(blank.id, sup, settings, form_id="child_protection", version=1, page=2)
    drain(runner)
    (placed,) = rows(settings, Page, Page.id == blank.id)
    assert placed.status == "unregistered" and placed.template_page == 2
    assert "click its four corners" in placed.error_message
    placement.clear_placement(blank.id, sup, settings)
    drain(runner)
    (back,) = rows(settings, Page, Page.id == blank.id)
    assert back.status == "blank" and rows(settings, PagePlacement) == []


# ---------------------------------------------------------------- the clerk's side
def test_problems_only_and_paging_follow_positions(any_runner, blank_pages: list[Path], blank_sheet: Path,
                                                   tmp_path: Path) -> None:
    """A batch of 14 pages: a blank form (2 pages, its record needs review) and 12 blank sheets
    in one TIFF, 4 of them set aside. Problems: the 2 form pages and the 8 blank sheets left."""
    settings, runner = any_runner
    who = people(settings)
    sheet = Image.open(blank_sheet)
    tif = tmp_path / "sheets.tif"
    sheet.save(tif, save_all=True, append_images=[sheet] * 11, dpi=(300, 300), compression="tiff_lzw")
    batch_id = upload(settings, *blank_pages, tif)
    drain(runner)
    pages = pages_of(settings, batch_id)
    assert [p.status for p in pages] == ["read"] * 2 + ["blank"] * 12
    for p in pages[3:11:2]:  # positions 3, 5, 7, 9
        placement.set_aside(p.id, who["supervisor"], settings)
    drain(runner)
    problems = [0, 1, 2, 4, 6, 8, 10, 11, 12, 13]
    with get_db(settings).read_session() as s:
        everything = service.page_window(s, batch_id)
        assert [p.position for p in everything.pages] == list(range(14))
        assert (everything.matching, everything.next_start, everything.prev_start) == (14, None, None)
        shown, start = [], 0
        while True:
            w = service.page_window(s, batch_id, problems=True, start=start, limit=4)
            assert w.matching == 10 and w.first == len(shown)
            assert w.prev_start == (None if not shown else problems[max(0, len(shown) - 4)])
            shown += [p.position for p in w.pages]
            if w.next_start is None:
                assert w.last is None
                break
            assert w.last == w.pages[-1].position and w.next_start == w.last + 1
            start = w.next_start
        assert shown == problems
        view = service.batch_view(s, s.get(Batch, batch_id), problems=True, start=5, limit=3)
        assert [p.position for p in view.pages] == [6, 8, 10] and view.pages_next_start == 11
        assert view.pages_matching == 10
        first = {p.position: p for p in service.batch_view(s, s.get(Batch, batch_id)).pages}
        assert first[0].record_status == first[1].record_status == "needs_review"
        assert first[0].record_id == first[1].record_id
        assert first[2].thumbnail_url == f"/api/v1/pages/{pages[2].id}/thumbnail" and first[2].record_id is None
    counts = review(settings, batch_id)
    assert counts.model_dump() == {"records": {"needs_review": 1}, "records_needs_review": 1, "pages_needs_review": 2,
                                   "pages_to_place": 8, "pages_unreadable": 0, "problems": 10}
