"""`intake review stats|export` and `bench/accuracy --from-examples`: supervisors' corrections as
labelled examples, and per-type cutoffs recomputed from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intake.cli import app
from intake.config import PROJECT_ROOT, get_settings
from tests.review.conftest import Env, doubt


@pytest.fixture
def cli_env(sqlite_env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    s = sqlite_env.settings
    monkeypatch.setenv("INTAKE_DATABASE_URL", s.database_url or "")
    monkeypatch.setenv("INTAKE_STORAGE_DIR", str(s.storage_dir))
    monkeypatch.setenv("INTAKE_DATA_DIR", str(s.data_dir))
    get_settings.cache_clear()
    yield sqlite_env
    get_settings.cache_clear()


NAME_FIELDS = ("child_name", "guardian_name", "reporter_name")


def test_export_writes_labelled_examples_and_stats_reads_spot_checks(cli_env: Env, tmp_path: Path) -> None:
    env = cli_env
    rid = env.record(0)
    rec = env.get(rid)
    rev = rec["revision"]
    todo = [p for p, f in rec["fields"].items() if f["status"] == "needs_review"]
    for path in todo:
        rev = env.patch(rid, path, env.truth(0, path), rev).json()["revision"]
    # a correction of a value the machine accepted: the first name field that went straight through
    names = [p for p in NAME_FIELDS if rec["fields"][p]["status"] == "accepted"]
    assert names, {p: rec["fields"][p]["status"] for p in NAME_FIELDS}
    fixed = names[0]
    rev = env.patch(rid, fixed, "歐陽小明", rev).json()["revision"]
    # and a choice the machine settled, confirmed: its example carries the crop and the boxes' fills
    choices = [p for p, f in rec["fields"].items()
               if f["type"] == "choice" and p not in todo and env.truth(0, p) not in (None, "", [])]
    assert choices
    confirmed = choices[0]
    rev = env.patch(rid, confirmed, env.truth(0, confirmed), rev).json()["revision"]
    assert env.post(f"/records/{rid}/approve", revision=rev).json()["status"] == "approved"
    other = env.record(1, change=doubt("child_name"))  # corrected but not approved: not a final label, not exported
    r = env.patch(other, "child_name", "王小明", env.get(other)["revision"])
    assert r.status_code == 200

    out = tmp_path / "examples"
    result = CliRunner().invoke(app, ["review", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    examples = [json.loads(line) for line in (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {e["record_id"] for e in examples} == {rid}
    assert {e["path"] for e in examples} == set(todo) | {fixed, confirmed}
    name = next(e for e in examples if e["path"] == fixed)
    assert name["final_value"] == "歐陽小明" and name["machine_value"] == rec["fields"][fixed]["value"]
    assert name["correct"] is False and name["machine_status"] == "accepted"
    assert name["attempts"] and name["agreement"] and name["engine_conf"] is not None
    assert all((out / e["crop"]).is_file() for e in examples if e["crop"])
    assert any(e["crop"] and e["marks"] for e in examples)  # a choice's crop and its boxes' fills

    result = CliRunner().invoke(app, ["review", "stats"])
    assert result.exit_code == 0, result.output
    assert "spot checks: 0 approved" in result.output  # no record was sampled (share 0 in tests)
    result = CliRunner().invoke(app, ["review", "stats", "--json"])
    assert json.loads(result.output)["records_checked"] == 0

    # bench/accuracy reads the export (too few readings to set a cutoff: it says so, writes none)
    cal = tmp_path / "cal.json"
    run = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "accuracy"), "--from-examples", str(out),
                          "--calibration-out", str(cal)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"{len(examples)} labelled example(s)" in run.stdout
    assert json.loads(cal.read_text())["types"] == {}


def test_bench_accuracy_recomputes_cutoffs_from_examples(tmp_path: Path) -> None:
    lines = []
    for _ in range(400):  # confident agreements, all right
        lines.append({"type": "name", "engine_conf": 95.0, "agreement": "agree", "errors": [], "correct": True})
    for i in range(40):  # unsure ones, 5 wrong
        lines.append({"type": "name", "engine_conf": 40.0, "agreement": "agree", "errors": ["low_confidence"],
                      "correct": i >= 5})
    for _ in range(30):  # invalid readings never count
        lines.append({"type": "name", "engine_conf": 99.0, "agreement": "agree", "errors": ["name.characters"],
                      "correct": False})
    lines.append({"type": "checkbox", "engine_conf": None, "agreement": None, "errors": [], "correct": True})
    file = tmp_path / "examples.jsonl"
    file.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    cal = tmp_path / "cal.json"
    run = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "accuracy"), "--from-examples", str(file),
                          "--calibration-out", str(cal)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    name = json.loads(cal.read_text())["types"]["name"]["agree"]
    assert (name["n"], name["wrong"]) == (440, 5)
    assert name["accept_from"] == 95.0  # below it, 5 wrong in 440 is over the 0.5% bound
    assert "440 valid text reading(s)" in run.stdout
