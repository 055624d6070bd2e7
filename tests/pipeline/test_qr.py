"""Finding and decoding our page-code QR (intake.pipeline.qr), on rendered pages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from intake.forms.layout import PageCode, parse_payload, qr_symbol_corners
from intake.forms.registry import default_registry
from intake.pipeline.qr import _opencv, find_codes


@pytest.fixture(scope="module")
def page() -> tuple[np.ndarray, PageCode]:
    """Page 2 of the blank child-protection form at 200 dpi, and the code printed on it."""
    t = default_registry().get("child_protection")
    img = np.array(default_registry().blank_image(t, 1, 200))
    return img, PageCode(t.id, t.version, 2, len(t.pages))


def _expected_corners(code: PageCode, dpi: float) -> np.ndarray:
    t = default_registry().get(code.form_id, code.version)
    return np.array(qr_symbol_corners(code, *t.page_size_mm)) * dpi / 25.4


def test_our_code_is_found_with_its_corners_where_the_layout_puts_them(page) -> None:  # noqa: ANN001
    img, code = page
    [found] = find_codes(img, 200)
    assert (found.code, found.text, found.reader) == (code, code.payload(), "zxing")
    assert np.abs(found.corners - _expected_corners(code, 200)).max() < 2.0  # px at 200 dpi


def test_the_corners_are_the_symbols_own_on_a_turned_page(page) -> None:  # noqa: ANN001
    """On a page turned a quarter, the symbol's top-left corner is at the image's bottom left:
    the registration's first transform depends on the corners' order."""
    img, code = page
    turned = np.ascontiguousarray(np.rot90(img))  # counter-clockwise
    [found] = find_codes(turned, 200)
    h = img.shape[1]  # the turned image's height is the page's width
    upright = _expected_corners(code, 200)
    expected = np.stack([upright[:, 1], h - upright[:, 0]], axis=1)  # (x, y) -> (y, w - x)
    assert found.code == code
    assert np.abs(found.corners - expected).max() < 2.0


def test_a_high_resolution_scan_is_searched_small_and_its_corners_given_at_full_size(page) -> None:  # noqa: ANN001
    img, code = page
    big = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)  # 400 dpi
    [found] = find_codes(big, 400)
    assert found.code == code
    assert np.abs(found.corners - _expected_corners(code, 400)).max() < 4.0


def test_ours_comes_first_and_a_foreign_code_is_kept_without_a_page_code(page) -> None:  # noqa: ANN001
    img, code = page
    foreign = cv2.QRCodeEncoder.create().encode("https://example.org/not-a-form")  # one px per module
    foreign = cv2.resize(foreign, (200, 200), interpolation=cv2.INTER_NEAREST)
    both = img.copy()
    both[1500:1700, 300:500] = foreign  # on the empty lower part of the page
    codes = find_codes(both, 200)
    assert [c.code for c in codes] == [code, None]
    assert codes[1].text == "https://example.org/not-a-form"


def test_a_page_without_a_code_has_none() -> None:
    assert find_codes(np.full((2339, 1654), 255, np.uint8), 200) == []


def test_opencvs_reader_is_a_second_opinion_that_reads_the_same(page) -> None:  # noqa: ANN001
    img, code = page
    [(text, corners)] = _opencv(img)
    assert parse_payload(text) == code
    assert np.abs(corners - _expected_corners(code, 200)).max() < 3.0


@pytest.mark.parametrize(("text", "code"), [
    ("FI:child_protection:1:2/2", PageCode("child_protection", 1, 2, 2)),
    (" FI:x:12:1/3\n", PageCode("x", 12, 1, 3)),
    ("FI:child_protection:1:3/2", None),  # page past the count
    ("FI:child_protection:0:1/2", None),  # no version 0
    ("FI:Child:1:1/2", None),  # form ids are lowercase
    ("https://example.org", None),
])
def test_page_codes_are_parsed_strictly(text: str, code: PageCode | None) -> None:
    assert parse_payload(text) == code
