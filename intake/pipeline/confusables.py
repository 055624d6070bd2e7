"""Characters both recognisers confuse (人/入, 字/宇, ...), kept as data with where each pair was
seen (`confusables.json`).

Two engines that agree are trusted because they rarely make the same mistake; for these
characters they do (issue 13: 入 read 人 by both, twice). An agreed reading that contains one of
them where PP-OCR's own choice was close (its runner-up near) goes to a person (`read.route`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).with_name("confusables.json")


@lru_cache(maxsize=1)
def _groups() -> dict[str, frozenset[str]]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for pair in data["pairs"]:
        chars = pair["chars"]
        if len(chars) < 2 or not pair.get("source"):
            raise ValueError(f"confusables.json: {chars!r} needs two or more characters and a source")
        for ch in chars:
            out.setdefault(ch, set()).update(c for c in chars if c != ch)
    return {k: frozenset(v) for k, v in out.items()}


def partners(ch: str) -> frozenset[str]:
    """The characters `ch` is confused with (empty when none is listed)."""
    return _groups().get(ch, frozenset())


def is_confusable(ch: str) -> bool:
    return ch in _groups()
