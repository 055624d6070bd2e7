"""Open statistics: what is counted, the threshold, and an attacker who tries to recover the
suppressed cells from the totals, by subtracting overlapping queries, and with linear
programming over everything published — and fails; against primary suppression alone, the same
attacker succeeds (so the attack is real)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from scipy.optimize import linprog

from intake.api import create_app
from intake.config import Settings
from intake.db.session import get_db
from intake.forms.registry import load_registry
from intake.stats import service
from intake.stats.suppression import suppress
from tests.factories import new_record

API = "/api/v1"
TEMPLATE_FIELDS = {  # where each template keeps the month, the county and the category
    "child_protection": ("report_date", "child_address", "report_reasons"),
    "domestic_violence": ("report_date", "victim_address", "violence_types"),
}
# (template, month, county, categories, how many)
PLAN = [
    ("child_protection", "2025-01", "臺北市大安區", ["art49_prohibited_acts"], 9),
    ("child_protection", "2025-02", "新北市板橋區", ["art49_prohibited_acts", "art56_needs_protection"], 7),
    ("child_protection", "2025-02", "臺中市西屯區", ["art56_needs_protection"], 2),  # a small county cell
    ("child_protection", "2025-03", "臺北市大安區", ["art53_harmful_substances"], 6),
    ("domestic_violence", "2025-01", "臺中市西屯區", ["physical"], 6),
    ("domestic_violence", "2025-02", "臺北市大安區", ["psychological"], 8),
    ("domestic_violence", "2025-03", "高雄市苓雅區", ["physical", "economic"], 1),  # a small month and county
    ("vulnerable_family", "2025-03", "臺北市大安區", None, 4),  # a template below 5, not below 3
]


def _data(template: str, month: str, county: str, cats: list[str] | None, i: int) -> dict[str, Any]:
    if template == "vulnerable_family":
        return {"referral_date": f"{month}-0{1 + i % 9}", "family_address": county + "路1號",
                "economic_hardship": ["debt"], "referrer_name": f"社工{i}"}
    date_f, addr_f, cat_f = TEMPLATE_FIELDS[template]
    return {date_f: f"{month}-1{i % 9}", addr_f: county + "和平東路1號", cat_f: cats, "reporter_name": f"通報人{i}"}


@pytest.fixture
def populated(settings: Settings) -> Settings:
    with get_db(settings).session() as s:
        n = 0
        for template, month, county, cats, count in PLAN:
            for _ in range(count):
                n += 1
                new_record(s, template=template, status="approved" if n % 3 == 0 else "accepted",
                           data=_data(template, month, county, cats, n), event=False)
        for status in ("needs_review", "rejected", "superseded"):  # never counted
            new_record(s, template="child_protection", status=status,
                       data=_data("child_protection", "2025-01", "臺東縣臺東市", ["other_harm"], 99), event=False)
    return settings


@pytest.fixture
def client(populated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(populated)) as c:
        yield c


# ---------------------------------------------------------------- the attacker
def published(views: list[dict[str, Any]]) -> dict[str, int | None]:
    """Every cell any answer gave: (scope|dim|key) -> count, None when suppressed."""
    out: dict[str, int | None] = {}
    for v in views:
        for scope, sc in v["scopes"].items():
            cells = [(f"{scope}|total", sc["total"])]
            for dim in ("month", "county", "category"):
                cells += [(f"{scope}|{dim}|{c['key']}", c) for c in sc.get(f"by_{dim}") or []]
            for key, c in cells:
                assert out.get(key, c["count"]) == c["count"], f"two answers disagree on {key}"
                out[key] = c["count"]
    return out


def relations(cells: dict[str, int | None], templates: list[str], exclusive: dict[str, bool]
              ) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """What the attacker knows about how the tables are built (from their documentation)."""
    eq: list[dict[str, int]] = []
    ub: list[dict[str, int]] = []
    for scope in ["all", *templates]:
        for dim in ("month", "county"):
            keys = [k for k in cells if k.startswith(f"{scope}|{dim}|")]
            eq.append({k: 1 for k in keys} | {f"{scope}|total": -1})
    for dim in ("month", "county"):
        for k in [k for k in cells if k.startswith(f"all|{dim}|")]:
            key = k.split("|", 2)[2]
            eq.append({k: 1} | {f"{t}|{dim}|{key}": -1 for t in templates})
    eq.append({"all|total": 1} | {f"{t}|total": -1 for t in templates})
    for t in templates:
        keys = [k for k in cells if k.startswith(f"{t}|category|")]
        if exclusive[t]:
            eq.append({k: 1 for k in keys} | {f"{t}|total": -1})
        else:
            ub += [{k: 1, f"{t}|total": -1} for k in keys]
            ub.append({f"{t}|total": 1} | {k: -1 for k in keys})
    return eq, ub


def simple_attacks(cells: dict[str, int | None], templates: list[str]) -> dict[str, int]:
    """Totals minus published cells, and all templates minus the others, where one cell is missing."""
    found: dict[str, int] = {}
    groups = []
    for scope in ["all", *templates]:
        for dim in ("month", "county"):
            groups.append(([k for k in cells if k.startswith(f"{scope}|{dim}|")], f"{scope}|total"))
    for dim in ("month", "county"):
        for k in [k for k in cells if k.startswith(f"all|{dim}|")]:
            key = k.split("|", 2)[2]
            groups.append(([f"{t}|{dim}|{key}" for t in templates], k))
    groups.append(([f"{t}|total" for t in templates], "all|total"))
    for parts, total in groups:
        unknown = [p for p in parts if cells[p] is None]
        if cells[total] is not None and len(unknown) == 1:
            found[unknown[0]] = cells[total] - sum(cells[p] or 0 for p in parts if p != unknown[0])
    return found


def lp_attack(cells: dict[str, int | None], eq: list[dict[str, int]], ub: list[dict[str, int]]
              ) -> dict[str, tuple[float, float]]:
    hidden = sorted(k for k, v in cells.items() if v is None)
    ix = {k: i for i, k in enumerate(hidden)}

    def mat(rels: list[dict[str, int]]) -> tuple[np.ndarray | None, np.ndarray | None]:
        rels = [r for r in rels if any(k in ix for k in r)]
        if not rels:
            return None, None
        a, b = np.zeros((len(rels), len(hidden))), np.zeros(len(rels))
        for i, r in enumerate(rels):
            for k, c in r.items():
                if k in ix:
                    a[i, ix[k]] = c
                else:
                    b[i] -= c * (cells[k] or 0)
        return a, b

    a_eq, b_eq = mat(eq)
    a_ub, b_ub = mat(ub)
    out = {}
    for k in hidden:
        c = np.zeros(len(hidden))
        c[ix[k]] = 1
        lo = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(1, None))
        hi = linprog(-c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(1, None))
        out[k] = (lo.fun, np.inf if hi.status == 3 else -hi.fun)
    return out


def truth(settings: Settings) -> dict[str, int]:
    reg = load_registry(settings.templates_dir)
    specs = {i: service.spec_for(reg.get(i)) for i in reg.ids()}
    rows, _ = service.collect(settings, reg)
    return service.build(rows, specs).release.values


def attack(views: list[dict[str, Any]], settings: Settings) -> tuple[dict[str, int], dict[str, tuple[float, float]]]:
    cells = published(views)
    templates = [t["id"] for t in views[0]["templates"]]
    exclusive = {t: views[0]["scopes"][t]["categories_add_up"] for t in templates}
    eq, ub = relations(cells, templates, exclusive)
    return simple_attacks(cells, templates), lp_attack(cells, eq, ub)


# ---------------------------------------------------------------- tests
def test_the_attacker_recovers_no_suppressed_cell(client: TestClient, populated: Settings) -> None:
    queries = [{}, {"by": "county"}, {"by": "month"}] + [
        {"template": t, **({"by": b} if b else {})}
        for t, b in itertools.product(("child_protection", "domestic_violence", "vulnerable_family"),
                                      (None, "month", "county", "category"))]
    views = []
    for q in queries:
        r = client.get(f"{API}/stats", params=q)  # no token
        assert r.status_code == 200, r.text
        views.append(r.json())
    full = views[0]
    cells = published(views)
    assert any(v is None for v in cells.values())
    actual = truth(populated)
    assert actual["child_protection|county|臺中市"] == 2 and cells["child_protection|county|臺中市"] is None
    assert actual["all|total"] == sum(c for *_, c in PLAN)  # needs_review, rejected, superseded left out
    simple, lp = attack(views, populated)
    assert simple == {}, f"recovered from totals or by subtraction: {simple}"
    for key, (lo, hi) in lp.items():
        assert hi - lo >= 1 - 1e-6, f"{key} pinned to {lo}..{hi}"
        assert lo - 1e-6 <= actual[key] <= hi + 1e-6
    # published cells are the true counts
    for key, v in cells.items():
        assert v is None or v == actual[key], key
    assert full["threshold"] == 5 and full["statuses"] == ["accepted", "approved"]
    text = json.dumps(views, ensure_ascii=False)
    assert "通報人" not in text and "社工" not in text and "和平東路" not in text  # no personal data


def test_primary_suppression_alone_leaks(populated: Settings) -> None:
    """The same attacker against the release without complementary suppression: it recovers
    cells exactly, and right. (What the test above checks is not vacuous.)"""
    reg = load_registry(populated.templates_dir)
    specs = {i: service.spec_for(reg.get(i)) for i in reg.ids()}
    rows, mark = service.collect(populated, reg)
    built = service.build(rows, specs)
    weak = service.views(built, suppress(built.release, 5, complementary=False), 5, mark)
    simple, lp = attack([weak], populated)
    actual = built.release.values
    assert simple and all(actual[k] == v for k, v in simple.items())
    assert "child_protection|county|臺中市" in simple  # total minus the other counties
    pinned = {k for k, (lo, hi) in lp.items() if hi - lo < 1 - 1e-6}
    assert pinned and all(abs(lp[k][0] - actual[k]) < 1e-6 for k in pinned)


def test_threshold_is_configurable_but_never_below_3(populated: Settings) -> None:
    with pytest.raises(ValidationError):
        Settings(env="test", stats_threshold=2)
    reg = load_registry(populated.templates_dir)
    at3 = service.release(populated, reg, 3)
    at5 = service.release(populated, reg, 5)
    assert at3["threshold"] == 3 and at5["threshold"] == 5
    actual = truth(populated)
    for k, view in ((3, at3), (5, at5)):  # every cell below the threshold is withheld
        cells = published([view])
        assert all(cells[c] is None for c, v in actual.items() if 0 < v < k)
    # four vulnerable-family records: below 5, not below 3
    assert published([at5])["vulnerable_family|total"] is None and actual["vulnerable_family|total"] == 4
    assert service.release(populated, reg, 1)["threshold"] == 3  # asked lower: 3
    s8 = populated.model_copy(update={"stats_threshold": 8})
    with TestClient(create_app(s8)) as c:
        assert c.get(f"{API}/stats").json()["threshold"] == 8
    assert c is not None


def test_cli_stats_gives_the_same_release(client: TestClient, populated: Settings) -> None:
    env = {**os.environ, "INTAKE_DATA_DIR": str(populated.data_dir), "INTAKE_DATABASE_URL": populated.database_url or ""}
    out = subprocess.run([sys.executable, "-c", "from intake.cli import main; main()", "stats", "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    cli, api = json.loads(out), client.get(f"{API}/stats").json()
    assert published([cli]) == published([api])
    words = subprocess.run([sys.executable, "-c", "from intake.cli import main; main()", "stats"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert "== child_protection:" in words and " x" in words
    r = client.get(f"{API}/stats", params={"template": "nope"})
    assert r.status_code == 404 and r.json()["error"] == "template_not_found"
