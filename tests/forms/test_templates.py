"""Templates as data: the three real forms load and check clean; broken copies are reported
precisely (file, key path, reason) and never stop the other templates loading."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from intake.forms.registry import load_registry
from intake.forms.schema import record_schema

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "form_templates"
MINI = ROOT / "tests" / "resources" / "templates" / "mini" / "v1.yaml"
REAL = ["child_protection", "domestic_violence", "vulnerable_family"]


def intake(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "intake.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_real_templates_load_without_problems() -> None:
    reg = load_registry(TEMPLATES)
    assert reg.problems == []
    assert reg.ids() == REAL
    cp = reg.get("child_protection")
    assert len(cp.pages) == 2
    assert cp.field("child_national_id").cells == 10
    dv = reg.get("domestic_violence")
    danger = [f for _, f in dv.fields() if f.name.startswith("danger_")]
    assert len(danger) == 15 and all(f.type == "choice" for f in danger)
    assert dv.computed[0].name == "danger_score" and len(dv.computed[0].count) == 15
    vf = reg.get("vulnerable_family")
    members = vf.field("household_members")
    assert members.type == "table" and members.rows >= 5
    risks = {"economic_hardship", "family_crisis", "relationship_conflict", "child_development",
             "disability_illness", "adjustment_difficulty", "young_carer"}
    assert risks <= {f.name for _, f in vf.fields()}


def test_cli_list_and_check() -> None:
    out = intake("templates", "list")
    assert out.returncode == 0, out.stderr
    listed = [tuple(line.split("\t")[:2]) for line in out.stdout.splitlines()]
    assert listed == [("child_protection", "v1"), ("domestic_violence", "v1"), ("vulnerable_family", "v1"),
                      ("vulnerable_family", "v2")]
    assert sorted({f for f, _ in listed}) == REAL
    chk = intake("templates", "check")
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert "4 template(s) OK" in chk.stderr


def _write(root: Path, form_id: str, data: dict, version: int = 1) -> Path:
    d = root / form_id
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"v{version}.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def _mini() -> dict:
    return yaml.safe_load(MINI.read_text(encoding="utf-8"))


def _broken(mutate) -> dict:
    data = _mini()
    mutate(data)
    return data


BROKEN = {
    # name: (mutation, expected key path, expected words in the reason)
    "unknown_type": (lambda d: d["pages"][0]["fields"][2].update(type="colour"), "pages[0].fields[2].type", "unknown type 'colour'"),
    "off_page": (lambda d: d["pages"][0]["fields"][3].update(box=[180, 52, 55, 9]), "pages[0].fields[3].box", "extends past the page"),
    "overlap": (lambda d: d["pages"][0]["fields"][1].update(box=[50, 54, 80, 9]), "pages[0].fields[1].box", "overlaps pages[0].fields[0].box"),
    "duplicate": (lambda d: d["pages"][1]["fields"].append({"name": "phone", "label": {"en": "x"}, "type": "phone", "box": [20, 200, 50, 9]}),
                  "pages[1].fields[1].name", "duplicate name 'phone'"),
    "dangling_text_field": (lambda d: d["pages"][0]["fields"][4]["options"][1].update(text_field="nowhere"),
                            "pages[0].fields[4].options[1].text_field", "'nowhere' is not a field"),
    "rule_unknown_field": (lambda d: d["rules"].append({"check": "not_after", "fields": ["birth_date", "nope"], "message": {"en": "x"}}),
                           "rules[1]", "field 'nope' does not exist"),
    "covers_qr": (lambda d: d["pages"][0]["fields"][3].update(box=[170, 20, 20, 9]), "pages[0].fields[3].box", "covers the QR code"),
    "missing_title": (lambda d: d.pop("title"), "title", "Field required"),
    "unknown_key": (lambda d: d["pages"][0]["fields"][0].update(colour="red"), "pages[0].fields[0].colour", "unknown key"),
    "options_on_text": (lambda d: d["pages"][0]["fields"][0].update(options=[{"value": "a", "label": {"en": "a"}, "box": [1, 1, 1, 1]}]),
                        "pages[0].fields[0]", "options are only allowed on a choice"),
    "bad_when_value": (lambda d: d["rules"].append({"check": "required_if", "fields": ["count"], "when": {"field": "sex", "equals": "other"}, "message": {"en": "x"}}),
                       "rules[1].when.equals", "'other' is not an option of 'sex'"),
    "id_too_long_for_qr": (lambda d: d.update(id="a_very_long_form_identifier_x"), "id", "too long"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_template_reported_precisely_and_others_still_load(tmp_path: Path, case: str) -> None:
    mutate, path, words = BROKEN[case]
    data = _broken(mutate)
    form_id = data["id"]
    _write(tmp_path, form_id, data)
    shutil.copytree(TEMPLATES / "child_protection", tmp_path / "child_protection")
    reg = load_registry(tmp_path)
    assert reg.ids() == ["child_protection"], "the good template must still load"
    msgs = [str(p) for p in reg.problems]
    expected_prefix = f"{form_id}/v1.yaml: {path}: "
    assert any(m.startswith(expected_prefix) and words in m for m in msgs), msgs


def test_the_unbroken_mini_template_is_clean(tmp_path: Path) -> None:
    _write(tmp_path, "mini", _mini())
    assert load_registry(tmp_path).problems == []


def test_version_must_match_file_name_and_folder_the_id(tmp_path: Path) -> None:
    data = _mini()
    _write(tmp_path, "mini", data, version=2)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "v1.yaml").write_text(MINI.read_text(encoding="utf-8"), encoding="utf-8")
    msgs = [str(p) for p in load_registry(tmp_path).problems]
    assert "mini/v2.yaml: version: is 1 but the file is named v2.yaml" in msgs
    assert "other/v1.yaml: id: is 'mini' but the file is in folder 'other'" in msgs


def test_invalid_yaml_is_named(tmp_path: Path) -> None:
    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "v1.yaml").write_text("id: mini\npages: [unclosed\n", encoding="utf-8")
    msgs = [str(p) for p in load_registry(tmp_path).problems]
    assert len(msgs) == 1 and msgs[0].startswith("mini/v1.yaml: not valid YAML")


def test_cli_check_exits_nonzero_with_one_line_per_problem(tmp_path: Path) -> None:
    data = _broken(lambda d: (d["pages"][0]["fields"][3].update(box=[180, 52, 55, 9]),
                              d["pages"][0]["fields"][4]["options"][1].update(text_field="nowhere")))
    _write(tmp_path, "mini", data)
    out = intake("templates", "check", str(tmp_path))
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert "mini/v1.yaml: pages[0].fields[3].box: extends past the page (210 x 297 mm)" in lines
    assert any(line.startswith("mini/v1.yaml: pages[0].fields[4].options[1].text_field:") for line in lines)
    assert "2 problem(s)" in out.stderr


def test_yes_and_no_are_option_values_not_booleans() -> None:
    dv = load_registry(TEMPLATES).get("domestic_violence")
    assert [o.value for o in dv.field("danger_weapon").options] == ["yes", "no"]


@pytest.mark.parametrize("form_id", REAL)
def test_json_schema_is_valid_2020_12_and_describes_every_field(form_id: str) -> None:
    t = load_registry(TEMPLATES).get(form_id)
    schema = record_schema(t)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == set(t.value_names())
    v = Draft202012Validator(schema)
    empty = {name: None for name in t.value_names()}
    assert list(v.iter_errors(empty)), "required fields must not accept null"


def test_schema_types_follow_the_field_types() -> None:
    t = load_registry(TEMPLATES).get("vulnerable_family")
    s = record_schema(t)["properties"]
    assert s["household_members"]["type"] == "array"
    row = s["household_members"]["items"]["properties"]
    assert row["national_id"]["anyOf"][0]["pattern"] == "^[A-Z][1289A-D][0-9]{8}$"
    assert s["economic_hardship"]["items"]["enum"][0] == "income_loss"
    assert s["family_consent"] == {"type": "boolean", "title": "家庭知悉並同意 / Family informed and agrees"}


def test_cli_schema_prints_json() -> None:
    out = intake("templates", "schema", "domestic_violence")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert schema["properties"]["danger_score"]["maximum"] == 15


def test_unknown_template_and_version_are_named() -> None:
    out = intake("templates", "show", "nope")
    assert out.returncode == 2 and "no form template 'nope'" in out.stderr
    out = intake("templates", "schema", "child_protection", "--version", "9")
    assert out.returncode == 2 and "has no version 9 (versions: 1)" in out.stderr
