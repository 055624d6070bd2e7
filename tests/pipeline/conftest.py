"""What the pipeline's tests share: synthetic forms made once per session, and small helpers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from intake.forms.registry import default_registry
from intake.forms.synth import synthesize
from intake.pipeline.extract import FormInstance, assemble, read_page
from intake.pipeline.load import iter_pages

UMING = "/usr/share/fonts/truetype/arphic/uming.ttc"  # fonts-arphic-uming; index 2 is the TW face


def png_bytes(img: Image.Image | np.ndarray, dpi: int = 300) -> bytes:
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


@pytest.fixture(scope="session")
def clean_cp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synthetic child-protection forms, clean scans, typed (one PNG per page)."""
    out = tmp_path_factory.mktemp("cp_clean")
    t = default_registry().get("child_protection")
    list(synthesize(t, count=3, out_dir=out, seed=11, profile="clean", fmt="png", hand=0.0))
    return out


def truth(folder: Path, n: int) -> dict:
    return json.loads((folder / f"{n}.json").read_text(encoding="utf-8"))


def read_forms(files: list[Path]) -> list[FormInstance]:
    reg = default_registry()
    pages = [read_page(p, reg) for f in files for p in iter_pages(f, f.name)]
    return assemble(pages, reg)


def one_truth(template_id: str, *, seed: int, n: int) -> dict:
    """The field values of form `n` of a `bench/accuracy` set (what `one_form` draws)."""
    import random

    from intake.forms.synth import synth_record

    form_id, _, version = template_id.partition("@")
    t = default_registry().get(form_id, int(version) if version else None)
    return synth_record(t, random.Random(f"{seed}:{t.key}:{n}"))


def one_form(template_id: str, out: Path, *, seed: int, n: int, profile: str, hand: float, fonts: str) -> list[Path]:
    """Form `n` of a `bench/accuracy` set (`synthesize(count >= n, seed=...)` makes the same bytes),
    made alone: the files of its pages. `template_id` may name a version, ``vulnerable_family@1``
    (bench/accuracy reads version 1 of each form)."""
    import random

    from intake.forms.synth import synth_record, write_record

    form_id, _, version = template_id.partition("@")
    t = default_registry().get(form_id, int(version) if version else None)
    out.mkdir(parents=True, exist_ok=True)
    base = f"{seed}:{t.key}:{n}"
    data = synth_record(t, random.Random(base))
    return write_record(t, data, base, out, str(n), profile=profile, hand=hand, fonts=fonts)
