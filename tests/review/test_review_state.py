"""What survives a page read again, spot checks and their statistics, and the pure pieces the
review station relies on: values parsed by the pipeline's code, table rows by printed row,
`urgent_when`, the Wilson interval, and the crops and registration the pages store."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from intake.auth.service import SYSTEM
from intake.batches import service as batches
from intake.db.models import Page, Record
from intake.db.session import get_db
from intake.errors import InvalidValue
from intake.forms.model import Template
from intake.forms.registry import default_registry, parse_template_file
from intake.forms.rules import is_urgent
from intake.pipeline.extract import check_record, record_data
from intake.review.service import parse_value, spot_check_stats, wilson
from tests.review.conftest import API, Env, finish_pages


def test_a_page_read_again_keeps_what_a_person_verified(env: Env) -> None:
    rid = env.record(0)
    rec = env.get(rid)
    machine_name = rec["fields"]["child_name"]["value"]
    r = env.patch(rid, "child_name", "歐陽小明", rec["revision"])
    assert r.status_code == 200
    rev = r.json()["revision"]
    for path in [p for p, f in r.json()["fields"].items() if f["status"] == "needs_review"]:
        rev = env.patch(rid, path, env.truth(0, path), rev).json()["revision"]
    approved = env.post(f"/records/{rid}/approve", revision=rev).json()
    assert approved["status"] == "approved"

    # the same reading again: nothing changes (same revision, still approved)
    with get_db(env.settings).read_session() as s:
        pages = list(s.scalars(select(Page).where(Page.batch_id == approved["batch_id"]).order_by(Page.position)))
    batches.rerun_page(pages[0].id, SYSTEM, env.settings)
    finish_pages(env.settings, approved["batch_id"], env.forms)
    same = env.get(rid)
    assert (same["revision"], same["status"]) == (approved["revision"], "approved")

    # a reading that differs (say, a better engine reads the name otherwise): the person's value
    # stays and stays verified, the machine's new value is kept beside it, and the record goes back
    # to review so that nothing a supervisor approved changes unseen
    def other_name(result) -> None:  # noqa: ANN001
        for f in result.fields:
            if f.path == "child_name":
                f.value, f.text = "王大同", "王大同"
            if f.path == "child_grade":
                f.value, f.text = 5, "5"

    batches.rerun_page(pages[0].id, SYSTEM, env.settings)
    finish_pages(env.settings, approved["batch_id"], env.forms, change=other_name)
    now = env.get(rid)
    assert now["status"] == "needs_review" and now["revision"] > approved["revision"]
    name = now["fields"]["child_name"]
    assert name["value"] == "歐陽小明" and name["status"] == "verified"
    assert name["correction"]["original_value"] == "王大同"
    assert now["data"]["child_name"] == "歐陽小明" and now["data"]["child_grade"] == 5
    h = env.client.get(f"{API}/records/{rid}/history", headers=env.headers["supervisor"]).json()
    assert h["fields"]["child_name"]["machine"]["value"] == "王大同"
    assert h["fields"]["child_name"]["corrections"][0]["from"] == machine_name
    assert [v["kind"] for v in h["revisions"]][-2:] == ["approved", "updated"]
    # nothing is left for a person but the approval itself
    assert not [p for p, f in now["fields"].items() if f["status"] == "needs_review"]
    assert env.post(f"/records/{rid}/approve", revision=now["revision"]).json()["status"] == "approved"


def test_spot_checks_sample_straight_through_records_and_measure_silent_errors(sqlite_env: Env) -> None:
    env = sqlite_env
    env.settings = env.settings.model_copy(update={"review_spot_check_share": 1.0})
    rid = env.record(2)  # read straight through
    with get_db(env.settings).read_session() as s:
        rec = s.get(Record, rid)
        assert rec.spot_check and rec.status == "needs_review"
    out = env.get(rid)
    assert "spot_check" not in str(out)  # nothing tells a supervisor it is a spot check
    todo = [p for p, f in out["fields"].items() if f["status"] == "needs_review"]
    assert len(todo) == len(out["fields"])  # every field the machine accepted is shown for checking
    assert all(out["fields"][p]["errors"] == ["verify"] for p in todo)
    q = env.client.get(f"{API}/review/queue", headers=env.headers["supervisor"]).json()
    assert [i["id"] for i in q["items"]] == [rid] and q["items"][0]["reasons"] == ["verify"]
    # the supervisor confirms every field but one, which they find wrong
    rev = out["revision"]
    wrong_path = "reporter_name"
    for p in todo:
        value = "歐陽錯誤" if p == wrong_path else out["fields"][p]["value"]
        r = env.patch(rid, p, value, rev)
        assert r.status_code == 200, (p, r.text)
        rev = r.json()["revision"]
    assert env.post(f"/records/{rid}/approve", revision=rev).json()["status"] == "approved"
    with get_db(env.settings).read_session() as s:
        stats = spot_check_stats(s, env.settings)
    by_type = {t.type: t for t in stats.types}
    assert stats.records_checked == 1 and stats.total.checked == len(todo) and stats.total.wrong == 1
    assert by_type["name"].wrong == 1 and by_type["name"].rate == pytest.approx(1 / by_type["name"].checked)
    assert by_type["name"].low < by_type["name"].rate < by_type["name"].high
    assert by_type["date"].wrong == 0 and by_type["date"].low == 0.0
    r = env.client.get(f"{API}/review/stats", headers=env.headers["admin"])
    assert r.status_code == 200 and r.json()["total"]["wrong"] == 1


def test_values_are_parsed_by_the_pipelines_own_code() -> None:
    t = default_registry().get("child_protection")
    f = t.field
    assert parse_value(f("child_birth_date"), "d", "1130503") == "2024-05-03"
    assert parse_value(f("child_birth_date"), "d", "113/5/3") == "2024-05-03"
    assert parse_value(f("child_birth_date"), "d", "113年5月3日") == "2024-05-03"
    assert parse_value(f("reporter_phone"), "p", "0912-345-678") == "0912345678"
    assert parse_value(f("child_national_id"), "i", "a123456789") == "A123456789"
    assert parse_value(f("child_grade"), "g", "3") == 3 and parse_value(f("child_grade"), "g", 4) == 4
    assert parse_value(f("child_address"), "a", "臺北市 中正區 重慶南路一段122號") == "臺北市中正區重慶南路一段122號"
    assert parse_value(f("urgent"), "u", True) is True and parse_value(f("urgent"), "u", "on") is True
    assert parse_value(f("urgent"), "u", None) is False
    assert parse_value(f("child_sex"), "s", "female") == "female" and parse_value(f("child_sex"), "s", "") is None
    assert parse_value(f("abuse_types"), "t", ["sexual", "physical"]) == ["physical", "sexual"]
    assert parse_value(f("abuse_types"), "t", "physical,neglect") == ["physical", "neglect"]
    assert parse_value(f("child_name"), "n", "  ") is None
    for field, raw, code in [("child_national_id", "A123456780", "national_id.checksum"),
                             ("child_national_id", "A12345", "national_id.format"),
                             ("child_birth_date", "113/2/30", "date.invalid"),
                             ("reporter_phone", "12345", "phone.format"),
                             ("child_address", "桃園市中靂區中正路1號", "address.district"),
                             ("child_name", "王2明", "name.characters"),
                             ("child_sex", "other", "choice.unknown"),
                             ("abuse_types", ["physical", "nope"], "choice.unknown"),
                             ("urgent", "perhaps", "checkbox.type")]:
        with pytest.raises(InvalidValue) as e:
            parse_value(f(field), field, raw)
        assert e.value.code == code, (field, raw)
        assert e.value.extra["detail_zh"] and e.value.extra["field"] == field


def test_table_problems_land_on_the_printed_row() -> None:
    t = default_registry().get("vulnerable_family", 1)
    table = next(f for _, f in t.fields() if f.type == "table")
    col = next(c for c in table.columns if c.type == "national_id")
    other = next(c for c in table.columns if c.type in ("name", "text"))
    values = {f"{table.name}[3].{col.name}": "A123456780", f"{table.name}[3].{other.name}": "王小明",
              f"{table.name}[1].{other.name}": "李大華"}
    data, kept = record_data(t, values)
    assert kept[table.name] == [1, 3]
    assert [row[other.name] for row in data[table.name]] == ["李大華", "王小明"]
    check = check_record(t, values)
    assert check.field_codes[f"{table.name}[3].{col.name}"] == ["national_id.checksum"]
    assert f"{table.name}[1].{col.name}" not in check.field_codes


def test_urgent_when_is_data_and_is_checked(tmp_path) -> None:  # noqa: ANN001
    reg = default_registry()
    cp, dv = reg.get("child_protection"), reg.get("domestic_violence")
    assert is_urgent(cp, {"urgent": True}) and not is_urgent(cp, {"urgent": False})
    assert is_urgent(dv, {"urgent": False, "danger_score": 8}) and not is_urgent(dv, {"danger_score": 7})
    assert not is_urgent(reg.get("vulnerable_family", 1), {"urgent": True})
    src = reg.path_of(cp).read_text(encoding="utf-8")
    folder = tmp_path / "child_protection"
    folder.mkdir()
    bad = folder / "v1.yaml"
    bad.write_text(src + "  - {field: nope, equals: true}\n  - {field: child_sex, equals: maybe}\n"
                         "  - {field: urgent, equals: 'yes'}\n  - {field: child_name, at_least: 3}\n", encoding="utf-8")
    template, problems = parse_template_file(bad, "child_protection/v1.yaml")
    assert template is None
    assert [(p.path, p.reason.split(" ")[0]) for p in problems] == [
        ("urgent_when[1].field", "field"), ("urgent_when[2].equals", "'maybe'"),
        ("urgent_when[3].equals", "'urgent'"), ("urgent_when[4].at_least", "at_least")]
    with pytest.raises(ValueError, match="exactly one"):
        Template.model_validate({**cp.model_dump(), "urgent_when": [{"field": "urgent"}]})


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (None, None)
    low, high = wilson(0, 100)
    assert low == 0.0 and high == pytest.approx(0.0370, abs=1e-4)
    low, high = wilson(5, 100)  # the textbook example: 5/100 -> [2.15%, 11.18%]
    assert (low, high) == (pytest.approx(0.0215, abs=1e-4), pytest.approx(0.1118, abs=1e-4))
    assert all(not math.isnan(x) for x in wilson(100, 100))


def test_marks_have_crops_and_pages_their_registration(read_forms) -> None:  # noqa: ANN001
    page1, page2 = read_forms[0].pages
    assert {"reporter_role", "child_sex", "perpetrator_relationship"} <= set(page1.crops)
    assert {"report_reasons", "abuse_types", "urgent"} <= set(page2.crops)
    import cv2
    import numpy as np

    crop = cv2.imdecode(np.frombuffer(page2.crops["urgent"], np.uint8), cv2.IMREAD_GRAYSCALE)
    assert crop.shape[1] > 2 * crop.shape[0]  # the square and its label beside it
    res = page1.result
    assert res.image_size and len(res.corners) == 4
    w, h = res.image_size
    (x0, y0), (x1, _), (x2, y2), _ = res.corners
    assert abs(x0) < 0.1 * w and abs(y0) < 0.1 * h and abs(x1 - w) < 0.1 * w and abs(y2 - h) < 0.1 * h
    # every field sent to review says why
    assert all(f.errors for p in (page1, page2) for f in p.result.fields if f.status == "needs_review")
