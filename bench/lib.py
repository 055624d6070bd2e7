"""Shared by the benchmark scripts: synthetic sets, reading them, comparing with the truth."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import cv2  # noqa: E402

cv2.setNumThreads(1)  # as the workers run (workers/app.py): one process per core, one thread each

CACHE = ROOT / "var" / "bench"
# changes when the generator draws other forms for the same seed (r3: faces as sets; r4: the harder
# variants of issue 13, pens, cancels and scan settings, on by default)
SYNTH_REV = "r4"


def synth_set(template_id: str, profile: str, count: int, seed: int, hand: float = 0.0,
              fmt: str | None = None, registry=None, fonts: str = "classic") -> Path:
    """A folder of synthetic filled forms, made once and reused (same seed, same bytes).
    `template_id` may name a version, ``vulnerable_family@1``; without one, the newest. `fonts`:
    the set of faces (`classic`, `seen`, `unseen`, `all`: intake/forms/synth/draw.py FONT_SETS)."""
    from intake.forms.registry import default_registry
    from intake.forms.synth import synthesize

    reg = registry or default_registry()
    form_id, _, version = template_id.partition("@")
    t = reg.get(form_id, int(version) if version else None)
    out = (CACHE / f"{t.id}-v{t.version}-{t.fingerprint}"
           / f"{profile}-s{seed}-h{hand:g}-{fmt or 'default'}-f{fonts}-{SYNTH_REV}-n{count}")
    done = out / ".complete"
    if not done.exists():
        out.mkdir(parents=True, exist_ok=True)
        for _ in synthesize(t, count=count, out_dir=out, seed=seed, profile=profile, fmt=fmt, hand=hand, fonts=fonts):
            pass
        done.touch()
    return out


def truth_files(folder: Path) -> list[tuple[dict[str, Any], list[Path]]]:
    out = []
    for j in sorted(folder.glob("*.json")):
        truth = json.loads(j.read_text(encoding="utf-8"))
        out.append((truth, [folder / f for f in truth["files"]]))
    return out


_ROW = re.compile(r"^(\w+)\[(\d+)\]\.(\w+)$")


def truth_value(truth: dict[str, Any], path: str) -> Any:
    m = _ROW.match(path)
    data = truth["fields"]
    if m:
        rows = data.get(m.group(1)) or []
        r = int(m.group(2))
        return rows[r].get(m.group(3)) if r < len(rows) else None
    return data.get(path)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return sorted(a or []) == sorted(b or [])
    if a in (None, False, "") and b in (None, False, ""):
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


@dataclass
class Outcome:
    template: str
    profile: str
    path: str
    type: str
    kind: str  # "typed" | "hand" | "empty" | "mark"
    correct: bool
    accepted: bool
    confidence: float
    engine_conf: float | None
    agreement: str | None
    valid: bool
    truth: Any
    value: Any
    # whether each engine's own reading (normalised) was right, where that engine read the field
    tesseract_right: bool | None = None
    ppocr_right: bool | None = None
    ppocr_tiny_right: bool | None = None
    quality: str | None = None  # the page's quality class (PageResult.quality["cls"])
    attempts: list[dict[str, Any]] | None = None  # each engine's reading (text fields), for --dump
    errors: list[str] | None = None  # why it went to review, for --dump


def _engines_right(ftype: str, attempts: list[dict[str, Any]], truth: Any
                   ) -> tuple[bool | None, bool | None, bool | None]:
    """Whether Tesseract's first reading and PP-OCR's (small, tiny) readings were right on their own."""
    from intake.values import normalize

    def right(engine: str) -> bool | None:
        a = next((a for a in attempts if a.get("engine") == engine), None)
        return None if a is None else _same(truth, normalize(ftype, a["text"])[0])

    return right("tesseract"), right("ppocr"), right("ppocr_tiny")


class BoxState(NamedTuple):
    truth: str  # 'empty' | 'marked' | 'filled'
    read: str
    inked: bool  # the page kept ink in the box (see `INKLESS_FILL`)
    where: str  # form, field and option, for --show-errors: 'domestic_violence/fax 8 violence_types[other]'
    evidence: dict[str, Any]
    fill_cancels: bool = False  # filling the box cancels it (the template says so): 'filled' is a state of its own


@dataclass
class RecordResult:
    template: str
    profile: str
    identified: bool  # every page identified as the right form and page
    pages: int
    outcomes: list[Outcome]
    # (truth state, read state, the page kept ink in the box) per option box: a mark the scan took
    # off the page (a light pen through a fax's light setting) leaves the box as empty as one never
    # marked, and no reader can see it; the report says how many of the wrong boxes were so
    mark_states: list[BoxState]
    seconds: float
    status: str
    pages_read: int = 0  # pages registered and read (an unregistered page's fields all go to review)


# A box whose ink (dark or faint) covers under this share of its inside has no mark left to read
# (a tick covers 0.05 or more: intake/pipeline/marks.py MARK_MIN_FILL).
INKLESS_FILL = 0.01


def read_record(args: tuple[dict[str, Any], list[str], str]) -> RecordResult:
    """Read one synthetic record's files and compare every field with the truth."""
    import time

    from intake.forms.registry import default_registry
    from intake.pipeline.extract import assemble, read_page
    from intake.pipeline.load import iter_pages

    truth, files, profile = args
    reg = default_registry()
    t = reg.get(truth["template"], truth["version"])
    t0 = time.perf_counter()
    pages = []
    for f in files:
        pages.extend(read_page(p, reg) for p in iter_pages(Path(f), Path(f).name))
    seconds = time.perf_counter() - t0
    instances = [i for i in assemble(pages, reg) if i.template is not None]
    identified = all(p.form_id == t.id and p.version == t.version for p in pages) and len(instances) == 1 \
        and [p.template_page for p in pages] == [pg["template_page"] for pg in truth["pages"]]
    # the form's own instance (a page taken for another form's makes one of its own)
    inst = next((i for i in instances if i.template.id == t.id), None)
    quality = {p.template_page - 1: (p.quality or {}).get("cls") for p in pages if p.template_page is not None}
    writing = truth.get("writing", {})
    outcomes: list[Outcome] = []
    states: list[BoxState] = []
    form = Path(files[0]).name.split("-")[0].split(".")[0]  # the set's form number: '8-2.jpg', '8.tif'
    for slot in t.slots():
        tv = truth_value(truth, slot.path)
        ftype = slot.field.type
        if inst is None or slot.path not in inst.fields:  # not read: the form, or this field's page
            outcomes.append(Outcome(t.id, profile, slot.path, ftype, "typed", False, False, 0.0, None, None, False, tv, None))
            continue
        r = inst.fields[slot.path]
        if ftype in ("checkbox", "choice", "signature"):
            kind = "mark"
        elif tv in (None, "", []):
            kind = "empty"
        else:
            kind = writing.get(slot.path, {}).get("style", "typed")
        value = r.value
        correct = _same(tv, value)
        accepted = r.status == "accepted"
        outcomes.append(Outcome(t.id, profile, slot.path, ftype, kind, correct, accepted, r.confidence,
                                r.details.get("engine_conf"), r.details.get("agreement"),
                                not [e for e in r.errors if e not in ("low_confidence", "readings_disagree")],
                                tv, value, *_engines_right(ftype, r.details.get("attempts") or [], tv),
                                attempts=r.details.get("attempts"), errors=list(r.errors), quality=quality.get(slot.page)))
        if ftype in ("checkbox", "choice"):
            marks = truth.get("marks", {}).get(slot.path, {})
            read_states = r.details.get("states") or {"true": r.details.get("state")}
            evidence = r.details.get("evidence") or {}
            if ftype == "checkbox":
                evidence = {"true": evidence}
            for opt, st in read_states.items():
                ev = evidence.get(opt) or {}
                inked = ev.get("fill", 1.0) >= INKLESS_FILL or ev.get("faint_fill", 1.0) >= INKLESS_FILL
                style = marks.get(opt) if ftype == "choice" else marks.get("true")
                tstate = "empty" if style is None else ("filled" if style in ("filled", "scribble") else "marked")
                if ftype == "checkbox" and st == "filled" and not slot.field.fill_cancels:
                    st = "marked"
                states.append(BoxState(tstate, st or "empty", inked,
                                       f"{t.id}/{profile} {form} {slot.path}" + (f"[{opt}]" if ftype == "choice" else ""), ev,
                                       bool(slot.field.fill_cancels)))
    return RecordResult(t.id, profile, identified, len(pages), outcomes, states, seconds,
                        inst.status if inst else "unidentified", sum(p.status == "read" for p in pages))
