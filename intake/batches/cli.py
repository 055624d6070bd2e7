"""`intake process DIR|FILE...`: a whole batch into the database on this machine, with a progress
bar. Uses the same service and job code as `intake serve` and the workers, run synchronously."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from intake import dispatch
from intake.auth.service import SYSTEM
from intake.batches.inprocess import InlineDispatcher
from intake.config import Settings, get_settings
from intake.db.models import Batch, BatchFile, FileState, Page, Record, RecordField
from intake.db.session import get_db, upgrade
from intake.errors import IntakeError

SCAN_SUFFIXES = {".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}


def collect(paths: list[Path]) -> list[Path]:
    """Files named on the command line (judged by content later), and the scans in folders
    (by suffix, sorted, recursively; a synth folder's truth .json files are left out)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SCAN_SUFFIXES
                              and not f.name.startswith(".")))
        else:
            out.append(p)
    return out


def _uploads(files: list[Path], console: Console) -> Iterator[tuple[str, bytes]]:
    for f in files:
        try:
            yield f.name, f.read_bytes()
        except OSError as exc:
            console.print(f"[red]{f}: cannot be read ({exc.strerror})[/red]")
            yield f.name, b""


def _where(settings: Settings) -> str:
    url = make_url(settings.database_url or "")
    return url.database if url.drivername.startswith("sqlite") else url.render_as_string(hide_password=True)


def process_paths(paths: list[Path], settings: Settings | None = None, console: Console | None = None) -> int:
    """Process the files as one batch; print a summary. Returns 0 when every file was read, 2 when
    a file was refused (its reason is printed), 1 when there was nothing to process."""
    settings = settings or get_settings()
    console = console or Console()
    files = collect(paths)
    if not files:
        console.print("[red]intake: no scans found (PDF, TIFF, PNG, JPEG)[/red]")
        return 1
    upgrade(settings)
    runner = InlineDispatcher(settings)
    dispatch.install(settings, runner)
    try:
        try:
            batch_id = _create(files, settings, console)
        except IntakeError as exc:
            console.print(f"[red]intake: {exc.code}: {exc.message}[/red]")
            return 2
        _run(runner, batch_id, settings, console)
    finally:
        dispatch.install(settings, None)
    return _summary(batch_id, settings, console)


def _create(files: list[Path], settings: Settings, console: Console) -> int:
    from intake.batches.service import create_batch

    with console.status(f"checking and storing {len(files)} file(s)"):
        return create_batch(_uploads(files, console), SYSTEM, settings)


def _run(runner: InlineDispatcher, batch_id: int, settings: Settings, console: Console) -> None:
    with get_db(settings).read_session() as s:
        total = s.scalar(select(func.count()).select_from(Page).where(Page.batch_id == batch_id)) or 0
    columns = (TextColumn("[bold]batch {task.fields[batch]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("pages"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("pages", total=total, batch=batch_id)
        while (item := runner.run_next()) is not None:
            if item[0] == "page":
                bar.advance(task)


def _records_table(batch_id: int, settings: Settings, console: Console) -> None:
    """One line per record: form, status, fields accepted, and why the others need a person.
    Codes and counts only, never values: this may be a real case on a shared screen."""
    with get_db(settings).read_session() as s:
        records = list(s.scalars(select(Record).where(Record.batch_id == batch_id).order_by(Record.id)))
        fields = list(s.execute(select(RecordField.record_id, RecordField.status, RecordField.errors)
                                .join(Record, Record.id == RecordField.record_id).where(Record.batch_id == batch_id)))
    if not records:
        return
    accepted: Counter[int] = Counter()
    total: Counter[int] = Counter()
    reasons: dict[int, Counter[str]] = {r.id: Counter() for r in records}
    for record_id, status, errors in fields:
        total[record_id] += 1
        if status == "accepted":
            accepted[record_id] += 1
        reasons[record_id].update(str(e) for e in errors or [])
    table = Table(box=None, pad_edge=False)
    for name, wrap in (("record", False), ("form", False), ("status", False), ("accepted", False), ("to review, why", True)):
        table.add_column(name, no_wrap=not wrap)
    for r in records:
        why = ", ".join(f"{code} {n}" for code, n in reasons[r.id].most_common(4))
        more = len(reasons[r.id]) - 4
        table.add_row(str(r.id), f"{r.template_id} v{r.template_version}", r.status,
                      f"{accepted[r.id]} / {total[r.id]}", why + (f", +{more} more" if more > 0 else ""))
    console.print(table)


def _summary(batch_id: int, settings: Settings, console: Console) -> int:
    with get_db(settings).read_session() as s:
        batch = s.get(Batch, batch_id)
        assert batch is not None
        files = list(s.scalars(select(BatchFile).where(BatchFile.batch_id == batch_id).order_by(BatchFile.position)))
        pages = Counter(s.scalars(select(Page.status).where(Page.batch_id == batch_id)))
        records = Counter(s.scalars(select(Record.status).where(Record.batch_id == batch_id)))
        problems = list(s.execute(select(BatchFile.filename, Page.index, Page.status, Page.error_code)
                                  .join(BatchFile, BatchFile.id == Page.file_id)
                                  .where(Page.batch_id == batch_id, Page.status != "read").order_by(Page.position)))
    for f in files:
        if f.status == FileState.REFUSED:
            console.print(f"[red]refused[/red]  {f.filename}: {f.error_code}: {f.error_message}")
        elif f.status == FileState.DUPLICATE:
            console.print(f"[yellow]duplicate[/yellow] {f.filename}: already uploaded; linked, not read again")
    for name, index, status, code in problems:
        console.print(f"[yellow]{status}[/yellow] {name} page {index}" + (f": {code}" if code else ""))
    _records_table(batch_id, settings, console)
    console.print(f"batch {batch_id}: {len(files)} file(s), {sum(pages.values())} page(s) "
                  f"({', '.join(f'{n} {k}' for k, n in sorted(pages.items())) or 'none'}), "
                  f"{sum(records.values())} record(s) "
                  f"({', '.join(f'{n} {k}' for k, n in sorted(records.items())) or 'none'})")
    console.print(f"database: {_where(settings)}")
    return 2 if any(f.status == FileState.REFUSED for f in files) else 0
