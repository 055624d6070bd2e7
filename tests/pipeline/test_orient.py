"""Skew and orientation of pages without our marks (intake.pipeline.orient).

Real scans: /work/shared/data/deskew (sbrunner/deskew's test scans, MIT; expected angles are that
library's own integer results) and the rotated phototest pages of tesseract-ocr/test (Apache-2.0;
the rotation is in the file name). See /work/shared/data/*/README.txt.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from intake.pipeline.load import iter_pages
from intake.pipeline.orient import estimate_orientation, estimate_skew

DATA = Path(os.environ.get("INTAKE_SHARED_DATA", "/work/shared/data"))
DESKEW = DATA / "deskew"
TESS = DATA / "tesseract_test" / "testing"
SKEW_TOLERANCE = 0.5  # degrees; the truth is deskew's own result rounded to whole degrees

needs_deskew = pytest.mark.skipif(not (DESKEW / "expected_angles.csv").is_file(), reason="no deskew sample data")
needs_tess = pytest.mark.skipif(not (TESS / "phototest.tif").is_file(), reason="no tesseract test pages")


def _deskew_rows() -> list:
    if not (DESKEW / "expected_angles.csv").is_file():
        return [pytest.param(None, None, marks=needs_deskew)]
    rows = csv.DictReader((DESKEW / "expected_angles.csv").open(encoding="utf-8"))
    return [pytest.param(Path(r["image"]).name, float(r["expected_angle_deg"]), id=Path(r["image"]).stem) for r in rows]


def _page(path: Path):
    page = next(iter_pages(path, path.name))
    assert page.image is not None
    return page


@needs_deskew
@pytest.mark.parametrize(("name", "expected"), _deskew_rows())
def test_skew_of_real_scans(name: str, expected: float) -> None:
    page = _page(DESKEW / name)
    got = estimate_skew(page.image, page.dpi)
    print(f"{name}: expected {expected:+.1f}, got {got:+.2f}")
    assert got == pytest.approx(expected, abs=SKEW_TOLERANCE)


def _turned(img: np.ndarray, degrees: float) -> np.ndarray:
    """`img` turned clockwise by `degrees` on a canvas large enough for it (lines then run
    downhill to the right: a skew of +degrees)."""
    h, w = img.shape
    M = cv2.getRotationMatrix2D((w / 2, h / 2), -degrees, 1.0)
    c, s = abs(M[0, 0]), abs(M[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    M[0, 2] += nw / 2 - w / 2
    M[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(img, M, (nw, nh), borderValue=255)


@needs_tess
@pytest.mark.parametrize("degrees", [-12.5, -4.2, -0.7, 1.3, 6.6, 20.0])
def test_skew_of_a_page_turned_by_a_known_angle(degrees: float) -> None:
    page = _page(TESS / "phototest.tif")
    straight = estimate_skew(page.image, page.dpi)
    got = estimate_skew(_turned(page.image, degrees), page.dpi)
    assert got - straight == pytest.approx(degrees, abs=0.15)


def test_skew_of_a_blank_page_is_zero() -> None:
    assert estimate_skew(np.full((1200, 900), 250, np.uint8), 100.0) == 0.0


@pytest.fixture(scope="module")
def engine():
    from intake.pipeline.engines.tesseract import TesseractEngine

    try:
        eng = TesseractEngine()
        eng._api("osd")
    except Exception as exc:  # noqa: BLE001 - no Tesseract or no osd data here
        pytest.skip(f"Tesseract OSD not available: {exc}")
    yield eng
    eng.close()


@needs_tess
@pytest.mark.parametrize(("name", "turns"), [
    ("phototest.tif", 0),
    ("phototest-rotated-R.png", 1),  # turned right (clockwise): one counter-clockwise quarter turn
    ("phototest-rotated-180.png", 2),
    ("phototest-rotated-L.png", 3),  # turned left: three counter-clockwise quarter turns
    ("devatest-rotated-270.png", 3),
])
def test_orientation_of_rotated_pages(engine, name: str, turns: int) -> None:
    page = _page(TESS / name)
    res = estimate_orientation(page.image, page.dpi, engine)
    assert res is not None
    k, conf = res
    assert k == turns, f"{name}: {k} quarter turns (confidence {conf:.1f})"
    # and the turn does make the page upright
    upright = np.ascontiguousarray(np.rot90(page.image, k))
    again = estimate_orientation(upright, page.dpi, engine)
    assert again is not None and again[0] == 0


@needs_tess
def test_orientation_of_a_page_turned_here(engine) -> None:
    page = _page(TESS / "phototest.tif")
    for k in range(4):
        turned = np.ascontiguousarray(np.rot90(page.image, -k))  # k clockwise quarter turns
        res = estimate_orientation(turned, page.dpi, engine)
        assert res is not None and res[0] == k


def test_orientation_of_a_page_without_text_is_unknown(engine) -> None:
    assert estimate_orientation(np.full((1000, 800), 255, np.uint8), 100.0, engine) is None
