"""Small-cell suppression with complementary suppression, audited by linear programming.

A *release* is a set of cells (counts) and the linear relations between them that anyone can
infer from how the tables are built: a table's cells add up to its total, a county's count over
all templates is the sum of its counts per template, a category's count is at most its template's
total, and so on (`Release.equalities`, `Release.inequalities`, each a ``{cell: coefficient}``
meaning ``sum <= 0`` or ``== 0``).

1. *Primary suppression*: every cell with ``0 < count < threshold`` is withheld (zeros are shown:
   "nobody" is not a small group of people).
2. *Audit*: an attacker knows every published cell, every relation, and that a withheld cell is
   at least 1. For each withheld cell, two linear programmes (HiGHS, through scipy) find the
   smallest and largest value it can have given all that. A cell whose range is narrower than 1
   is *exposed*: its value follows from the totals, or from subtracting two overlapping tables
   (e.g. all templates minus the other two), or from the bounds (two withheld cells in a row
   that sums to 2 are both 1).
3. *Complementary suppression*: for each exposed cell, withhold one more published cell that
   shares a relation with it (the smallest non-zero one, a table total only when nothing else is
   left), then audit again, until no withheld cell is exposed.

Every view the API and the page give is a selection of the cells of one release; none is
computed afresh for a query, so two queries cannot be subtracted to reveal more than the release
itself does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

EPS = 1e-6


@dataclass
class Release:
    values: dict[str, int]
    equalities: list[dict[str, int]] = field(default_factory=list)  # sum(coef * cell) == 0
    inequalities: list[dict[str, int]] = field(default_factory=list)  # sum(coef * cell) <= 0
    totals: set[str] = field(default_factory=set)  # cells that are a table's total


def ranges(rel: Release, withheld: Iterable[str]) -> dict[str, tuple[float, float]]:
    """For each withheld cell, the smallest and largest value it can take given everything else
    published (an attacker's best linear-programming bounds; ``inf`` when unbounded)."""
    hidden = sorted(set(withheld))
    if not hidden:
        return {}
    index = {c: i for i, c in enumerate(hidden)}

    def rows(relations: list[dict[str, int]]) -> tuple[lil_matrix, np.ndarray] | tuple[None, None]:
        use = [r for r in relations if any(c in index for c in r)]
        if not use:
            return None, None
        a = lil_matrix((len(use), len(hidden)))
        b = np.zeros(len(use))
        for i, r in enumerate(use):
            for c, coef in r.items():
                if c in index:
                    a[i, index[c]] = coef
                else:
                    b[i] -= coef * rel.values[c]
        return a, b

    a_eq, b_eq = rows(rel.equalities)
    a_ub, b_ub = rows(rel.inequalities)
    out: dict[str, tuple[float, float]] = {}
    for c in hidden:
        obj = np.zeros(len(hidden))
        obj[index[c]] = 1.0
        low = linprog(obj, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(1, None), method="highs")
        high = linprog(-obj, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(1, None), method="highs")
        if low.status != 0 or high.status not in (0, 3):  # cannot happen for a consistent release
            out[c] = (float(rel.values[c]), float(rel.values[c]))
            continue
        out[c] = (float(low.fun), float("inf") if high.status == 3 else float(-high.fun))
    return out


def exposed(rel: Release, withheld: set[str]) -> list[str]:
    return [c for c, (lo, hi) in ranges(rel, withheld).items() if hi - lo < 1 - EPS]


def _relations_of(rel: Release, cell: str) -> list[dict[str, int]]:
    return [r for r in rel.equalities + rel.inequalities if cell in r]


def _complement(rel: Release, cell: str, withheld: set[str]) -> str | None:
    """The published cell to withhold next to protect `cell`: in a relation of `cell` with the
    fewest withheld cells, preferring a cell whose other relations already hold a withheld cell
    (it closes a cycle, so it protects without starting a new chain), then cells that are not a
    table's total, then the smallest non-zero one."""
    best: tuple[int, int, bool, int, str] | None = None
    for r in _relations_of(rel, cell):
        n_hidden = sum(1 for c in r if c in withheld)
        for c in r:
            if c in withheld or rel.values[c] == 0:
                continue
            closing = sum(1 for other in _relations_of(rel, c)
                          if other is not r and any(x in withheld for x in other))
            key = (n_hidden, -closing, c in rel.totals, rel.values[c], c)
            if best is None or key < best:
                best = key
    return best[4] if best else None


def suppress(rel: Release, threshold: int, complementary: bool = True, max_rounds: int = 200) -> set[str]:
    """The cells to withhold (see module docstring). ``complementary=False`` stops after
    primary suppression (tests show an attacker recovers cells then)."""
    withheld = {c for c, v in rel.values.items() if 0 < v < threshold}
    if not complementary:
        return withheld
    for _ in range(max_rounds):
        bad = exposed(rel, withheld)
        if not bad:
            return withheld
        added = False
        touched: set[int] = set()  # relations a complement of this round is in: audit them again first
        for c in bad:
            if any(id(r) in touched for r in _relations_of(rel, c)):
                continue
            extra = _complement(rel, c, withheld)
            if extra is not None:
                withheld.add(extra)
                touched |= {id(r) for r in _relations_of(rel, extra)}
                added = True
        if not added:  # nothing left to withhold beside them: withhold every non-zero cell
            withheld |= {c for c, v in rel.values.items() if v > 0}
            return withheld
    withheld |= {c for c, v in rel.values.items() if v > 0}
    return withheld
