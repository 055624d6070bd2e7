"""A consumer written for vulnerable_family v1 keeps working when v2 forms arrive: a synthetic v2
form is read by the real pipeline (uploaded through the API), and the feed and the record detail
with ``?as_version=1`` give data that validates against the v1 schema, with v1's option names."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from intake.api import create_app
from intake.config import Settings
from intake.db.session import get_db
from intake.forms.registry import load_registry
from intake.forms.synth import synthesize
from intake.forms.synth.data import synth_record
from tests.conftest import PASSWORD, make_token, make_users, session_headers
from tests.factories import new_record

API = "/api/v1"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def test_a_v1_consumer_reads_v2_records_through_as_version(settings: Settings, client: TestClient,
                                                           tmp_path: Path) -> None:
    reg = load_registry(settings.templates_dir)
    make_users(settings)
    r = client.post(f"{API}/auth/login", json={"name": "clerk", "password": PASSWORD})
    clerk = session_headers(r)
    client.cookies.clear()
    reader = {"Authorization": f"Bearer {make_token(settings, 'records:read')}"}
    # a v2 form on paper, read by the pipeline
    list(synthesize(reg.get("vulnerable_family", 2), count=1, out_dir=tmp_path, seed=21, profile="clean", fmt="pdf"))
    pdf = next(tmp_path.glob("*.pdf"))
    r = client.post(f"{API}/batches", headers=clerk, files=[("files", (pdf.name, pdf.read_bytes(), "application/pdf"))])
    assert r.status_code == 202, r.text
    end = time.monotonic() + 120
    while client.get(f"{API}/batches/{r.json()['id']}", headers=clerk).json()["status"] == "processing":
        assert time.monotonic() < end, "batch not done"
        time.sleep(0.2)
    # and a v2 record that uses the renamed option, and a v1 record
    data2 = synth_record(reg.get("vulnerable_family", 2), random.Random(3))
    data2["adjustment_difficulty"] = ["new_resident_adjustment"]
    data1 = synth_record(reg.get("vulnerable_family", 1), random.Random(4))
    with get_db(settings).session() as s:
        renamed = new_record(s, version=2, data=data2).id
        new_record(s, version=1, data=data1)

    v1_schema = Draft202012Validator(record_schema_of(reg, 1))
    plain = client.get(f"{API}/records", headers=reader, params={"template": "vulnerable_family"}).json()["items"]
    assert sorted(i["template_version"] for i in plain) == [1, 2, 2]
    assert all(i["conversion"] is None and i["read_version"] == i["template_version"] for i in plain)
    items = client.get(f"{API}/records", headers=reader,
                       params={"template": "vulnerable_family", "as_version": 1}).json()["items"]
    assert len(items) == 3
    for item in items:
        assert item["template_version"] == 1
        v1_schema.validate(item["data"])
        assert "needs_interpreter" not in item["data"] and "interpreter_language" not in item["data"]
    read_by_pipeline = [i for i in items if i["id"] not in (renamed,) and i["read_version"] == 2]
    assert len(read_by_pipeline) == 1, read_by_pipeline
    assert {(n["field"], n["change"]) for n in read_by_pipeline[0]["conversion"]} >= {
        ("needs_interpreter", "removed"), ("interpreter_language", "removed")}
    by_id = {i["id"]: i for i in items}
    assert by_id[renamed]["data"]["adjustment_difficulty"] == ["immigrant_adjustment"]
    v1_schema.validate(by_id[renamed]["data"])
    # the record detail too: fields keyed by v1 names, the renamed option under its v1 value
    detail = client.get(f"{API}/records/{read_by_pipeline[0]['id']}", headers=reader,
                        params={"as_version": 1}).json()
    assert detail["template_version"] == 1 and detail["read_version"] == 2
    assert "needs_interpreter" not in detail["fields"] and "family_address" in detail["fields"]
    assert client.get(f"{API}/records/{renamed}", headers=reader,
                      params={"as_version": 2}).json()["conversion"] == []
    # as_version without a template, or a version that does not exist, is refused by name
    r = client.get(f"{API}/records", headers=reader, params={"as_version": 1})
    assert r.status_code == 422 and "template" in r.json()["detail"]
    r = client.get(f"{API}/records", headers=reader, params={"template": "vulnerable_family", "as_version": 9})
    assert r.status_code == 404 and r.json()["error"] == "template_not_found"


def record_schema_of(reg, version: int) -> dict:  # noqa: ANN001
    from intake.forms.schema import record_schema

    return record_schema(reg.get("vulnerable_family", version))
