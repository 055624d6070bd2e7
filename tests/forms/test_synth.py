"""Synthetic forms (intake.forms.synth): valid truth, faithful images, reproducible bytes."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from PIL import Image

from intake.forms.model import TEXT_TYPES, Template, load_template_data
from intake.forms.registry import load_registry
from intake.forms.render import blank_page, mm_to_px
from intake.forms.rules import computed_values, record_violations
from intake.forms.schema import record_schema
from intake.forms.synth import SynthError, synth_record, synthesize
from intake.forms.synth.data import REFERENCE_DATE
from intake.forms.synth.draw import fits_box
from intake.values import (
    national_id_sex,
    normalize_address,
    normalize_date,
    normalize_name,
    normalize_national_id,
    normalize_number,
    normalize_phone,
    normalize_text,
    parse_date,
)

HERE = Path(__file__).resolve().parents[1]
FORMS_ROOT = HERE.parent / "form_templates"
MINI_ROOT = HERE / "resources" / "templates"
REAL = ["child_protection", "domestic_violence", "vulnerable_family"]


@lru_cache(maxsize=8)
def _template(form_id: str) -> Template:
    if form_id == "mini":
        return load_registry(MINI_ROOT).get("mini", 1)
    return load_registry(FORMS_ROOT).get(form_id)


def _values(t: Template, data: dict):
    """(path, field, value) of every non-empty text-like value, tables included."""
    for _, f in t.fields():
        v = data[f.name]
        if f.type == "table":
            for r, row in enumerate(v):
                assert set(row) == {c.name for c in f.columns}, "a row object has every column key"
                for c in f.columns:
                    if row[c.name] is not None:
                        yield f"{f.name}[{r}].{c.name}", c, row[c.name]
        elif v is not None:
            yield f.name, f, v


# ------------------------------------------------------------------------------------ records
@pytest.mark.parametrize("form_id", REAL)
def test_thousand_records_are_valid(form_id: str) -> None:
    t = _template(form_id)
    validator = Draft202012Validator(record_schema(t), format_checker=Draft202012Validator.FORMAT_CHECKER)
    keys = t.value_names()
    boxes = {s.path: s.box for s in t.slots()}
    seen_empty_optional = set()
    for n in range(1000):
        data = synth_record(t, random.Random(f"test:{t.key}:{n}"))
        assert list(data) == keys
        assert record_violations(t, data) == [], (n, record_violations(t, data))
        errors = sorted(validator.iter_errors(data), key=str)
        assert not errors, (n, errors[0].message)
        assert {c.name: data[c.name] for c in t.computed} == computed_values(t, data)
        for path, f, v in _values(t, data):
            if f.type == "national_id":
                assert normalize_national_id(v) == v
            elif f.type == "date":
                d = parse_date(v)
                assert d.isoformat() == v and d <= REFERENCE_DATE
            elif f.type == "phone":
                assert normalize_phone(v) == v
            if f.type in ("text", "name", "address", "national_id") and f.box is not None:
                box = boxes.get(path, f.box)
                assert fits_box(v, box[2], box[3], lines=f.lines, cells=f.cells), (path, v)
        for _, f in t.fields():
            if not f.required and data[f.name] in (None, [], False):
                seen_empty_optional.add(f.name)
    optional = {f.name for _, f in t.fields() if not f.required}
    assert len(seen_empty_optional) >= 0.8 * len(optional), "optional fields are sometimes left empty"


def test_record_depends_only_on_its_own_seed() -> None:
    t = _template("child_protection")
    a = synth_record(t, random.Random(f"3:{t.key}:2"))
    b = synth_record(t, random.Random(f"3:{t.key}:2"))
    c = synth_record(t, random.Random(f"3:{t.key}:3"))
    assert a == b and a != c


def test_people_are_consistent() -> None:
    """ID sex digits follow the sex field; children are 0-17, adults 18+; dates in range."""
    t = _template("domestic_violence")
    for n in range(300):
        d = synth_record(t, random.Random(n))
        report = parse_date(d["report_date"])
        assert (REFERENCE_DATE - report).days <= 3 * 366
        for who in ("victim", "respondent"):
            sex, nid, birth = d[f"{who}_sex"], d[f"{who}_national_id"], d[f"{who}_birth_date"]
            if nid and sex in ("male", "female"):
                assert national_id_sex(nid) == ("M" if sex == "male" else "F")
            if birth:
                age = (report - parse_date(birth)).days / 365.25
                assert 18 <= age <= 92, (who, birth, d["report_date"])
        if d["victim_nationality"] in ("foreign", "mainland_hk_macau") and d["victim_national_id"]:
            assert d["victim_national_id"][1] not in "12", "foreign residents carry resident certificates"
    t = _template("child_protection")
    for n in range(300):
        d = synth_record(t, random.Random(n))
        if d["child_birth_date"]:
            age = (parse_date(d["report_date"]) - parse_date(d["child_birth_date"])).days / 365.25
            assert 0 <= age < 18
        if d["child_national_id"] and d["child_sex"] in ("male", "female"):
            assert national_id_sex(d["child_national_id"]) == ("M" if d["child_sex"] == "male" else "F")


# A template the name heuristics know nothing about: the rules alone must still hold.
_GENERIC = {
    "id": "generic_test",
    "version": 1,
    "title": {"en": "Generic"},
    "pages": [
        {
            "fields": [
                {"name": "opened_on", "label": {"en": "Opened"}, "type": "date", "box": [45, 50, 50, 9]},
                {"name": "closed_on", "label": {"en": "Closed"}, "type": "date", "box": [120, 50, 50, 9], "required": True},
                {"name": "flag", "label": {"en": "Flag"}, "type": "checkbox", "box": [45, 64, 4.5, 4.5]},
                {"name": "amount", "label": {"en": "Amount"}, "type": "number", "box": [120, 62, 30, 9]},
                {
                    "name": "colour", "label": {"en": "Colour"}, "type": "choice", "multiple": True,
                    "options": [
                        {"value": "red", "label": {"en": "Red"}, "box": [45, 76, 4.5, 4.5]},
                        {"value": "other", "label": {"en": "Other"}, "box": [80, 76, 4.5, 4.5], "text_field": "colour_other"},
                    ],
                },
                {"name": "colour_other", "label": {"en": "Other colour"}, "type": "text", "box": [120, 74, 60, 9]},
                {
                    "name": "shape", "label": {"en": "Shape"}, "type": "choice",
                    "options": [
                        {"value": "round", "label": {"en": "Round"}, "box": [45, 88, 4.5, 4.5]},
                        {"value": "square", "label": {"en": "Square"}, "box": [80, 88, 4.5, 4.5]},
                    ],
                },
                {"name": "remark", "label": {"en": "Remark"}, "type": "text", "box": [45, 100, 140, 9], "max_length": 6},
            ]
        }
    ],
    "rules": [
        {"check": "not_after", "fields": ["opened_on", "closed_on"], "message": {"en": "order"}},
        {"check": "required_if", "fields": ["amount"], "when": {"field": "flag", "equals": True}, "message": {"en": "amount"}},
        {"check": "at_least_one", "fields": ["colour", "shape"], "message": {"en": "one"}},
    ],
    "computed": [{"name": "reds", "label": {"en": "Reds"}, "count": ["shape"], "equals": "round"}],
}


def test_unknown_template_still_valid() -> None:
    t = load_template_data(_GENERIC)
    validator = Draft202012Validator(record_schema(t), format_checker=Draft202012Validator.FORMAT_CHECKER)
    flags = 0
    for n in range(400):
        d = synth_record(t, random.Random(n))
        assert record_violations(t, d) == [], d
        assert not list(validator.iter_errors(d))
        flags += d["flag"]
        if d["remark"] is not None:
            assert len(d["remark"]) <= 6
    assert 0 < flags < 400


# ------------------------------------------------------------------------------------ files
@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    """make(form_id, profile, fmt, seed=1, count=2, hand=0.3) -> folder; each set made once."""
    root = tmp_path_factory.mktemp("synth")
    made: dict[tuple, Path] = {}

    def make(form_id: str, profile: str, fmt: str | None, seed: int = 1, count: int = 2, hand: float = 0.3) -> Path:
        key = (form_id, profile, fmt, seed, count, hand)
        if key not in made:
            out = root / "-".join(map(str, key))
            written = list(synthesize(_template(form_id), count=count, out_dir=out, seed=seed, profile=profile, fmt=fmt, hand=hand))
            width = len(str(count))
            assert [Path(p).name for p in written] == [f"{n:0{width}d}.json" for n in range(1, count + 1)]
            made[key] = out
        return made[key]

    return make


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("profile", "fmt"),
    [("clean", "png"), ("phone", "jpeg"), ("fax", "tiff"), ("office", "tiff"), ("office", "pdf"), ("fax", "pdf")],
)
def test_same_seed_same_bytes(gen, tmp_path: Path, profile: str, fmt: str) -> None:
    a = gen("mini", profile, fmt, seed=7)
    b = tmp_path / "again"
    list(synthesize(_template("mini"), count=2, out_dir=b, seed=7, profile=profile, fmt=fmt, hand=0.3))
    da, db = _digests(a), _digests(b)
    assert da == db
    c = gen("mini", profile, fmt, seed=8)
    dc = _digests(c)
    assert set(da) == set(dc)
    assert all(da[k] != dc[k] for k in da), "another seed gives other files"


def _truths(folder: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def _open_all(path: Path) -> list[Image.Image]:
    img = Image.open(path)
    frames = []
    for i in range(getattr(img, "n_frames", 1)):
        img.seek(i)
        frames.append(img.copy())
    frames[0].info.update(img.info)
    return frames


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["clean", "office", "fax", "phone"])
def test_profile_files_are_readable(gen, profile: str) -> None:
    folder = gen("child_protection", profile, None)
    truths = _truths(folder)
    assert len(truths) == 2
    for truth in truths:
        assert truth["template"] == "child_protection" and truth["version"] == 1 and truth["profile"] == profile
        assert [p["template_page"] for p in truth["pages"]] == [1, 2]
        for name in truth["files"]:
            assert (folder / name).is_file()
        if profile == "clean":
            assert [Path(f).suffix for f in truth["files"]] == [".png", ".png"]
            for pg in truth["pages"]:
                im = Image.open(folder / pg["file"])
                assert im.mode == "L" and im.size == (2480, 3508)
                assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
                assert pg["rotation"] == 0 and pg["skew_deg"] == 0
        elif profile == "office":
            import pypdfium2 as pdfium

            (name,) = truth["files"]
            assert name.endswith(".pdf")
            doc = pdfium.PdfDocument(str(folder / name))
            try:
                assert len(doc) == 2
                w, h = doc[0].get_size()
                assert abs(w - 595.3) < 2 and abs(h - 841.9) < 2  # A4 in points: dpi recorded right
            finally:
                doc.close()
            assert all(pg["rotation"] in (0, 180) and abs(pg["skew_deg"]) <= 1.5 for pg in truth["pages"])
        elif profile == "fax":
            (name,) = truth["files"]
            assert name.endswith(".tif")
            frames = _open_all(folder / name)
            assert len(frames) == 2
            img = Image.open(folder / name)
            assert img.mode == "1" and img.size == (1728, 1146)
            assert tuple(img.info["dpi"]) == (204, 98)
            assert img.info["compression"] == "group4"
            assert all(pg["dpi"] == [204.0, 98.0] and abs(pg["skew_deg"]) <= 2 for pg in truth["pages"])
        else:
            assert [Path(f).suffix for f in truth["files"]] == [".jpg", ".jpg"]
            for pg in truth["pages"]:
                im = Image.open(folder / pg["file"])
                assert im.mode == "RGB" and im.format == "JPEG"
                dpi = pg["dpi"][0]
                # 150-220 dpi, or a sharper photo sent through a messaging app: its longest side
                # shrunk to 2,048 px (the dpi with it)
                assert 100 <= dpi <= 300 and tuple(im.info["dpi"]) == (dpi, dpi)
                long_side = max(im.size)
                assert long_side > mm_to_px(297, dpi)  # the page and some desk around it
                assert dpi <= 220 or long_side <= 2048
                assert abs(pg["skew_deg"]) <= 12 and pg["rotation"] in (0, 90, 270)  # rotation + perspective


@pytest.mark.slow
def test_pdf_of_fax_pages_and_mixed_formats(gen) -> None:
    import pypdfium2 as pdfium

    folder = gen("mini", "fax", "pdf", seed=7)
    doc = pdfium.PdfDocument(str(folder / "1.pdf"))
    try:
        assert len(doc) == 2
        w, h = doc[0].get_size()  # 1728 px at 204 dpi by 1146 lines at 98 dpi
        assert abs(w - 1728 / 204 * 72) < 1 and abs(h - 1146 / 98 * 72) < 1
    finally:
        doc.close()
    mixed = gen("mini", "clean", "mixed", seed=1, count=6, hand=0.0)
    exts = {Path(f).suffix for t in _truths(mixed) for f in t["files"]}
    assert len(exts) >= 2 and exts <= {".png", ".jpg", ".tif", ".pdf"}


# ------------------------------------------------------------------------------------ truth
_NORMALISE = {
    "name": lambda s: normalize_name(s.replace("\n", " ")),
    "address": lambda s: normalize_address(s.replace("\n", " ")),
    "text": lambda s: normalize_text(s.replace("\n", " ")),
    "national_id": normalize_national_id,
    "date": normalize_date,
    "phone": normalize_phone,
    "number": normalize_number,
}


@pytest.mark.slow
@pytest.mark.parametrize("form_id", ["vulnerable_family", "domestic_violence"])
def test_writing_and_marks_match_fields(gen, form_id: str) -> None:
    """What was written normalises to the truth's value; marks are the truth's choices."""
    t = _template(form_id)
    folder = gen(form_id, "clean", "png", seed=3, count=3, hand=0.5)
    styles = set()
    for truth in _truths(folder):
        fields = truth["fields"]
        for slot in t.slots():
            if slot.field.type not in TEXT_TYPES:
                continue
            if slot.table is not None:
                rows = fields[slot.table.name]
                value = rows[slot.row][slot.field.name] if slot.row < len(rows) else None
            else:
                value = fields[slot.path]
            w = truth["writing"].get(slot.path)
            if value is None:
                assert w is None, slot.path
                continue
            assert w is not None, slot.path
            styles.add(w["style"])
            assert _NORMALISE[slot.field.type](w["text"]) == value, (slot.path, w, value)
        for _, f in t.fields():
            if f.type == "choice":
                v = fields[f.name]
                chosen = set(v) if isinstance(v, list) else {v} if v else set()
                got = truth["marks"].get(f.name, {})
                assert {o for o, s in got.items() if s not in ("filled", "scribble")} == chosen
                assert all(s in ("check", "cross", "dot", "filled", "scribble") for s in got.values())
                if any(s in ("filled", "scribble") for s in got.values()):
                    assert f.fill_cancels
            elif f.type in ("checkbox", "signature"):
                assert (f.name in truth["marks"]) == fields[f.name]
    assert styles == {"typed", "hand"}


@pytest.mark.slow
@pytest.mark.parametrize("hand", [0.0, 1.0])
def test_nothing_written_outside_boxes(gen, hand: float) -> None:
    """Every changed pixel of a clean page lies inside a slot's box (mark squares: within 2 mm)."""
    t = _template("domestic_violence")
    folder = gen("domestic_violence", "clean", "png", seed=5, count=2, hand=hand)
    for truth in _truths(folder):
        for pg in truth["pages"]:
            page = pg["template_page"] - 1
            drawn = np.asarray(Image.open(folder / pg["file"]), dtype=np.int16)
            blank = np.asarray(blank_page(t, page, 300), dtype=np.int16)
            allowed = np.zeros(drawn.shape, bool)
            for slot in t.slots():
                if slot.page != page:
                    continue
                f = slot.field
                boxes = [o.box for o in f.options] if f.type == "choice" else [slot.box]
                margin = 2.05 if f.type in ("choice", "checkbox") else 0.0
                for x, y, w, h in boxes:
                    x0, y0 = int(mm_to_px(x - margin, 300)), int(mm_to_px(y - margin, 300))
                    x1, y1 = int(np.ceil(mm_to_px(x + w + margin, 300))) + 1, int(np.ceil(mm_to_px(y + h + margin, 300))) + 1
                    allowed[max(0, y0) : y1, max(0, x0) : x1] = True
            changed = np.abs(drawn - blank) > 8
            assert changed.any()
            assert not (changed & ~allowed).any(), f"ink outside boxes on page {page + 1}"


@pytest.mark.slow
def test_typed_values_read_back_with_ocr(gen) -> None:
    """Typed IDs and phones on clean pages read back with Tesseract and our normalisers.

    IDs are printed in comb cells: each cell is cropped inside its lines and the crops are set
    side by side. Threshold: at least 80 % of the crops read exactly (typed clean text measured
    ~90 %; Tesseract confuses a lone "1" or "I" now and then).
    """
    pytesseract = pytest.importorskip("pytesseract")
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed")
    t = _template("child_protection")
    folder = gen("child_protection", "clean", "png", seed=11, count=4, hand=0.0)

    def crop(img: Image.Image, box, shrink: float) -> Image.Image:
        x, y, w, h = box
        return img.crop(tuple(round(mm_to_px(v, 300)) for v in (x + shrink, y + shrink, x + w - shrink, y + h - shrink)))

    ok = total = 0
    for truth in _truths(folder):
        pages = [Image.open(folder / pg["file"]) for pg in truth["pages"]]
        for slot in t.slots():
            f = slot.field
            value = truth["fields"][slot.path]
            if value is None or f.type not in ("phone", "national_id"):
                continue
            assert truth["writing"][slot.path]["style"] == "typed"
            img = pages[slot.page]
            if f.cells:
                x, y, w, h = slot.box
                cw = w / f.cells
                cells = [crop(img, (x + i * cw, y, cw, h), 0.7) for i in range(f.cells)]
                im = Image.new("L", (sum(c.width for c in cells) + 6 * len(cells) + 60, cells[0].height + 60), 255)
                xx = 30
                for c in cells:
                    im.paste(c, (xx, 30))
                    xx += c.width + 6
                whitelist, norm = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", normalize_national_id
            else:
                c = crop(img, slot.box, 0.6)
                im = Image.new("L", (c.width + 40, c.height + 40), 255)
                im.paste(c, (20, 20))
                whitelist, norm = "0123456789-()+ ", normalize_phone
            text = pytesseract.image_to_string(im, lang="eng", config=f"--psm 7 -c tessedit_char_whitelist={whitelist}")
            try:
                got = norm(text.strip())
            except ValueError:
                got = None
            total += 1
            ok += got == value
    assert total >= 12
    assert ok >= 0.8 * total, f"{ok}/{total} typed values read back"


@pytest.mark.slow
def test_marks_have_ink_and_empty_boxes_do_not(gen) -> None:
    t = _template("vulnerable_family")
    folder = gen("vulnerable_family", "clean", "png", seed=2, count=4, hand=0.0)
    marked, empty, filled = [], [], []
    for truth in _truths(folder):
        pages = {pg["template_page"] - 1: np.asarray(Image.open(folder / pg["file"]), np.float32) for pg in truth["pages"]}
        for page, f in t.fields():
            if f.type == "checkbox":
                boxes = {"true": f.box}
            elif f.type == "choice":
                boxes = {o.value: o.box for o in f.options}
            else:
                continue
            for key, (x, y, w, h) in boxes.items():
                a = pages[page]
                inner = a[round(mm_to_px(y + 0.6, 300)) : round(mm_to_px(y + h - 0.6, 300)), round(mm_to_px(x + 0.6, 300)) : round(mm_to_px(x + w - 0.6, 300))]
                style = truth["marks"].get(f.name, {}).get(key)
                if style == "filled":
                    filled.append(float((inner < 160).mean()))  # share of the square covered
                else:
                    (marked if style else empty).append(float((255 - inner).mean() / 255))
    assert marked and empty
    assert min(marked) > 0.08, "a check, cross or dot leaves clear ink in its square"
    assert max(empty) < 0.02
    assert all(v >= 0.85 for v in filled), "a cancelled box is filled almost completely"


# ------------------------------------------------------------------------------------ CLI
def _intake_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("intake")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "intake.cli"]


@pytest.mark.slow
def test_cli_writes_fax_tiffs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [*_intake_cmd(), "synth", "child_protection", "--count", "2", "--out", str(out), "--profile", "fax"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["1.json", "1.tif", "2.json", "2.tif"]
    assert proc.stdout.split() == [str(out / "1.json"), str(out / "2.json")]


def test_bad_options_are_refused(tmp_path: Path) -> None:
    t = _template("mini")
    with pytest.raises(SynthError, match="profile"):
        list(synthesize(t, count=1, out_dir=tmp_path, profile="scanner"))
    with pytest.raises(SynthError, match="format"):
        list(synthesize(t, count=1, out_dir=tmp_path, fmt="gif"))
    with pytest.raises(SynthError, match="hand"):
        list(synthesize(t, count=1, out_dir=tmp_path, hand=1.5))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("profile", ["office", "fax", "phone"])
def test_skew_and_rotation_are_clockwise(profile: str) -> None:
    """A positive skew_deg turns the page clockwise (a horizontal rule's right end goes down),
    and turning the image back by `rotation` counter-clockwise makes it upright."""
    import cv2

    from intake.forms.synth.degrade import degrade

    page = np.full((1200, 1600), 255, np.uint8)
    page[600:606, 200:1400] = 0  # a horizontal rule in the middle
    page[300:316, 200:216] = 0  # a square above its left end: tells upright from upside down
    checked = 0
    for seed in range(16):
        scan = degrade(profile, page if profile != "phone" else np.dstack([page] * 3), random.Random(seed))
        a = np.asarray(scan.image.convert("L"), np.uint8)
        a = np.ascontiguousarray(np.rot90(a, k=scan.rotation // 90))
        # thin dark strokes only (not the desk around a photo, not specks)
        ink = cv2.morphologyEx(a, cv2.MORPH_BLACKHAT, np.ones((25, 25), np.uint8)) > 60
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(ink.astype(np.uint8))
        # the rule: the widest component at least 2 rows high (a fax streak is one scan line)
        tall = [i for i in range(1, n) if stats[i, cv2.CC_STAT_HEIGHT] >= 2]
        rule = max(tall, key=lambda i: stats[i, cv2.CC_STAT_WIDTH])
        ys, xs = np.nonzero(labels == rule)
        slope = np.polyfit(xs, ys, 1)[0] * scan.dpi[0] / scan.dpi[1]
        assert abs(np.degrees(np.arctan(slope)) - scan.skew_deg) < (1.0 if profile == "phone" else 0.3), (seed, slope, scan.skew_deg)
        square = max((i for i in tall if i != rule), key=lambda i: stats[i, cv2.CC_STAT_AREA])
        assert centroids[square][1] < centroids[rule][1] and centroids[square][0] < centroids[rule][0], (seed, scan.rotation)
        checked += 1
    assert checked == 16


def test_harder_variants_are_drawn_and_off_gives_the_classic_forms(tmp_path: Path) -> None:
    """Issue 13: light and coloured pens, pencil, scribbled cancels, phone photos through a
    messaging app; with variants off, the forms are the classic ones byte for byte (a record no
    variant applies to is the same either way)."""
    t = _template("vulnerable_family")
    on = list(synthesize(t, count=12, out_dir=tmp_path / "on", seed=3, profile="phone", variants=True))
    off = list(synthesize(t, count=12, out_dir=tmp_path / "off", seed=3, profile="phone", variants=False))
    pens_on = {json.loads(Path(p).read_text())["pen"] for p in on}
    pens_off = {json.loads(Path(p).read_text())["pen"] for p in off}
    assert pens_off == {"ballpoint"} and len(pens_on) >= 2
    dpis = [json.loads(Path(p).read_text())["pages"][0]["dpi"][0] for p in on]
    assert any(d > 220 or max(Image.open(Path(p).with_name(json.loads(Path(p).read_text())["files"][0])).size) == 2048
               for d, p in zip(dpis, on, strict=True))
    # the data (the truth's fields) never depends on the variants
    assert [json.loads(Path(p).read_text())["fields"] for p in on] == [json.loads(Path(p).read_text())["fields"] for p in off]


# ------------------------------------------------------------------------------------ typefaces
def test_font_sets_keep_the_unseen_faces_apart() -> None:
    """Calibration (`seen`) and the held-out faces (`unseen`) share no face; `all` is both; a Song
    (serif Ming) face is among the seen ones, Kai faces in both, and every face is installed."""
    from intake.forms.synth.draw import FONT_SETS, check_fonts

    seen, unseen = FONT_SETS["seen"], FONT_SETS["unseen"]
    for a, b in ((seen.typed, unseen.typed), (seen.hand, unseen.hand), (seen.latin_hand, unseen.latin_hand)):
        assert a and b and not set(a) & set(b)
    assert set(FONT_SETS["all"].typed) == set(seen.typed) | set(unseen.typed)
    assert "noto_serif" in seen.typed and {"cwming", "cwkai"} <= set(unseen.typed)
    assert set(FONT_SETS["classic"].typed) <= set(seen.typed)  # classic: the faces before issue 13
    for name in FONT_SETS:
        check_fonts(name)


@pytest.mark.parametrize("fonts", ["seen", "unseen"])
def test_forms_are_written_in_the_chosen_set_of_faces(tmp_path: Path, fonts: str) -> None:
    from intake.forms.synth.draw import FALLBACK_FONT, FONT_SETS

    fs = FONT_SETS[fonts]
    written = list(synthesize(_template("child_protection"), count=3, out_dir=tmp_path, seed=4, hand=0.4, fonts=fonts))
    used: dict[str, set[str]] = {"typed": set(), "hand": set()}
    for path in written:
        truth = json.loads(Path(path).read_text(encoding="utf-8"))
        assert truth["fonts"] == fonts
        for w in truth["writing"].values():
            used[w["style"]].add(w["font"])
    # a value with a character a face lacks falls back to Noto Sans (typed) or UKai (hand)
    assert used["typed"] and used["typed"] <= {*fs.typed, FALLBACK_FONT}
    assert used["hand"] and used["hand"] <= {*fs.hand, *fs.latin_hand, "ukai"}
    assert used["typed"] - {FALLBACK_FONT} or fonts == "seen"


def test_a_latin_name_is_handwritten_in_a_latin_face_and_missing_glyphs_fall_back() -> None:
    from intake.forms.synth.draw import choose_pen, face_for, hand_face, has_glyph, with_fonts

    pen = with_fonts(choose_pen(random.Random(1)), "unseen", random.Random(2))
    assert hand_face(pen, "NGUYEN THI LAN") == "comic_italic"
    assert hand_face(pen, "陳淑芬") == "cwkai"
    assert not has_glyph("cwkai", "凃") and has_glyph("ukai", "凃")  # cwTeX covers Big5 only
    assert hand_face(pen, "凃淑芬") == "ukai" and face_for("cwming", "陳淑芬") == "cwming"


def test_a_missing_typeface_is_refused_naming_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from intake.forms.synth import draw

    monkeypatch.setitem(draw.FONT_FILES, "cwming", ("/nonexistent/cwming.ttf", "cwTeXMing", "fonts-cwtex-ming"))
    draw._face_index.cache_clear()
    try:
        with pytest.raises(SynthError, match="fonts-cwtex-ming"):
            list(synthesize(_template("mini"), count=1, out_dir=tmp_path, fonts="unseen"))
        with pytest.raises(SynthError, match="font set"):
            list(synthesize(_template("mini"), count=1, out_dir=tmp_path, fonts="other"))
    finally:
        draw._face_index.cache_clear()
    assert not list(tmp_path.iterdir())
