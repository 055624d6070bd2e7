"""Reading fields (intake.pipeline.read).

The rule that accepts or refuses a text value is tested with fake engines whose answers each test
chooses, one test per branch of `second_opinion` and `route` (the ink on the page is real: the
digit loops are measured on it). The engines themselves read real writing in the tests further
down and in test_engines.py.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from intake.errors import OcrTimeout
from intake.forms.model import Slot, Template
from intake.forms.registry import default_registry
from intake.forms.synth import synthesize
from intake.pipeline import confidence as conf
from intake.pipeline.engines.contract import (
    PSM_SINGLE_LINE,
    CharChoice,
    LineRecognizer,
    LineResult,
    OcrResult,
    PageEngine,
)
from intake.pipeline.engines.ppocr import default_ppocr
from intake.pipeline.engines.tesseract import default_engine
from intake.pipeline.ink import paper_level
from intake.pipeline.read import (
    CANON_DPI,
    PX_PER_MM,
    TINY_AGREE_MIN_CONF,
    PageContext,
    read_checkbox,
    read_slot,
    read_text,
)
from intake.pipeline.types import Agreement, FieldStatus
from intake.values import normalize
from tests.pipeline.conftest import UMING, read_forms, truth


# ------------------------------------------------------------------------- fake engines
class FakeTesseract:
    """A `PageEngine` whose answers the test chooses: each `read` takes the next (text, word
    confidence); reading more often than the test planned fails it."""

    name = "fake-tesseract"

    def __init__(self, *answers: tuple[str, float] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int, int]] = []  # (lang, psm, image height)

    def read(self, image: np.ndarray, *, lang: str, psm: int = PSM_SINGLE_LINE, whitelist: str | None = None,
             symbols: bool = False) -> OcrResult:
        self.calls.append((lang, psm, image.shape[0]))
        assert self.answers, f"Tesseract read a {lang} line more often than the test planned"
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        text, c = answer
        return OcrResult(text, (c,) if text else ())


class FakeRecognizer:
    """A `LineRecognizer` whose answers the test chooses: (text, score 0..1) per line read."""

    def __init__(self, name: str, *answers: tuple[str, float], characters: frozenset[str] | None = None) -> None:
        self.name = name
        self.answers = list(answers)
        self.calls = 0
        if characters is not None:  # what a real recogniser can read at all (PPOCREngine.characters)
            self.characters = characters

    def read_line(self, image: np.ndarray) -> LineResult:
        self.calls += 1
        assert self.answers, f"{self.name} read a line the test did not plan for"
        return LineResult(*self.answers.pop(0))


def test_the_fakes_keep_the_engine_contract() -> None:
    assert isinstance(FakeTesseract(), PageEngine)
    assert isinstance(FakeRecognizer("x"), LineRecognizer)


def page_with(template_id: str, path: str, text: str = "") -> tuple[Template, Slot, np.ndarray]:
    """The blank page of `path`'s field at the reading resolution, with `text` typed in the box."""
    reg = default_registry()
    t = reg.get(template_id)
    [slot] = [s for s in t.slots() if s.path == path]
    page = Image.fromarray(np.array(reg.blank_image(t, slot.page, CANON_DPI)))
    if text:
        x, y, _, _ = slot.box
        font = ImageFont.truetype(UMING, round(4.2 * PX_PER_MM), index=2)
        ImageDraw.Draw(page).text((round((x + 2) * PX_PER_MM), round((y + 1.5) * PX_PER_MM)), text, font=font, fill=20)
    return t, slot, np.asarray(page)


def read_with(template_id: str, path: str, ink: str, tesseract: FakeTesseract, tiny: FakeRecognizer | None = None,
              small: FakeRecognizer | None = None, quality: str | None = None):  # noqa: ANN201 - a FieldReading
    """`quality`: the page's quality class (`quality.CLASSES`), as measured on a page of that kind."""
    from intake.pipeline.quality import PageQuality

    t, slot, page = page_with(template_id, path, ink)
    q = None if quality is None else PageQuality(200.0, 0.0, 1.0, 1.0, 0.0, quality)
    ctx = PageContext(page, paper_level(page), tesseract, template=t, page=slot.page,
                      second=small or FakeRecognizer("small"), fast=tiny or FakeRecognizer("tiny"), quality=q)
    r = read_slot(ctx, slot)
    assert not tesseract.answers, "Tesseract was asked less often than planned"
    for rec in (tiny, small):
        assert rec is None or not rec.answers, f"{rec.name} was asked less often than planned"
    return r


def engines(r) -> list[str]:  # noqa: ANN001
    return [a["engine"] + (":second" if a.get("scale") == "second" else "") for a in r.details["attempts"]]


# ------------------------------------------------------------------------- second opinion
def test_a_value_tesseract_and_the_tiny_recogniser_read_alike_is_settled() -> None:
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("陳淑芬", 95)),
                  tiny=FakeRecognizer("tiny", ("陳淑芬", 0.85)))
    assert r.details["agreement"] == Agreement.AGREE_TINY
    assert (r.value, r.status, r.errors) == ("陳淑芬", FieldStatus.ACCEPTED, [])
    assert r.engine == "tiny+tesseract:chi_tra"
    assert r.details["engine_conf"] == pytest.approx(85)  # the lower of the two agreeing engines
    assert engines(r) == ["tesseract", "tiny"]  # the small recogniser never read


def test_a_tiny_agreement_below_the_floor_is_read_by_the_small_recogniser() -> None:
    below = TINY_AGREE_MIN_CONF / 100 - 0.05
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("陳淑芬", 93)),
                  tiny=FakeRecognizer("tiny", ("陳淑芬", below)), small=FakeRecognizer("small", ("陳淑芬", 0.99)))
    assert r.details["agreement"] == Agreement.AGREE and r.status == FieldStatus.ACCEPTED
    assert r.engine == "small+tesseract:chi_tra"
    assert r.details["engine_conf"] == 93  # the lower of the two agreeing engines
    assert engines(r) == ["tesseract", "tiny", "small"]


def test_the_small_recogniser_agreeing_with_tesseract_after_the_tiny_one_did_not() -> None:
    r = read_with("child_protection", "child_name", "呂志明", FakeTesseract(("呂志明", 88)),
                  tiny=FakeRecognizer("tiny", ("吕志明", 0.995)), small=FakeRecognizer("small", ("呂志明", 0.97)))
    assert (r.details["agreement"], r.value, r.status) == (Agreement.AGREE, "呂志明", FieldStatus.ACCEPTED)


def test_an_agreement_at_the_second_scale() -> None:
    """Tesseract's first reading differs from PP-OCR's; its second reading, of the same writing
    scaled smaller, gives PP-OCR's value: two readings of three agree. Calibrated apart, it is
    accepted for names (0 wrong of 212) and never for dates (too few to bound the error rate)."""
    tess = FakeTesseract(("陳淑芽", 70), ("陳淑芬", 60))
    r = read_with("child_protection", "child_name", "陳淑芬", tess,
                  tiny=FakeRecognizer("tiny", ("陳淑芳", 0.9)), small=FakeRecognizer("small", ("陳淑芬", 0.98)))
    assert r.details["agreement"] == Agreement.AGREE_SECOND
    assert (r.value, r.status, r.details["engine_conf"]) == ("陳淑芬", FieldStatus.ACCEPTED, 60)
    assert engines(r) == ["tesseract", "tiny", "small", "tesseract:second"]
    (_, _, first_h), (_, _, second_h) = tess.calls
    assert second_h < first_h  # the second reading is of the line at the other scale

    r = read_with("child_protection", "report_date", "113年5月3日",
                  FakeTesseract(("113年5月8日", 70), ("113年5月3日", 85)),
                  tiny=FakeRecognizer("tiny", ("113年5月3日", 0.9)), small=FakeRecognizer("small", ("113年5月3日", 0.99)))
    assert r.details["agreement"] == Agreement.AGREE_SECOND
    assert (r.value, r.status, r.errors) == ("2024-05-03", FieldStatus.NEEDS_REVIEW, ["low_confidence"])
    assert conf.accept_cutoff("date", Agreement.AGREE_SECOND) == float("inf")


def test_a_first_reading_that_does_not_validate_is_not_shown_to_the_tiny_recogniser() -> None:
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("", 0), ("陳淑芬", 55)),
                  small=FakeRecognizer("small", ("陳淑芬", 0.93)))
    assert r.details["agreement"] == Agreement.AGREE_SECOND and r.value == "陳淑芬"
    assert engines(r) == ["tesseract", "small", "tesseract:second"]


def test_a_value_tesseract_agreed_with_only_at_a_low_score_can_be_settled_by_the_ppocr_pair() -> None:
    """Seed 617 (unseen faces): a typed 宜蘭縣羅東鎮新莊路168號 read 宣蘭縣... by Tesseract first, then
    right at 36 (`agree_second`), and by both recognisers at 99.8-99.99 with no doubt: it went to
    a person for Tesseract's score, where a Tesseract reading something else would have let the
    pair accept it. Where Tesseract's first reading did not validate, the tiny recogniser reads
    after the small one is sure, as for a disputed value."""
    addr = "宜蘭縣羅東鎮新莊路168號"
    r = read_with("child_protection", "child_address", addr, FakeTesseract(("宣蘭縣羅東鎮新莊路168號", 0), (addr, 36)),
                  tiny=FakeRecognizer("tiny", (addr, 0.998, _sure(addr))), small=FakeRecognizer("small", (addr, 0.9999, _sure(addr))))
    assert r.details["agreement"] == Agreement.AGREE_SECOND
    assert (r.value, r.status, r.details.get("accepted_by")) == (addr, FieldStatus.ACCEPTED, "ppocr_pair")
    name = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("", 0), ("陳淑芬", 20)),
                     tiny=FakeRecognizer("tiny", ("陳淑芬", 0.97, _sure("陳淑芬"))),
                     small=FakeRecognizer("small", ("陳淑芬", 0.98, _sure("陳淑芬"))))
    assert engines(name) == ["tesseract", "small", "tesseract:second", "tiny"]
    assert (name.details["agreement"], name.status) == (Agreement.AGREE_SECOND, FieldStatus.ACCEPTED)


def test_readings_that_disagree_go_to_review_with_ppocrs_reading_offered() -> None:
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("陳淑芽", 70), ("陳叔芽", 50)),
                  tiny=FakeRecognizer("tiny", ("陳淑芳", 0.9)), small=FakeRecognizer("small", ("陳淑芬", 0.98)))
    assert r.details["agreement"] == Agreement.DISAGREE
    assert (r.value, r.engine, r.status, r.errors) == ("陳淑芬", "small", FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    assert r.confidence <= 0.5
    assert [a["text"] for a in r.details["attempts"]] == ["陳淑芽", "陳淑芳", "陳淑芬", "陳叔芽"]


def test_when_ppocr_reads_nothing_valid_tesseracts_reading_is_offered() -> None:
    r = read_with("child_protection", "report_date", "113年5月3日", FakeTesseract(("113年5月3日", 85)),
                  tiny=FakeRecognizer("tiny", ("113年5月", 0.9)), small=FakeRecognizer("small", ("113年5月", 0.6)))
    assert r.details["agreement"] == Agreement.DISAGREE
    assert (r.value, r.engine, r.errors) == ("2024-05-03", "tesseract:chi_tra", ["readings_disagree"])
    assert engines(r) == ["tesseract", "tiny", "small"]  # no second reading: nothing valid to agree with


def test_when_neither_tesseract_nor_the_small_recogniser_reads_a_valid_value_the_tiny_one_is_asked() -> None:
    """The tiny recogniser reads first only after a valid Tesseract reading; where Tesseract and
    the small one both read nothing valid, a valid tiny reading is offered (to review) instead."""
    r = read_with("child_protection", "report_date", "113年5月3日", FakeTesseract(("113年5", 40), ("1135", 30)),
                  tiny=FakeRecognizer("tiny", ("113年5月3日", 0.9)), small=FakeRecognizer("small", ("113年5月", 0.6)))
    assert engines(r) == ["tesseract", "tesseract", "small", "tiny"]
    assert r.details["agreement"] == Agreement.DISAGREE
    assert (r.value, r.engine, r.status, r.errors) == ("2024-05-03", "tiny", FieldStatus.NEEDS_REVIEW,
                                                       ["readings_disagree"])
    # nothing valid from the tiny one either: the small one's reading is offered, as before
    r = read_with("child_protection", "report_date", "113年5月3日", FakeTesseract(("113年5", 40), ("1135", 30)),
                  tiny=FakeRecognizer("tiny", ("113年", 0.9)), small=FakeRecognizer("small", ("113年5月", 0.6)))
    assert engines(r) == ["tesseract", "tesseract", "small", "tiny"] and r.engine == "small"
    assert r.status == FieldStatus.NEEDS_REVIEW


def test_a_confident_valid_date_is_settled_by_tesseract_alone() -> None:
    r = read_with("child_protection", "report_date", "113年5月3日", FakeTesseract(("113年5月3日", 95)))
    assert r.details["agreement"] == Agreement.SINGLE and r.engine == "tesseract:chi_tra"
    assert (r.value, r.status) == ("2024-05-03", FieldStatus.ACCEPTED)
    assert engines(r) == ["tesseract"]
    # below the skip confidence the second engine reads it
    r = read_with("child_protection", "report_date", "113年5月3日", FakeTesseract(("113年5月3日", 89)),
                  tiny=FakeRecognizer("tiny", ("113年5月3日", 0.97)))
    assert r.details["agreement"] == Agreement.AGREE_TINY


def test_on_a_phone_photo_no_value_is_settled_by_tesseract_alone() -> None:
    """On phone photos a blur made a typed phone's 9 a 0 that Tesseract read at 91 (seed 157): 9 and
    0 have one loop each and the number is valid. On a photo the tiny recogniser reads too."""
    r = read_with("child_protection", "report_date", "113年5月3日", FakeTesseract(("113年5月3日", 95)),
                  tiny=FakeRecognizer("tiny", ("113年5月3日", 0.97)), quality="photo")
    assert r.details["agreement"] == Agreement.AGREE_TINY and engines(r) == ["tesseract", "tiny"]
    assert r.status == FieldStatus.ACCEPTED
    r = read_with("child_protection", "report_date", "113年5月3日", FakeTesseract(("113年5月3日", 95)), quality="scan")
    assert r.details["agreement"] == Agreement.SINGLE


def test_a_date_only_the_retry_setting_read_valid_is_not_settled_by_tesseract_alone() -> None:
    """The seed-6 case: a handwritten 43/08/16 read 49/08/76 by chi_tra, 13/08/16 by the eng retry
    at 92; PP-OCR reads it too, and disagreeing, a person looks."""
    r = read_with("child_protection", "report_date", "43/08/16", FakeTesseract(("49/08/76", 56), ("13/08/16", 92), ("13/08/16", 90)),
                  tiny=FakeRecognizer("tiny", ("43/08/16", 0.9)), small=FakeRecognizer("small", ("43/08/16", 0.95)))
    assert r.details["agreement"] != Agreement.SINGLE and r.status == FieldStatus.NEEDS_REVIEW


def test_names_are_never_settled_by_tesseract_alone() -> None:
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("陳淑芬", 99)),
                  tiny=FakeRecognizer("tiny", ("陳淑芬", 0.99)))
    assert r.details["agreement"] == Agreement.AGREE_TINY


def test_a_retry_setting_reads_when_the_first_does_not_validate() -> None:
    """A date read invalid with chi_tra is read again with eng; the valid reading is kept, and
    having needed a retry costs a little confidence."""
    r = read_with("child_protection", "report_date", "113/05/03", FakeTesseract(("113年13月3日", 96), ("113/05/03", 92)),
                  tiny=FakeRecognizer("tiny", ("113/05/03", 0.97)))
    assert [a.get("lang") for a in r.details["attempts"]][:2] == ["chi_tra", "eng"]
    # a retry's reading is not settled alone (see `settled_alone`): PP-OCR reads it too
    assert r.details["agreement"] == Agreement.AGREE_TINY and r.engine == "tiny+tesseract:eng"
    assert r.value == "2024-05-03" and r.status == FieldStatus.ACCEPTED
    assert r.confidence == pytest.approx(0.97 * conf.text_confidence("date", 92, valid=True, agreement=Agreement.AGREE_TINY,
                                                                        retried=False))


# ------------------------------------------------------------------------- routing
def test_digits_agreed_on_only_at_the_second_try_are_checked_against_their_loops() -> None:
    """A 3 written, 8 read: a first-time agreement of the two engines is trusted (it is the
    stronger evidence); an agreement reached only at the second scale is checked against the
    ink's loops, and 8 has two where the 3 has none."""
    first_time = read_with("child_protection", "child_grade", "3", FakeTesseract(("8", 85)),
                           tiny=FakeRecognizer("tiny", ("5", 0.9)), small=FakeRecognizer("small", ("8", 0.97)))
    assert first_time.details["agreement"] == Agreement.AGREE
    assert (first_time.value, first_time.status, first_time.errors) == (8, FieldStatus.ACCEPTED, [])

    second = read_with("child_protection", "child_grade", "3", FakeTesseract(("6", 85), ("8", 70)),
                       tiny=FakeRecognizer("tiny", ("8", 0.9)), small=FakeRecognizer("small", ("8", 0.97)))
    assert second.details["agreement"] == Agreement.AGREE_SECOND
    assert (second.value, second.status, second.errors) == (8, FieldStatus.NEEDS_REVIEW, ["number.digit_shape"])

    # the same route with the digit the ink has: no loop doubt (numbers' second-scale agreements
    # are never accepted by the calibration, so it is still a person's)
    right = read_with("child_protection", "child_grade", "3", FakeTesseract(("6", 85), ("3", 70)),
                      tiny=FakeRecognizer("tiny", ("3", 0.9)), small=FakeRecognizer("small", ("3", 0.97)))
    assert right.errors == ["low_confidence"]


def test_a_value_outside_the_expected_list_goes_to_review() -> None:
    """本入 for 本人 is a plausible misreading both engines could make: a relation not in the
    field's `expected` list is kept but sent to a person."""
    path = "household_members[0].relation"
    miss = read_with("vulnerable_family", path, "本人", FakeTesseract(("本入", 95)),
                     tiny=FakeRecognizer("tiny", ("本入", 0.96)))
    assert miss.details["agreement"] == Agreement.AGREE_TINY
    assert (miss.value, miss.status, miss.errors) == ("本入", FieldStatus.NEEDS_REVIEW, ["text.unexpected_value"])
    hit = read_with("vulnerable_family", path, "本人", FakeTesseract(("本人", 95)),
                    tiny=FakeRecognizer("tiny", ("本人", 0.96)))
    assert (hit.value, hit.status, hit.errors) == ("本人", FieldStatus.ACCEPTED, [])


def test_a_rare_surname_goes_to_review_though_the_engines_agree() -> None:
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("犇淑芬", 95)),
                  tiny=FakeRecognizer("tiny", ("犇淑芬", 0.96)))
    assert r.details["agreement"] == Agreement.AGREE_TINY
    assert r.errors == ["name.rare_surname"] and r.status == FieldStatus.NEEDS_REVIEW


def test_a_name_the_tiny_recogniser_was_torn_over_is_read_by_the_small_one_too() -> None:
    """Fresh seed 811, an office scan: a typed 廖宜蓁 read 廖宜業 by Tesseract (90) and the tiny
    recogniser (業 0.43 over 萘 0.33), accepted as agreed. A character chosen that narrowly over
    another one is no agreement: the small recogniser reads too. Over another form of the same
    character (張 over 张) it still is."""
    torn = (CharChoice("廖", 0.99), CharChoice("宜", 0.99), CharChoice("業", 0.43, "萘", 0.33))
    r = read_with("child_protection", "guardian_name", "廖宜蓁", FakeTesseract(("廖宜業", 90), ("廖宜業", 64)),
                  tiny=FakeRecognizer("tiny", ("廖宜業", 0.81, torn)),
                  small=FakeRecognizer("small", ("廖宜蓁", 0.996, _sure("廖宜蓁"))))
    assert r.details["agreement"] != Agreement.AGREE_TINY and r.status == FieldStatus.NEEDS_REVIEW
    assert [a["engine"] for a in r.details["attempts"]][:3] == ["tesseract", "tiny", "small"]
    form = (CharChoice("張", 0.6, "张", 0.4), CharChoice("宜", 0.99), CharChoice("蓁", 0.99))
    ok = read_with("child_protection", "guardian_name", "張宜蓁", FakeTesseract(("張宜蓁", 90)),
                   tiny=FakeRecognizer("tiny", ("張宜蓁", 0.9, form)))
    assert (ok.details["agreement"], ok.status) == (Agreement.AGREE_TINY, FieldStatus.ACCEPTED)


def test_a_name_with_a_character_whose_look_alike_the_tiny_recogniser_lacks_is_read_by_the_small_one() -> None:
    """`bench/rescans --seed 797` (yellow, pink, black-and-white): a handwritten 闕志文 read 關志文
    by Tesseract and the tiny recogniser, sure, accepted: the tiny one has no 闕 (闕/關 are listed
    as confusable), so its 關 is no vote. The small recogniser reads too."""
    r = read_with("child_protection", "child_name", "闕志文", FakeTesseract(("關志文", 86), ("關志文", 40)),
                  tiny=FakeRecognizer("tiny", ("關志文", 0.99, _sure("關志文")), characters=frozenset("關志文")),
                  small=FakeRecognizer("small", ("闕志文", 0.97, _sure("闕志文"))))
    assert r.details["agreement"] != Agreement.AGREE_TINY and r.status == FieldStatus.NEEDS_REVIEW
    assert r.value == "闕志文", r.value
    # a tiny recogniser that could have read 闕, or does not say what it can read: its 關 counts
    for tiny_set in (frozenset("闕關志文"), None):
        ok = read_with("child_protection", "child_name", "關志文", FakeTesseract(("關志文", 86)),
                       tiny=FakeRecognizer("tiny", ("關志文", 0.99, _sure("關志文")), characters=tiny_set))
        assert (ok.details["agreement"], ok.status) == (Agreement.AGREE_TINY, FieldStatus.ACCEPTED), tiny_set


def test_a_latin_letter_in_a_chinese_name_goes_to_review_though_the_engines_agree() -> None:
    """Seed 757, a fax: 王俊銘 with its 王 broken, read F俊銘 by every engine and accepted (the
    surname check looks only at a name that begins with a Chinese character)."""
    r = read_with("child_protection", "child_name", "王俊銘", FakeTesseract(("F俊銘", 95)),
                  tiny=FakeRecognizer("tiny", ("F俊銘", 0.96)))
    assert r.details["agreement"] == Agreement.AGREE_TINY
    assert (r.value, r.errors, r.status) == ("F俊銘", ["name.mixed_script"], FieldStatus.NEEDS_REVIEW)
    latin = read_with("child_protection", "child_name", "Wang Jun", FakeTesseract(("Wang Jun", 95)),
                      tiny=FakeRecognizer("tiny", ("Wang Jun", 0.96)))
    assert (latin.value, latin.errors) == ("Wang Jun", [])


def test_a_name_beginning_with_the_traditional_huang_goes_straight_through() -> None:
    """黃 is the Traditional form (6% of Taiwan; 黄 0.15%): it is not a "variant surname". The
    non-standard 黄, and 溫 (温 is really used too), still go to a person."""
    ok = read_with("child_protection", "child_name", "黃淑芬", FakeTesseract(("黃淑芬", 95)),
                   tiny=FakeRecognizer("tiny", ("黃淑芬", 0.96)))
    assert (ok.value, ok.status, ok.errors) == ("黃淑芬", FieldStatus.ACCEPTED, [])
    for name in ("黄淑芬", "溫淑芬"):
        r = read_with("child_protection", "child_name", name, FakeTesseract((name, 95)),
                      tiny=FakeRecognizer("tiny", (name, 0.96)))
        assert r.errors == ["name.variant_surname"] and r.status == FieldStatus.NEEDS_REVIEW, name


def test_a_huang_read_with_the_other_form_as_runner_up_goes_to_review() -> None:
    """Seed 103: a printed 黄佳玲 read 黃佳玲 by every engine, PP-OCR's tiny recogniser giving 黄
    0.16-0.33 as runner-up for the first character. That doubt sends a 黃 name to a person; a sure
    黃 (the other form nowhere near) still goes straight through."""
    doubted = (CharChoice("黃", 0.7, "黄", 0.3), *_sure("佳玲"))
    r = read_with("child_protection", "child_name", "黃佳玲", FakeTesseract(("黃佳玲", 91)),
                  tiny=FakeRecognizer("tiny", ("黃佳玲", 0.9, doubted)))
    assert (r.value, r.status, r.errors) == ("黃佳玲", FieldStatus.NEEDS_REVIEW, ["name.variant_surname"])
    sure = (CharChoice("黃", 0.97, "寅", 0.03), *_sure("佳玲"))
    r = read_with("child_protection", "child_name", "黃佳玲", FakeTesseract(("黃佳玲", 91)),
                  tiny=FakeRecognizer("tiny", ("黃佳玲", 0.9, sure)))
    assert (r.status, r.errors) == (FieldStatus.ACCEPTED, [])


def test_an_agreed_reading_with_a_confusable_character_at_a_close_call_goes_to_review() -> None:
    """入 read 人 by both engines (issue 13): PP-OCR's runner-up for 人 was its confusable
    partner 入, close behind; agreement there is no evidence, a person looks."""
    close = (CharChoice("父", 1.0), CharChoice("人", 0.55, "入", 0.44), CharChoice("監", 0.99, "监", 0.01))
    r = read_with("child_protection", "child_school", "父入監", FakeTesseract(("父人監", 95)),
                  tiny=FakeRecognizer("tiny", ("父人監", 0.9, close)))
    assert r.details["agreement"] == Agreement.AGREE_TINY
    assert (r.value, r.status, r.errors) == ("父人監", FieldStatus.NEEDS_REVIEW, ["text.confusable"])
    # (in a name, the tiny recogniser torn between two characters is no vote: the small one reads too)
    name = read_with("child_protection", "child_name", "李冠宇", FakeTesseract(("李冠字", 95)),
                     tiny=FakeRecognizer("tiny", ("李冠字", 0.96, (CharChoice("李", 1.0), CharChoice("冠", 0.99),
                                                                  CharChoice("字", 0.6, "宇", 0.38)))),
                     small=FakeRecognizer("small", ("李冠字", 0.97, _sure("李冠字"))))
    assert (name.value, name.status, name.errors) == ("李冠字", FieldStatus.NEEDS_REVIEW, ["name.confusable"])
    sure = read_with("child_protection", "child_name", "李冠宇", FakeTesseract(("李冠宇", 95)),
                     tiny=FakeRecognizer("tiny", ("李冠宇", 0.96, (CharChoice("李", 1.0), CharChoice("冠", 0.99),
                                                                  CharChoice("宇", 0.99, "字", 0.01)))))
    assert (sure.status, sure.errors) == (FieldStatus.ACCEPTED, [])


def test_a_confusable_pair_listed_for_names_is_not_one_in_free_text() -> None:
    """闕/關 are listed for names only (`confusables.json` types): listed for every type, 關懷 of
    the narratives (seed 769) went to review whenever PP-OCR chose its 關 without a clear lead."""
    from intake.pipeline.confusables import is_confusable, partners

    assert partners("關", "name") == frozenset("闕") and not is_confusable("關", "text") and not is_confusable("關")
    text = "經電話關懷得知"
    close = tuple(CharChoice(ch, 0.6, "闕", 0.35) if ch == "關" else CharChoice(ch, 0.99) for ch in text)
    r = read_with("vulnerable_family", "situation", text, FakeTesseract((text, 95)),
                  tiny=FakeRecognizer("tiny", (text, 0.95, close)))
    assert (r.status, r.errors) == (FieldStatus.ACCEPTED, [])


def test_the_small_recogniser_agreeing_does_not_hide_the_tiny_ones_doubt() -> None:
    """The seed-7 case: Tesseract (at a low confidence) and the small recogniser read 李冠字 for
    李冠宇 with no doubt; the tiny one had read 字 with 宇 close behind."""
    r = read_with("child_protection", "child_name", "李冠宇", FakeTesseract(("李冠字", 3)),
                  tiny=FakeRecognizer("tiny", ("李冠字", 0.85, (CharChoice("李", 1.0), CharChoice("冠", 0.99),
                                                               CharChoice("字", 0.57, "宇", 0.43)))),
                  small=FakeRecognizer("small", ("李冠字", 0.99, (CharChoice("李", 1.0), CharChoice("冠", 1.0),
                                                                 CharChoice("字", 0.99)))))
    assert r.details["agreement"] == Agreement.AGREE
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["name.confusable"])


def test_an_agreed_phone_with_a_digit_read_without_a_clear_lead_over_another_goes_to_review() -> None:
    """4 or 1, the handwritten confusion both engines shared: a 1 read with 4 close behind goes to
    a person; a 1 close only to CTC's blank does not (it flagged right readings by the dozen)."""
    digits = "0916781839"

    def read(alt: str):  # noqa: ANN202
        chars = tuple(CharChoice(d, 0.58, alt, 0.42) if i == 6 else CharChoice(d, 0.99) for i, d in enumerate(digits))
        return read_with("child_protection", "guardian_phone", "0916784839", FakeTesseract((digits, 83)),
                         tiny=FakeRecognizer("tiny", (digits, 0.95, chars)))

    r = read("4")
    assert r.details["agreement"] == Agreement.AGREE_TINY
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["phone.uncertain_digit"])
    assert (read("").status, read("").errors) == (FieldStatus.ACCEPTED, [])


def test_a_semicolon_read_with_a_doubt_is_a_speck_over_a_comma() -> None:
    """Fresh seed 827, an office scan: a typed 里長反映，案家 read 里長反映；案家 by Tesseract and the
    small recogniser (； at 0.67 over ;), accepted. A semicolon read surely stands."""
    text = "里長反映；案家因債務問題。"

    def read(prob: float, alt_prob: float):  # noqa: ANN202
        chars = tuple(CharChoice(ch, prob, ";", alt_prob) if ch == "；" else CharChoice(ch, 0.99) for ch in text)
        return read_with("vulnerable_family", "situation", "里長反映，案家因債務問題。", FakeTesseract((text, 90)),
                         tiny=FakeRecognizer("tiny", (text, 0.95, chars)))

    doubted = read(0.67, 0.2)
    assert doubted.details["agreement"] == Agreement.AGREE_TINY
    assert (doubted.status, doubted.errors) == (FieldStatus.NEEDS_REVIEW, ["text.stray_mark"])
    assert (read(0.97, 0.01).status, read(0.97, 0.01).errors) == (FieldStatus.ACCEPTED, [])


def test_a_dashed_phone_read_with_a_gap_before_a_1_goes_to_review() -> None:
    """Fresh seed 821, a fax: a typed 0930-805-540 read 0930-805-5 10 by Tesseract (89) and the
    tiny recogniser, accepted as 0930805510: the 4's diagonal gone, its upright read 1 after a
    gap. A phone written with dashes has no space inside a group; a spaced phone is not doubted."""
    gap = read_with("child_protection", "guardian_phone", "0930-805-540", FakeTesseract(("0930-805-5 10", 89)),
                    tiny=FakeRecognizer("tiny", ("0930-805-5 10", 0.93, _sure("0930-805-5 10"))), quality="fax")
    assert gap.details["agreement"] == Agreement.AGREE_TINY and gap.value == "0930805510"
    assert (gap.status, gap.errors) == (FieldStatus.NEEDS_REVIEW, ["phone.uncertain_digit"])
    spaced = read_with("child_protection", "guardian_phone", "0959 443 153", FakeTesseract(("0959 443 153", 89)),
                       tiny=FakeRecognizer("tiny", ("0959 443 153", 0.93, _sure("0959 443 153"))), quality="fax")
    assert (spaced.status, spaced.errors) == (FieldStatus.ACCEPTED, [])


def test_an_address_whose_1_was_read_over_a_4_goes_to_review() -> None:
    """Fresh seed 787, a fax: a handwritten 東興路4段 read 東興路1段 by Tesseract and the small
    recogniser (1 at 0.90 over 4), accepted as agreed. An address's numbers have no checksum: a 1
    doubted for a 4 in the reading that gave the value goes to a person; another runner-up does
    not."""
    text = "新竹縣新豐鄉東興路1段92巷52號"

    def read(alt: str, tiny_text: str = text):  # noqa: ANN202
        chars = tuple(CharChoice(ch, 0.90, alt, 0.0986) if i == 9 else CharChoice(ch, 0.99)
                      for i, ch in enumerate(tiny_text))
        return read_with("child_protection", "child_address", "新竹縣新豐鄉東興路4段92巷52號", FakeTesseract((text, 85)),
                         tiny=FakeRecognizer("tiny", (tiny_text, 0.95, chars)), quality="fax")

    r = read("4")
    assert r.details["agreement"] == Agreement.AGREE_TINY and r.value == text
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["address.uncertain_digit"])
    assert (read("7").status, read("7").errors) == (FieldStatus.ACCEPTED, [])


def test_a_1_whose_runner_up_is_4_goes_to_review_however_clear_its_lead() -> None:
    """Fresh seed 617, a fax: a typed 0223414930 read 0223114930 by Tesseract (81) and the tiny
    recogniser, its 1 at 0.92 over 4, accepted. What a fax or a hand leaves of a 4 reads 1; a 1
    with any other runner-up at that lead stands."""
    digits = "0223114930"

    def read(alt: str):  # noqa: ANN202
        chars = tuple(CharChoice(d, 0.92, alt, 0.07) if i == 4 else CharChoice(d, 0.99) for i, d in enumerate(digits))
        return read_with("vulnerable_family", "referrer_phone", "0223414930", FakeTesseract(("0223 114930", 81)),
                         tiny=FakeRecognizer("tiny", (digits, 0.94, chars)), quality="fax")

    r = read("4")
    assert r.details["agreement"] == Agreement.AGREE_TINY and r.value == digits
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["phone.uncertain_digit"])
    assert (read("7").status, read("7").errors) == (FieldStatus.ACCEPTED, [])


def test_a_name_with_a_character_far_from_the_rest_goes_to_review() -> None:
    """Fresh seed 619, a fax: a typed 張春美 with a fragment of a line well after it read
    張春美        一 by Tesseract and 張春美一 by the tiny recogniser, accepted."""
    r = read_with("child_protection", "child_name", "張春美", FakeTesseract(("張春美        一", 89)),
                  tiny=FakeRecognizer("tiny", ("張春美一", 0.99)), quality="fax")
    assert (r.value, r.status, r.errors) == ("張春美一", FieldStatus.NEEDS_REVIEW, ["name.detached_character"])
    r = read_with("child_protection", "child_name", "張春美", FakeTesseract(("張 春 美", 89)),
                  tiny=FakeRecognizer("tiny", ("張春美", 0.99)), quality="fax")
    assert (r.value, r.status, r.errors) == ("張春美", FieldStatus.ACCEPTED, [])


def test_free_text_with_a_confusable_the_domain_never_writes_goes_to_review() -> None:
    """人監 where 入監 is the domain's word, read alike by both engines with no doubt: the
    character-bigram model of the forms' language sends it to a person."""
    sure = tuple(CharChoice(c, 0.99) for c in "父人監")
    r = read_with("child_protection", "child_school", "父入監", FakeTesseract(("父人監", 95)),
                  tiny=FakeRecognizer("tiny", ("父人監", 0.95, sure)))
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["text.unlikely_characters"])
    ok = read_with("child_protection", "child_school", "父入監", FakeTesseract(("父入監", 95)),
                   tiny=FakeRecognizer("tiny", ("父入監", 0.95, tuple(CharChoice(c, 0.99) for c in "父入監"))))
    assert (ok.status, ok.errors) == (FieldStatus.ACCEPTED, [])


def test_a_narrative_agreed_with_a_listed_partner_of_a_known_word_goes_to_review() -> None:
    """Fresh seed 701 (a holdout), a fax: a typed 請社福中心評估 read 評佔 by the small recogniser,
    sure, and by Tesseract's second reading, accepted. 估/佔 is 古/占 with a person beside them;
    評佔 is no word of the forms' language, 評估 is."""
    text = "請社福中心評佔後續服務需求。"
    r = read_with("vulnerable_family", "situation", "請社福中心評估後續服務需求。",
                  FakeTesseract(("請社福中心評估後續服務需求。", 0), (text, 36)),
                  tiny=FakeRecognizer("tiny", ("請社福中心評估後须服務需求。", 0.91)),
                  small=FakeRecognizer("small", (text, 0.997, _sure(text))), quality="fax")
    assert r.details["agreement"] == Agreement.AGREE_SECOND and r.value == text
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["text.unlikely_characters"])


def test_the_bigram_model_is_built_from_its_documented_sources() -> None:
    """bigrams.json is what `bigrams.build()` makes now (rebuild: python -m intake.pipeline.bigrams)."""
    import json

    from intake.pipeline import bigrams

    assert json.loads(bigrams.DATA.read_text(encoding="utf-8")) == json.loads(json.dumps(bigrams.build()))
    assert bigrams.count("入監") and not bigrams.count("人監") and bigrams.count("菸酒")


def _sure(text: str, p: float = 0.99) -> tuple[CharChoice, ...]:
    return tuple(CharChoice(c, p, "", 1 - p) for c in text)


def test_a_handwritten_value_both_ppocr_recognisers_read_alike_and_sure_is_accepted() -> None:
    """Tesseract misreads handwriting (its two readings differ from PP-OCR's); PP-OCR's tiny and
    small recognisers read the same valid name, both sure of every character: accepted, saying
    by which path."""
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("陳淑芳", 60), ("陳叔芳", 40)),
                  tiny=FakeRecognizer("tiny", ("陳淑芬", 0.97, _sure("陳淑芬"))),
                  small=FakeRecognizer("small", ("陳淑芬", 0.98, _sure("陳淑芬"))))
    assert r.details["agreement"] == Agreement.DISAGREE
    assert (r.value, r.status, r.errors) == ("陳淑芬", FieldStatus.ACCEPTED, [])
    assert r.details["accepted_by"] == "ppocr_pair"


def test_a_value_tesseract_reads_as_nothing_is_shown_to_the_tiny_recogniser_for_the_pair() -> None:
    """Tesseract read some cwTeX names as nothing at all (seed 61): without a tiny reading the pair
    could not apply. When the small recogniser is sure of a valid value, the tiny one reads too."""
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("", 0), ("", 0)),
                  tiny=FakeRecognizer("tiny", ("陳淑芬", 0.97, _sure("陳淑芬"))),
                  small=FakeRecognizer("small", ("陳淑芬", 0.98, _sure("陳淑芬"))))
    assert engines(r) == ["tesseract", "small", "tesseract:second", "tiny"]
    assert (r.value, r.status, r.details.get("accepted_by")) == ("陳淑芬", FieldStatus.ACCEPTED, "ppocr_pair")
    # the small recogniser not sure enough for the pair: the tiny one is not asked (it has no answer)
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("", 0), ("", 0)),
                  tiny=FakeRecognizer("tiny"), small=FakeRecognizer("small", ("陳淑芬", 0.9, _sure("陳淑芬"))))
    assert engines(r) == ["tesseract", "small", "tesseract:second"]
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])


def test_a_date_a_hundred_years_back_goes_to_review_however_sure() -> None:
    """Seed 89: a handwritten 113/12/03 read 13/12/03 by both PP-OCR recognisers (a referral "in
    1924"), 42/06/23 read 2/06/23 by Tesseract and the tiny one. Valid, agreed, and wrong."""
    r = read_with("child_protection", "report_date", "13/12/03", FakeTesseract(("137/12/03", 45), ("137/12/03", 16)),
                  tiny=FakeRecognizer("tiny", ("13/12/03", 0.9998, _sure("13/12/03"))),
                  small=FakeRecognizer("small", ("13/12/03", 0.9999, _sure("13/12/03"))))
    assert r.value == "1924-12-03" and (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["date.long_ago"])
    recent = read_with("child_protection", "report_date", "113/12/03", FakeTesseract(("113/12/03", 95)))
    assert recent.value == "2024-12-03" and recent.status == FieldStatus.ACCEPTED


def test_a_roc_year_in_the_forties_read_with_a_1_goes_to_review() -> None:
    """`bench/rescans --seed 743` (lowres, defocus): a light-pen birth date 46/11/24 read 16/11/24
    by Tesseract and the tiny recogniser with no doubt, accepted as 1927. A 4 read 1 in a ROC year
    41-49 lands 96-104 years back: from 95 years a person confirms it."""
    path = "household_members[1].birth_date"
    years_back = date.today().year - 1927
    r = read_with("vulnerable_family", path, "46/11/24", FakeTesseract(("16/11/24", 96)))
    assert years_back >= 95 and r.value == "1927-11-24"
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["date.long_ago"])
    grandparent = read_with("vulnerable_family", path, "46/11/24", FakeTesseract(("46/11/24", 96)))
    assert (grandparent.value, grandparent.status) == ("1957-11-24", FieldStatus.ACCEPTED)


def test_a_ppocr_pair_with_a_close_call_or_a_low_score_still_goes_to_review() -> None:
    close = (CharChoice("陳", 0.99), CharChoice("淑", 0.7, "叔", 0.3), CharChoice("芬", 0.99))
    for tiny in (("陳淑芬", 0.97, close), ("陳淑芬", 0.75, _sure("陳淑芬"))):
        r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(("陳淑芳", 60), ("陳叔芳", 40)),
                      tiny=FakeRecognizer("tiny", tiny),
                      small=FakeRecognizer("small", ("陳淑芬", 0.98, _sure("陳淑芬"))))
        assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"]), tiny
        assert "accepted_by" not in r.details


def _pair_read(tiny: tuple, small: tuple, path: str = "child_name", ink: str = "陳淑芬"):  # noqa: ANN202
    return read_with("child_protection", path, ink, FakeTesseract(("陳淑芳", 60), ("陳叔芳", 40)),
                     tiny=FakeRecognizer("tiny", tiny), small=FakeRecognizer("small", small))


def test_a_ppocr_pair_needs_the_tiny_recogniser_only_at_its_own_floor() -> None:
    """The small recogniser at 95 or more; the tiny one, weaker, at `PAIR_TINY_MIN_CONF` (80)."""
    ok = _pair_read(("陳淑芬", 0.82, _sure("陳淑芬")), ("陳淑芬", 0.98, _sure("陳淑芬")))
    assert (ok.status, ok.details.get("accepted_by")) == (FieldStatus.ACCEPTED, "ppocr_pair")
    small_unsure = _pair_read(("陳淑芬", 0.99, _sure("陳淑芬")), ("陳淑芬", 0.93, _sure("陳淑芬")))
    assert (small_unsure.status, small_unsure.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])


def test_a_runner_up_in_the_other_script_is_no_close_call_for_the_pair() -> None:
    """榮 chosen with 荣 (simplified, outside Big5) close behind is one character in two scripts;
    with 策 (a character of its own) close behind it is a doubt."""
    def with_alt(alt: str) -> tuple[CharChoice, ...]:
        return (*_sure("鄭國"), CharChoice("榮", 0.6, alt, 0.4))

    simplified = _pair_read(("鄭國榮", 0.87, with_alt("荣")), ("鄭國榮", 0.99, _sure("鄭國榮")), ink="鄭國榮")
    assert (simplified.status, simplified.details.get("accepted_by")) == (FieldStatus.ACCEPTED, "ppocr_pair")
    other = _pair_read(("鄭國榮", 0.87, with_alt("策")), ("鄭國榮", 0.99, _sure("鄭國榮")), ink="鄭國榮")
    assert (other.status, other.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    # a runner-up outside Big5 that is another character's simplified form (seed 131: 務 at 0.42
    # over 为, 為's, in a reading that had lost its first character): a doubt
    unsure = (*_sure("鄭國"), CharChoice("榮", 0.42, "为", 0.18))
    doubt = _pair_read(("鄭國榮", 0.87, unsure), ("鄭國榮", 0.99, _sure("鄭國榮")), ink="鄭國榮")
    assert (doubt.status, doubt.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])


def _swap(text: str, chars: tuple[CharChoice, ...], i: int, c: CharChoice) -> tuple[str, tuple[CharChoice, ...]]:
    return text[:i] + c.text + text[i + 1:], (*chars[:i], c, *chars[i + 1:])


def test_a_ppocr_pair_may_differ_in_one_character_the_tiny_recogniser_gives_no_reading_of_its_own() -> None:
    """The tiny recogniser reads 卷 with 巷 behind it, or the simplified 邻 for 鄰: the small one's
    reading is accepted. A second differing character, or one the tiny one chose in Big5 with
    something else behind it, leaves the readings in disagreement."""
    addr = "臺北市士林區萬隆里7鄰迴龍路二段296巷11號"

    def read(tiny: tuple[str, tuple[CharChoice, ...]]):  # noqa: ANN202
        return _pair_read((tiny[0], 0.9, tiny[1]), (addr, 0.99, _sure(addr)), path="child_address", ink=addr)

    i, j = addr.index("鄰"), addr.index("巷")
    for pos, c in ((i, CharChoice("邻", 0.7, "郊", 0.2)), (j, CharChoice("卷", 0.6, "巷", 0.4))):
        r = read(_swap(addr, _sure(addr), pos, c))
        assert (r.value, r.status, r.details.get("accepted_by")) == (addr, FieldStatus.ACCEPTED, "ppocr_pair"), c
    own = read(_swap(addr, _sure(addr), i, CharChoice("郊", 0.6, "鄭", 0.3)))  # in Big5, and 鄰 not behind it
    assert (own.status, own.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    two = read(_swap(*_swap(addr, _sure(addr), i, CharChoice("邻", 0.7, "郊", 0.2)), j, CharChoice("卷", 0.6, "巷", 0.4)))
    assert (two.status, two.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    # dates, phones, numbers and IDs: the two readings must be the same
    # in a name, a tiny reading that chose its own character over the small one's is a reading of
    # its own (seed 139: 詹 at 0.50 over 唐, the small one's 唐心怡 accepted, 詹心怡 on paper)
    name = "唐心怡"
    tiny_name = (CharChoice("詹", 0.5, "唐", 0.46), *_sure("心怡"))
    r = _pair_read(("詹心怡", 0.9, tiny_name), (name, 0.99, _sure(name)), ink=name)
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    date = read_with("child_protection", "report_date", "113/05/03", FakeTesseract(("118/05/08", 40), ("118/05/08", 30)),
                     tiny=FakeRecognizer("tiny", ("113/05/08", 0.97, _sure("113/05/08"))),
                     small=FakeRecognizer("small", ("113/05/03", 0.99, _sure("113/05/03"))))
    assert (date.status, date.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])


def test_a_ppocr_pair_is_not_trusted_against_a_confident_valid_tesseract_reading() -> None:
    """The seed-5 case: both PP-OCR recognisers read 自强街, Tesseract read 自強街 at 89 and 86."""
    addr, read = "新竹縣竹北市自強街131巷89號", "新竹縣竹北市自强街131巷89號"
    r = read_with("child_protection", "child_address", addr, FakeTesseract((addr, 89), (addr, 86)),
                  tiny=FakeRecognizer("tiny", (read, 0.97, _sure(read))),
                  small=FakeRecognizer("small", (read, 0.98, _sure(read))))
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    assert "accepted_by" not in r.details


def test_a_ppocr_pair_is_not_trusted_where_tesseract_read_both_recognisers_runner_up() -> None:
    """Fresh seed 659, a fax: a handwritten 自強醫院 read 白強醫院 by both recognisers, 自 the
    runner-up of both, and 自給醫院 by Tesseract (at 26): three engines leaning two ways. Where
    Tesseract's differing character is no recogniser's runner-up, or one recogniser's only, the
    pair still settles the value."""
    def read(small_alt: str, tesseract: str = "自給醫院"):  # noqa: ANN202
        tiny = (CharChoice("白", 0.88, "自", 0.09), *_sure("強醫院"))
        small = (CharChoice("白", 0.84, small_alt, 0.16), *_sure("強醫院"))
        return read_with("domestic_violence", "reporter_organisation", "自強醫院", FakeTesseract((tesseract, 26), ("衝牧醫際", 0)),
                         tiny=FakeRecognizer("tiny", ("白強醫院", 0.85, tiny)),
                         small=FakeRecognizer("small", ("白強醫院", 0.96, small)))

    both = read("自")
    assert (both.status, both.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    assert "accepted_by" not in both.details
    for one in (read("目"), read("自", tesseract="百給醫院")):
        assert (one.value, one.status, one.details.get("accepted_by")) == ("白強醫院", FieldStatus.ACCEPTED, "ppocr_pair")


def test_an_address_read_alike_by_the_ppocr_pair_must_name_a_real_district() -> None:
    def read(addr: str):  # noqa: ANN202
        return read_with("child_protection", "child_address", addr, FakeTesseract(("臺北市大安區和平東路", 50), ("臺北市", 40)),
                         tiny=FakeRecognizer("tiny", (addr, 0.97, _sure(addr))),
                         small=FakeRecognizer("small", (addr, 0.98, _sure(addr))))

    assert read("臺中市北屯區崇德路一段5號").status == FieldStatus.ACCEPTED
    nowhere = read("北屯區崇德路一段5號")  # valid, but names no county: the gazetteer cannot vouch for it
    assert (nowhere.status, nowhere.errors) == (FieldStatus.NEEDS_REVIEW, ["address.no_county"])
    assert nowhere.details.get("accepted_by") is None


def test_nothing_written_is_never_read() -> None:
    r = read_with("child_protection", "child_school", "", FakeTesseract())
    assert (r.value, r.engine, r.status, r.errors) == (None, "ink", FieldStatus.ACCEPTED, [])
    required = read_with("child_protection", "child_name", "", FakeTesseract())
    assert (required.status, required.errors) == (FieldStatus.NEEDS_REVIEW, ["required"])


def test_a_field_tesseract_gives_up_on_goes_to_review_and_the_page_goes_on() -> None:
    r = read_with("child_protection", "child_name", "陳淑芬", FakeTesseract(OcrTimeout("gave up")))
    assert (r.status, r.errors, r.details["reason"]) == (FieldStatus.NEEDS_REVIEW, ["ocr_timeout"], "gave up")


# ------------------------------------------------------------------------- with the real engines
def test_accepted_text_was_read_alike_by_both_engines(clean_cp: Path) -> None:
    """An accepted value of a type without a strong validator was read the same by Tesseract and
    one of PP-OCR's recognisers; a date, phone or number may also be accepted on one confident
    valid reading."""
    tr = truth(clean_cp, 2)
    [inst] = read_forms([clean_cp / f for f in tr["files"]])
    checked = 0
    for r in inst.fields.values():
        if r.type not in ("name", "address", "text", "national_id", "date", "phone", "number") or r.value is None:
            continue
        assert [a["engine"] for a in r.details["attempts"]][0] == "tesseract"
        if r.status != FieldStatus.ACCEPTED:
            continue
        if r.details["agreement"] == Agreement.SINGLE:
            assert r.type in ("date", "phone", "number") and r.details["engine_conf"] >= 90
            continue
        assert r.details["agreement"] in (Agreement.AGREE_TINY, Agreement.AGREE, Agreement.AGREE_SECOND)
        pp_engine = "ppocr_tiny" if r.details["agreement"] == Agreement.AGREE_TINY else "ppocr"
        assert r.engine.startswith(f"{pp_engine}+tesseract:")
        [pp] = [a for a in r.details["attempts"] if a["engine"] == pp_engine]
        assert normalize(r.type, pp["text"])[0] == r.value
        checked += 1
    assert checked >= 8  # names, addresses, IDs, free text on two pages


def _truth_value(tr: dict, path: str):  # noqa: ANN202
    m = re.fullmatch(r"(\w+)\[(\d+)\]\.(\w+)", path)
    if not m:
        return tr["fields"].get(path)
    rows = tr["fields"].get(m.group(1)) or []
    return rows[int(m.group(2))].get(m.group(3)) if int(m.group(2)) < len(rows) else None


def test_handwriting_the_engines_read_differently_goes_to_review(tmp_path: Path) -> None:
    t = default_registry().get("child_protection")
    list(synthesize(t, count=2, out_dir=tmp_path, seed=5, profile="fax", fmt="png", hand=1.0))
    disagreements = 0
    for n in (1, 2):
        tr = truth(tmp_path, n)
        [inst] = read_forms([tmp_path / f for f in tr["files"]])
        for r in inst.fields.values():
            if r.details.get("agreement") == Agreement.DISAGREE:
                disagreements += 1
                if r.details.get("accepted_by") == "ppocr_pair":  # PP-OCR's two recognisers, both sure
                    assert r.value == _truth_value(tr, r.path) and r.status == FieldStatus.ACCEPTED, r.path
                    continue
                assert r.status == FieldStatus.NEEDS_REVIEW and r.errors
                assert r.confidence <= 0.5
    assert disagreements >= 1, "no handwritten field was read differently: the test shows nothing"


def test_ids_both_engines_read_alike_are_not_doubted_for_their_loops(tmp_path: Path) -> None:
    """The digit-loop check stands in for a second opinion on digits a checksum cannot tell
    apart. On this phone photo (the demo's) the loops of three IDs did not match what both
    engines read, and all three were right: a first-time agreement is not sent to review for
    its loops. The loops still count where the engines did not agree."""
    t = default_registry().get("vulnerable_family")
    list(synthesize(t, count=1, out_dir=tmp_path, seed=1, profile="phone"))
    tr = truth(tmp_path, 1)
    [inst] = read_forms([tmp_path / f for f in tr["files"]])
    ids = [(p, r) for p, r in inst.fields.items() if r.type == "national_id" and r.value]
    assert len(ids) >= 3
    agreed = 0
    for path, r in ids:
        if Agreement(r.details["agreement"]).first_time:
            agreed += 1
            assert "national_id.digit_shape" not in r.errors, path
            m = re.fullmatch(r"(\w+)\[(\d+)\]\.(\w+)", path)
            want = tr["fields"][m[1]][int(m[2])][m[3]] if m else tr["fields"][path]
            assert r.value == want, path
    assert agreed >= 3


def test_a_name_the_tiny_recogniser_reads_like_tesseract_is_settled_without_the_small_one() -> None:
    t, slot, page = page_with("child_protection", "child_name", "陳淑芬")
    r = read_text(PageContext(page, paper_level(page), default_engine(), template=t, page=slot.page), slot)
    assert r.value == "陳淑芬" and r.status == FieldStatus.ACCEPTED
    assert r.details["agreement"] == Agreement.AGREE_TINY and r.engine == "ppocr_tiny+tesseract:chi_tra"
    assert engines(r) == ["tesseract", "ppocr_tiny"]


def test_a_character_the_tiny_recogniser_does_not_know_goes_to_the_small_one() -> None:
    """呂 is not in the tiny recogniser's 6,904 characters: it reads 吕 (confidently), which is
    not what Tesseract read, so the small recogniser reads the name and agrees with Tesseract."""
    t, slot, page = page_with("child_protection", "child_name", "呂志明")
    r = read_text(PageContext(page, paper_level(page), default_engine(), template=t, page=slot.page), slot)
    tiny = [a for a in r.details["attempts"] if a["engine"] == "ppocr_tiny"]
    assert tiny and tiny[0]["text"] != "呂志明"
    assert "呂" not in default_ppocr("tiny")._chars
    assert r.value == "呂志明" and r.details["agreement"] == Agreement.AGREE and r.engine == "ppocr+tesseract:chi_tra"
    assert r.status == FieldStatus.ACCEPTED


def test_marks_and_ids_read_exactly_on_clean_scans(clean_cp: Path) -> None:
    tr = truth(clean_cp, 1)
    [inst] = read_forms([clean_cp / f for f in tr["files"]])
    for name in ("reporter_role", "child_sex", "report_reasons", "abuse_types", "reporter_signature", "urgent"):
        got, expected = inst.fields[name].value, tr["fields"][name]
        if isinstance(expected, list):
            got, expected = sorted(got), sorted(expected)
        assert got == expected, name
    assert tr["fields"]["child_national_id"], "the test needs an ID written on this form"
    assert inst.fields["child_national_id"].value == tr["fields"]["child_national_id"]


# ------------------------------------------------------------------------- marks
def _page_with_square(t: Template, slot: Slot, offset_mm: tuple[float, float], edges: str = "tblr") -> np.ndarray:
    """A blank canonical page with the checkbox's printed square drawn `offset_mm` off its
    template box (a registration that is a little off), only the given edges."""
    w_mm, h_mm = t.page_size_mm
    page = np.full((round(h_mm * PX_PER_MM), round(w_mm * PX_PER_MM)), 245, np.uint8)
    x, y, w, h = slot.box
    x0, y0 = round((x + offset_mm[0]) * PX_PER_MM), round((y + offset_mm[1]) * PX_PER_MM)
    x1, y1 = round((x + offset_mm[0] + w) * PX_PER_MM), round((y + offset_mm[1] + h) * PX_PER_MM)
    lw = 3
    if "t" in edges:
        page[y0:y0 + lw, x0:x1] = 40
    if "b" in edges:
        page[y1 - lw:y1, x0:x1] = 40
    if "l" in edges:
        page[y0:y1, x0:x0 + lw] = 40
    if "r" in edges:
        page[y0:y1, x1 - lw:x1] = 40
    return page


def test_an_empty_box_registered_a_little_off_is_read_empty() -> None:
    t = default_registry().get("vulnerable_family")
    [slot] = [s for s in t.slots() if s.path == "family_consent"]
    page = _page_with_square(t, slot, (0.3, -0.8))
    r = read_checkbox(PageContext(page, paper_level(page), None, template=t, page=slot.page), slot)
    assert r.value is False and r.details["state"] == "empty" and r.status == FieldStatus.ACCEPTED


def test_a_box_whose_square_cannot_be_found_goes_to_review() -> None:
    """Registered 1.5 mm off (a phone photo in the seed-2 holdout): the square's top edge is
    outside the search, its bottom edge runs through where the inside should be, and that was
    accepted as a mark at confidence 1.0. Without the square the reading is not trusted."""
    t = default_registry().get("vulnerable_family")
    [slot] = [s for s in t.slots() if s.path == "family_consent"]
    page = _page_with_square(t, slot, (0.3, -1.5))
    r = read_checkbox(PageContext(page, paper_level(page), None, template=t, page=slot.page), slot)
    assert r.status == FieldStatus.NEEDS_REVIEW and r.errors == ["mark.square_not_found"]
    assert r.confidence < 0.75


def test_a_ppocr_pair_in_a_character_not_used_in_taiwan_goes_to_review() -> None:
    """Seed 29, after the merge: both PP-OCR recognisers wrote 户 (the mainland form) for 戶, sure
    of it, three times; a value with a Han character outside Big5 is not the pair's to accept."""
    org, read = "中和戶政事務所", "中和户政事務所"
    r = read_with("child_protection", "reporter_organisation", org, FakeTesseract(("中和尸政事務所", 60), ("中和", 40)),
                  tiny=FakeRecognizer("tiny", (read, 0.97, _sure(read))),
                  small=FakeRecognizer("small", (read, 0.98, _sure(read))))
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    assert "accepted_by" not in r.details
    right = read_with("child_protection", "reporter_organisation", org, FakeTesseract(("中和尸政事務所", 60), ("中和", 40)),
                      tiny=FakeRecognizer("tiny", (org, 0.97, _sure(org))),
                      small=FakeRecognizer("small", (org, 0.98, _sure(org))))
    assert right.details.get("accepted_by") == "ppocr_pair"


def test_a_county_read_one_character_off_goes_to_review() -> None:
    """Fresh seed 577, a fax: a typed 彰化縣政府社會處 read 影化縣政府社會處 by Tesseract (92) and
    the tiny recogniser (影 0.70 over 彰) alike and accepted. No county is 影化縣: a person looks."""
    read = "影化縣政府社會處"
    r = read_with("child_protection", "reporter_organisation", "彰化縣政府社會處", FakeTesseract((read, 92)),
                  tiny=FakeRecognizer("tiny", (read, 0.96)), quality="fax")
    assert r.details["agreement"] == Agreement.AGREE_TINY and r.value == read
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["text.unknown_place"])
    from intake.review.reasons import UNKNOWN, reason_words

    assert reason_words("text.unknown_place") != UNKNOWN
    right = read_with("child_protection", "reporter_organisation", "彰化縣政府社會處", FakeTesseract(("彰化縣政府社會處", 92)),
                      tiny=FakeRecognizer("tiny", ("彰化縣政府社會處", 0.96)), quality="fax")
    assert (right.status, right.errors) == (FieldStatus.ACCEPTED, [])


def test_a_one_character_name_and_an_address_without_its_county_go_to_review() -> None:
    """What a vanishing pen leaves of a value (seed 577, a black-and-white scan: 陳博文 read 陳,
    新北市板橋區福德街321號 read 板, both accepted): no name in Chinese characters is one character,
    and the forms' addresses begin with their county or city."""
    r = read_with("child_protection", "child_name", "陳", FakeTesseract(("陳", 92)), tiny=FakeRecognizer("tiny", ("陳", 0.99)))
    assert (r.value, r.status, r.errors) == ("陳", FieldStatus.NEEDS_REVIEW, ["name.one_character"])
    r = read_with("child_protection", "child_address", "板", FakeTesseract(("板", 92)), tiny=FakeRecognizer("tiny", ("板", 0.99)))
    assert (r.value, r.status, r.errors) == ("板", FieldStatus.NEEDS_REVIEW, ["address.no_county"])
    whole = "220新北市板橋區福德街321號"  # a postal code before the county
    r = read_with("child_protection", "child_address", whole, FakeTesseract((whole, 92)), tiny=FakeRecognizer("tiny", (whole, 0.99)))
    assert (r.value, r.status, r.errors) == (whole, FieldStatus.ACCEPTED, [])


def test_a_year_of_three_digits_beginning_with_0_goes_to_review() -> None:
    """Seed 587 through a defocused rescan: a faint handwritten 2019/05/19 read 019/05/19 by
    Tesseract and the tiny recogniser alike (the 2 faintest of all), accepted as ROC 19, 1930.
    (1930 is now `date.long_ago` too, so the rule is shown alone on a padded 035, 1946.)"""
    r = read_with("child_protection", "child_birth_date", "035/05/19", FakeTesseract(("035/05/19", 83)),
                  tiny=FakeRecognizer("tiny", ("035/05/19", 0.98)))
    assert (r.value, r.status, r.errors) == ("1946-05-19", FieldStatus.NEEDS_REVIEW, ["date.padded_year"])
    r = read_with("child_protection", "child_birth_date", "108/05/19", FakeTesseract(("108/05/19", 83)),
                  tiny=FakeRecognizer("tiny", ("108/05/19", 0.98)))
    assert (r.value, r.status, r.errors) == ("2019-05-19", FieldStatus.ACCEPTED, [])


def test_a_space_inside_a_number_in_chinese_text_goes_to_review() -> None:
    """Fresh seed 601, a clean scan: 保護專線113 read 11 3 by the small recogniser and Tesseract's
    second reading alike, accepted."""
    read = "已提供保護專線11 3及相關資源資訊。"
    r = read_with("child_protection", "narrative", "已提供保護專線113及相關資源資訊。", FakeTesseract((read, 90)),
                  tiny=FakeRecognizer("tiny", (read, 0.97)))
    assert (r.value, r.status, r.errors) == (read, FieldStatus.NEEDS_REVIEW, ["text.spaced_digits"])


def test_on_a_fax_a_number_only_tesseract_s_fallback_read_goes_to_review() -> None:
    """Fresh seed 599, a fax: what was left of a handwritten 4 (its upright and specks) read
    nothing by Tesseract's digits setting, 1 by its fallback (at 91) and by the tiny recogniser,
    and was accepted. On a fax such a number goes to a person; elsewhere it stands."""
    def grade(quality: str | None):  # noqa: ANN202
        return read_with("child_protection", "child_grade", "1", FakeTesseract(("", 0), ("1", 91)),
                         tiny=FakeRecognizer("tiny", ("1", 0.97)), quality=quality)

    r = grade("fax")
    assert r.value == 1 and r.details["agreement"] == Agreement.AGREE_TINY and r.status == FieldStatus.NEEDS_REVIEW
    assert grade("scan").status == FieldStatus.ACCEPTED


def test_a_speck_after_a_value_the_normaliser_made_a_full_stop_goes_to_review() -> None:
    """Fresh seed 673, an office scan: a handwritten 府中幼兒園 with a speck after it, read 府中幼兒園.
    by both recognisers (Tesseract read 府中幼兒點), accepted by the pair as 府中幼兒園。. A value
    whose 。 was a Latin stop after a Chinese character as read goes to a person; one written with
    its 。 stays accepted."""
    def read(end: str):  # noqa: ANN202
        text = f"府中幼兒園{end}"
        return read_with("child_protection", "child_school", "府中幼兒園", FakeTesseract(("府中幼兒點", 4), ("府中幼兒點", 60)),
                         tiny=FakeRecognizer("tiny", (text, 0.96, _sure(text))),
                         small=FakeRecognizer("small", (text, 0.9986, _sure(text))))

    speck = read(".")
    assert speck.value == "府中幼兒園。" and (speck.status, speck.errors) == (FieldStatus.NEEDS_REVIEW, ["text.stray_mark"])
    own = read("。")
    assert (own.value, own.status, own.details.get("accepted_by")) == ("府中幼兒園。", FieldStatus.ACCEPTED, "ppocr_pair")


def test_a_stop_between_chinese_characters_the_recogniser_chose_over_nothing_goes_to_review() -> None:
    """Fresh seed 647, an office scan: a speck between 收入 and 中斷 read "." by every engine, the
    small recogniser's at 0.88 over nothing at 0.10, accepted as 收入。中斷. A full-width stop
    chosen so is the writing's own and stays accepted."""
    def read(stop: str):  # noqa: ANN202
        text = f"家中收入{stop}中斷。"
        chars = (*_sure("家中收入"), CharChoice(stop, 0.88, "", 0.10), *_sure("中斷。"))
        return read_with("child_protection", "narrative", "家中收入中斷。", FakeTesseract((text, 90)),
                         tiny=FakeRecognizer("tiny", (text, 0.97, chars)))

    speck = read(".")
    assert speck.details["agreement"] == Agreement.AGREE_TINY and speck.value == "家中收入。中斷。"
    assert (speck.status, speck.errors) == (FieldStatus.NEEDS_REVIEW, ["text.stray_mark"])
    own = read("，")
    assert (own.value, own.status, own.errors) == ("家中收入，中斷。", FieldStatus.ACCEPTED, [])


def test_a_speck_read_as_a_stop_after_chinese_punctuation_goes_to_review() -> None:
    """Seed 167, an office scan: dust after a narrative's final 。 read "." by Tesseract and PP-OCR
    alike, 評估。. accepted. A Latin stop or middle dot after Chinese punctuation, or ending a
    value after a Chinese character, is a speck read as a mark: a person looks."""
    r = read_with("child_protection", "narrative", "需要安置評估。", FakeTesseract(("需要安置評估。.", 96)),
                  tiny=FakeRecognizer("tiny", ("需要安置評估。.", 0.97)))
    assert r.details["agreement"] == Agreement.AGREE_TINY and r.value == "需要安置評估。."
    assert r.status == FieldStatus.NEEDS_REVIEW and "text.stray_mark" in r.errors
    from intake.review.reasons import UNKNOWN, reason_words

    assert all(reason_words(f"{t}.stray_mark") != UNKNOWN for t in ("name", "text", "address"))  # a supervisor reads why
    r = read_with("child_protection", "narrative", "需要安置評估。", FakeTesseract(("需要安置評估。", 96)),
                  tiny=FakeRecognizer("tiny", ("需要安置評估。", 0.97)))
    assert r.status == FieldStatus.ACCEPTED


def test_a_character_the_tiny_recogniser_cannot_read_does_not_stop_the_pair() -> None:
    """PP-OCRv6 tiny has no 龔 (nor 吳 謝 盧 ...) and reads 龔宇翔 as 冀宇翔; the small one reads it
    sure. The one character the tiny one lacks is no disagreement; one it has (翔 read 祥) is."""
    from intake.pipeline.engines.ppocr import default_ppocr

    tiny_set = default_ppocr("tiny").characters
    assert "龔" not in tiny_set and "冀" in tiny_set  # the shipped model's dictionary
    name = "龔宇翔"
    r = read_with("child_protection", "child_name", name, FakeTesseract(("襲宇翔", 0), ("間宇翔", 0)),
                  tiny=FakeRecognizer("tiny", ("冀宇翔", 0.95, _sure("冀宇翔")), characters=tiny_set),
                  small=FakeRecognizer("small", (name, 0.99, _sure(name))))
    assert (r.value, r.status, r.details.get("accepted_by")) == (name, FieldStatus.ACCEPTED, "ppocr_pair")
    r = read_with("child_protection", "child_name", "陳宇翔", FakeTesseract(("陣宇翔", 0), ("陣宇翔", 0)),
                  tiny=FakeRecognizer("tiny", ("陳宇祥", 0.95, _sure("陳宇祥")), characters=tiny_set),
                  small=FakeRecognizer("small", ("陳宇翔", 0.99, _sure("陳宇翔"))))
    assert r.status == FieldStatus.NEEDS_REVIEW and "accepted_by" not in r.details


def test_a_character_the_tiny_recogniser_lacks_is_no_excuse_where_the_small_one_leaned_to_the_tiny_ones() -> None:
    """Fresh seed 733, an office scan: a handwritten 魏美娟 read 魏美娟 by the tiny recogniser and
    魏美絹 by the small one, 娟 its runner-up; the tiny one has no 絹, which had excused its reading,
    and 魏美絹 was accepted. Where the small one nearly gave the tiny one's character, a character
    of Taiwan's own, the pair does not settle; where its runner-up was something else, it does."""
    from intake.pipeline.engines.ppocr import default_ppocr

    tiny_set = default_ppocr("tiny").characters
    assert "絹" not in tiny_set and "娟" in tiny_set and "吳" not in tiny_set  # the shipped model's dictionary

    def read(name: str, tiny_name: str, alt: str):  # noqa: ANN202
        small = (*_sure(name[:2]), CharChoice(name[2], 0.86, alt, 0.08))
        return read_with("child_protection", "child_name", tiny_name, FakeTesseract(("魏美通", 5), ("魏美", 0)),
                         tiny=FakeRecognizer("tiny", (tiny_name, 0.91, _sure(tiny_name)), characters=tiny_set),
                         small=FakeRecognizer("small", (name, 0.954, small)))

    leaned = read("魏美絹", "魏美娟", "娟")
    assert (leaned.status, leaned.errors) == (FieldStatus.NEEDS_REVIEW, ["readings_disagree"])
    other = read("魏美絹", "魏美娟", "綃")  # its runner-up something else: the tiny reading is excused
    assert (other.value, other.details.get("accepted_by")) == ("魏美絹", "ppocr_pair")


def test_only_a_chinese_character_the_tiny_recogniser_lacks_is_excused() -> None:
    """A space or a mark is in no recogniser's dictionary question: where the small recogniser
    read 陳 芬 (a space for 淑) and the tiny one 陳淑芬, the pair does not settle on the small one."""
    from intake.pipeline.engines.contract import CharChoice
    from intake.pipeline.read import Reading, _pair_difference

    tiny = Reading("陳淑芬", 95.0, chars=_sure("陳淑芬"), charset=frozenset("陳淑芬冀"))
    assert _pair_difference(tiny, Reading("陳 芬", 99.0, chars=(*_sure("陳"), CharChoice(" ", 1.0), *_sure("芬"))),
                            "text") is None
    assert _pair_difference(tiny, Reading("陳龔芬", 99.0, chars=_sure("陳龔芬")), "text") == 1


def test_an_id_digit_one_recogniser_read_as_a_letter_is_not_settled_by_the_agreement(tmp_path) -> None:  # noqa: ANN001
    """Fresh seed 223, child_protection form 7, a phone photo: the typed ID O113878712 whose 3 the
    tiny recogniser read B and Tesseract 8. B is taken for 8 in a digit's place, so both gave the
    valid O118878712, and it was accepted. A letter in a digit-only place means that recogniser did
    not see a digit: a person compares the characters. The straight look-alikes of 1 and 0, which
    Tesseract writes for them in many typefaces (TI62001135), are not doubted."""
    from intake.pipeline.read import Reading, letter_for_digit
    from tests.pipeline.conftest import one_form, one_truth

    assert letter_for_digit(Reading("011B878712", 98.0)) and letter_for_digit(Reading("A12345678S", 98.0))
    assert not letter_for_digit(Reading("TI62001135", 98.0)) and not letter_for_digit(Reading("YA18629311", 98.0))
    assert not letter_for_digit(Reading("N1O8588790", 98.0))
    files = one_form("child_protection@1", tmp_path, seed=223, n=7, profile="phone", hand=0.15, fonts="classic")
    assert one_truth("child_protection@1", seed=223, n=7)["child_national_id"] == "O113878712"
    r = read_forms(files)[0].fields["child_national_id"]
    assert r.status == FieldStatus.NEEDS_REVIEW, (r.value, r.errors)
    assert r.value == "O113878712" or "national_id.letter_for_digit" in r.errors, (r.value, r.errors)


def test_a_surname_with_another_surname_close_behind_goes_to_review(tmp_path: Path) -> None:
    """Fresh seed 269 (unseen faces), domestic_violence form 2 on a phone photo: the typed victim
    name 闕美華 read 關美華 by Tesseract and both PP-OCR recognisers, the small one choosing 關 at
    0.55 over 闕 at 0.44: a valid name, agreed, accepted. Another surname close behind the one
    read is another person: a supervisor looks (`name.surname_uncertain`; since 闕/關 are listed as
    confusable, seed 797's rescans, the confusable check names it first)."""
    from intake.review.reasons import UNKNOWN, reason_words
    from tests.pipeline.conftest import one_form, read_forms

    files = one_form("domestic_violence@1", tmp_path, seed=269, n=2, profile="phone", hand=0.3, fonts="unseen")
    r = read_forms(files)[0].fields["victim_name"]
    assert r.value == "關美華" and r.details["agreement"] == Agreement.AGREE
    assert r.status == FieldStatus.NEEDS_REVIEW and r.errors == ["name.confusable"], r.errors
    assert reason_words("name.surname_uncertain") != UNKNOWN


def test_a_surname_a_recogniser_had_another_surname_close_behind_goes_to_review() -> None:
    """`name.surname_uncertain` alone: Tesseract and the small recogniser read 陳美華 with no doubt,
    the tiny one had 林 close behind its 陳 (so it did not settle the name with Tesseract)."""
    doubted = (CharChoice("陳", 0.55, "林", 0.44), CharChoice("美", 0.99), CharChoice("華", 0.99))
    r = read_with("child_protection", "child_name", "陳美華", FakeTesseract(("陳美華", 95)),
                  tiny=FakeRecognizer("tiny", ("陳美華", 0.9, doubted)),
                  small=FakeRecognizer("small", ("陳美華", 0.98, _sure("陳美華"))))
    assert r.details["agreement"] == Agreement.AGREE
    assert (r.status, r.errors) == (FieldStatus.NEEDS_REVIEW, ["name.surname_uncertain"])


def test_an_agreed_character_the_third_engine_read_as_its_close_runner_up_goes_to_review(tmp_path: Path) -> None:
    """Seed 277 (classic faces), domestic_violence form 4 faxed: the typed victim name 林苡安 read
    林改安 by Tesseract (at 0) and PP-OCR's small recogniser (改 at 0.53, 苡 at 0.46 behind it),
    while the tiny recogniser read 苡 there: agreed, accepted. When the third engine reads the
    runner-up of a close call, the agreement is not worth its usual trust (`name.close_call`)."""
    from intake.review.reasons import UNKNOWN, reason_words
    from tests.pipeline.conftest import one_form, read_forms

    files = one_form("domestic_violence@1", tmp_path, seed=277, n=4, profile="fax", hand=0.15, fonts="classic")
    r = read_forms(files)[0].fields["victim_name"]
    assert r.value == "林改安" and r.details["agreement"] == Agreement.AGREE
    tiny = next(a for a in r.details["attempts"] if a["engine"] == "ppocr_tiny")
    assert tiny["text"][1] == "苡"
    assert r.status == FieldStatus.NEEDS_REVIEW and r.errors == ["name.close_call"]
    assert all(reason_words(f"{t}.close_call") != UNKNOWN for t in ("name", "text", "address"))


def test_an_id_both_recognisers_read_with_a_letter_in_a_digits_place_is_not_settled_by_the_pair() -> None:
    """Fresh seed 307 (seen faces), domestic_violence form 7 on a phone photo: the handwritten ID
    C177439352 read C1771393D2 by both PP-OCR recognisers (Tesseract disagreeing). The D in a
    digit's place is taken for 0, the checksum of C177139302 happens to pass, and the pair, which
    checked its letters only in names, texts and addresses, accepted it. A letter where only a
    digit can stand means neither recogniser saw a digit there: the pair does not settle it."""
    from intake.pipeline.read import Reading, Verdict, ppocr_pair_agrees

    def pair(text: str) -> Verdict:
        value, problems = normalize("national_id", text)
        assert not problems, problems  # both valid: the checksums pass
        tiny, small = Reading(text, 96.6, value, chars=_sure(text)), Reading(text, 99.7, value, chars=_sure(text))
        return Verdict(Agreement.DISAGREE, small, "ppocr", (tiny, small))

    assert normalize("national_id", "C1771393D2")[0] == "C177139302"
    assert not ppocr_pair_agrees("national_id", pair("C1771393D2"), "photo")
    assert ppocr_pair_agrees("national_id", pair("C177439352"), "photo")


def test_a_light_pens_digit_partly_under_the_ink_threshold_is_read_whole_in_a_comb(tmp_path: Path) -> None:
    """The same ID: written in a light pen, its 4's diagonal and bar and its 5's top fell under the
    ink threshold. Each cell's writing was cut out where the dark ink lay, so the engines saw a 1's
    upright and half a 5 (C1771393D2). Where the stretched page shows a cell's writing clearly
    wider or taller than its dark ink, the comb is read there, in full, and a person confirms it
    (`faint_ink`)."""
    from tests.pipeline.conftest import one_form, one_truth, read_forms

    files = one_form("domestic_violence@1", tmp_path, seed=307, n=7, profile="phone", hand=0.3, fonts="seen")
    assert one_truth("domestic_violence@1", seed=307, n=7)["victim_national_id"] == "C177439352"
    r = read_forms(files)[0].fields["victim_national_id"]
    assert r.details["faint_ink"] and "faint_ink" in r.errors, (r.value, r.errors)
    assert r.value == "C177439352" and r.status == FieldStatus.NEEDS_REVIEW, (r.value, r.errors)


def test_an_agreement_the_third_engine_read_with_a_confusable_partner_goes_to_review(tmp_path: Path) -> None:
    """Fresh seed 293 (unseen faces), vulnerable_family form 8 on a phone photo: the typed contact
    name 李冠宇 read 李冠字 by Tesseract and PP-OCR's small recogniser (字 at 0.86), while the
    tiny recogniser read 李冠宇: agreed, accepted. 字/宇 is a listed confusable pair; a third engine
    that differs only by reading the partner is a reason for a person to look."""
    from tests.pipeline.conftest import one_form, one_truth, read_forms

    files = one_form("vulnerable_family@1", tmp_path, seed=293, n=8, profile="phone", hand=0.3, fonts="unseen")
    assert one_truth("vulnerable_family@1", seed=293, n=8)["contact_name"] == "李冠宇"
    r = read_forms(files)[0].fields["contact_name"]
    tiny = next(a for a in r.details["attempts"] if a["engine"] == "ppocr_tiny")
    assert tiny["text"] == "李冠宇" and r.details["agreement"] == Agreement.AGREE, r.details["attempts"]
    assert r.value == "李冠字"
    assert r.status == FieldStatus.NEEDS_REVIEW and r.errors == ["name.confusable"], r.errors


def test_a_light_pens_first_digit_dark_only_in_its_upright_is_read_whole(tmp_path: Path) -> None:
    """Seed 281 (seen faces), vulnerable_family form 8 on a phone photo: a birth date 47年9月27日
    in a light pen whose 4 was dark only in its upright. The writing was cut out from the upright
    on, all three engines read 17年9月27日, and 1928-09-27 was accepted. On the stretched page the
    line starts 10 px further left, 0.23 of its height (`FAINT_END_REACH` 0.2): read there, whole,
    and a person confirms it."""
    from tests.pipeline.conftest import one_form, one_truth, read_forms

    files = one_form("vulnerable_family@1", tmp_path, seed=281, n=8, profile="phone", hand=0.3, fonts="seen")
    path = "household_members[1].birth_date"
    assert one_truth("vulnerable_family@1", seed=281, n=8)["household_members"][1]["birth_date"] == "1958-09-27"
    r = read_forms(files)[0].fields[path]
    assert r.value != "1928-09-27" or r.status != FieldStatus.ACCEPTED, (r.value, r.errors)
    assert r.details["faint_ink"] and "faint_ink" in r.errors and r.status == FieldStatus.NEEDS_REVIEW
    assert r.value == "1958-09-27", (r.value, r.errors)


def test_a_line_final_mark_the_small_recogniser_leaves_out_goes_to_review(tmp_path) -> None:
    """Fresh seed 503, domestic_violence form 1, an office scan: a typed narrative's first line
    ends 言語威脅、; PP-OCR's small recogniser and Tesseract both left the 、 out, agreed, and the
    value was accepted without it. The tiny recogniser read it: a line that a PP-OCR reading ends
    with 、，。 and the kept one ends with no punctuation goes to a person."""
    from intake.review.reasons import UNKNOWN, reason_words
    from tests.pipeline.conftest import one_form, one_truth, read_forms

    files = one_form("domestic_violence@1", tmp_path, seed=503, n=1, profile="office", hand=0.15, fonts="classic")
    want = one_truth("domestic_violence@1", seed=503, n=1)["narrative"]
    r = read_forms(files)[0].fields["narrative"]
    assert "威脅、恐嚇" in want and r.value == want.replace("、", ""), r.value
    assert r.status == FieldStatus.NEEDS_REVIEW and "text.line_end_dropped" in r.errors, r.errors
    assert all(reason_words(f"{t}.line_end_dropped") != UNKNOWN for t in ("text", "address"))


def test_a_zhong_only_the_tiny_recogniser_agreed_on_goes_to_review() -> None:
    """鍾 and 鐘 are told apart by Tesseract and PP-OCR's small recogniser, but the tiny one has no
    鍾 at all (it read 鐘 for 128 of 140): a 鐘 that Tesseract and the tiny one agreed on, with no
    reading by a recogniser that knows both, goes to a person. One the small recogniser read alike
    goes straight through; one where it read the other surname does not."""
    no_zhong = frozenset("鐘淑芬陳")
    r = read_with("child_protection", "child_name", "鐘淑芬", FakeTesseract(("鐘淑芬", 95)),
                  tiny=FakeRecognizer("tiny", ("鐘淑芬", 0.96), characters=no_zhong))
    assert (r.value, r.status, r.errors) == ("鐘淑芬", FieldStatus.NEEDS_REVIEW, ["name.variant_surname"])
    r = read_with("child_protection", "child_name", "鐘淑芬", FakeTesseract(("鐘淑芬", 95)),
                  tiny=FakeRecognizer("tiny", ("鐘淑芬", 0.96), characters=no_zhong | {"鍾"}))
    assert (r.value, r.status, r.errors) == ("鐘淑芬", FieldStatus.ACCEPTED, [])
