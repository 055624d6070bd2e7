"""A character-bigram model of the forms' language, for free text that both engines read alike.

Two engines agreeing on 人監 where the form says 入監 is the shared confusion issue 13 saw in
narratives. Where a character listed as confusable (`confusables.json`) makes bigrams the
domain's language never has, and its partner makes bigrams it has, the text goes to a person
(`read.shared_doubts`, `text.unlikely_characters`).

What the model is built from (`build`, written to `bigrams.json` by
``python -m intake.pipeline.bigrams``; a test checks the file is current):
- the synthetic data generator's phrase lists (`intake/forms/synth/data.py`: narrative openers,
  sentences and closers, "other" texts, roles, relations, places);
- the forms' own texts (the labels of `form_templates/*/v*.yaml`);
- Taiwan's counties and districts (`intake/gazetteer.py`).
It is small and close to this project's synthetic narratives (which are drawn from the same
phrases): on real forms it knows far fewer bigrams, so it is used only to send a text to a
person, never to change or accept one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

from intake.values import IDEOGRAPHS

DATA = Path(__file__).with_name("bigrams.json")
_CJK_RUN = re.compile(f"[{IDEOGRAPHS}]{{2,}}")


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [s for v in obj for s in _strings(v)]
    return []


def build() -> dict[str, Any]:
    """Count every bigram of CJK characters in the sources (see the module's docstring)."""
    import intake.forms.synth.data as synth_data
    from intake.gazetteer import COUNTIES

    root = Path(__file__).resolve().parents[2]
    texts = [s for name, v in sorted(vars(synth_data).items()) if name.isupper() for s in _strings(v)]
    for path in sorted((root / "form_templates").glob("*/v*.yaml")):
        texts.append(path.read_text(encoding="utf-8"))
    texts += [c + d for c, ds in COUNTIES.items() for d in ds]
    counts: Counter[str] = Counter()
    for t in texts:
        for run in _CJK_RUN.findall(t):
            counts.update(run[i:i + 2] for i in range(len(run) - 1))
    return {"note": "character bigrams of the forms' language; built by python -m intake.pipeline.bigrams "
                    "(see intake/pipeline/bigrams.py for the sources)",
            "bigrams": dict(sorted(counts.items()))}


@lru_cache(maxsize=1)
def _counts() -> dict[str, int]:
    return json.loads(DATA.read_text(encoding="utf-8"))["bigrams"]


def count(bigram: str) -> int:
    return _counts().get(bigram, 0)


def around(text: str, i: int, ch: str) -> int:
    """How often `ch` at position `i` of `text` makes a known bigram with its neighbours."""
    left = count(text[i - 1] + ch) if i > 0 else 0
    right = count(ch + text[i + 1]) if i + 1 < len(text) else 0
    return left + right


def unlikely(text: str) -> list[tuple[int, str, str]]:
    """(position, character read, its partner) wherever a confusable character makes no known
    bigram with its neighbours and its partner makes one (the model is small: 入監 is in it once)."""
    from intake.pipeline.confusables import partners

    out = []
    for i, ch in enumerate(text):
        alts = partners(ch)
        if not alts or around(text, i, ch):
            continue
        best = max(alts, key=lambda a: around(text, i, a))
        if around(text, i, best) >= 1:
            out.append((i, ch, best))
    return out


if __name__ == "__main__":
    DATA.write_text(json.dumps(build(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(_counts.__wrapped__())} bigrams written to {DATA}")
