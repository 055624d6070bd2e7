"""Synthetic scans of the pages the pipeline cannot place by itself (made by the tests, never
real forms), shared by the service tests and the browser tests.

- `steep_form`: a filled two-page child-protection form whose first page was photographed
  steeply (a keystone: the top edge 40% as wide as the bottom). Its QR code is read, but the
  registration squares are not where the QR predicts and image features refuse so strong a
  perspective: the page is `unregistered`. Four clicks on its squares place it.
- `other_version_form`: a filled form printed from child_protection *version 2*, which is not
  installed (same layout as version 1): its QR names a form this server does not know, so its
  pages are `unidentified`; a supervisor picks version 1 and the pipeline registers it by its
  marks.
- `blank_sheet`: the blank back of a sheet through an office scanner (paper tone, noise, toner
  specks).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from intake.config import PROJECT_ROOT
from intake.forms.layout import mark_centres
from intake.forms.registry import load_registry
from intake.forms.synth import synthesize
from intake.forms.synth.degrade import degrade

DPI = 300
KEYSTONE = 0.3  # the top corners move in by 30% of the width each


@dataclass
class SteepForm:
    files: list[Path]  # page 1 (steep photo), page 2 (clean), PNG
    truth: dict  # the synthetic truth: template, version, fields
    marks: list[list[float]]  # where page 1 shows the four registration squares: [x, y] fractions
    size: tuple[int, int]  # page 1's width, height in pixels


def _save(img: np.ndarray, path: Path) -> Path:
    Image.fromarray(img).save(path, dpi=(DPI, DPI))
    return path


def make_steep_form(out: Path, seed: int = 11) -> SteepForm:
    reg = load_registry(PROJECT_ROOT / "form_templates")
    t = reg.get("child_protection")
    src = out / "src"
    list(synthesize(t, count=1, out_dir=src, seed=seed, profile="clean", fmt="png", hand=0.0))
    truth = json.loads((src / "1.json").read_text(encoding="utf-8"))
    page1 = np.asarray(Image.open(src / truth["files"][0]).convert("L"))
    h, w = page1.shape
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    steep = np.float32([[w * KEYSTONE, 0], [w * (1 - KEYSTONE), 0], [w, h], [0, h]])
    M = cv2.getPerspectiveTransform(corners, steep)
    photo = cv2.warpPerspective(page1, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    marks_px = np.array(mark_centres(*t.page_size_mm)) * DPI / 25.4
    marks = cv2.perspectiveTransform(marks_px.reshape(-1, 1, 2), M.astype(np.float64)).reshape(-1, 2)
    files = [_save(photo, out / "steep-1.png"),
             _save(np.asarray(Image.open(src / truth["files"][1]).convert("L")), out / "steep-2.png")]
    return SteepForm(files, truth, [[float(x / w), float(y / h)] for x, y in marks], (w, h))


def make_other_version_form(out: Path, seed: int = 5) -> tuple[list[Path], dict]:
    """The form's pages printed from a version 2 of child_protection (a copy of version 1 under a
    new number, in a templates folder of its own), and the truth."""
    folder = out / "templates" / "child_protection"
    folder.mkdir(parents=True)
    v1 = (PROJECT_ROOT / "form_templates" / "child_protection" / "v1.yaml").read_text(encoding="utf-8")
    assert "\nversion: 1\n" in v1
    (folder / "v2.yaml").write_text(v1.replace("\nversion: 1\n", "\nversion: 2\n"), encoding="utf-8")
    t2 = load_registry(out / "templates").get("child_protection", 2)
    list(synthesize(t2, count=1, out_dir=out / "v2", seed=seed, profile="clean", fmt="png", hand=0.0))
    truth = json.loads((out / "v2" / "1.json").read_text(encoding="utf-8"))
    return [out / "v2" / f for f in truth["files"]], truth


def make_blank_sheet(path: Path, seed: int = 3) -> Path:
    white = np.full((3508, 2480), 255, np.uint8)
    scan = degrade("office", white, random.Random(seed))
    scan.image.save(path, dpi=scan.dpi)
    return path
