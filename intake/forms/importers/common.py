"""What both importers share: names, reference images and writing the template file.

An imported template is written as ``<out_dir>/<form_id>/v<N>.yaml`` with its reference page
images beside it (``v<N>-page<k>.png``, grey, at the template's reference dpi). The file starts
with a comment block saying where it came from and every decision the importer took that a person
may want to check (skipped groups, assumed paper size, ...). It is checked with the template
model and the whole-template checks before it is written, so an import never leaves a file that
`intake templates check` refuses.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from intake.errors import TemplateError
from intake.forms.model import Template
from intake.values import IDEOGRAPHS

MM_PER_INCH = 25.4
NAME_MAX = 64
_CJK = re.compile(f"[{IDEOGRAPHS}]")


# ------------------------------------------------------------------------- names
def slug(text: str, *, prefix: str = "f", max_len: int = NAME_MAX) -> str:
    """A snake_case name (``^[a-z][a-z0-9_]*$``): "A1_B" -> "a1_b", "firstName" -> "first_name";
    one that would not start with a letter gets `prefix` ("1" -> "v1" with prefix "v")."""
    s = unicodedata.normalize("NFKD", str(text))
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s)  # camelCase -> camel_Case
    s = re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_").lower()
    s = re.sub(r"_+", "_", s)
    if not s or not s[0].isalpha():
        s = f"{prefix}{s}" if s else prefix
    return s[:max_len].rstrip("_")


class Names:
    """Hands out unique names: a second "q1" becomes "q1_2"."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        name, n = wanted, 1
        while name in self.used:
            n += 1
            tail = f"_{n}"
            name = wanted[: NAME_MAX - len(tail)] + tail
        self.used.add(name)
        return name


# A choice option's value as the template model allows it (forms.model.OptionValue)
OPTION_CODE = re.compile(r"-?[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def option_value(code: str | None, names: Names, notes: list[str], where: str, unnamed: str = "box") -> str:
    """The source's own answer code (queXF's ``1``, OMRChecker's ``A`` or ``0``) kept as the
    option's value, so a record matches the source's codebook; a missing code (named `unnamed`),
    one that is not a plain code (letters, digits, ``_ . -``) or a repeat gets a name, and a note
    says which."""
    if code and OPTION_CODE.fullmatch(code) and code not in names.used:
        return names.take(code)
    made = names.take(slug(code, prefix="v") if code else unnamed)
    notes.append(f"{where} " + (f"has the code {code!r}, kept as {made!r}" if code else f"has no code; named {made!r}"))
    return made


def label(text: str | None, fallback: str) -> dict[str, str]:
    """A template label from free text: Chinese text goes to `zh`, anything else to `en`."""
    t = " ".join((text or "").split()).strip(" :") or fallback
    return {"zh": t} if _CJK.search(t) else {"en": t}


def has_cjk(texts: Iterable[str]) -> bool:
    return any(_CJK.search(t or "") for t in texts)


# ------------------------------------------------------------------------- geometry
def mm(v: float) -> float:
    return round(float(v), 2)


def px_box_to_mm(x0: float, y0: float, x1: float, y1: float, dpi: float) -> list[float]:
    s = MM_PER_INCH / dpi
    return [mm(x0 * s), mm(y0 * s), mm((x1 - x0) * s), mm((y1 - y0) * s)]


def union(boxes: Iterable[list[float]]) -> list[float]:
    bs = list(boxes)
    x0 = min(b[0] for b in bs)
    y0 = min(b[1] for b in bs)
    x1 = max(b[0] + b[2] for b in bs)
    y1 = max(b[1] + b[3] for b in bs)
    return [mm(x0), mm(y0), mm(x1 - x0), mm(y1 - y0)]


# ------------------------------------------------------------------------- files
def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def save_grey_png(img: np.ndarray, path: Path) -> None:
    if img.dtype != np.uint8 or img.ndim != 2:
        raise ValueError("reference pages are saved as grey uint8 images")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise TemplateError(f"could not write the reference image {path}")


def reference_name(version: int, page: int) -> str:
    return f"v{version}-page{page}.png"


class _Dumper(yaml.SafeDumper):
    """Short lists of numbers or words (boxes, paper, languages) on one line."""


def _repr_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = len(data) <= 8 and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _repr_dict(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    small = set(data) <= {"en", "zh", "lang", "whitelist"} or (
        set(data) <= {"value", "label", "box"} and isinstance(data.get("label"), dict))
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=small or None)


_Dumper.add_representer(list, _repr_list)
_Dumper.add_representer(tuple, _repr_list)
_Dumper.add_representer(dict, _repr_dict)


def write_template(data: dict[str, Any], comments: list[str], out_dir: Path,
                   images: dict[str, np.ndarray]) -> Path:
    """Check the template, then write its YAML (comments first) and its reference images.

    Raises TemplateError, naming the problems, if the template would not load."""
    from intake.forms.registry import load_yaml

    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
    head = "".join(f"# {line}".rstrip() + "\n" for c in comments for line in c.splitlines())
    text = head + body
    try:
        template = Template.model_validate(load_yaml(text))
    except Exception as exc:  # noqa: BLE001 - pydantic ValidationError: report it whole
        raise TemplateError(f"the imported template is not valid: {exc}") from exc
    problems = template.problems()
    if problems:
        listed = "; ".join(f"{p}: {r}" for p, r in problems[:8])
        raise TemplateError(f"the imported template has {len(problems)} problem(s): {listed}")
    folder = out_dir / template.id
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in images.items():
        save_grey_png(img, folder / name)
    path = folder / f"v{template.version}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- loading scans
_PAGE_SUFFIX = re.compile(r"^(?P<stem>.*?[-_ .]?(?:page|pg|p)?[-_ .]?)(?P<n>0*1)$", re.IGNORECASE)


def page_files(path: Path) -> list[Path]:
    """The files of a blank scan given as one image per page: ``blank-page1.png`` brings its
    siblings ``blank-page2.png``, ``blank-page3.png``, ... (same folder, suffix and digit width).
    A PDF, a TIFF or an image without such a number stands for itself."""
    m = _PAGE_SUFFIX.match(path.stem)
    if path.suffix.lower() in (".pdf", ".tif", ".tiff") or not m:
        return [path]
    files, n = [path], 2
    width = len(m.group("n"))
    while True:
        sibling = path.with_name(f"{m.group('stem')}{n:0{width}d}{path.suffix}")
        if not sibling.is_file():
            return files
        files.append(sibling)
        n += 1


def load_scan_pages(path: Path) -> list[tuple[np.ndarray, float, bool]]:
    """(grey image, dpi, whether the dpi came from the file) for every page of a blank scan:
    a PDF (rasterised at the configured PDF resolution, 300 dpi by default), a multi-page TIFF,
    or images, one per page (see `page_files`)."""
    from intake.errors import InputError
    from intake.pipeline.load import iter_pages

    if not path.is_file():
        raise TemplateError(f"reference scan {path} not found")
    out = []
    for f in page_files(path):
        try:
            for p in iter_pages(f, f.name):
                if p.error is not None or p.image is None:
                    raise TemplateError(f"{f.name} page {p.index}: {p.error.message if p.error else 'unreadable'}")
                out.append((p.image, p.dpi, p.dpi_from_file))
        except InputError as exc:
            raise TemplateError(f"reference scan {f.name}: {exc.message}") from exc
    return out
