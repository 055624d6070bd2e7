"""Synthetic filled forms with their truth: valid, realistic, nobody's real data, reproducible.

``synthesize`` writes ``<n>.<ext>`` (or ``<n>-<page>.<ext>`` for PNG/JPEG of a multi-page form)
and ``<n>.json`` for n = 1..count, zero-padded to the width of `count`. Record n draws from its own
``random.Random(f"{seed}:{template.key}:{n}")``, so it does not change when `count` does, and the
same seed gives the same bytes. The record's data comes from that generator alone; the writing
(fonts, date and phone spellings, marks) and the scan each use a generator of their own derived
from the same string, so the truth's ``fields`` do not depend on the profile, the format or `hand`.

The truth JSON (ensure_ascii=False, sorted keys, indent 1)::

    {"template": id, "version": n, "fields": {...},        # the contract (DESIGN.md)
     "files": ["001-1.png", "001-2.png"], "profile": "fax", "seed": S,
     "pages": [{"file", "page" (1-based in the file), "template_page" (1-based),
                "rotation" (0/90/180/270 clockwise), "skew_deg" (clockwise), "dpi": [x, y]}],
     "fonts": "classic"|"seen"|"unseen"|"all",               # the set of faces drawn from
     "writing": {slot path: {"style": "typed"|"hand", "text": exact text on paper, lines
                 joined by "\\n", "font": the face it is in (`draw.FONT_FILES`)}},
     "marks": {field or slot path: {option value: "check"|"cross"|"dot"|"filled"|"scribble"}},
     "pen": "ballpoint"|"light_blue"|"red"|"pencil"}

In ``marks`` a checkbox's key is ``"true"``; ``"filled"`` (solid) and ``"scribble"`` (scribbled
over) are cancelled boxes (their option is not in ``fields``); a signature present is recorded as
``{"true": "signature"}``. ``pen`` is the ink the form was filled in with (handwriting and marks).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from intake.errors import IntakeError
from intake.forms.model import Template
from intake.forms.synth.data import synth_record
from intake.forms.synth.degrade import (
    COLOUR_PROFILES,
    DEFAULT_FORMAT,
    PROFILES,
    Scan,
    degrade,
    record_rotation,
)
from intake.forms.synth.draw import FONT_SETS, FontMissing, check_fonts, fill_form

__all__ = ["FONT_SETS", "FORMATS", "PROFILES", "SynthError", "render_record", "synth_record", "synthesize",
           "write_record"]

FORMATS = ("png", "jpeg", "tiff", "pdf")
EXTENSIONS = {"png": "png", "jpeg": "jpg", "tiff": "tif", "pdf": "pdf"}
PNG_COMPRESS_LEVEL = 3  # fast, and still small for forms
OFFICE_JPEG_QUALITY = 85  # JPEG quality of scanner output (JPEG files and PDF pages)


class SynthError(IntakeError, ValueError):
    code = "synth_invalid"
    http_status = 422


def _check_options(profile: str, fmt: str | None, hand: float, count: int, fonts: str = "classic") -> None:
    if fonts not in FONT_SETS:
        raise SynthError(f"unknown font set {fonts!r}; choose one of {', '.join(FONT_SETS)}")
    try:
        check_fonts(fonts)
    except FontMissing as exc:
        raise SynthError(str(exc)) from exc
    if profile not in PROFILES:
        raise SynthError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if fmt is not None and fmt not in (*FORMATS, "mixed"):
        raise SynthError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)} or mixed")
    if not 0.0 <= hand <= 1.0:
        raise SynthError(f"hand must be a share between 0 and 1, not {hand}")
    if count < 1:
        raise SynthError(f"count must be at least 1, not {count}")


# Whether `synthesize` draws the harder variants (issue 13: light pens, pencil, scribbled cancels,
# fax thresholds, shadows, motion blur, messaging downscales) when not told; False gives the
# classic forms byte for byte (the test suite's fixtures were written against them).
DEFAULT_VARIANTS = True


def render_record(template: Template, data: dict[str, Any], base: str, *, profile: str = "clean", hand: float = 0.0,
                  variants: bool = True, fonts: str = "classic") -> tuple[list[Scan], dict, dict, str]:
    """Draw a record's data onto the form and scan it: (scans, writing, marks, pen ink). `fonts`: the
    set of faces it is typed and written in (`classic`, `seen`, `unseen`, `all`: `draw.FONT_SETS`)."""
    # the harder variants (pens, cancels, scan settings) come from generators of their own, so a
    # record none applies to is drawn and scanned byte for byte as before they existed
    filled = fill_form(template, data, random.Random(base + ":write"), hand=hand, colour=profile in COLOUR_PROFILES,
                       variants=random.Random(base + ":pen") if variants else None, fonts=fonts)
    srng = random.Random(base + ":scan")
    vrng = random.Random(base + ":scan-variants") if variants else None
    rotation = record_rotation(profile, srng)
    dpi = round(srng.uniform(150, 220)) if profile == "phone" else None
    scans = [degrade(profile, page, srng, rotation=rotation, dpi=dpi, variants=vrng) for page in filled.pages]
    return scans, filled.writing, filled.marks, filled.pen


def _save(scans: list[Scan], fmt: str, out_dir: Path, stem: str) -> list[tuple[str, int]]:
    """Write the pages; returns (file name, page number in that file) per page."""
    ext = EXTENSIONS[fmt]
    out: list[tuple[str, int]] = []
    if fmt in ("png", "jpeg"):
        for i, s in enumerate(scans, 1):
            name = f"{stem}.{ext}" if len(scans) == 1 else f"{stem}-{i}.{ext}"
            img = s.image
            if fmt == "png":
                img.save(out_dir / name, "PNG", dpi=s.dpi, compress_level=PNG_COMPRESS_LEVEL)
            else:
                if img.mode == "1":
                    img = img.convert("L")
                img.save(out_dir / name, "JPEG", dpi=tuple(round(d) for d in s.dpi), quality=s.jpeg_quality or OFFICE_JPEG_QUALITY)
            out.append((name, 1))
        return out
    name = f"{stem}.{ext}"
    first, rest = scans[0].image, [s.image for s in scans[1:]]
    if fmt == "tiff":
        # one dpi and compression for the file: every page of a record shares its scan settings
        compression = "group4" if first.mode == "1" else "tiff_lzw"
        first.save(out_dir / name, "TIFF", save_all=True, append_images=rest, compression=compression, dpi=scans[0].dpi)
    else:
        # no dates or title: the same record gives the same bytes. Pillow embeds 1-bit pages as
        # CCITT G4 (no quality setting there) and grey/colour pages as JPEG.
        extra = {} if first.mode == "1" else {"quality": scans[0].jpeg_quality or OFFICE_JPEG_QUALITY}
        first.save(
            out_dir / name, "PDF", save_all=True, append_images=rest, dpi=scans[0].dpi,
            title=None, author=None, creator=None, producer=None, creationDate=None, modDate=None,
            **extra,
        )
    return [(name, i) for i in range(1, len(scans) + 1)]


def write_record(template: Template, data: dict[str, Any], base: str, out_dir: Path, stem: str, *,
                 profile: str = "clean", hand: float = 0.0, fonts: str = "classic") -> list[Path]:
    """Draw and scan one record's `data` (`render_record`, its randomness from `base`) and write its
    pages in the profile's format (`DEFAULT_FORMAT`) as `stem`...: the files, in page order. For
    a record made to measure, such as one whose names are given (tests, `bench/surnames`)."""
    scans, *_ = render_record(template, data, base, profile=profile, hand=hand, fonts=fonts)
    return [out_dir / name for name in dict.fromkeys(name for name, _ in _save(scans, DEFAULT_FORMAT[profile], out_dir, stem))]


def synthesize(
    template: Template,
    *,
    count: int,
    out_dir: Path | str,
    seed: int = 0,
    profile: str = "clean",
    fmt: str | None = None,
    hand: float = 0.0,
    variants: bool | None = None,
    fonts: str = "classic",
) -> Iterator[str]:
    """Write `count` synthetic filled forms and their truth; yields each truth JSON path.
    `variants`: draw the harder variants (default `DEFAULT_VARIANTS`). `fonts` names the set of
    faces (`FONT_SETS`: `classic`, the faces before issue 13, the default; `seen`, those calibration
    may use; `unseen`, faces it never sees; `all`); a face not installed is a `SynthError` naming its
    Debian package."""
    if variants is None:
        variants = DEFAULT_VARIANTS
    _check_options(profile, fmt, hand, count, fonts)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = len(str(count))
    for n in range(1, count + 1):
        base = f"{seed}:{template.key}:{n}"
        data = synth_record(template, random.Random(base))
        scans, writing, marks, pen = render_record(template, data, base, profile=profile, hand=hand, variants=variants,
                                                   fonts=fonts)
        record_fmt = fmt or DEFAULT_FORMAT[profile]
        if record_fmt == "mixed":
            record_fmt = random.Random(base + ":format").choice(FORMATS)
        stem = f"{n:0{width}d}"
        files = _save(scans, record_fmt, out, stem)
        truth = {
            "template": template.id,
            "version": template.version,
            "fields": data,
            "files": list(dict.fromkeys(name for name, _ in files)),
            "profile": profile,
            "fonts": fonts,
            "seed": seed,
            "pages": [
                {
                    "file": name,
                    "page": page,
                    "template_page": i + 1,
                    "rotation": s.rotation,
                    "skew_deg": s.skew_deg,
                    "dpi": [s.dpi[0], s.dpi[1]],
                }
                for i, ((name, page), s) in enumerate(zip(files, scans, strict=True))
            ],
            "writing": writing,
            "marks": marks,
            "pen": pen,
        }
        path = out / f"{stem}.json"
        path.write_text(json.dumps(truth, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        yield str(path)
