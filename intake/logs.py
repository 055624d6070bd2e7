"""Log levels for the commands (`intake serve --log-level`, `python -m workers worker|beat
--log-level`).

The level applies to this project's loggers (``intake``, ``workers``) and to the servers' own
(``uvicorn``, ``celery``). Libraries that would write data at DEBUG stay at WARNING whatever the
level: SQLAlchemy logs result rows at DEBUG (they hold personal data), the multipart parser logs
what it parses, HTTP clients log what they send. So raising the level shows more of what the
service does, never the records' contents (`tests/test_logging.py` checks it).
"""

from __future__ import annotations

import logging

LEVELS = ("debug", "info", "warning", "error", "critical")
APP_LOGGERS = ("intake", "workers", "uvicorn", "celery")
QUIET_LOGGERS = ("sqlalchemy", "multipart", "python_multipart", "httpx", "httpcore", "urllib3", "PIL",
                 "fontTools", "asyncio", "kombu", "amqp", "redis", "watchfiles", "alembic", "hpack")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def check_level(level: str) -> str:
    """The level in lower case, or ValueError naming the choices."""
    name = level.strip().lower()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; choose {', '.join(LEVELS)}")
    return name


def configure(level: str, *, handler: bool = True) -> None:
    """Set `level` on the application's loggers, WARNING on the libraries that would log data, and
    (`handler`) a stderr handler on the root logger if it has none."""
    value = getattr(logging, check_level(level).upper())
    root = logging.getLogger()
    if handler and not root.handlers:
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(h)
    root.setLevel(max(value, logging.INFO))
    for name in APP_LOGGERS:
        logging.getLogger(name).setLevel(value)
    quiet()


def quiet() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
