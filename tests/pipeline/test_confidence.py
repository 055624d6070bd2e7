"""Confidence and routing (intake.pipeline.confidence): the numbers that decide whether a person
looks at a value. The committed calibration is what the tests read, as the reader does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intake.pipeline import confidence as conf
from intake.pipeline.types import Agreement

TEXT_TYPES = ("name", "text", "address", "national_id", "date", "phone", "number")


@pytest.fixture
def no_calibration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    """The reader as it is without calibration.json (a fresh checkout before bench/accuracy)."""
    monkeypatch.setattr(conf, "CALIBRATION_FILE", tmp_path / "none.json")
    conf._calibration.cache_clear()
    yield
    conf._calibration.cache_clear()


def test_the_calibration_file_names_only_known_types_and_agreement_kinds() -> None:
    """A kind renamed in the code but not in calibration.json would silently fall back to the
    uncalibrated defaults: every key must be one the reader asks for."""
    data = json.loads(conf.CALIBRATION_FILE.read_text())
    assert set(data["types"]) <= set(TEXT_TYPES)
    for by_kind in data["types"].values():
        for kind, table in by_kind.items():
            assert conf.calibration_class(kind) == kind  # stored under the class it is pooled into
            assert len(table["accuracy"]) == len(table["edges"])
            assert all(0 < a < 1 for a in table["accuracy"])  # smoothed: never certain
            for k in table.get("by_kind", {}):
                assert conf.calibration_class(Agreement(k)) == kind


def test_tiny_agreements_are_calibrated_with_the_small_recognisers() -> None:
    assert conf.calibration_class(Agreement.AGREE_TINY) == Agreement.AGREE
    assert conf.calibration_class("agree_second") == Agreement.AGREE_SECOND
    with pytest.raises(ValueError):
        conf.calibration_class("agreed")
    for t in TEXT_TYPES:
        assert conf.accept_cutoff(t, Agreement.AGREE_TINY) == conf.accept_cutoff(t, Agreement.AGREE)
        assert conf.text_confidence(t, 85, valid=True, agreement=Agreement.AGREE_TINY, retried=False) == \
            conf.text_confidence(t, 85, valid=True, agreement=Agreement.AGREE, retried=False)


def test_nothing_invalid_or_contradicted_is_accepted() -> None:
    for t in TEXT_TYPES:
        for kind in Agreement:
            assert not conf.accept_text(t, 100.0, valid=False, agreement=kind)
        assert not conf.accept_text(t, 100.0, valid=True, agreement=Agreement.DISAGREE)


def test_the_cutoffs_are_the_calibrations() -> None:
    """Names agreed on at the second try are accepted (0 wrong of 212 on the calibration set);
    dates are not (49: too few to bound the error rate); a date read by Tesseract alone needs
    90."""
    assert conf.accept_text("name", 0.0, valid=True, agreement=Agreement.AGREE_SECOND)
    assert not conf.accept_text("date", 99.0, valid=True, agreement=Agreement.AGREE_SECOND)
    assert conf.accept_text("date", 90.0, valid=True, agreement=Agreement.SINGLE)
    assert not conf.accept_text("date", 89.9, valid=True, agreement=Agreement.SINGLE)
    # an ID's second-try agreement has no table: the conservative default applies
    assert conf.accept_cutoff("national_id", Agreement.AGREE_SECOND) == conf.DEFAULT_ACCEPT_FROM[Agreement.AGREE_SECOND]


def test_confidence_is_the_calibrated_share_of_right_readings() -> None:
    table = json.loads(conf.CALIBRATION_FILE.read_text())["types"]["name"]["agree"]
    # the top bin (98 and up) had no calibration readings: its 0.5 is the Laplace value of nothing
    assert table["accuracy"][-1] == conf.EMPTY_BIN and table["accuracy"][-2] > 0.9
    for lo, share in zip(table["edges"][:-1], table["accuracy"][:-1], strict=True):
        assert conf.text_confidence("name", lo, valid=True, agreement=Agreement.AGREE, retried=False) == share
    assert conf.text_confidence("name", 100.0, valid=True, agreement=Agreement.AGREE, retried=False) == table["accuracy"][-2]


def test_a_bin_no_calibration_reading_fell_in_takes_the_nearest_one_below() -> None:
    """Fresh seed 719: a fax phone accepted at an agreed 96 was reported 50% sure, the value of a
    bin no calibration phone reached; the bins below it were 98-99% right."""
    phone = conf.text_confidence("phone", 96.0, valid=True, agreement=Agreement.AGREE_TINY, retried=False, quality="fax")
    assert phone == conf.text_confidence("phone", 89.0, valid=True, agreement=Agreement.AGREE_TINY, retried=False,
                                         quality="fax") > 0.99
    # a table that counts its bins' readings (bench/accuracy --calibrate writes them now)
    table = {"edges": [0, 50, 90], "accuracy": [0.8, 0.95, 0.5], "counts": [10, 40, 0]}
    assert conf._bin_accuracy(table, 95.0) == 0.95
    table["counts"][2] = 2  # one right of two: a real 0.5
    assert conf._bin_accuracy(table, 95.0) == 0.5


def test_doubts_only_lower_confidence() -> None:
    base = conf.text_confidence("address", 92, valid=True, agreement=Agreement.AGREE, retried=False)
    assert conf.text_confidence("address", 92, valid=True, agreement=Agreement.AGREE, retried=True) == pytest.approx(0.97 * base)
    assert conf.text_confidence("address", 92, valid=False, agreement=Agreement.AGREE, retried=False) == conf.INVALID_CAP
    assert conf.text_confidence("address", 99, valid=True, agreement=Agreement.DISAGREE, retried=False) <= 0.5


def test_without_a_calibration_the_engine_confidence_is_discounted_by_agreement(no_calibration) -> None:  # noqa: ANN001
    assert conf.text_confidence("name", 90, valid=True, agreement=Agreement.AGREE, retried=False) == pytest.approx(0.9)
    assert conf.text_confidence("name", 90, valid=True, agreement=Agreement.AGREE_SECOND, retried=False) == pytest.approx(0.81)
    assert conf.text_confidence("name", 90, valid=True, agreement=Agreement.DISAGREE, retried=False) == pytest.approx(0.45)
    assert conf.accept_text("name", 93, valid=True, agreement=Agreement.AGREE)
    assert not conf.accept_text("name", 92.9, valid=True, agreement=Agreement.AGREE)
    assert not conf.accept_text("date", 94.9, valid=True, agreement=Agreement.SINGLE)


def test_mark_confidence_is_the_distance_from_the_nearest_threshold() -> None:
    assert conf.mark_margin(0.045, 0.045, below=True) == 0.0
    assert conf.mark_margin(0.0, 0.045, below=True) == 1.0
    assert conf.mark_margin(0.30, 0.045, below=False) == 1.0
    assert 0 < conf.mark_margin(0.10, 0.045, below=False) < 1
    assert conf.for_marks([1.0, 0.2]) == pytest.approx(0.6)  # the least clear box decides
    assert conf.for_marks([]) == 0.5
    assert conf.for_marks([1.0]) >= conf.MARK_ACCEPT > conf.for_marks([0.4])
    assert conf.for_empty(0.0, 0.6) == 1.0 and conf.for_empty(0.6, 0.6) == 0.5
