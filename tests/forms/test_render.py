"""Blank forms printed by intake.forms.render: what the reader and the clerks rely on."""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from intake.errors import TemplateError
from intake.forms import layout, render
from intake.forms.model import Label, Template
from intake.forms.registry import load_registry

HERE = Path(__file__).resolve().parents[1]
MINI_ROOT = HERE / "resources" / "templates"
FORMS_ROOT = HERE.parent / "form_templates"


def _mini() -> Template:
    return load_registry(MINI_ROOT).get("mini", 1)


def _form_templates() -> list:
    if not FORMS_ROOT.is_dir():
        return [
            pytest.param(
                None,
                id="form_templates",
                marks=pytest.mark.skip(reason="no form_templates/ folder"),
            )
        ]
    reg = load_registry(FORMS_ROOT)
    found = [pytest.param(t.key, id=t.key) for t in reg.all() if t.marks]
    return found or [
        pytest.param(
            None,
            id="form_templates",
            marks=pytest.mark.skip(reason="form_templates/ holds no template with marks"),
        )
    ]


def _template(key: str) -> Template:
    if key == "mini/v1":
        return _mini()
    form_id, version = key.split("/v")
    return load_registry(FORMS_ROOT).get(form_id, int(version))


TEMPLATE_KEYS = [pytest.param("mini/v1", id="mini/v1"), *_form_templates()]


@lru_cache(maxsize=8)
def _pages(key: str, dpi: int) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(im) for im in render.render_pages(_template(key), dpi))


def _px(v: float, dpi: int) -> int:
    return round(render.mm_to_px(v, dpi))


def _region(
    img: np.ndarray, box: tuple[float, float, float, float], dpi: int, shrink: float = 0.0
) -> np.ndarray:
    x, y, w, h = box
    x0, y0 = _px(x + shrink, dpi), _px(y + shrink, dpi)
    x1, y1 = _px(x + w - shrink, dpi), _px(y + h - shrink, dpi)
    assert x1 > x0 and y1 > y0, f"box {box} is too small to shrink by {shrink} mm"
    return img[y0:y1, x0:x1]


# -- QR code ------------------------------------------------------------------------------------
def _decode_zxing(img: np.ndarray) -> list[str]:
    return [
        b.text for b in zxingcpp.read_barcodes(img) if b.format == zxingcpp.BarcodeFormat.QRCode
    ]


def _decode_opencv(img: np.ndarray) -> str:
    result = cv2.QRCodeDetectorAruco().detectAndDecode(img)
    # OpenCV 4 and 5 return (text, points, straight_qrcode); be explicit about the shape.
    assert isinstance(result, tuple) and isinstance(result[0], str), (
        f"unexpected return {type(result)}"
    )
    return result[0]


@pytest.mark.parametrize("dpi", [300, 200])
@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_qr_code_decodes_to_the_page_code(key: str, dpi: int) -> None:
    t = _template(key)
    pages = _pages(key, dpi)
    assert len(pages) == len(t.pages)
    for i, img in enumerate(pages):
        want = layout.PageCode(t.id, t.version, i + 1, len(t.pages))
        texts = _decode_zxing(img)
        assert len(texts) == 1, f"page {i + 1}: zxing found {texts}"
        assert layout.parse_payload(texts[0]) == want
        text = _decode_opencv(img)
        assert layout.parse_payload(text) == want, f"page {i + 1}: OpenCV read {text!r}"


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_qr_code_fills_its_box_with_modules_of_at_least_0_7_mm(key: str) -> None:
    t = _template(key)
    dpi = 300
    for i, img in enumerate(_pages(key, dpi)):
        n, module = layout.qr_modules(layout.PageCode(t.id, t.version, i + 1, len(t.pages)), *t.page_size_mm)
        assert module >= 0.7
        x, y, w, h = layout.qr_box(*t.page_size_mm)
        # the dark modules span the box less the quiet zone, to within a pixel
        area = _region(img, (x - 1, y - 1, w + 2, h + 2), dpi)
        ys, xs = np.nonzero(area < 128)
        quiet = layout.QR_QUIET_MODULES * module
        origin = _px(x - 1, dpi)
        assert abs(xs.min() - (_px(x + quiet, dpi) - origin)) <= 1
        assert abs(xs.max() + 1 - (_px(x + w - quiet, dpi) - origin)) <= 1
        assert abs(ys.min() - (_px(y + quiet, dpi) - _px(y - 1, dpi))) <= 1
        assert abs(ys.max() + 1 - (_px(y + h - quiet, dpi) - _px(y - 1, dpi))) <= 1
        # the finder pattern at the top left is 7 modules wide
        row = area[ys.min() + _px(module / 2, dpi)]
        run = np.argmax(row[xs.min() :] > 128)
        assert abs(run - render.mm_to_px(7 * module, dpi)) <= 2


def test_the_layout_knows_the_size_of_the_printed_qr_code_without_printing_it() -> None:
    """The reader and the template check take the QR's module count from `layout` (no renderer):
    it must be the count of the code the renderer prints, for every payload length a form id
    allows and past it, up to where the layout's table ends."""
    from reportlab.graphics.barcode.qr import QrCodeWidget

    for n in range(1, 205):
        payload = layout.PageCode("f" + "x" * (n - 1), 1, 1, 2).payload()
        widget = QrCodeWidget(payload, barLevel=layout.QR_LEVEL, barBorder=layout.QR_QUIET_MODULES)
        widget.qr.make()
        assert layout.qr_module_count(payload) == widget.qr.getModuleCount(), payload
    with pytest.raises(ValueError, match="longer than"):
        layout.qr_module_count("x" * 214)


def test_a_form_id_too_long_for_a_readable_qr_code_is_refused() -> None:
    t = _mini().model_copy(update={"id": "a_very_long_form_identifier_x"})
    assert layout.qr_modules(layout.PageCode(t.id, 1, 1, len(t.pages)), *t.page_size_mm)[1] < 0.7
    assert any(path == "id" and "too long" in reason for path, reason in t.problems())
    with pytest.raises(TemplateError, match="shorter form id"):
        render.render_pdf(t)


# -- font ---------------------------------------------------------------------------------------
def _pdf_objects(pdf: bytes) -> dict[int, bytes]:
    """Object number -> dictionary text (streams left out)."""
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(rb"(\d+) 0 obj\s*(<<.*?>>)\s*(?:stream|endobj)", pdf, re.S)
    }


def test_the_pdf_embeds_the_uming_font_and_no_font_unembedded() -> None:
    pdf = render.render_pdf(_mini())
    objs = _pdf_objects(pdf)
    fonts = {n: d for n, d in objs.items() if re.search(rb"/Type\s*/Font\b", d)}
    assert fonts, "no font objects"
    for n, d in fonts.items():
        base = re.search(rb"/BaseFont\s*/([^\s/]+)", d)
        assert base, f"font object {n} has no BaseFont"
        assert re.fullmatch(rb"(?:[A-Z]{6}\+)?UMingTW.*", base.group(1)), (
            f"unexpected font {base.group(1)!r}"
        )
        desc = re.search(rb"/FontDescriptor\s+(\d+)\s+0\s+R", d)
        assert desc, f"font {base.group(1)!r} is referenced without a descriptor (not embedded)"
        descriptor = objs[int(desc.group(1))]
        assert b"UMing" in re.search(rb"/FontName\s*/(\S+)", descriptor).group(1)
        stream = re.search(rb"/FontFile2\s+(\d+)\s+0\s+R", descriptor)
        assert stream, f"font {base.group(1)!r} is not embedded"
        # the embedded program is a real TrueType font
        m = re.search(rb"%d 0 obj\s*<<.*?>>\s*stream\r?\n" % int(stream.group(1)), pdf, re.S)
        assert m
        data = zlib.decompressobj().decompress(pdf[m.end() : m.end() + 2_000_000])
        assert data[:4] in (b"\x00\x01\x00\x00", b"true")


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_every_printed_character_has_a_glyph(key: str) -> None:
    assert render.missing_glyphs(_template(key)) == [], "these would print as empty boxes (tofu)"


def test_missing_glyphs_are_found() -> None:
    t = _mini().model_copy(update={"title": Label(zh="測試表 ✓", en="Test")})
    assert render.missing_glyphs(t) == ["✓"]


def test_a_missing_font_file_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "FONT_PATH", Path("/nonexistent/uming.ttc"))
    render.font_name.cache_clear()
    try:
        with pytest.raises(TemplateError, match="fonts-arphic-uming"):
            render.font_name()
    finally:
        monkeypatch.undo()
        render.font_name.cache_clear()
        render.font_name()


def test_the_text_is_extractable_from_the_pdf() -> None:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(render.render_pdf(_mini()))
    try:
        text = doc[0].get_textpage().get_text_range()
    finally:
        doc.close()
    for s in ("測試表", "身分證字號", "National ID", "第 1 / 2 頁"):
        assert s in text


# -- geometry -----------------------------------------------------------------------------------
def test_a4_pages_are_2480_by_3508_at_300_dpi() -> None:
    images = render.render_pages(_mini(), 300)
    assert [im.size for im in images] == [(2480, 3508)] * 2
    assert {im.mode for im in images} == {"L"}
    colour = render.render_pages(_mini(), 100, grey=False)
    assert [im.size for im in colour] == [(827, 1169)] * 2 and colour[0].mode == "RGB"


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_registration_marks_are_where_layout_says(key: str) -> None:
    t = _template(key)
    dpi = 300
    for img in _pages(key, dpi):
        for box in layout.mark_boxes(*t.page_size_mm):
            assert _region(img, box, dpi, shrink=0.5).mean() < 40
            x, y, w, h = box
            outer = _region(img, (x - 2, y - 2, w + 4, h + 4), dpi).astype(float)
            inner = _region(img, (x - 0.3, y - 0.3, w + 0.6, h + 0.6), dpi)
            ring_sum = outer.sum() - inner.astype(float).sum()
            ring_mean = ring_sum / (outer.size - inner.size)
            assert ring_mean > 200, f"mark {box}: ring mean {ring_mean:.0f}"
            # and its edges are where layout says, to within a pixel
            ys, xs = np.nonzero(_region(img, (x - 2, y - 2, w + 4, h + 4), dpi) < 128)
            x0, y0 = _px(x - 2, dpi), _px(y - 2, dpi)
            assert (
                abs(x0 + xs.min() - _px(x, dpi)) <= 1
                and abs(x0 + xs.max() + 1 - _px(x + w, dpi)) <= 1
            )
            assert (
                abs(y0 + ys.min() - _px(y, dpi)) <= 1
                and abs(y0 + ys.max() + 1 - _px(y + h, dpi)) <= 1
            )


def _writing_areas(t: Template) -> list[tuple[int, str, tuple[float, float, float, float]]]:
    """Every area inside a field box that must stay blank: (page, what, box)."""
    out = []
    for slot in t.slots():
        f = slot.field
        boxes = [o.box for o in f.options] if f.type == "choice" else [slot.box]
        for box in boxes:
            x, y, w, h = box
            if f.cells:
                step = w / f.cells
                for i in range(f.cells):
                    out.append((slot.page, f"{slot.path} cell {i}", (x + i * step, y, step, h)))
            elif f.lines > 1:
                step = h / f.lines
                for i in range(f.lines):
                    out.append((slot.page, f"{slot.path} line {i}", (x, y + i * step, w, step)))
            else:
                out.append((slot.page, slot.path, box))
    return out


def test_field_boxes_are_clean_inside() -> None:
    t = _mini()
    dpi = 300
    pages = _pages("mini/v1", dpi)
    areas = _writing_areas(t)
    assert len({a[1].split(" ")[0] for a in areas}) == sum(1 for _ in t.slots())
    for page, what, box in areas:
        shrink = 1.0 if min(box[2], box[3]) > 3.0 else 0.6
        inside = _region(pages[page], box, dpi, shrink=shrink)
        assert inside.mean() > 245, f"{what}: ink inside the writing box (mean {inside.mean():.1f})"
    # and the boxes are really printed where the template says (the test above is not vacuous)
    for slot in t.slots():
        boxes = [o.box for o in slot.field.options] if slot.field.type == "choice" else [slot.box]
        for x, y, w, h in boxes:
            for edge_box in (
                (x - 0.3, y - 0.3, w + 0.6, 0.6),
                (x - 0.3, y + h - 0.3, w + 0.6, 0.6),
            ):
                edge = _region(pages[slot.page], edge_box, dpi)
                covered = (edge.min(axis=0) < 128).mean()
                assert covered > 0.9, f"{slot.path}: border not printed ({covered:.0%} of it)"


def test_labels_are_printed_beside_the_boxes() -> None:
    t = _mini()
    dpi = 300
    img = _pages("mini/v1", dpi)[0]
    for name in ("full_name", "national_id", "address"):
        x, y, w, h = t.field(name).box  # type: ignore[misc]
        left = _region(img, (x - 12, y, 10.3, h), dpi)
        assert left.min() < 100, f"{name}: no label left of the box"
    x, y, w, h = t.field("consent").box  # type: ignore[misc]
    right = _region(img, (x + w + 1.5, y - 1, 15, h + 2), dpi)
    assert right.min() < 100, "checkbox label missing to the right"


# -- output stability ---------------------------------------------------------------------------
def test_the_pdf_is_deterministic_and_carries_metadata() -> None:
    a = render.render_pdf(_mini())
    b = render.render_pdf(_mini())
    assert a == b
    assert a.startswith(b"%PDF-")
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(a)
    try:
        meta = doc.get_metadata_dict()
        assert len(doc) == 2
    finally:
        doc.close()
    assert meta["Title"] == "測試表 Test form"
    assert meta["Subject"] == "mini/v1"


def test_blank_page_is_cached_and_matches_render_pages() -> None:
    t = _mini()
    first = render.blank_page(t, 1, 150)
    again = render.blank_page(_mini(), 1, 150)  # another object, same key
    assert again is first
    assert first.mode == "L" and first.size == (1240, 1754)
    assert np.array_equal(np.asarray(first), np.asarray(render.render_pages(t, 150)[1]))
    with pytest.raises(TemplateError):
        render.blank_page(t, 2, 150)


def test_mm_to_px() -> None:
    assert render.mm_to_px(25.4, 300) == pytest.approx(300)
    assert render.mm_to_px(210, 300) == pytest.approx(2480.315, abs=1e-3)
