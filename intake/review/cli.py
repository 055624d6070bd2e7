"""`intake review stats` and `intake review export`: the silent-error rate measured by spot checks,
and the labelled examples supervisors made (for `bench/accuracy --from-examples`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The review station: spot-check statistics and labelled examples.", no_args_is_help=True)


def _pct(x: float | None) -> str:
    return "      -" if x is None else f"{100 * x:6.2f}%"


@app.command("stats")
def stats(template: Annotated[str | None, typer.Option("--template", help="one form template only")] = None,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The silent-error rate per field type, measured by spot checks: among the values the machine
    accepted in approved spot-check records, the share a supervisor changed (95% Wilson interval)."""
    from intake.config import get_settings
    from intake.db.session import get_db
    from intake.review.service import spot_check_stats

    settings = get_settings()
    with get_db(settings).read_session() as s:
        out = spot_check_stats(s, settings, template)
    if as_json:
        typer.echo(out.model_dump_json(indent=1))
        return
    typer.echo(f"spot checks: {out.records_checked} approved, {out.records_waiting} waiting "
               f"(sampling {100 * out.spot_check_share:g}% of straight-through records)")
    typer.echo(f"{'field type':14} {'checked':>8} {'wrong':>6} {'rate':>8}   95% interval")
    for t in [*out.types, out.total]:
        interval = "" if t.low is None else f"{_pct(t.low)} - {_pct(t.high).strip()}"
        typer.echo(f"{t.type:14} {t.checked:8} {t.wrong:6} {_pct(t.rate):>8}   {interval}")


@app.command("export")
def export(out: Annotated[Path, typer.Option("--out", help="a folder: examples.jsonl and crops/ are written there")]
           ) -> None:
    """Write every field a supervisor checked in an approved record as a labelled example: its crop,
    the machine's readings (each engine's text and confidence), the machine's value and the final
    value. PERSONAL DATA: keep the folder where the records are kept."""
    from intake.config import get_settings
    from intake.db.session import get_db
    from intake.errors import StorageError
    from intake.review.service import labelled_examples
    from intake.storage import get_storage

    settings = get_settings()
    storage = get_storage(settings)
    (out / "crops").mkdir(parents=True, exist_ok=True)
    with get_db(settings).read_session() as s:
        examples = labelled_examples(s)
    n_crops = 0
    with (out / "examples.jsonl").open("w", encoding="utf-8") as fh:
        for i, ex in enumerate(examples, 1):
            key = ex.pop("crop_key")
            ex["crop"] = None
            if key:
                try:
                    data = storage.get(key)
                except StorageError:
                    data = None
                if data is not None:
                    name = f"crops/{i:06d}.png"
                    (out / name).write_bytes(data)
                    ex["crop"] = name
                    n_crops += 1
            fh.write(json.dumps(ex, ensure_ascii=False, default=str) + "\n")
    typer.echo(f"{len(examples)} example(s), {n_crops} crop(s) written to {out}")
