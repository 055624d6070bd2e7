"""Form revisions: `intake templates diff`, the declared mapping (`revises`), records in the shape
of another version (`convert`, `?as_version=`), the changelog; on the real vulnerable_family v2
and on a test form whose v2 renames, retypes, removes and adds fields."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from intake.config import PROJECT_ROOT
from intake.forms.registry import load_registry
from intake.forms.revisions import changelog, changelog_markdown, convert, diff, field_names
from intake.forms.schema import record_schema
from tests.conftest import RESOURCES

TEMPLATES = PROJECT_ROOT / "form_templates"
INTAKE = [sys.executable, "-c", "from intake.cli import main; main()"]

MINI_V2 = """
id: mini
version: 2
title: {zh: 測試表, en: Test form}
pages:
  - fields:
      - {name: person_name, label: {zh: 姓名, en: Name}, type: name, box: [45, 52, 60, 9], required: true}
      - {name: national_id, label: {zh: 身分證字號, en: National ID}, type: national_id, box: [45, 66, 80, 9], cells: 10}
      - {name: birth_date, label: {zh: 出生日期, en: Date of birth}, type: date, box: [45, 80, 60, 9]}
      - {name: phone, label: {zh: 電話, en: Phone}, type: phone, box: [135, 52, 55, 9], required: true}
      - name: sex
        label: {zh: 性別, en: Sex}
        type: choice
        options:
          - {value: boy, label: {zh: 男, en: M}, box: [135, 68, 4.5, 4.5]}
          - {value: girl, label: {zh: 女, en: F}, box: [155, 68, 4.5, 4.5]}
          - {value: other, label: {zh: 其他, en: Other}, box: [175, 68, 4.5, 4.5]}
      - {name: consent, label: {zh: 同意, en: Consent}, type: checkbox, box: [135, 82, 4.5, 4.5]}
      - {name: address, label: {zh: 地址, en: Address}, type: address, box: [45, 94, 145, 9]}
      - {name: count, label: {zh: 人數, en: Count}, type: text, box: [45, 140, 20, 9]}
      - {name: email, label: {zh: 電子郵件, en: Email}, type: text, box: [100, 140, 90, 9]}
  - fields:
      - name: members
        label: {zh: 家庭成員, en: Household members}
        type: table
        rows: 3
        row_pitch: 10
        columns:
          - {name: name, label: {zh: 姓名, en: Name}, type: name, box: [20, 50, 50, 9]}
          - {name: birth_date, label: {zh: 出生日期, en: Birth date}, type: date, box: [72, 50, 40, 9]}
revises:
  version: 1
  fields: {person_name: full_name}
  options:
    sex: {boy: male, girl: female}
  note: {en: "Renames full_name and the sex options, drops notes and signature, adds email and other."}
"""


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(RESOURCES / "templates" / "mini", root / "mini")
    (root / "mini" / "v2.yaml").write_text(MINI_V2, encoding="utf-8")
    return root


def test_vulnerable_family_v2_is_an_honest_revision_of_v1() -> None:
    reg = load_registry(TEMPLATES)
    assert reg.versions("vulnerable_family") == [1, 2] and not reg.problems
    d = diff(reg, "vulnerable_family", 1, 2)
    assert [a["field"] for a in d.added] == ["needs_interpreter", "interpreter_language"]
    assert d.removed == [] and d.renamed == [] and d.retyped == []
    assert d.options == [{"field": "adjustment_difficulty", "added": [], "removed": [],
                          "renamed": [{"from": "immigrant_adjustment", "to": "new_resident_adjustment"}]}]
    back = diff(reg, "vulnerable_family", 2, 1)
    assert [r["field"] for r in back.removed] == ["needs_interpreter", "interpreter_language"]
    assert back.options[0]["renamed"] == [{"from": "new_resident_adjustment", "to": "immigrant_adjustment"}]


def test_diff_names_every_kind_of_change_in_words_and_json(mini: Path) -> None:
    reg = load_registry(mini)
    assert not reg.problems, reg.problems
    d = diff(reg, "mini", 1, 2)
    assert d.renamed == [{"from": "full_name", "to": "person_name"}]
    assert {r["field"] for r in d.removed} == {"notes", "signature"}
    assert d.added == [{"field": "email", "type": "text"}]
    assert d.retyped == [{"field": "count", "from": "number", "to": "text"}]
    assert d.required == [{"field": "phone", "from": False, "to": True}]
    assert d.options == [{"field": "sex", "added": ["other"], "removed": [],
                          "renamed": [{"from": "male", "to": "boy"}, {"from": "female", "to": "girl"}]}]
    assert d.columns == [{"field": "members", "added": [], "removed": ["lives_with"]}]
    env = {"INTAKE_TEMPLATES_DIR": str(mini), "PATH": "/usr/bin:/bin"}
    words = subprocess.run([*INTAKE, "templates", "diff", "mini", "1", "2"], capture_output=True, text=True,
                           env=env, check=True).stdout
    for line in ("renamed: full_name -> person_name", "removed: notes (text)", "added: email (text)",
                 "retyped: count number -> text", "options of sex: renamed male -> boy",
                 "options of sex: added other", "columns of members: removed lives_with",
                 "required: phone now required"):
        assert line in words, words
    as_json = json.loads(subprocess.run([*INTAKE, "templates", "diff", "mini", "1", "2", "--json"],
                                        capture_output=True, text=True, env=env, check=True).stdout)
    assert as_json == d.to_dict()


def test_convert_both_ways_follows_the_mapping_and_says_what_was_lost(mini: Path) -> None:
    reg = load_registry(mini)
    v1 = {"full_name": "王小明", "national_id": "A123456789", "birth_date": "2010-01-02", "phone": None,
          "sex": "male", "consent": True, "address": None, "notes": "說明", "signature": True, "count": 3,
          "members": [{"name": "王大明", "birth_date": None, "lives_with": True}], "member_count_living": 1}
    v2, notes = convert(reg, "mini", v1, 1, 2)
    assert v2["person_name"] == "王小明" and v2["sex"] == "boy" and v2["email"] is None
    assert "full_name" not in v2 and "notes" not in v2 and v2["count"] is None  # number -> text: not carried
    assert v2["members"] == [{"name": "王大明", "birth_date": None}]
    assert {(n["field"], n["change"]) for n in notes} == {
        ("email", "added"), ("notes", "removed"), ("signature", "removed"), ("count", "value_dropped"),
        ("members", "value_dropped")}
    back, notes = convert(reg, "mini", {**v2, "sex": "other"}, 2, 1)
    assert back["full_name"] == "王小明" and back["sex"] is None  # "other" has no v1 equivalent
    assert back["notes"] is None and back["signature"] is False and "email" not in back
    assert back["member_count_living"] == 1  # computed again for v1
    assert ("sex", "value_dropped") in {(n["field"], n["change"]) for n in notes}
    assert field_names(reg, "mini", 2, 1)["person_name"] == "full_name"
    assert field_names(reg, "mini", 1, 2)["notes"] is None


def test_a_v2_record_read_as_v1_is_valid_against_the_v1_schema() -> None:
    reg = load_registry(TEMPLATES)
    v2_data = _synth_data(reg, 2)
    v2_data["adjustment_difficulty"] = ["new_resident_adjustment", "work_difficulty"]
    v1_data, notes = convert(reg, "vulnerable_family", v2_data, 2, 1)
    assert v1_data["adjustment_difficulty"] == ["immigrant_adjustment", "work_difficulty"]
    assert "needs_interpreter" not in v1_data and "interpreter_language" not in v1_data
    Draft202012Validator(record_schema(reg.get("vulnerable_family", 1))).validate(v1_data)
    assert {n["field"] for n in notes if n["change"] == "removed"} == {"needs_interpreter", "interpreter_language"}


def _synth_data(reg, version: int) -> dict:  # noqa: ANN001
    import random

    from intake.forms.synth.data import synth_record

    return synth_record(reg.get("vulnerable_family", version), random.Random(5))


def test_a_broken_mapping_is_reported_where_it_is(mini: Path) -> None:
    (mini / "mini" / "v2.yaml").write_text(
        MINI_V2.replace("fields: {person_name: full_name}", "fields: {person_name: no_such_field}")
        .replace("sex: {boy: male, girl: female}", "sex: {boy: male, girl: woman}"), encoding="utf-8")
    reg = load_registry(mini)
    text = [str(p) for p in reg.problems]
    assert any("revises.fields.person_name" in t and "'no_such_field' is not a field of version 1" in t for t in text)
    assert any("revises.options.sex.girl" in t and "'woman' is not an option" in t for t in text)
    assert reg.versions("mini") == [1]


def test_the_changelog_is_published_and_kept_up_to_date() -> None:
    reg = load_registry(TEMPLATES)
    log = changelog(reg, "vulnerable_family")
    assert [e["version"] for e in log] == [2, 1]
    assert log[0]["note"]["en"].startswith("Adds the interpreter section") and log[1]["changes"] is None
    for form_id in reg.ids():  # the CHANGELOG.md beside each template is the generated one
        committed = (TEMPLATES / form_id / "CHANGELOG.md").read_text(encoding="utf-8")
        assert committed == changelog_markdown(reg, form_id), f"regenerate {form_id}/CHANGELOG.md"


def test_a_statistics_key_naming_the_wrong_field_is_reported(mini: Path) -> None:
    (mini / "mini" / "v2.yaml").write_text(MINI_V2 + "statistics: {month: phone, county: address, category: [sex]}\n",
                                           encoding="utf-8")
    reg = load_registry(mini)
    assert [str(p) for p in reg.problems] == [
        "mini/v2.yaml: statistics.month: 'phone' is not a date field of this template"]
