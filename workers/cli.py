"""`python -m workers worker|beat`: the Celery worker and the periodic sweeper.

They live here, with the Celery app, because `intake` (its command included) must stay
importable without Celery: `intake serve`, `intake process` and every other `intake` command
never load it. Both need ``INTAKE_BROKER_URL``; without a broker, `intake serve` reads the
pages in its own process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intake.config import Settings, get_settings, limit_ocr_threads

limit_ocr_threads()

app = typer.Typer(help="form-intake's Celery worker and sweeper (need INTAKE_BROKER_URL).", no_args_is_help=True,
                  add_completion=False)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"workers: {message}", err=True)
    raise typer.Exit(code)


def _level(log_level: str) -> str:
    """The level for Celery and this project's loggers; libraries that would log data stay quiet
    (`intake.logs`; Celery sets the root logger's level, `workers.app` quiets them again)."""
    from intake import logs

    try:
        level = logs.check_level(log_level)
    except ValueError as exc:
        _fail(str(exc), 2)
    logs.configure(level, handler=False)
    return level


def _beat_schedule(settings: Settings) -> Path:
    """Where Celery beat keeps its schedule (in INTAKE_DATA_DIR, created if missing)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir / "celerybeat-schedule"


@app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 1,
    beat: Annotated[bool, typer.Option("--beat", help="also run the periodic sweeper (on one worker only)")] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="debug | info | warning | error | critical")] = "info",
) -> None:
    """Run a Celery worker (needs INTAKE_BROKER_URL)."""
    level = _level(log_level)
    settings = get_settings()
    if not settings.broker_url:
        _fail("INTAKE_BROKER_URL is not set; without a broker, `intake serve` processes in-process")
    from workers.app import celery_app

    argv = ["worker", f"--loglevel={level.upper()}", f"--concurrency={concurrency}", "-E"]
    if beat:
        argv += ["--beat", f"--schedule={_beat_schedule(settings)}"]
    raise typer.Exit(celery_app.start(argv) or 0)


@app.command("beat")
def beat(
    log_level: Annotated[str, typer.Option("--log-level", help="debug | info | warning | error | critical")] = "info",
) -> None:
    """Run Celery beat alone: the periodic sweeper (needs INTAKE_BROKER_URL).

    Run exactly one, or `worker --beat` on one worker instead, never both.
    The schedule file is kept in INTAKE_DATA_DIR."""
    level = _level(log_level)
    settings = get_settings()
    if not settings.broker_url:
        _fail("INTAKE_BROKER_URL is not set; beat schedules the sweeper for Celery workers, "
              "and without a broker `intake serve` processes in-process")
    from workers.app import celery_app

    raise typer.Exit(celery_app.start(["beat", f"--loglevel={level.upper()}",
                                       f"--schedule={_beat_schedule(settings)}"]) or 0)


def main() -> None:
    app(prog_name="python -m workers")
