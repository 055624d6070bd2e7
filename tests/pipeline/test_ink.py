"""Ink on the page (intake.pipeline.ink): digit loops, and the writing cut out of a field's crop."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from tests.pipeline.conftest import UMING


def test_digit_loops_tell_apart_digits_a_checksum_cannot() -> None:
    """3↔8, 0↔5, 1↔6 differ by 5 and keep a Taiwan ID checksum valid; their loops differ."""
    from PIL import ImageDraw, ImageFont

    from intake.pipeline.ink import DIGIT_HOLES, digit_shape_agrees, holes

    px_per_mm = 200 / 25.4
    font = ImageFont.truetype(UMING, 40, index=2)
    for digit, loops in DIGIT_HOLES.items():
        img = Image.new("L", (60, 60), 255)
        ImageDraw.Draw(img).text((15, 5), digit, fill=0, font=font)
        mask = np.asarray(img) < 128
        assert holes(mask, px_per_mm) == loops, digit
    img = Image.new("L", (60, 60), 255)
    ImageDraw.Draw(img).text((15, 5), "8", fill=0, font=font)
    mask = np.asarray(img) < 128
    assert digit_shape_agrees("8", mask, px_per_mm)
    assert not digit_shape_agrees("3", mask, px_per_mm)
    assert digit_shape_agrees("A", mask, px_per_mm)  # letters are not checked


def test_digits_on_a_line_are_checked_by_their_loops() -> None:
    from PIL import ImageDraw, ImageFont

    from intake.pipeline.ink import line_digits_agree

    px_per_mm = 200 / 25.4
    font = ImageFont.truetype(UMING, 40, index=2)

    def line(text: str) -> np.ndarray:
        img = Image.new("L", (30 + 28 * len(text), 64), 255)
        ImageDraw.Draw(img).text((10, 8), text, fill=0, font=font)
        return np.asarray(img) < 160

    written = line("0912-345-638")
    assert line_digits_agree("0912-345-638", written, px_per_mm)
    assert not line_digits_agree("0912-345-688", written, px_per_mm)  # 3 read as 8
    assert not line_digits_agree("5912-345-638", written, px_per_mm)  # 0 read as 5
    assert line_digits_agree("0912-345-63", written, px_per_mm)  # pieces do not match: not judged
    assert not line_digits_agree("8", line("3"), px_per_mm)
    assert line_digits_agree("3", line("3"), px_per_mm)


def _line(text: str, font_file: str, size: int = 40) -> np.ndarray:
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype(font_file, size, index=2)  # the TW subfont
    w = int(font.getlength(text)) + 20
    img = Image.new("L", (w, size + 20), 255)
    ImageDraw.Draw(img).text((10, 8), text, font=font, fill=0)
    return np.asarray(img)


def test_a_border_in_the_crop_is_taken_out_but_an_upright_stroke_stays() -> None:
    """怕's 忄 is a thin stroke nearly as tall as the line; a form border crossing the crop is
    as thin but runs in from its edge. Taking out the stroke made both engines read 害'白."""
    from intake.pipeline.ink import paper_level, writing

    line = _line("緊張害怕", "/usr/share/fonts/truetype/arphic/uming.ttc", size=48)
    rows = np.nonzero((line < 128).any(axis=1))[0]
    line = line[rows[0] - 5:rows[-1] + 6]  # a crop as tight as a ruled line's, as on the forms
    line = cv2.copyMakeBorder(line, 0, 0, 0, 30, cv2.BORDER_CONSTANT, value=255)
    line[:, -12:-9] = 0  # a printed border, top to bottom
    px_per_mm = 16.0  # this font's strokes are thicker than the forms' at 200 dpi: scale "thin" with them
    blob = writing(line, paper_level(line), px_per_mm)
    assert blob.removed is not None
    assert blob.removed[:, -12:-9].all()  # the border is gone
    # the upright stroke of 忄 (thin, nearly as tall as the crop) is still part of the writing
    _, _, stats, _ = cv2.connectedComponentsWithStats(blob.mask.astype(np.uint8), connectivity=8)
    h = line.shape[0]
    assert any(bh >= 0.8 * h and bw <= 0.7 * px_per_mm for _, _, bw, bh, _ in stats[1:])
    assert blob.bbox is not None and blob.bbox[2] < line.shape[1] - 15

