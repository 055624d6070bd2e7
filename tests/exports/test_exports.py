"""Exports per template version (CSV, JSON Lines; API and `intake export`), and the codebook."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from intake.api import create_app
from intake.config import Settings
from intake.db.models import AuditEntry
from intake.db.session import get_db
from intake.exports.codebook import columns
from intake.forms.registry import load_registry
from intake.records.service import encode_cursor
from tests.conftest import PASSWORD, make_token, make_users, session_headers
from tests.factories import new_record

API = "/api/v1"
V1 = {"referrer_name": "林美玲", "family_address": "臺中市西屯區福星路1號", "household_size": 3,
      "has_children": True, "economic_hardship": ["debt", "housing"], "adjustment_difficulty": ["immigrant_adjustment"],
      "household_members": [{"name": "張大同", "relation": "本人", "national_id": "A123456789",
                             "birth_date": "1980-02-03"},
                            {"name": "張小華", "relation": "長女", "national_id": None, "birth_date": "2015-06-07"}],
      "referral_date": "2025-03-04", "family_consent": False}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def sup(settings: Settings, client: TestClient) -> dict[str, str]:
    make_users(settings)
    r = client.post(f"{API}/auth/login", json={"name": "supervisor", "password": PASSWORD})
    client.cookies.clear()
    return session_headers(r)


def rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_csv_columns_are_the_codebook_and_values_are_flattened_predictably(settings: Settings, client: TestClient,
                                                                           sup: dict[str, str]) -> None:
    with get_db(settings).session() as s:
        a = new_record(s, data=V1).id
        new_record(s, status="needs_review", data={"referrer_name": "x"})
        new_record(s, template="child_protection", data={"child_name": "y"})
    r = client.get(f"{API}/templates/vulnerable_family/versions/1/export", headers=sup)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="vulnerable_family-v1.csv"' in r.headers["content-disposition"]
    got = rows(r.text)
    reg = load_registry(settings.templates_dir)
    assert list(got[0]) == [c.name for c in columns(reg.get("vulnerable_family", 1))]
    assert len(got) == 2
    first = got[0]
    assert first["record_id"] == str(a) and first["status"] == "accepted" and first["read_version"] == "1"
    assert first["referrer_name"] == "林美玲" and first["household_size"] == "3" and first["has_children"] == "1"
    assert first["family_consent"] == "0" and first["referrer_signature"] == ""
    assert (first["economic_hardship__debt"], first["economic_hardship__housing"],
            first["economic_hardship__income_loss"]) == ("1", "1", "0")
    assert first["household_members__1__name"] == "張大同" and first["household_members__2__birth_date"] == "2015-06-07"
    assert first["household_members__2__national_id"] == "" and first["household_members__3__name"] == ""
    # filters as the feed's
    only = rows(client.get(f"{API}/templates/vulnerable_family/versions/1/export", headers=sup,
                           params={"status": "needs_review"}).text)
    assert [x["status"] for x in only] == ["needs_review"]
    after = rows(client.get(f"{API}/templates/vulnerable_family/versions/1/export", headers=sup,
                            params={"after": encode_cursor(int(first["revision"]))}).text)
    assert [x["referrer_name"] for x in after] == ["x"]
    bad = client.get(f"{API}/templates/vulnerable_family/versions/1/export", headers=sup, params={"after": "zz!"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
    with get_db(settings).read_session() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.action == "record.export")).all()
    assert len(e) == 3 and e[0].object_id == "vulnerable_family" and e[0].detail["code"] == "csv"


def test_jsonl_and_all_versions_in_one_shape(settings: Settings, client: TestClient, sup: dict[str, str]) -> None:
    v2 = {**V1, "adjustment_difficulty": ["new_resident_adjustment"], "needs_interpreter": True,
          "interpreter_language": "越南語"}
    with get_db(settings).session() as s:
        one = new_record(s, data=V1).id
        two = new_record(s, version=2, data=v2).id
    lines = client.get(f"{API}/templates/vulnerable_family/versions/1/export", headers=sup,
                       params={"format": "jsonl"}).text.splitlines()
    assert [json.loads(x)["id"] for x in lines] == [one]
    assert json.loads(lines[0])["data"] == V1
    both = [json.loads(x) for x in client.get(f"{API}/templates/vulnerable_family/versions/1/export", headers=sup,
                                              params={"format": "jsonl", "all_versions": True}).text.splitlines()]
    assert [b["id"] for b in both] == [one, two]
    assert both[1]["template_version"] == 1 and both[1]["read_version"] == 2
    assert both[1]["data"]["adjustment_difficulty"] == ["immigrant_adjustment"]
    assert "needs_interpreter" not in both[1]["data"]
    csv2 = rows(client.get(f"{API}/templates/vulnerable_family/versions/2/export", headers=sup,
                           params={"all_versions": True}).text)
    assert [(x["record_id"], x["read_version"], x["adjustment_difficulty__new_resident_adjustment"],
             x["needs_interpreter"]) for x in csv2] == [(str(one), "1", "1", "0"), (str(two), "2", "1", "1")]


def test_who_may_export(settings: Settings, client: TestClient, sup: dict[str, str]) -> None:
    r = client.post(f"{API}/auth/login", json={"name": "clerk", "password": PASSWORD})
    clerk = session_headers(r)
    client.cookies.clear()
    url = f"{API}/templates/vulnerable_family/versions/1/export"
    assert client.get(url, headers=clerk).status_code == 403
    reader = {"Authorization": f"Bearer {make_token(settings, 'records:read')}"}
    assert client.get(url, headers=reader).status_code == 403
    exporter = {"Authorization": f"Bearer {make_token(settings, 'records:export')}"}
    assert client.get(url, headers=exporter).status_code == 200
    assert client.get(f"{API}/templates/vulnerable_family/versions/7/export", headers=exporter).status_code == 404
    # the codebook is not personal data: any signed-in user
    cb = client.get(f"{API}/templates/vulnerable_family/versions/2/codebook", headers=clerk).json()
    cols = {c["name"]: c for c in cb["columns"]}
    assert cols["adjustment_difficulty__new_resident_adjustment"]["label_zh"] == "6. 個人生活適應困難：新住民生活適應"
    assert cols["adjustment_difficulty__new_resident_adjustment"]["codes"][0] == {"code": "1", "zh": "是", "en": "Yes"}
    assert cols["status"]["codes"][0]["code"] == "accepted"
    text = client.get(f"{API}/templates/vulnerable_family/versions/2/codebook", headers=clerk,
                      params={"format": "csv"}).text
    assert text.startswith("column,type,label_zh,label_en,field,codes\n") and "needs_interpreter,boolean" in text


def test_cli_export_and_codebook(settings: Settings, tmp_path) -> None:  # noqa: ANN001
    with get_db(settings).session() as s:
        new_record(s, data=V1)
    env = {**os.environ, "INTAKE_DATA_DIR": str(settings.data_dir), "INTAKE_DATABASE_URL": settings.database_url or ""}
    cli = [sys.executable, "-c", "from intake.cli import main; main()"]
    out = tmp_path / "vf.csv"
    subprocess.run([*cli, "export", "vulnerable_family", "--version", "1", "--format", "csv", "--out", str(out)],
                   env=env, check=True, capture_output=True)
    got = rows(out.read_text(encoding="utf-8"))
    assert len(got) == 1 and got[0]["household_members__1__national_id"] == "A123456789"
    jl = subprocess.run([*cli, "export", "vulnerable_family", "--version", "1", "--format", "jsonl"], env=env,
                        check=True, capture_output=True, text=True).stdout
    assert json.loads(jl)["data"]["referrer_name"] == "林美玲"
    cb = json.loads(subprocess.run([*cli, "codebook", "vulnerable_family", "--version", "1", "--format", "json"],
                                   env=env, check=True, capture_output=True, text=True).stdout)
    assert [c["name"] for c in cb["columns"]] == list(got[0])
