"""Receiving an upload: the caller is authenticated first, then the multipart body is streamed.

FastAPI reads (and spools to disk) a whole multipart body before any dependency runs when a route
declares ``UploadFile``/``Form`` parameters, so an anonymous caller could make the server write
gigabytes before being told 401. The upload routes therefore take the bare `Request`: their
dependencies authenticate the caller, `check_rate` refuses a caller over their rate or volume
(429 with ``Retry-After``) — all before a byte of the body is read — and only then `receive`
parses the body as it arrives with python-multipart's streaming parser, writing each file to a
temporary file under ``upload_tmp_dir`` and enforcing the limits as bytes come in:

- ``Content-Length`` above ``max_request_bytes``: 413 before reading anything;
- a file passing ``max_upload_bytes``: 413 at once (``file_too_large``), saying how much of it
  had arrived and the limit, in MiB;
- the whole body passing ``max_request_bytes``: 413 (``upload_too_large``);
- more files than ``max_files_per_batch``: 413 (``too_many_files``);
- the caller's volume for the hour (``upload_bytes_per_hour``) passed mid-upload: 429.

The temporary folder of an upload is removed on every path (`Received.close`, called in a
``finally``): success, a refused upload, a limit, a client that disconnects. A process killed
mid-upload leaves its folder behind; `collect_stale` (run when the app starts and by the
sweeper) removes those older than an hour.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import func, select
from starlette.requests import ClientDisconnect, Request

from intake.auth.service import Principal
from intake.config import Settings
from intake.db.models import Batch, BatchFile, utcnow
from intake.db.session import get_db
from intake.errors import FileTooLarge, InvalidRequest, TooManyFiles, TooManyUploads, UploadTooLarge

log = logging.getLogger(__name__)
MAX_FIELD_BYTES = 64 * 1024  # a plain form field (the CSRF token)
MAX_PARTS = 2000
STALE_AFTER_S = 3600


def mib(n: int) -> str:
    """Bytes as MiB for messages: ``210.0 MiB`` (what the clerk's computer calls 210 MB)."""
    return f"{n / 2**20:.1f} MiB"


def mib_over(n: int) -> str:
    """An amount past a limit, rounded up: 3.01 MiB past a 3.0 MiB limit reads ``3.1 MiB``, never
    "3.0 MiB of it had arrived" beside a limit of 3.0 MiB."""
    return f"{math.ceil(n / 2**20 * 10) / 10:.1f} MiB"


@dataclass
class ReceivedFile:
    name: str
    path: Path
    size: int = 0


@dataclass
class Received:
    """What an upload brought: its files (on disk, in order) and its plain fields."""

    folder: Path
    files: list[ReceivedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def read(self) -> Iterator[tuple[str, bytes]]:
        """(file name, bytes) one file at a time, for `create_batch`."""
        for f in self.files:
            yield f.name, f.path.read_bytes()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def tmp_root(settings: Settings) -> Path:
    assert settings.upload_tmp_dir is not None
    root = Path(settings.upload_tmp_dir)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


# ---------------------------------------------------------------- rate and volume
def _owner(principal: Principal) -> Any:  # noqa: ANN401 - a SQL condition
    return (Batch.created_by_user_id == principal.id if principal.kind == "user"
            else Batch.created_by_token_id == principal.id)


def used_bytes(settings: Settings, principal: Principal) -> tuple[int, float]:
    """(bytes the caller uploaded in the last hour, seconds until the oldest of them ages out)."""
    now = utcnow()
    since = now - timedelta(hours=1)
    with get_db(settings).read_session() as s:
        total, oldest = s.execute(select(func.coalesce(func.sum(BatchFile.size), 0), func.min(Batch.created_at))
                                  .join(Batch, Batch.id == BatchFile.batch_id)
                                  .where(_owner(principal), Batch.created_at > since)).one()
    wait = 3600 - (now - _aware(oldest)).total_seconds() if oldest is not None else 0
    return int(total or 0), max(1.0, wait)


def _aware(d):  # noqa: ANN001, ANN202 - SQLite gives naive UTC datetimes
    from datetime import UTC

    return d if d.tzinfo else d.replace(tzinfo=UTC)


@dataclass
class Allowance:
    """What a caller may still upload this hour, and when the oldest upload of the hour ages out."""

    bytes: int
    retry_after: int


def check_rate(settings: Settings, principal: Principal) -> Allowance:
    """Refuse (429) a caller over their upload rate or hourly volume; returns what they may still
    send this hour. Runs before the body is read."""
    if principal.kind == "system":
        return Allowance(settings.upload_bytes_per_hour, 3600)
    now = utcnow()
    with get_db(settings).read_session() as s:
        recent = list(s.scalars(select(Batch.created_at).where(_owner(principal),
                                                              Batch.created_at > now - timedelta(minutes=1))
                                .order_by(Batch.created_at)))
    if len(recent) >= settings.upload_rate_per_minute:
        wait = 60 - (now - _aware(recent[0])).total_seconds()
        raise TooManyUploads(f"at most {settings.upload_rate_per_minute} uploads a minute; try again in "
                             f"{max(1, round(wait))} s", extra={"retry_after": max(1, round(wait))})
    used, wait = used_bytes(settings, principal)
    if used >= settings.upload_bytes_per_hour:
        raise TooManyUploads(f"at most {mib(settings.upload_bytes_per_hour)} an hour may be uploaded; try again "
                             f"in {round(wait)} s", extra={"retry_after": round(wait)})
    return Allowance(settings.upload_bytes_per_hour - used, round(wait))


# ---------------------------------------------------------------- the body
class _Parts:
    """python-multipart callbacks: headers of each part, then its data to a file or a field."""

    def __init__(self, received: Received, settings: Settings, file_field: str,
                 before_files: Callable[[dict[str, str]], None] | None, allowance: Allowance | None) -> None:
        self.r, self.settings, self.file_field = received, settings, file_field
        self.allowance = allowance
        self.file_bytes = 0
        self.before_files = before_files
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.out: BinaryIO | None = None
        self.current: ReceivedFile | None = None
        self.field_name: str | None = None
        self.field_value = bytearray()
        self.parts = 0

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self.part_begin, "on_header_field": self.h_field, "on_header_value": self.h_value,
                "on_header_end": self.h_end, "on_headers_finished": self.headers_done,
                "on_part_data": self.data, "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidRequest(f"an upload may have at most {MAX_PARTS} parts")
        self.headers = {}

    def h_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def h_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def h_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def headers_done(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = _text(options.get(b"name", b""))
        if b"filename" in options:
            if self.before_files is not None:  # e.g. the web form's CSRF token, sent before its files
                check, self.before_files = self.before_files, None
                check(self.r.fields)
            if name != self.file_field:
                raise InvalidRequest(f"send the files in the {self.file_field!r} field")
            if len(self.r.files) >= self.settings.max_files_per_batch:
                raise TooManyFiles(f"an upload may hold at most {self.settings.max_files_per_batch} files; split it")
            filename = _text(options[b"filename"]).replace("\\", "/").rsplit("/", 1)[-1][:255]
            fd, path = tempfile.mkstemp(dir=self.r.folder, prefix="file-")
            self.out = os.fdopen(fd, "wb")
            self.current = ReceivedFile(filename, Path(path))
            self.r.files.append(self.current)
        else:
            self.field_name = name
            self.field_value.clear()

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.current is not None:
            assert self.out is not None
            self.current.size += end - start
            if self.current.size > self.settings.max_upload_bytes:
                raise FileTooLarge(
                    f"{self.current.name or f'file {len(self.r.files)}'}: the file is larger than the limit of "
                    f"{mib(self.settings.max_upload_bytes)} a file ({mib_over(self.current.size)} of it had arrived when "
                    "the upload was stopped); split it")
            self.file_bytes += end - start
            if self.allowance is not None and self.file_bytes > self.allowance.bytes:
                raise TooManyUploads(f"this upload would pass the limit of {mib(self.settings.upload_bytes_per_hour)}"
                                     " an hour; try again later, or ask an administrator",
                                     extra={"retry_after": self.allowance.retry_after})
            self.out.write(data[start:end])
        else:
            self.field_value += data[start:end]
            if len(self.field_value) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"the form field {self.field_name!r} is too long")

    def part_end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out, self.current = None, None
        elif self.field_name is not None:
            self.r.fields.setdefault(self.field_name, _text(bytes(self.field_value)))
            self.field_name = None

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


def _text(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


async def receive(request: Request, settings: Settings, *, allowance: Allowance | None = None,
                  file_field: str = "files", before_files: Callable[[dict[str, str]], None] | None = None
                  ) -> Received:
    """Stream the multipart body of `request` to a temporary folder, enforcing the limits as it
    arrives (see the module docstring). `allowance`: what the caller may still send this hour (`check_rate`);
    `before_files(fields)` is called with the plain fields sent before the first file (and may
    raise to refuse the upload before any file is written).
    The caller must `close()` what is returned; on an error nothing is left behind."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise InvalidRequest("send the files as multipart/form-data in the 'files' field")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > settings.max_request_bytes:
        raise UploadTooLarge(f"the upload is {mib(int(length))}; the limit is {mib(settings.max_request_bytes)} "
                             "an upload: upload the files in parts")
    received = Received(Path(tempfile.mkdtemp(dir=tmp_root(settings), prefix="upload-")))
    parts = _Parts(received, settings, file_field, before_files, allowance)
    parser = MultipartParser(params[b"boundary"], parts.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > settings.max_request_bytes:
                raise UploadTooLarge(f"the upload is larger than the limit of {mib(settings.max_request_bytes)} an "
                                     f"upload ({mib_over(total)} had arrived when it was stopped): upload the files in "
                                     "parts")
            parser.write(chunk)
        parser.finalize()
        parts.close()
        return received
    except FormParserError as exc:
        parts.close()
        received.close()
        raise InvalidRequest(f"the request body could not be read (a broken multipart body: {exc})") from None
    except ClientDisconnect:
        parts.close()
        received.close()
        raise InvalidRequest("the upload was interrupted before it was complete") from None
    except BaseException:
        parts.close()
        received.close()
        raise


def collect_stale(settings: Settings, older_than_s: float = STALE_AFTER_S) -> int:
    """Remove upload folders left by a process that died mid-upload; returns how many."""
    root = Path(settings.upload_tmp_dir or "")
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    n = 0
    for p in root.iterdir():
        try:
            if p.name.startswith("upload-") and p.stat().st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                n += 1
        except FileNotFoundError:
            continue
    if n:
        log.warning("removed %d unfinished upload folder(s)", n)
    return n
