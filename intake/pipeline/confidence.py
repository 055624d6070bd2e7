"""Confidence and routing: how likely a reading is right, and whether a person must look.

A wrong value that is accepted is the worst outcome (nobody looks at it again), so every signal
that can only lower confidence is used: whether two engines that work differently (Tesseract and
PP-OCR) read the same value, the lower of their confidences (Tesseract's lowest word confidence,
a far better error predictor than the mean, see OCR-NOTES.md; PP-OCR's line score x 100), the
validators (checksums, date and phone formats), whether a retry with other settings was needed,
and for marks the distance of the measured fill from the decision thresholds.

Text confidences are calibrated per field type: `calibration.json` (written by
`bench/accuracy --calibrate`) maps that engine confidence to the share of readings
that were right on synthetic forms, and the acceptance threshold per type is the lowest
confidence at which the silent error rate stayed within target. Without a calibration file the
engine confidence is used as is, with conservative thresholds.

The tables are kept per page-quality class as well (`quality.py`: scan, fax, photo, poor), under
``"by_quality": {class: {"types": ...}}``: a fax or a phone photo gets its own cutoffs. A class,
type and agreement with fewer than `MIN_CLASS_N` calibration readings (too few to show a 0.5%
bound) falls back to the pooled table (``"types"``).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from functools import lru_cache
from pathlib import Path

from intake.pipeline.types import Agreement

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")

MARK_ACCEPT = 0.75
EMPTY_ACCEPT = 0.75
INVALID_CAP = 0.3  # a reading that does not validate is never more than this sure
# Without a calibration file: accept text only when the engine confidence is at least this, and
# the two engines agreed (or one reading of a strongly validated type).
DEFAULT_ACCEPT_FROM = {Agreement.AGREE: 93.0, Agreement.AGREE_SECOND: 95.0, Agreement.SINGLE: 95.0}
AGREEMENT_FACTOR = {Agreement.AGREE: 1.0, Agreement.AGREE_SECOND: 0.9, Agreement.SINGLE: 0.95, Agreement.DISAGREE: 0.5}
# Agreement kinds calibrated as one class: a first-time agreement of Tesseract with either of
# PP-OCR's recognisers (`bench/accuracy --calibrate` pools them through `calibration_class`).
CALIBRATED_AS = {Agreement.AGREE_TINY: Agreement.AGREE}


def calibration_class(agreement: Agreement | str) -> Agreement:
    """The kind `agreement` is calibrated as (its own, or the kind it is pooled with)."""
    kind = Agreement(agreement)
    return CALIBRATED_AS.get(kind, kind)


def mark_margin(value: float, threshold: float, *, below: bool, scale: float | None = None) -> float:
    """0 at the threshold, 1 far from it, on the side the decision took."""
    if below:
        return max(0.0, min(1.0, (threshold - value) / threshold))
    s = scale if scale is not None else max(threshold, 0.08)
    return max(0.0, min(1.0, (value - threshold) / s))


def for_marks(margins: list[float]) -> float:
    return 0.5 + 0.5 * min(margins) if margins else 0.5


def for_empty(ink_mm2: float, threshold: float) -> float:
    return 0.5 + 0.5 * max(0.0, 1.0 - ink_mm2 / threshold)


@lru_cache(maxsize=1)
def _calibration() -> dict:
    if CALIBRATION_FILE.is_file():
        return json.loads(CALIBRATION_FILE.read_text())
    return {}


MIN_CLASS_N = 200  # readings a quality class's table needs to be used instead of the pooled one


def _table(field_type: str, agreement: Agreement, quality: str | None = None) -> dict | None:
    cal = _calibration()
    if quality is not None:
        t = cal.get("by_quality", {}).get(quality, {}).get("types", {}).get(field_type, {}).get(agreement.value)
        if t is not None and t.get("n", 0) >= MIN_CLASS_N:
            return t
    return cal.get("types", {}).get(field_type, {}).get(agreement.value)


def text_confidence(field_type: str, engine_conf: float, *, valid: bool, agreement: Agreement, retried: bool,
                    quality: str | None = None) -> float:
    """How likely the reading is right: the share of right readings observed on synthetic forms
    for this type and agreement at this engine confidence (smoothed, so never 1.0); without a
    calibration, the engine's own number discounted by agreement (`types.Agreement` says what
    each kind means; "agree_tiny" is calibrated with "agree", see `CALIBRATED_AS`), from the
    page's quality class's table where it has one (`quality`)."""
    agreement = calibration_class(agreement)
    table = _table(field_type, agreement, quality) if agreement != Agreement.DISAGREE else None
    if table:
        c = _bin_accuracy(table, engine_conf)
    else:
        c = max(0.0, min(1.0, engine_conf / 100.0)) * AGREEMENT_FACTOR[agreement]
    if agreement == Agreement.DISAGREE:
        c = min(c, 0.5)
    if retried:
        c *= 0.97
    if not valid:
        c = min(c, INVALID_CAP)
    return c


# A bin no calibration reading fell in has the Laplace value of nothing, (0 + 1) / (0 + 2) = 0.5;
# it says nothing of readings there. Engine scores that high are rare in calibration (Tesseract
# reports 98 or more for few Chinese lines, 90 or more for few phone numbers), so an accepted name
# read at 98, or a phone at 96, was reported 50% sure (fresh seed 719: a fax phone accepted at an
# agreed 96 with confidence 0.5). Such a bin takes the nearest bin below it that had readings.
# Tables list each bin's readings (`counts`) since the twelfth session (2026-12-04); in the older
# ones, the run of bins at the top at exactly 0.5 had none (every such run in calibration.json
# lies above bins of 0.67-0.998).
EMPTY_BIN = 0.5


def _bin_accuracy(table: dict, engine_conf: float) -> float:
    edges, accuracy = table["edges"], table["accuracy"]
    i = min(len(accuracy) - 1, max(0, bisect_right(edges, engine_conf) - 1))
    counts = table.get("counts")
    if counts is not None:
        while i > 0 and counts[i] == 0:
            i -= 1
    else:
        top = len(accuracy)
        while top > 1 and accuracy[top - 1] == EMPTY_BIN:
            top -= 1
        i = min(i, top - 1)
    return float(accuracy[i])


def accept_cutoff(field_type: str, agreement: Agreement, quality: str | None = None) -> float:
    """The lowest engine confidence at which a valid reading with this agreement is accepted
    (infinity when none is), on a page of this quality class (pooled when None)."""
    agreement = calibration_class(agreement)
    table = _table(field_type, agreement, quality)
    cutoff = table.get("accept_from") if table else DEFAULT_ACCEPT_FROM[agreement]
    return float("inf") if cutoff is None else float(cutoff)


def accept_text(field_type: str, engine_conf: float, *, valid: bool, agreement: Agreement,
                quality: str | None = None) -> bool:
    """Accept without review: valid, not contradicted, and at least as confident as the cutoff
    that kept silent errors within target on the calibration set."""
    if not valid or agreement == Agreement.DISAGREE:
        return False
    return engine_conf >= accept_cutoff(field_type, agreement, quality)
