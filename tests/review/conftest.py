"""Fixtures for the review station: records that need a person, made the real way.

The synthetic child-protection forms of `synth_forms` are read once per session by the pipeline
(`read_page` with crops kept, as the workers do). Each test uploads the files for real and then
finishes each page through `intake.batches.processing` with that stored reading (the same
`_claim` and `_finish` a worker runs, previews and crops put in storage) and assembles the batch
with `assemble_batch`: every step but the OCR itself, which takes ~2 s a page and gives the same
result every time.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from intake import dispatch
from intake.api import create_app
from intake.auth.service import SYSTEM
from intake.batches import processing
from intake.batches.assembly import assemble_batch
from intake.batches.inprocess import InlineDispatcher
from intake.batches.service import create_batch
from intake.config import Settings
from intake.db.models import Page, Record, RecordField
from intake.db.session import get_db
from intake.forms.registry import default_registry
from intake.pipeline.extract import read_page
from intake.pipeline.load import iter_pages
from intake.pipeline.types import PageResult
from intake.storage import crop_key, get_storage, preview_key
from tests.conftest import PASSWORD, make_token, make_users, session_headers

API = "/api/v1"


@dataclass
class ReadPage:
    result: PageResult
    preview: bytes
    crops: dict[str, bytes]


@dataclass
class Form:
    path: Path
    truth: dict[str, Any]
    pages: list[ReadPage]


@pytest.fixture(scope="session")
def read_forms(synth_forms: list[Path]) -> list[Form]:
    """The synthetic forms as the pipeline reads them (once per session)."""
    reg = default_registry()
    out = []
    for path in synth_forms:
        pages = []
        for loaded in iter_pages(path, path.name):
            res = read_page(loaded, reg, keep_crops=True)
            crops = {k: processing._png(v) for k, v in res.crops.items()}
            res.crops = {}
            pages.append(ReadPage(res, processing._preview(loaded.image), crops))
        truth_file = path.with_suffix(".json")
        out.append(Form(path, json.loads(truth_file.read_text())["fields"], pages))
    return out


def finish_pages(settings: Settings, batch_id: int, forms: list[Form],
                 change=None) -> None:  # noqa: ANN001 - change(result) may edit a reading
    """Finish every queued page of the batch with the stored reading, then assemble."""
    by_name = {(f.path.name, i + 1): p for f in forms for i, p in enumerate(f.pages)}
    with get_db(settings).read_session() as s:
        ids = list(s.scalars(select(Page.id).where(Page.batch_id == batch_id, Page.status == "queued")
                             .order_by(Page.position)))
    storage = get_storage(settings)
    for page_id in ids:
        claim = processing._claim(page_id, settings, None, uuid.uuid4().hex)
        assert isinstance(claim, processing.Claim), claim
        read = by_name[(claim.filename, claim.index)]
        result = copy.deepcopy(read.result)
        if change is not None:
            change(result)
        pkey = preview_key(claim.sha256, claim.index)
        storage.put(pkey, read.preview)
        for path, png in read.crops.items():
            storage.put(crop_key(claim.sha256, claim.index, path), png)
        assert processing._finish(claim, result, pkey, sorted(read.crops), settings, None) == "done"
    assemble_batch(batch_id, settings=settings)


def doubt(path: str):  # noqa: ANN201 - a change for finish_pages
    """A change that sends field `path` to review (`low_confidence`), as a reading would: for tests
    of the queue, not of reading, which need more records in review than the forms give."""
    from intake.pipeline.types import FieldStatus

    def change(result: PageResult) -> None:
        for f in result.fields:
            if f.path == path:
                f.status, f.errors = FieldStatus.NEEDS_REVIEW, [*f.errors, "low_confidence"]

    return change


@dataclass
class Env:
    settings: Settings
    client: TestClient
    headers: dict[str, dict[str, str]]
    users: dict[str, int]
    forms: list[Form]

    def upload(self, *indexes: int, change=None) -> int:  # noqa: ANN001 - see finish_pages
        files = [self.forms[i] for i in indexes]
        batch_id = create_batch(iter([(f.path.name, f.path.read_bytes()) for f in files]), SYSTEM, self.settings)
        finish_pages(self.settings, batch_id, files, change)
        return batch_id

    def record(self, index: int, change=None) -> int:  # noqa: ANN001 - see finish_pages
        """A record of form `index` (0: needs review; 1 and 2: accepted on the seed-7 office forms,
        form 1 since the fourth pass of issue 13 on 2026-12-02). `change(result)` may edit each
        page's stored reading first (`doubt`)."""
        batch_id = self.upload(index, change=change)
        with get_db(self.settings).read_session() as s:
            return s.scalar(select(Record.id).where(Record.batch_id == batch_id))

    def get(self, record_id: int, who: str = "supervisor") -> dict[str, Any]:
        r = self.client.get(f"{API}/records/{record_id}", headers=self.headers[who])
        assert r.status_code == 200, r.text
        return r.json()

    def patch(self, record_id: int, path: str, value: Any, revision: int, who: str = "supervisor"):  # noqa: ANN201
        return self.client.patch(f"{API}/records/{record_id}/fields/{path}", json={"value": value, "revision": revision},
                                 headers=self.headers[who])

    def post(self, url: str, who: str = "supervisor", **body: Any):  # noqa: ANN201
        return self.client.post(f"{API}{url}", json=body or None, headers=self.headers[who])

    def fields(self, record_id: int) -> dict[str, RecordField]:
        with get_db(self.settings).read_session() as s:
            return {f.path: f for f in s.scalars(select(RecordField).where(RecordField.record_id == record_id))}

    def truth(self, index: int, path: str) -> Any:
        return self.forms[index].truth.get(path)


def _env(settings: Settings, forms: list[Form]) -> Iterator[Env]:
    runner = InlineDispatcher(settings)  # uploads enqueue here; pages are finished by finish_pages
    dispatch.install(settings, runner)
    users = make_users(settings)
    with TestClient(create_app(settings)) as client:
        headers = {}
        for name in ("clerk", "supervisor", "admin"):
            r = client.post(f"{API}/auth/login", json={"name": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            headers[name] = session_headers(r)
            client.cookies.clear()
        with get_db(settings).session() as s:
            from intake.auth.service import create_user

            users["supervisor2"] = create_user(s, "supervisor2", PASSWORD, "supervisor").id
        r = client.post(f"{API}/auth/login", json={"name": "supervisor2", "password": PASSWORD})
        headers["supervisor2"] = session_headers(r)
        client.cookies.clear()
        headers["reader"] = {"Authorization": f"Bearer {make_token(settings, 'records:read')}"}
        headers["reviewer"] = {"Authorization": f"Bearer {make_token(settings, 'records:read', 'records:review')}"}
        yield Env(settings, client, headers, users, forms)


@pytest.fixture
def env(any_settings: Settings, read_forms: list[Form]) -> Iterator[Env]:
    """The API on SQLite and on PostgreSQL, with users, tokens and the stored readings."""
    yield from _env(any_settings, read_forms)


@pytest.fixture
def sqlite_env(settings: Settings, read_forms: list[Form]) -> Iterator[Env]:
    yield from _env(settings, read_forms)
