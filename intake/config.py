"""One settings object for the whole system, read from ``INTAKE_*`` environment variables.

Defaults are the embedded ones: SQLite and a storage folder under ``./var``, no broker (work runs
in-process). Outside development the settings refuse unsafe values (the default secret key).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from intake.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = "dev-only-not-secret"
PAGE_HARD_LIMIT_GRACE_S = 10  # a page's reading is killed this long after its (soft) time limit


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    storage_dir: Path | None = None
    # id:base64key[,id2:base64key] (AES-256): the first encrypts stored files, all decrypt. Unset:
    # a key file <data_dir>/storage.keys is made on first use (0600). See intake.storage.
    storage_keys: str | None = Field(None, repr=False)
    templates_dir: Path = PROJECT_ROOT / "form_templates"
    broker_url: str | None = None
    secret_key: str = DEFAULT_SECRET

    # Input limits: checked before anything is decoded or rasterised.
    max_upload_bytes: int = Field(200 * 1024 * 1024, gt=0)
    max_files_per_batch: int = Field(200, gt=0)
    # Budgets (intake.batches.upload), from file headers before any page is queued: pages and
    # total megapixels (pages as they will be read; PDF pages at pdf_dpi) per file and per
    # batch. An A4 page at 300 dpi is 8.7 megapixels: 300 such pages fit a file, 2000 a batch.
    max_pages_per_file: int = Field(300, gt=0)
    max_file_megapixels: float = Field(3000.0, gt=0)
    max_batch_pages: int = Field(2000, gt=0)
    max_batch_megapixels: float = Field(20000.0, gt=0)
    max_page_pixels: int = Field(80_000_000, gt=0)  # A3 at 600 dpi is 70 M
    max_page_mm: float = Field(500.0, gt=0)  # longest side of a page (A2 is 594 mm)
    min_page_pixels_side: int = Field(300, gt=0)
    pdf_dpi: int = Field(300, ge=100, le=600)  # PDF pages are rasterised at this resolution

    # Uploads (intake.batches.receive): the body is streamed to `upload_tmp_dir` only after the
    # caller is authenticated and within their rate; each limit is enforced while receiving.
    max_request_bytes: int = Field(1024 * 1024 * 1024, gt=0)  # one whole upload (all its files)
    upload_tmp_dir: Path | None = None  # default: <data_dir>/tmp; emptied of stale files at start
    upload_rate_per_minute: int = Field(30, gt=0)  # uploads (batches) per user or token a minute
    upload_bytes_per_hour: int = Field(8 * 1024 * 1024 * 1024, gt=0)  # bytes per user or token an hour

    # Retention (intake.retention): stored files of decided records are purged this many days
    # after the record's last change; files of batches cancelled before they were read, this
    # many days after the cancel. Records and the audit log are kept.
    retention_days: int = Field(90, ge=0)
    retention_cancelled_days: int = Field(7, ge=0)

    # Reading
    tessdata_dir: Path | None = None
    ocr_timeout_s: float = Field(30.0, gt=0)

    # Work queue (recovery and fairness: docs/design-notes.md, "Work queue")
    task_time_limit_s: int = Field(300, gt=0)  # any task but a page's reading (assembly, webhooks)
    # one page's reading: past it the page ends `failed` (`timeout`); the hard limit is 10 s later
    page_time_limit_s: int = Field(30, gt=0)
    visibility_timeout_s: int = Field(3600, gt=0)
    # a page being read is claimed for this long and the reader renews the claim every quarter of
    # it; the sweeper puts a page whose claim lapsed (its worker died) back in the queue
    page_lease_s: int = Field(20, ge=4)
    # with a dispatcher that cannot count its waiting messages (`intake process`): pages queued
    # longer than this are enqueued again; Celery and `intake serve` count them instead
    stuck_after_s: int = Field(900, gt=0)
    sweep_interval_s: int = Field(10, gt=0)  # how often the sweeper runs (Celery beat)
    max_page_attempts: int = Field(3, gt=0)  # a page that keeps killing or timing out a worker fails
    task_retry_max: int = Field(5, ge=0)  # retries of a task after a transient error (DB, broker)

    # Web sessions (server-side, intake.auth.service): a session ends session_max_age_s after
    # sign-in whatever happens (absolute), or after session_idle_s without a request (idle).
    session_max_age_s: int = Field(12 * 3600, gt=0)
    session_idle_s: int = Field(30 * 60, gt=0)
    # Sign-in throttling: more than this many failures within signin_window_s, for one account
    # or from one client address, and sign-in is refused (429, Retry-After) until the oldest
    # failure leaves the window. A success clears its account's failures.
    signin_max_failures_per_account: int = Field(5, ge=1)
    signin_max_failures_per_address: int = Field(20, ge=1)
    signin_window_s: int = Field(15 * 60, ge=1)
    # API tokens expire: token_default_days when not asked otherwise, never beyond token_max_days.
    token_default_days: int = Field(90, ge=1)
    token_max_days: int = Field(365, ge=1)
    # CSRF (intake.auth.csrf): the origins the pages are served from, e.g.
    # "https://intake.example.gov.tw"; empty means the origin the request was addressed to.
    allowed_origins: list[str] = Field(default_factory=list)

    # Review station
    review_claim_s: int = Field(300, ge=10, le=3600)  # a record opened by a supervisor is theirs this long
    # share of straight-through records sampled into the review queue as spot checks (0 to turn off)
    review_spot_check_share: float = Field(0.02, ge=0.0, le=1.0)
    # Webhooks (intake.webhooks): attempt n+1 waits backoff_s * 4**(n-1), at most backoff_max_s,
    # times a random factor in [0.5, 1] (jitter); after max_attempts tries a delivery fails. A
    # subscription is disabled when disable_after_failures attempts in a row have failed and its
    # last success (or first failure) is at least disable_after_s old.
    webhook_timeout_s: float = Field(10.0, gt=0, le=120)
    webhook_max_attempts: int = Field(8, ge=1, le=50)
    webhook_backoff_s: float = Field(10.0, gt=0)
    webhook_backoff_max_s: float = Field(6 * 3600.0, gt=0)
    webhook_disable_after_failures: int = Field(20, ge=1)
    webhook_disable_after_s: float = Field(24 * 3600.0, ge=0)
    webhook_secret_overlap_s: float = Field(24 * 3600.0, ge=0)  # an old secret keeps signing after a rotation
    webhook_poll_s: float = Field(10.0, gt=0)  # how often due retries are looked for

    # Open statistics: cells below the threshold are suppressed (never below 3)
    stats_threshold: int = Field(5, ge=3, le=1000)

    @model_validator(mode="after")
    def _derive_and_refuse_unsafe(self) -> Settings:
        if self.database_url is None:
            self.database_url = f"sqlite:///{(self.data_dir / 'intake.db').as_posix()}"
        if self.storage_dir is None:
            self.storage_dir = self.data_dir / "storage"
        if self.upload_tmp_dir is None:
            self.upload_tmp_dir = self.data_dir / "tmp"
        if self.env == "production" and not self.storage_keys:
            raise ValueError("INTAKE_STORAGE_KEYS must be set in production (the same key(s) for the API and every "
                             "worker; a key file made per host would not decrypt another host's files)")
        if self.env == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError("INTAKE_SECRET_KEY must be set to a real secret in production")
        if self.token_default_days > self.token_max_days:
            raise ValueError("INTAKE_TOKEN_DEFAULT_DAYS must not exceed INTAKE_TOKEN_MAX_DAYS")
        if self.visibility_timeout_s <= max(self.task_time_limit_s, self.page_time_limit_s + PAGE_HARD_LIMIT_GRACE_S):
            raise ValueError(
                "INTAKE_VISIBILITY_TIMEOUT_S must exceed INTAKE_TASK_TIME_LIMIT_S and INTAKE_PAGE_TIME_LIMIT_S + 10, "
                "or Redis redelivers tasks that are still running"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"INTAKE_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc


def limit_ocr_threads() -> None:
    """Tesseract's OpenMP makes each call ~5x slower on two cores; one thread per process."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
