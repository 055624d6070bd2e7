"""Form revisions that do not break consumers: diffs, the declared mapping, conversion.

A version may declare ``revises: {version, fields, options, note}`` (`model.Revises`): which of
its fields are renamed fields of that earlier version, and which option values are renamed. A name
that exists in only one of the two versions is a field added or removed; a name in both with
another type is retyped. From that:

- `diff(registry, form_id, a, b)`: what changed from version `a` to `b` (any two versions: the
  steps between them are composed), as data (`Diff.to_dict`) or words (`Diff.lines`);
- `convert(registry, form_id, data, frm, to)`: a record's data in the shape of another version,
  with notes on what could not be carried over. A consumer written for v1 reads v2 records with
  ``?as_version=1``: renamed fields and options get their old names, fields v1 does not have are
  left out, options v1 does not have are dropped (noted). Upwards, fields the old version did not
  have get their empty value (``null``, ``[]``, ``false``) and are noted as ``added``;
- `changelog(registry, form_id)`: every version with its note and its diff from the one before.

Table columns are matched by name (a renamed column reads as removed and added). Computed values
are computed again for the target version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from intake.errors import InvalidRequest
from intake.forms.model import Field, Template
from intake.forms.problems import Problem
from intake.forms.rules import computed_values, empty_value

if TYPE_CHECKING:
    from intake.forms.registry import Registry


@dataclass
class Step:
    """One version to the next: each newer field's older name (None: added), and each newer
    choice field's option values mapped to the older values (None: no counterpart)."""

    older: Template
    newer: Template
    names: dict[str, str | None]
    options: dict[str, dict[str, str | None]]


def _fields(t: Template) -> dict[str, Field]:
    return {f.name: f for _, f in t.fields()}


def _step(older: Template, newer: Template) -> Step:
    rv = newer.revises if newer.revises is not None and newer.revises.version == older.version else None
    old_fields = _fields(older)
    names: dict[str, str | None] = {}
    options: dict[str, dict[str, str | None]] = {}
    for name, f in _fields(newer).items():
        old = rv.fields.get(name, name) if rv else name
        names[name] = old if old in old_fields else None
        if f.type == "choice" and names[name] is not None and old_fields[old].type == "choice":
            renamed = rv.options.get(name, {}) if rv else {}
            old_values = {o.value for o in old_fields[old].options}
            options[name] = {o.value: (v if (v := renamed.get(o.value, o.value)) in old_values else None)
                             for o in f.options}
    return Step(older, newer, names, options)


def steps(reg: Registry, form_id: str, a: int, b: int) -> list[Step]:
    """The consecutive steps between versions `a` and `b` (oldest first)."""
    lo, hi = sorted((a, b))
    reg.get(form_id, lo)
    reg.get(form_id, hi)  # TemplateNotFound names a missing version
    versions = [v for v in reg.versions(form_id) if lo <= v <= hi]
    return [_step(reg.get(form_id, x), reg.get(form_id, y)) for x, y in zip(versions, versions[1:], strict=False)]


def _compose(chain: list[Step]) -> tuple[dict[str, str | None], dict[str, dict[str, str | None]]]:
    """Names and option values of the newest version mapped to the oldest one."""
    newest = chain[-1].newer
    names: dict[str, str | None] = {n: n for n in _fields(newest)}
    values: dict[str, dict[str, str | None]] = {n: {o.value: o.value for o in f.options}
                                                for n, f in _fields(newest).items() if f.type == "choice"}
    for st in reversed(chain):
        for n, cur in names.items():
            if cur is None:
                continue
            names[n] = st.names.get(cur)
            if n in values:
                opt = st.options.get(cur)
                values[n] = {v: (opt.get(w) if opt is not None and w is not None else None)
                             for v, w in values[n].items()}
    return names, values


@dataclass
class Diff:
    form_id: str
    frm: int
    to: int
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, Any]] = field(default_factory=list)
    retyped: list[dict[str, Any]] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)
    required: list[dict[str, Any]] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"template": self.form_id, "from": self.frm, "to": self.to, "added": self.added,
                "removed": self.removed, "renamed": self.renamed, "retyped": self.retyped,
                "options": self.options, "required": self.required, "columns": self.columns}

    @property
    def empty(self) -> bool:
        return not any((self.added, self.removed, self.renamed, self.retyped, self.options, self.required,
                        self.columns))

    def lines(self) -> list[str]:
        out = []
        out += [f"added: {a['field']} ({a['type']})" for a in self.added]
        out += [f"removed: {r['field']} ({r['type']})" for r in self.removed]
        out += [f"renamed: {r['from']} -> {r['to']}" for r in self.renamed]
        out += [f"retyped: {r['field']} {r['from']} -> {r['to']}" for r in self.retyped]
        for o in self.options:
            out += [f"options of {o['field']}: added {v}" for v in o["added"]]
            out += [f"options of {o['field']}: removed {v}" for v in o["removed"]]
            out += [f"options of {o['field']}: renamed {r['from']} -> {r['to']}" for r in o["renamed"]]
        out += [f"required: {r['field']} {'now required' if r['to'] else 'no longer required'}" for r in self.required]
        for c in self.columns:
            out += [f"columns of {c['field']}: added {v}" for v in c["added"]]
            out += [f"columns of {c['field']}: removed {v}" for v in c["removed"]]
        return out or ["no changes to fields or options"]


def diff(reg: Registry, form_id: str, a: int, b: int) -> Diff:
    """What changed from version `a` to version `b` (either may be the newer one)."""
    d = Diff(form_id, a, b)
    chain = steps(reg, form_id, a, b)
    if not chain:
        return d
    names, values = _compose(chain)  # newest -> oldest
    newest, oldest = chain[-1].newer, chain[0].older
    new_f, old_f = _fields(newest), _fields(oldest)
    forward = a <= b  # from the oldest to the newest
    src_f, dst_f = (old_f, new_f) if forward else (new_f, old_f)
    pairs = [(o, n) for n, o in names.items() if o is not None]  # (old name, new name)
    kept_new = {n for _, n in pairs}
    kept_old = {o for o, _ in pairs}
    gone = [n for n in old_f if n not in kept_old]
    come = [n for n in new_f if n not in kept_new]
    d.added = [{"field": n, "type": dst_f[n].type} for n in (come if forward else gone)]
    d.removed = [{"field": n, "type": src_f[n].type} for n in (gone if forward else come)]
    for o, n in pairs:
        s_name, t_name = (o, n) if forward else (n, o)
        sf, tf = src_f[s_name], dst_f[t_name]
        if s_name != t_name:
            d.renamed.append({"from": s_name, "to": t_name})
        if sf.type != tf.type or (sf.type == "choice" and sf.multiple != tf.multiple):
            d.retyped.append({"field": t_name, "from": _kind(sf), "to": _kind(tf)})
        if sf.required != tf.required:
            d.required.append({"field": t_name, "from": sf.required, "to": tf.required})
        if sf.type == "choice" and tf.type == "choice":
            vmap = values.get(n, {})  # new value -> old value
            pairs_v = [(ov, nv) for nv, ov in vmap.items() if ov is not None]
            old_vals, new_vals = [x.value for x in old_f[o].options], [x.value for x in new_f[n].options]
            added_v = [v for v in new_vals if vmap.get(v) is None]
            removed_v = [v for v in old_vals if v not in {ov for ov, _ in pairs_v}]
            ren = [{"from": ov, "to": nv} if forward else {"from": nv, "to": ov} for ov, nv in pairs_v if ov != nv]
            if added_v or removed_v or ren:
                d.options.append({"field": t_name, "added": added_v if forward else removed_v,
                                  "removed": removed_v if forward else added_v, "renamed": ren})
        if sf.type == "table" and tf.type == "table":
            sc, tc = [c.name for c in sf.columns], [c.name for c in tf.columns]
            if sc != tc:
                d.columns.append({"field": t_name, "added": [c for c in tc if c not in sc],
                                  "removed": [c for c in sc if c not in tc]})
    return d


def _kind(f: Field) -> str:
    return "choice (multiple)" if f.type == "choice" and f.multiple else f.type


# ---------------------------------------------------------------- conversion
def _convert_value(sf: Field, tf: Field, value: Any, vmap: dict[str, str | None] | None,
                   notes: list[dict[str, Any]], name: str) -> Any:
    """`value` of field `sf` as field `tf` holds it; `vmap` maps sf's option values to tf's."""
    if sf.type == "choice" and tf.type == "choice":
        items = value if isinstance(value, list) else ([] if value is None else [value])
        mapped = [vmap.get(v) if vmap is not None else v for v in items]
        kept = [v for v in mapped if v is not None]
        if len(kept) < len(items):
            notes.append({"field": name, "change": "value_dropped"})
        if tf.multiple:
            return kept
        if len(kept) > 1:
            notes.append({"field": name, "change": "value_dropped"})
            return None
        return kept[0] if kept else None
    if sf.type == "table" and tf.type == "table":
        cols = {c.name for c in tf.columns}
        rows = [{c: row.get(c) for c in cols} for row in (value or [])]
        if {c.name for c in sf.columns} - cols and value:
            notes.append({"field": name, "change": "value_dropped"})
        return rows
    if sf.type == tf.type or {sf.type, tf.type} <= {"text", "name", "address"}:
        return value
    if value not in (None, [], False):
        notes.append({"field": name, "change": "value_dropped"})
    return empty_value(tf)


def _inverse(vmap: dict[str, str | None]) -> dict[str, str | None]:
    return {old: new for new, old in vmap.items() if old is not None}


def convert(reg: Registry, form_id: str, data: dict[str, Any], frm: int,
            to: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`data` of a record read from version `frm` in the shape of version `to`, and notes:
    ``{"field", "change": "added" | "removed" | "value_dropped"}`` for what did not carry over."""
    if frm == to:
        return dict(data), []
    chain = steps(reg, form_id, frm, to)
    names, values = _compose(chain)  # newest name -> oldest name; newest value -> oldest value
    newest, oldest = chain[-1].newer, chain[0].older
    new_f, old_f = _fields(newest), _fields(oldest)
    src, dst = (old_f, new_f) if frm < to else (new_f, old_f)
    target = reg.get(form_id, to)
    if frm < to:  # target (newest) name -> source (oldest) name; old value -> new value
        src_of = dict(names)
        vmaps = {n: _inverse(v) for n, v in values.items()}
    else:  # target (oldest) name -> source (newest) name; new value -> old value
        src_of = {o: n for n, o in names.items() if o is not None}
        vmaps = {o: values[n] for n, o in names.items() if o is not None and n in values}
    out: dict[str, Any] = {}
    notes: list[dict[str, Any]] = []
    for name, tf in dst.items():
        s_name = src_of.get(name)
        if s_name is None:
            out[name] = empty_value(tf)
            notes.append({"field": name, "change": "added"})
            continue
        vmap = vmaps.get(name)
        out[name] = _convert_value(src[s_name], tf, data.get(s_name), vmap, notes, name)
    carried = set(src_of.values())
    for s_name in src:
        if s_name not in carried:
            notes.append({"field": s_name, "change": "removed"})
    out.update(computed_values(target, out))
    return out, notes


def field_names(reg: Registry, form_id: str, frm: int, to: int) -> dict[str, str | None]:
    """Each top-level field of version `frm` by its name in version `to` (None: not there)."""
    if frm == to:
        return {n: n for n in _fields(reg.get(form_id, frm))}
    names, _ = _compose(steps(reg, form_id, frm, to))  # newest -> oldest
    if frm > to:
        return dict(names)
    inverse = {o: n for n, o in names.items() if o is not None}
    return {o: inverse.get(o) for o in _fields(reg.get(form_id, frm))}


def check_revisions(reg: Registry) -> list[Problem]:
    """Problems of the declared mappings (`revises`), which need both versions to check."""
    problems: list[Problem] = []
    for key, t in list(reg.templates.items()):
        rv = t.revises
        if rv is None:
            continue
        rel = reg.files[key].relative_to(reg.root if reg.root.is_dir() else reg.root.parent).as_posix()
        found: list[Problem] = []
        prev = reg.templates.get((t.id, rv.version))
        if prev is None:
            found.append(Problem(rel, "revises.version", f"{t.id} has no version {rv.version} to revise"))
        else:
            new_f, old_f = _fields(t), _fields(prev)
            for n, o in rv.fields.items():
                if n not in new_f:
                    found.append(Problem(rel, f"revises.fields.{n}", f"{n!r} is not a field of this version"))
                if o not in old_f:
                    found.append(Problem(rel, f"revises.fields.{n}", f"{o!r} is not a field of version {rv.version}"))
            for n, opts in rv.options.items():
                o = rv.fields.get(n, n)
                if n not in new_f or new_f[n].type != "choice" or o not in old_f or old_f[o].type != "choice":
                    found.append(Problem(rel, f"revises.options.{n}",
                                         f"{n!r} must be a choice in this version and in version {rv.version}"))
                    continue
                new_vals, old_vals = {x.value for x in new_f[n].options}, {x.value for x in old_f[o].options}
                for nv, ov in opts.items():
                    if nv not in new_vals:
                        found.append(Problem(rel, f"revises.options.{n}.{nv}", f"{nv!r} is not an option of {n!r}"))
                    if ov not in old_vals:
                        found.append(Problem(rel, f"revises.options.{n}.{nv}",
                                             f"{ov!r} is not an option of {o!r} in version {rv.version}"))
        if found:
            problems += found
            del reg.templates[key]
    return problems


def changelog(reg: Registry, form_id: str) -> list[dict[str, Any]]:
    """Every version, newest first, with its note and what changed from the version before."""
    versions = reg.versions(form_id)
    if not versions:
        reg.get(form_id)
    out = []
    for i, v in enumerate(versions):
        t = reg.get(form_id, v)
        entry: dict[str, Any] = {"version": v, "title": t.title.model_dump(),
                                 "note": t.revises.note.model_dump() if t.revises and t.revises.note else None}
        if i == 0:
            entry["changes"] = None
        else:
            entry["changes"] = diff(reg, form_id, versions[i - 1], v).to_dict()
        out.append(entry)
    return list(reversed(out))


def changelog_markdown(reg: Registry, form_id: str) -> str:
    t = reg.get(form_id)
    lines = [f"# {t.title.text(' / ')} ({form_id}): changelog", "",
             "Generated by `intake templates changelog " + form_id + " --markdown`; do not edit by hand.", ""]
    for e in changelog(reg, form_id):
        lines.append(f"## Version {e['version']}")
        lines.append("")
        if e["note"]:
            lines += [f"{e['note'].get('zh') or ''}", "", f"{e['note'].get('en') or ''}", ""]
        if e["changes"] is None:
            lines += ["First version.", ""]
        else:
            d = diff(reg, form_id, e["changes"]["from"], e["version"])
            lines += [f"- {line}" for line in d.lines()] + [""]
    return "\n".join(lines)


def as_version_or_none(reg: Registry, form_id: str | None, as_version: int | None) -> int | None:
    if as_version is None:
        return None
    if not form_id:
        raise InvalidRequest("as_version needs template=<id>: versions belong to one template")
    reg.get(form_id, as_version)
    return as_version
