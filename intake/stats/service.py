"""Building the statistics release from the records, and its views (see `intake.stats`)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from intake.config import Settings
from intake.db.models import Record, RecordState, utcnow
from intake.db.session import get_db
from intake.errors import TemplateError
from intake.forms.model import Field, Template
from intake.forms.registry import Registry
from intake.forms.revisions import convert
from intake.gazetteer import COUNTIES, split_county
from intake.stats.suppression import Release, suppress

STATUSES = (RecordState.ACCEPTED, RecordState.APPROVED)
UNKNOWN = "unknown"
NONE = "none"
COUNTY_EN = dict(zip(COUNTIES, (
    "Taipei City", "New Taipei City", "Keelung City", "Taoyuan City", "Hsinchu City", "Hsinchu County",
    "Miaoli County", "Taichung City", "Changhua County", "Nantou County", "Yunlin County", "Chiayi City",
    "Chiayi County", "Tainan City", "Kaohsiung City", "Pingtung County", "Yilan County", "Hualien County",
    "Taitung County", "Penghu County", "Kinmen County", "Lienchiang County"), strict=True))


@dataclass(frozen=True)
class Spec:
    """What one template's records are counted by (see `intake.stats`)."""

    template: Template
    month: str | None
    county: str | None
    category_fields: tuple[str, ...]  # one choice field (its options), or several (each a category)
    categories: tuple[tuple[str, dict[str, str | None]], ...]  # (key, label) in order
    exclusive: bool  # a record is in exactly one category (a single choice): the categories add up


def _fields(t: Template) -> dict[str, Field]:
    return {f.name: f for _, f in t.fields()}


def spec_for(t: Template) -> Spec:
    st = t.statistics
    fields = _fields(t)
    month = st.month if st and st.month else next(
        (f.name for f in fields.values() if f.type == "date" and f.required), None)
    county = st.county if st and st.county else next((f.name for f in fields.values() if f.type == "address"), None)
    cat: list[str] = list(st.category) if st and st.category else []
    if not cat:
        first = next((f for f in fields.values() if f.type == "choice" and f.multiple and f.required), None)
        if first is not None:
            cat = [first.name]
        else:
            rule = next((r for r in t.rules if r.check == "at_least_one"
                         and all(fields.get(n) is not None and fields[n].type == "choice" for n in r.fields)), None)
            cat = list(rule.fields) if rule else []
    for name, kind in [(month, "date"), (county, "address")] + [(c, "choice") for c in cat]:
        if name is not None and (name not in fields or fields[name].type != kind):
            raise TemplateError(f"{t.key}: statistics: {name!r} is not a {kind} field")
    if len(cat) == 1:
        f = fields[cat[0]]
        cats = tuple((o.value, o.label.model_dump()) for o in f.options)
        exclusive = not f.multiple
    else:
        cats = tuple((n, fields[n].label.model_dump()) for n in cat)
        exclusive = False
    return Spec(t, month, county, tuple(cat), cats + ((NONE, {"zh": "未勾選", "en": "None marked"}),), exclusive)


def categories_of(spec: Spec, data: dict[str, Any]) -> list[str]:
    if not spec.category_fields:
        return [NONE]
    if len(spec.category_fields) == 1:
        v = data.get(spec.category_fields[0])
        out = [x for x in (v if isinstance(v, list) else [v]) if x]
    else:
        out = [n for n in spec.category_fields if data.get(n) not in (None, [], False, "")]
    return out or [NONE]


def month_of(spec: Spec, data: dict[str, Any]) -> str:
    v = data.get(spec.month) if spec.month else None
    return v[:7] if isinstance(v, str) and len(v) >= 7 else UNKNOWN


def county_of(spec: Spec, data: dict[str, Any]) -> str:
    v = data.get(spec.county) if spec.county else None
    parts = split_county(v) if isinstance(v, str) else None
    return parts[0] if parts else UNKNOWN


@dataclass
class Row:
    template: str
    month: str
    county: str
    categories: list[str]


def collect(settings: Settings, registry: Registry) -> tuple[list[Row], int]:
    """One row per counted record (accepted or approved), and the revision watermark read."""
    specs = {i: spec_for(registry.get(i)) for i in registry.ids()}
    rows: list[Row] = []
    with get_db(settings).read_session() as s:
        mark = s.scalar(select(func.max(Record.revision))) or 0
        q = (select(Record.template_id, Record.template_version, Record.data)
             .where(Record.status.in_([str(x) for x in STATUSES])).execution_options(yield_per=1000))
        for template_id, version, data in s.execute(q):
            spec = specs.get(template_id)
            if spec is None:
                continue
            if version != spec.template.version:
                data, _ = convert(registry, template_id, data, version, spec.template.version)
            rows.append(Row(template_id, month_of(spec, data), county_of(spec, data), categories_of(spec, data)))
    return rows, mark


def cell(scope: str, dim: str | None = None, key: str | None = None) -> str:
    return f"{scope}|total" if dim is None else f"{scope}|{dim}|{key}"


@dataclass
class Built:
    release: Release
    specs: dict[str, Spec]
    months: list[str]
    counties: list[str]


def build(rows: list[Row], specs: dict[str, Spec]) -> Built:
    """The release: cells and the relations anyone can infer between them."""
    months = sorted({r.month for r in rows} - {UNKNOWN}) + ([UNKNOWN] if any(r.month == UNKNOWN for r in rows) else [])
    counties = list(COUNTIES) + [UNKNOWN]
    scopes = ["all", *specs]
    counts: Counter[str] = Counter()
    for r in rows:
        for scope in ("all", r.template):
            counts[cell(scope)] += 1
            counts[cell(scope, "month", r.month)] += 1
            counts[cell(scope, "county", r.county)] += 1
        for c in r.categories:
            counts[cell(r.template, "category", c)] += 1
    values: dict[str, int] = {}
    rel = Release(values)
    for scope in scopes:
        values[cell(scope)] = counts[cell(scope)]
        rel.totals.add(cell(scope))
        for dim, keys in (("month", months), ("county", counties)):
            for k in keys:
                values[cell(scope, dim, k)] = counts[cell(scope, dim, k)]
            rel.equalities.append({cell(scope, dim, k): 1 for k in keys} | {cell(scope): -1})
    for dim, keys in (("month", months), ("county", counties)):
        for k in keys:
            rel.equalities.append({cell("all", dim, k): 1} | {cell(t, dim, k): -1 for t in specs})
    rel.equalities.append({cell("all"): 1} | {cell(t): -1 for t in specs})
    for t, spec in specs.items():
        keys = [k for k, _ in spec.categories]
        for k in keys:
            values[cell(t, "category", k)] = counts[cell(t, "category", k)]
        if spec.exclusive:
            rel.equalities.append({cell(t, "category", k): 1 for k in keys} | {cell(t): -1})
        else:
            for k in keys:
                rel.inequalities.append({cell(t, "category", k): 1, cell(t): -1})
            rel.inequalities.append({cell(t): 1} | {cell(t, "category", k): -1 for k in keys})
    return Built(rel, specs, months, counties)


def _item(key: str, value: int, hidden: bool, label: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "count": None if hidden else value, "suppressed": hidden}
    if label is not None:
        out["label"] = label
    return out


def views(built: Built, withheld: set[str], threshold: int, mark: int) -> dict[str, Any]:
    """The release as the API gives it: every cell, withheld ones with ``count: null``."""
    v = built.release.values

    def item(c: str, key: str, label: dict[str, Any] | None = None) -> dict[str, Any]:
        return _item(key, v[c], c in withheld, label)

    def county_label(k: str) -> dict[str, Any]:
        return {"zh": k, "en": COUNTY_EN[k]} if k in COUNTY_EN else {"zh": "不明", "en": "Unknown"}

    def month_label(k: str) -> dict[str, Any]:
        return {"zh": f"{k[:4]}年{int(k[5:7])}月", "en": k} if k != UNKNOWN else {"zh": "不明", "en": "Unknown"}

    scopes: dict[str, Any] = {}
    for scope in ["all", *built.specs]:
        sc: dict[str, Any] = {"total": item(cell(scope), "total"),
                              "by_month": [item(cell(scope, "month", k), k, month_label(k)) for k in built.months],
                              "by_county": [item(cell(scope, "county", k), k, county_label(k))
                                            for k in built.counties]}
        if scope != "all":
            spec = built.specs[scope]
            sc["by_category"] = [item(cell(scope, "category", k), k, lab) for k, lab in spec.categories]
            sc["categories_add_up"] = spec.exclusive
        scopes[scope] = sc
    return {
        "threshold": threshold,
        "statuses": [str(s) for s in STATUSES],
        "generated_at": utcnow().isoformat(),
        "revision": mark,
        "templates": [{"id": t, "title": spec.template.title.model_dump(),
                       **item(cell(t), t)} for t, spec in built.specs.items()],
        "scopes": scopes,
    }


_cache: dict[tuple[str, int, int], dict[str, Any]] = {}
_lock = threading.Lock()


def release(settings: Settings, registry: Registry, threshold: int | None = None) -> dict[str, Any]:
    """The current release (computed once per state of the records: cached by the largest
    revision, which every change to a record raises)."""
    k = max(3, threshold if threshold is not None else settings.stats_threshold)
    with get_db(settings).read_session() as s:
        mark = s.scalar(select(func.max(Record.revision))) or 0
    key = (settings.database_url or "", mark, k)
    with _lock:
        if key in _cache:
            return _cache[key]
    rows, mark = collect(settings, registry)
    specs = {i: spec_for(registry.get(i)) for i in registry.ids()}
    built = build(rows, specs)
    out = views(built, suppress(built.release, k), k, mark)
    with _lock:
        if len(_cache) > 8:
            _cache.clear()
        _cache[(settings.database_url or "", mark, k)] = out
    return out


def select_view(full: dict[str, Any], template: str | None, by: str | None) -> dict[str, Any]:
    """A part of the release (never a new computation: see `intake.stats.suppression`)."""
    out = dict(full)
    if template is not None:
        out["scopes"] = {template: full["scopes"][template]}
    if by is not None:
        out["scopes"] = {s: {k: v for k, v in sc.items() if k in ("total", f"by_{by}", "categories_add_up")}
                         for s, sc in out["scopes"].items()}
    return out
