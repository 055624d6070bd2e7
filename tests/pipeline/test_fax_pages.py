"""Fax pages that may have lost their writing: a light setting, or a required field read empty.

A fax sent light breaks up its own print and can take a light pen's writing off the page
altogether; nothing is then left to measure in the fields, so "empty" cannot be trusted anywhere
on that page (seed 61: one page's handwriting, ticks and signature had all gone, and four of its
empty readings were accepted). Here a clean synthetic form (dark ink, every required field
filled) is faxed twice by the same steps as `intake synth`'s fax profile (204 x 98 dpi, noise,
a threshold), once at a normal setting and once at a light one.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from intake.forms.registry import default_registry
from intake.pipeline.extract import read_page
from intake.pipeline.load import iter_pages
from intake.pipeline.read import LIGHT_FAX_PRINT_KEPT, WRITING_MAY_BE_LOST, doubt_empties_on_fax
from intake.pipeline.types import FieldStatus
from tests.pipeline.conftest import truth


def _fax(png: Path, out: Path, threshold: int, erase: list | None = None) -> Path:
    """`png` (300 dpi) faxed at `threshold`; the insides of the `erase` boxes (mm) made paper first
    (a light pen's ticks that the light setting took off the page)."""
    a = np.asarray(Image.open(png).convert("L")).copy()
    for x, y, w, h in erase or []:
        px = 300 / 25.4
        a[round((y + 0.6) * px):round((y + h - 0.6) * px), round((x + 0.6) * px):round((x + w - 0.6) * px)] = 255
    h, w = a.shape
    small = cv2.resize(a, (round(w * 204 / 300), round(h * 98 / 300)), interpolation=cv2.INTER_AREA)
    noisy = small.astype(np.int16) + np.random.default_rng(5).normal(0, 18, small.shape).astype(np.int16)
    img = Image.fromarray(np.where(noisy < threshold, 0, 255).astype(np.uint8)).convert("1")
    img.save(out, dpi=(204, 98))
    return out


@pytest.fixture(scope="module")
def faxed(clean_cp: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    """The first page of a clean child-protection form (ticks in a dark pen) faxed at a normal and a
    light setting, and at the light one with its ticks gone (a light pen), read."""
    out = tmp_path_factory.mktemp("fax_pages")
    first = clean_cp / truth(clean_cp, 1)["files"][0]
    reg = default_registry()
    t = reg.get("child_protection")
    boxes = [o.box for s in t.slots() if s.page == 0 and s.field.type == "choice" for o in s.field.options]
    boxes += [s.box for s in t.slots() if s.page == 0 and s.field.type == "checkbox"]
    read = {}
    for name, thr, erase in (("normal", 170, None), ("light", 112, None), ("light_pen", 112, boxes)):
        f = _fax(first, out / f"{name}.tif", thr, erase)
        read[name] = read_page(next(iter_pages(f, f.name)), reg)
    return read


def test_a_light_fax_is_told_from_a_normal_one_by_its_own_print(faxed) -> None:
    normal, light = faxed["normal"], faxed["light"]
    assert normal.quality["cls"] == light.quality["cls"] == "fax"
    assert normal.quality["print_kept"] >= LIGHT_FAX_PRINT_KEPT > light.quality["print_kept"]


def _empties(res) -> list:
    return [r for r in res.fields if r.value in (None, False, "", [])]


def test_on_a_light_fax_whose_ticks_are_gone_no_empty_reading_is_accepted(faxed) -> None:
    normal, light = faxed["normal"], faxed["light_pen"]
    assert light.quality["print_kept"] < LIGHT_FAX_PRINT_KEPT
    # the normal fax: its empty fields are accepted as they were
    assert any(r.status == FieldStatus.ACCEPTED for r in _empties(normal))
    assert not any(WRITING_MAY_BE_LOST in r.errors for r in normal.fields)
    # sent light, its ticks gone: every empty field goes to a person, saying why
    doubted = [r for r in _empties(light) if WRITING_MAY_BE_LOST in r.errors]
    assert doubted and all(r.details["fax_page"] == "light_print" and r.confidence <= 0.5 for r in doubted)
    for r in _empties(light):
        assert r.status == FieldStatus.NEEDS_REVIEW, (r.path, r.errors)
    # what was read stays as read (the typed values came through)
    assert any(r.status == FieldStatus.ACCEPTED for r in light.fields if r not in _empties(light))


def test_a_light_fax_whose_ticks_came_through_keeps_its_empties(faxed) -> None:
    """Sent light, but filled in a dark pen: its ticks came through whole, so the pen did not vanish."""
    light = faxed["light"]
    assert light.quality["print_kept"] < LIGHT_FAX_PRINT_KEPT
    assert not any(WRITING_MAY_BE_LOST in r.errors for r in light.fields)
    assert any(r.status == FieldStatus.ACCEPTED for r in _empties(light))


def test_a_required_field_read_empty_on_a_fax_puts_the_page_s_empties_in_doubt(faxed) -> None:
    """A normal-looking fax whose required field came out empty: its writer's pen may be the one
    that vanished, so the other empties on the page are not sure either."""
    from dataclasses import replace

    from intake.pipeline.quality import PageQuality

    normal = faxed["normal"]
    reg = default_registry()
    t = reg.get(normal.form_id, normal.version)
    required = {s.path for s in t.slots() if s.page == normal.template_page - 1 and s.field.required}
    fields = [replace(r, errors=list(r.errors), details=dict(r.details)) for r in normal.fields]
    victim = next(r for r in fields if r.path in required and r.value not in (None, False, "", []))
    victim.value, victim.status = None, FieldStatus.NEEDS_REVIEW  # as if its pen had gone
    q = PageQuality(**{k: v for k, v in normal.quality.items()})
    assert doubt_empties_on_fax(q, t, normal.template_page - 1, fields) == "required_empty"
    empties = [r for r in fields if r.value in (None, False, "", []) and r is not victim]
    assert empties and all(r.status == FieldStatus.NEEDS_REVIEW and WRITING_MAY_BE_LOST in r.errors for r in empties)
    # and the same page with the field read: nothing changes
    fields = [replace(r, errors=list(r.errors), details=dict(r.details)) for r in normal.fields]
    assert doubt_empties_on_fax(q, t, normal.template_page - 1, fields) is None
    assert [r.status for r in fields] == [r.status for r in normal.fields]


def test_a_mark_the_fax_broke_up_puts_the_page_s_empties_in_doubt(faxed) -> None:
    """A tick offered as a mark broken into specks (found only as faint ink on a fax) shows a pen
    on the page is being lost: the page's other empties are not sure either, even where the print
    and every required field came through."""
    from dataclasses import replace

    from intake.pipeline.quality import PageQuality

    normal = faxed["normal"]
    reg = default_registry()
    t = reg.get(normal.form_id, normal.version)
    q = PageQuality(**{k: v for k, v in normal.quality.items()})
    fields = [replace(r, errors=list(r.errors), details=dict(r.details)) for r in normal.fields]
    assert doubt_empties_on_fax(q, t, normal.template_page - 1, fields) is None
    tick = next(r for r in fields if r.type == "choice" and r.value not in (None, []))
    tick.errors, tick.status = [*tick.errors, "faint_ink"], FieldStatus.NEEDS_REVIEW  # as a broken mark is read
    assert doubt_empties_on_fax(q, t, normal.template_page - 1, fields) == "mark_broken"
    empties = [r for r in fields if r.value in (None, False, "", [])]
    assert empties and all(r.status == FieldStatus.NEEDS_REVIEW and r.details["fax_page"] == "mark_broken"
                           for r in empties)


def test_a_fax_date_every_engine_read_alike_at_a_middling_confidence_goes_to_a_person(tmp_path: Path) -> None:
    """Fresh seed 197 (unseen faces), vulnerable_family form 4 faxed light: a typed referral date
    114年12月27日 read 111年12月27日 by Tesseract (at 61) and both PP-OCR recognisers, a valid date,
    accepted. On a fax, dates, phones and numbers that every engine reads alike are accepted only
    from Tesseract's 70 (read.FAX_DIGITS_MIN_CONF): what the light setting left of a 4 reads 1."""
    from tests.pipeline.conftest import one_form, read_forms

    files = one_form("vulnerable_family@1", tmp_path, seed=197, n=4, profile="fax", hand=0.3, fonts="unseen")
    r = read_forms(files)[0].fields["referral_date"]
    assert r.value == "2022-12-27" and r.details["agreement"] != "disagree" and 30 <= r.details["engine_conf"] < 70
    assert r.status == FieldStatus.NEEDS_REVIEW


def test_a_black_and_white_scan_that_took_a_pencil_off_leaves_no_written_rows_empty_cell_accepted(
        tmp_path: Path) -> None:
    """Seed 251 (unseen faces), vulnerable_family form 3's first page through an office
    scanner's black-and-white mode (200 dpi, threshold 132: `bench/rescans --transforms bw`).
    Its pencil went altogether (no ink left in five fields) while the print came through whole,
    so no fax trigger fired and the five were accepted empty. Their household rows have typed
    cells beside them: a row partly empty on a bilevel page puts the page's empties in doubt."""
    from dataclasses import replace

    from intake.pipeline.quality import PageQuality
    from intake.pipeline.read import _row_partly_empty
    from tests.pipeline.conftest import one_form

    clean = one_form("vulnerable_family@1", tmp_path, seed=251, n=3, profile="clean", hand=0.3, fonts="unseen")[0]
    grey = cv2.resize(cv2.imread(str(clean), cv2.IMREAD_GRAYSCALE), None, fx=2 / 3, fy=2 / 3,
                      interpolation=cv2.INTER_AREA)
    bw = tmp_path / "bw.png"
    Image.fromarray(((grey > 132) * 255).astype(np.uint8)).convert("1").save(bw, dpi=(200, 200))
    page = read_page(next(iter_pages(bw, bw.name)), default_registry())
    assert page.quality["cls"] == "fax" and page.quality["print_kept"] >= LIGHT_FAX_PRINT_KEPT  # not sent light
    fields = {r.path: r for r in page.fields}
    gone = ["contact_phone", "household_members[0].birth_date", "household_members[1].relation",
            "household_members[2].name", "household_members[2].relation"]  # written in pencil
    for path in gone:
        r = fields[path]
        assert r.value is None and r.details["ink_mm2"] == 0.0, path  # nothing left to read
        assert r.status == FieldStatus.NEEDS_REVIEW and WRITING_MAY_BE_LOST in r.errors, path
        assert r.details["fax_page"] == "row_partly_empty", path
    # the typed cells beside them still read and go through
    assert fields["household_members[0].national_id"].value == "E172753984"
    assert fields["household_members[0].national_id"].status == FieldStatus.ACCEPTED
    # rows either whole or empty put nothing in doubt
    t = default_registry().get(page.form_id, page.version)
    rows = [replace(r, value=None) if r.path.startswith("household_members[") else r for r in page.fields]
    assert not _row_partly_empty(t, page.template_page - 1, rows)
    q = PageQuality(**{k: v for k, v in page.quality.items()})
    assert doubt_empties_on_fax(q, t, page.template_page - 1, rows) is None


def test_on_a_page_losing_a_pen_a_reading_short_for_its_writing_goes_to_review(tmp_path: Path) -> None:
    """Seed 251 (unseen faces), domestic_violence form 7's first page through an office
    scanner's black-and-white mode (threshold 157). The reporter's phone, in pencil, went
    altogether (a required field read empty: the page is losing a pen); of the organisation,
    臺北市士林區福德國民小學 in the same pencil, strokes scattered along the line were left, both
    PP-OCR recognisers read 市士民 and their pair rule accepted it over Tesseract. On such a page a
    reading much shorter than its writing may be missing characters; the reporter's name, read
    by the same pair at its writing's length, is not."""
    from intake.pipeline.read import WRITING_PARTLY_LOST
    from intake.review.reasons import UNKNOWN, reason_words
    from tests.pipeline.conftest import one_form

    first = one_form("domestic_violence@1", tmp_path, seed=251, n=7, profile="clean", hand=0.3, fonts="unseen")[0]
    grey = cv2.resize(cv2.imread(str(first), cv2.IMREAD_GRAYSCALE), None, fx=2 / 3, fy=2 / 3,
                      interpolation=cv2.INTER_AREA)
    bw = tmp_path / "bw.png"
    Image.fromarray(((grey > 157) * 255).astype(np.uint8)).convert("1").save(bw, dpi=(200, 200))
    fields = {r.path: r for r in read_page(next(iter_pages(bw, bw.name)), default_registry()).fields}
    assert fields["reporter_phone"].value is None and "required" in fields["reporter_phone"].errors
    org = fields["reporter_organisation"]
    assert org.value != "臺北市士林區福德國民小學" and org.details["accepted_by"] == "ppocr_pair"
    assert org.status == FieldStatus.NEEDS_REVIEW and WRITING_PARTLY_LOST in org.errors
    assert org.details["fax_page"] == "required_empty" and org.details["ink_chars"] > 2 * len(org.value)
    name = fields["reporter_name"]
    assert name.details["accepted_by"] == "ppocr_pair" and name.status == FieldStatus.ACCEPTED
    assert reason_words(WRITING_PARTLY_LOST) != UNKNOWN


def _bw(png: Path, threshold: float, out: Path) -> Path:
    """`png` (300 dpi) through an office scanner's black-and-white mode at 200 dpi
    (`bench/rescans --transforms bw`)."""
    grey = cv2.resize(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE), None, fx=2 / 3, fy=2 / 3, interpolation=cv2.INTER_AREA)
    Image.fromarray(((grey > threshold) * 255).astype(np.uint8)).convert("1").save(out, dpi=(200, 200))
    return out


def test_a_pen_vanishing_from_a_black_and_white_scan_leaves_no_part_of_a_value_accepted(tmp_path: Path) -> None:
    """Seed 577 (unseen faces), domestic_violence form 6 through a black-and-white scan
    (`bench/rescans --transforms bw`: thresholds 163.8 and 145.7 on its first two pages). Its light
    pen went in part: of 陳博文 a 陳 was left, of 新北市板橋區福德街321號 a 板, both accepted; on the
    second page two of violence_types' three ticks went and ['verbal'] was accepted beside
    required fields read empty. A name of one character and an address without its county go to
    a person and put the page's empties in doubt; so does a multiple choice with an option left
    empty on a page in doubt."""
    from intake.pipeline.read import PARTLY_READ
    from intake.review.reasons import UNKNOWN, reason_words
    from tests.pipeline.conftest import one_form

    first, second, _ = one_form("domestic_violence@1", tmp_path, seed=577, n=6, profile="clean", hand=0.3, fonts="unseen")
    reg = default_registry()
    page = read_page(next(iter_pages(p := _bw(first, 163.8, tmp_path / "p1.png"), p.name)), reg)
    assert page.quality["cls"] == "fax" and page.quality["print_kept"] >= LIGHT_FAX_PRINT_KEPT  # not sent light
    fields = {r.path: r for r in page.fields}
    assert (fields["respondent_name"].value, fields["victim_address"].value) == ("陳", "板")
    assert "name.one_character" in fields["respondent_name"].errors
    assert "address.no_county" in fields["victim_address"].errors
    assert all(fields[p].status == FieldStatus.NEEDS_REVIEW for p in ("respondent_name", "victim_address"))
    assert all(reason_words(code) != UNKNOWN for code in PARTLY_READ)
    doubted = [r for r in page.fields if WRITING_MAY_BE_LOST in r.errors]
    assert doubted and {r.details["fax_page"] for r in doubted} == {"partly_read"}
    assert fields["victim_name"].value == "呂淑芬" and fields["victim_name"].status == FieldStatus.ACCEPTED

    page = read_page(next(iter_pages(p := _bw(second, 145.7, tmp_path / "p2.png"), p.name)), reg)
    types = next(r for r in page.fields if r.path == "violence_types")
    assert types.value == ["verbal"]  # two of its three ticks gone
    assert types.status == FieldStatus.NEEDS_REVIEW and WRITING_MAY_BE_LOST in types.errors
    assert types.details["fax_page"] == "required_empty"


def test_only_a_value_the_engines_agreed_on_in_part_puts_a_fax_page_in_doubt(faxed) -> None:
    """An address the engines read apart as garbage (a fax's handwriting) names no county either,
    but says nothing of a pen vanishing: on fresh seed 577's faxes five such had put ten right
    empties in doubt. One the engines agreed on, as 板 for a whole address, does."""
    from dataclasses import replace

    from intake.pipeline.quality import PageQuality

    normal = faxed["normal"]
    t = default_registry().get(normal.form_id, normal.version)
    q = PageQuality(**{k: v for k, v in normal.quality.items()})
    for agreement, why in (("disagree", None), ("agree_tiny", "partly_read")):
        fields = [replace(r, errors=list(r.errors), details=dict(r.details)) for r in normal.fields]
        address = next(r for r in fields if r.type == "address")
        address.value, address.status, address.errors = "板", FieldStatus.NEEDS_REVIEW, ["address.no_county"]
        address.details["agreement"] = agreement
        assert doubt_empties_on_fax(q, t, normal.template_page - 1, fields) == why, agreement
