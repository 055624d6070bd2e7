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


@lru_cache(maxsize=8)
def _groups(ftype: str | None) -> dict[str, frozenset[str]]:
    """Each listed character's partners, in a field of type `ftype` (a group with ``types`` is
    listed for those field types only: 闕/關 in names, where 關 in 關懷 is everywhere in texts)."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for pair in data["pairs"]:
        chars = pair["chars"]
        if len(chars) < 2 or not pair.get("source"):
            raise ValueError(f"confusables.json: {chars!r} needs two or more characters and a source")
        if pair.get("types") is not None and ftype not in pair["types"]:
            continue
        for ch in chars:
            out.setdefault(ch, set()).update(c for c in chars if c != ch)
    return {k: frozenset(v) for k, v in out.items()}


def partners(ch: str, ftype: str | None = None) -> frozenset[str]:
    """The characters `ch` is confused with in a field of type `ftype` (empty when none is listed)."""
    return _groups(ftype).get(ch, frozenset())


def is_confusable(ch: str, ftype: str | None = None) -> bool:
    return ch in _groups(ftype)
