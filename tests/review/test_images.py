"""The review page shows a page scanned upside down or sideways upright: which quarter turn, and
the field's outline turned with the image (checked against OpenCV's own rotation)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from intake.review.images import jpeg_at_width, turn_points, upright_turn

W, H = 300, 200  # a landscape test image


def corners_of_form_turned(turn_cw: int) -> list[list[float]]:
    """Where an upright A4-ish form's corners land in an image made by turning it `turn_cw` clockwise."""
    upright = np.float64([[10, 10], [110, 10], [110, 150], [10, 150]])
    pts, _ = turn_points(upright, (120, 160), turn_cw)
    return pts.tolist()


@pytest.mark.parametrize("scanned_turn", [0, 90, 180, 270])
def test_the_turn_that_stands_a_page_upright_undoes_how_it_was_scanned(scanned_turn: int) -> None:
    assert upright_turn(corners_of_form_turned(scanned_turn)) == (360 - scanned_turn) % 360


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_outline_points_turn_with_the_image(turn: int) -> None:
    img = np.full((H, W), 255, np.uint8)
    img[40:44, 70:74] = 0  # a dark dot whose centre is (72, 42)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    turned = cv2.imdecode(np.frombuffer(jpeg_at_width(buf.tobytes(), 2000, quality=95, turn=turn), np.uint8),
                          cv2.IMREAD_GRAYSCALE)
    pts, size = turn_points(np.float64([[72, 42]]), (W, H), turn)
    x, y = pts[0]
    assert (turned.shape[1], turned.shape[0]) == size
    ys, xs = np.nonzero(turned < 128)
    assert abs(xs.mean() - x) <= 1.5 and abs(ys.mean() - y) <= 1.5
