"""Errors with stable codes and messages a person can act on.

Every error the system reports to a user is an `IntakeError`: `code` is stable (tests, the API and
the clerk pages rely on it), `message` is one plain sentence saying what is wrong and, where there
is something to do, what to do. The HTTP layer maps them to ``{"error": code, "detail": message}``.
"""

from __future__ import annotations


class IntakeError(Exception):
    """Base of all errors the system reports. Subclasses set `code` and `http_status`. `extra`
    (JSON-ready) is added to the API's error body beside ``error`` and ``detail``."""

    code = "intake_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(IntakeError):
    code = "config_invalid"


class TemplateError(IntakeError):
    """A form template could not be loaded or used."""

    code = "template_invalid"
    http_status = 422


class TemplateNotFound(TemplateError):
    code = "template_not_found"
    http_status = 404


class InputError(IntakeError):
    """A file or page a clerk supplied cannot be read. The code names why."""

    code = "unreadable_file"
    http_status = 422


class EmptyFile(InputError):
    code = "empty_file"


class UnsupportedFileType(InputError):
    code = "unsupported_file_type"
    http_status = 415


class FileTooLarge(InputError):
    code = "file_too_large"
    http_status = 413


class TooManyPages(InputError):
    code = "too_many_pages"
    http_status = 413


class PageTooLarge(InputError):
    """A page whose size or pixel count would exhaust memory (a decompression bomb)."""

    code = "page_too_large"


class PageTooSmall(InputError):
    code = "page_too_small"


class EncryptedFile(InputError):
    code = "encrypted_file"


class CorruptFile(InputError):
    code = "corrupt_file"


class OcrEngineError(IntakeError):
    """An OCR engine (Tesseract, PP-OCR) failed in a way that is not about the page (missing
    language data, a crash)."""

    code = "ocr_engine_failed"


class OcrTimeout(OcrEngineError):
    """Tesseract gave up on one field: that field goes to review, the page is still read."""

    code = "ocr_timeout"


class NotFound(IntakeError):
    code = "not_found"
    http_status = 404


class Conflict(IntakeError):
    code = "conflict"
    http_status = 409


class StaleRevision(Conflict):
    """The client saw an older revision of the record: someone changed it since. Nothing was
    written; `extra["record"]` is the record as it is now."""

    code = "stale_revision"


class RecordClaimed(Conflict):
    """Another supervisor has the record open (their claim has not expired)."""

    code = "record_claimed"


class ReviewIncomplete(Conflict):
    """A record cannot be approved while a field still needs a person or a rule fails."""

    code = "review_incomplete"


class InvalidValue(IntakeError):
    """A value a supervisor entered is not valid for its field. `code` is the validator's own
    (``national_id.checksum``, ``date.invalid``, ...); `extra` names the field and gives the
    message in Traditional Chinese."""

    code = "invalid_value"
    http_status = 422


class PermissionDenied(IntakeError):
    code = "forbidden"
    http_status = 403


class NotAuthenticated(IntakeError):
    code = "not_authenticated"
    http_status = 401


class TooManyRequests(IntakeError):
    """Too many attempts (sign-in throttling): `retry_after` is how many seconds to wait; the API
    sends it as ``Retry-After`` and in the body."""

    code = "too_many_attempts"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class CsrfRefused(IntakeError):
    """An unsafe request authenticated by the session cookie that did not come from this site's
    own pages (Origin or Sec-Fetch-Site says another site) or carries no valid CSRF token."""

    code = "csrf_refused"
    http_status = 403


class InvalidRequest(IntakeError):
    """The request itself is malformed (missing files, bad cursor, unknown parameter value)."""

    code = "invalid_request"
    http_status = 422


class TooManyFiles(IntakeError):
    code = "too_many_files"
    http_status = 413


class StorageError(IntakeError):
    """A stored file is missing or cannot be written (disk full, shared volume not mounted)."""

    code = "storage_failed"
    http_status = 503


class OriginalMissing(StorageError):
    code = "original_missing"
    http_status = 500


class UploadTooLarge(IntakeError):
    """The whole upload (all its files) passed the per-request limit while it was received."""

    code = "upload_too_large"
    http_status = 413


class TooManyUploads(IntakeError):
    """A user's or token's upload rate or volume limit; ``extra["retry_after"]`` is in seconds
    (the API sends it as the ``Retry-After`` header too)."""

    code = "too_many_uploads"
    http_status = 429


class OverBudget(InputError):
    """A file whose pages add up to more megapixels than a file may have, or that would take
    its upload past the batch's page or megapixel budget (refused, not truncated)."""

    code = "over_budget"
    http_status = 413
