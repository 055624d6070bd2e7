"""Where files live: originals (unmodified, addressed by SHA-256), page previews and field crops.

Everything is addressed by a *key*, a relative POSIX path such as ``originals/ab/cdef...``; the
database stores keys, never host paths, so an API on one host and workers on others share files
through the same `Storage` interface (a shared volume under `LocalStorage`, or an object store
behind another implementation of the protocol).

Contract of every implementation:

- `put` is atomic: a reader sees either no object or the whole object, never a partial one, and a
  crash mid-write leaves no object behind. Writing a key again replaces it (derived files such as
  crops are rewritten when a page is re-run).
- `put_original` stores bytes under the key derived from their SHA-256 and never modifies an
  existing original (the same bytes give the same key, so writing twice is a no-op).
- `get` raises `OriginalMissing` (a `StorageError`) when the key does not exist.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from intake.config import Settings, get_settings
from intake.errors import OriginalMissing, StorageError

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def original_key(sha256: str) -> str:
    """``originals/ab/cdef...``: two characters of fan-out keep directories small."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a SHA-256 hex digest")
    return f"originals/{sha256[:2]}/{sha256[2:]}"


def preview_key(sha256: str, page_index: int) -> str:
    """The preview image of page `page_index` (1-based) of an original."""
    return f"previews/{sha256[:2]}/{sha256[2:]}/{page_index}.jpg"


def crop_key(sha256: str, page_index: int, field_path: str) -> str:
    """The crop of one field on one page of an original (field paths may hold ``[2].``)."""
    safe = _UNSAFE.sub("_", field_path).strip("._") or "field"
    return f"crops/{sha256[:2]}/{sha256[2:]}/{page_index}/{safe}.png"


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def put_original(self, data: bytes) -> tuple[str, str]:
        """Store unmodified bytes; returns (sha256 hex, key)."""
        ...


class LocalStorage:
    """Files in a directory tree (a local folder or a shared volume mounted on every host)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"could not store a file ({exc.strerror or exc}); check the storage volume") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise OriginalMissing(f"the stored file {key} is missing from storage") from exc
        except OSError as exc:
            raise StorageError(f"could not read a stored file ({exc.strerror or exc})") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def put_original(self, data: bytes) -> tuple[str, str]:
        digest = sha256_hex(data)
        key = original_key(digest)
        if not self.exists(key):  # content-addressed: existing bytes are identical, never rewrite
            self.put(key, data)
        return digest, key


@lru_cache(maxsize=8)
def _local(root: str) -> LocalStorage:
    return LocalStorage(Path(root))


def get_storage(settings: Settings | None = None) -> Storage:
    """The configured storage (a `LocalStorage` under ``settings.storage_dir``)."""
    s = settings or get_settings()
    assert s.storage_dir is not None
    return _local(str(Path(s.storage_dir).resolve()))
