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

Encryption at rest (`Keyring`): the configured storage encrypts every object with AES-256-GCM
(the ``cryptography`` package) before it reaches the disk, the object's key as associated data
(a file moved to another key does not decrypt). A stored object is ``b"\0IE1"``, one byte of key
id length, the key id, a 12-byte random nonce, then the ciphertext and its tag. Keys come from
``INTAKE_STORAGE_KEYS`` (``id:base64key,id2:base64key``: the first one encrypts, all of them
decrypt), or, when that is not set, from the key file ``<data_dir>/storage.keys`` (made on first
use, mode 0600, one ``id:base64key`` a line, first line current). Rotation: put a new key first,
then ``intake storage rekey`` re-encrypts every object not under the current key (objects stored
before encryption was turned on, which have no header, are read as they are and encrypted by
`rekey` too).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from intake.config import Settings, get_settings
from intake.errors import ConfigError, OriginalMissing, StorageError

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


MAGIC = b"\0IE1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")


class Keyring:
    """AES-256-GCM keys by id; the first one encrypts, every one decrypts."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ConfigError("no storage key: set INTAKE_STORAGE_KEYS as id:base64key[,id2:base64key]")
        for kid, key in keys:
            if not _KEY_ID.match(kid) or len(key) != 32:
                raise ConfigError("INTAKE_STORAGE_KEYS: each key is id:base64 of 32 bytes (id: letters, digits, "
                                  "'.', '_', '-', at most 32)")
        self.current = keys[0][0]
        self._aead = {kid: AESGCM(key) for kid, key in keys}
        self.source: Path | None = None  # the key file, re-read when it names a key not known yet

    @staticmethod
    def parse(text: str) -> list[tuple[str, bytes]]:
        out = []
        for item in re.split(r"[,\s]+", text.strip()):
            if not item:
                continue
            kid, sep, b64 = item.partition(":")
            try:
                key = base64.b64decode(b64, validate=True) if sep else b""
            except ValueError:
                key = b""
            out.append((kid, key))
        return out

    @staticmethod
    def new_line() -> str:
        return f"k{secrets.token_hex(4)}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"

    def encrypt(self, data: bytes, aad: bytes) -> bytes:
        kid = self.current.encode()
        nonce = os.urandom(12)
        return MAGIC + bytes([len(kid)]) + kid + nonce + self._aead[self.current].encrypt(nonce, data, aad)

    @staticmethod
    def key_id(blob: bytes) -> str | None:
        """The id of the key an object is encrypted with; None for an object stored in clear."""
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
            return None
        n = blob[len(MAGIC)]
        return blob[len(MAGIC) + 1 : len(MAGIC) + 1 + n].decode("ascii", "replace")

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        kid = self.key_id(blob)
        if kid is None:
            return blob  # stored before encryption was turned on; `rekey` encrypts it
        aead = self._aead.get(kid)
        if aead is None and self.source is not None:  # a key added to the file since it was read
            fresh = Keyring(Keyring.parse(self.source.read_text()))
            self._aead, self.current = fresh._aead, fresh.current
            aead = self._aead.get(kid)
        if aead is None:
            raise StorageError(f"a stored file is encrypted with the key {kid!r}, which is not configured "
                               "(INTAKE_STORAGE_KEYS must keep old keys until `intake storage rekey` has run)")
        start = len(MAGIC) + 1 + len(kid)
        try:
            return aead.decrypt(blob[start : start + 12], blob[start + 12 :], aad)
        except InvalidTag:
            raise StorageError("a stored file does not decrypt (damaged, or moved from another key)") from None


def keyring_for(settings: Settings) -> Keyring:
    """The keys of INTAKE_STORAGE_KEYS, else of ``<data_dir>/storage.keys`` (made now, 0600, if
    missing)."""
    return load_keyring(settings.storage_keys, Path(settings.data_dir))


def key_file(data_dir: Path) -> Path:
    return Path(data_dir) / "storage.keys"


def add_key_to_file(data_dir: Path) -> str:
    """Put a new key first in the key file (it encrypts from now on); returns its id."""
    path = key_file(data_dir)
    load_keyring(None, data_dir)  # make the file if missing
    line = Keyring.new_line()
    tmp = path.with_name(f".tmp-{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(line + "\n" + path.read_text())
    os.replace(tmp, path)
    return line.split(":", 1)[0]


def load_keyring(keys: str | None, data_dir: Path) -> Keyring:
    if keys:
        return Keyring(Keyring.parse(keys))
    path = key_file(data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole under another name, then linked into place: another process starting at
        # the same moment sees no file or the whole file, and the first link wins
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-storage-keys-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(Keyring.new_line() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            os.unlink(tmp)
    ring = Keyring(Keyring.parse(path.read_text()))
    ring.source = path
    return ring


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

    def __init__(self, root: Path, keyring: Keyring | None = None) -> None:
        self.root = Path(root)
        self.keyring = keyring  # None: stored in clear (tests of the layout; tools)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if self.keyring is not None:
            data = self.keyring.encrypt(data, key.encode())
        self._write(path, data)

    def _write(self, path: Path, data: bytes) -> None:
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
            blob = self._path(key).read_bytes()
            return self.keyring.decrypt(blob, key.encode()) if self.keyring is not None else blob
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

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (a key's folder); returns how many."""
        folder = self._path(prefix)
        if not folder.is_dir():
            return 0
        n = 0
        for dirpath, _, names in os.walk(folder, topdown=False):
            for name in names:
                Path(dirpath, name).unlink(missing_ok=True)
                n += 1
            try:
                Path(dirpath).rmdir()
            except OSError:
                pass
        return n

    def keys(self) -> Iterator[str]:
        """Every stored object's key (temporary files left out)."""
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                if not name.startswith(".tmp-"):
                    yield (Path(dirpath) / name).relative_to(self.root).as_posix()

    def rekey(self, *, dry_run: bool = False) -> dict[str, int]:
        """Re-encrypt every object not under the current key (or stored in clear) with it; each
        object is replaced atomically, so the service keeps running meanwhile."""
        assert self.keyring is not None
        counts = {"rekeyed": 0, "current": 0}
        for key in self.keys():
            path = self._path(key)
            try:
                blob = path.read_bytes()
            except FileNotFoundError:
                continue  # purged meanwhile
            if Keyring.key_id(blob) == self.keyring.current:
                counts["current"] += 1
                continue
            counts["rekeyed"] += 1
            if not dry_run:
                self._write(path, self.keyring.encrypt(self.keyring.decrypt(blob, key.encode()), key.encode()))
        return counts


@lru_cache(maxsize=8)
def _local(root: str, keys: str | None, data_dir: str) -> LocalStorage:
    return LocalStorage(Path(root), load_keyring(keys, Path(data_dir)))


def get_storage(settings: Settings | None = None) -> LocalStorage:
    """The configured storage: a `LocalStorage` under ``settings.storage_dir``, encrypted with
    `keyring_for(settings)`."""
    s = settings or get_settings()
    assert s.storage_dir is not None
    return _local(str(Path(s.storage_dir).resolve()), s.storage_keys, str(Path(s.data_dir).resolve()))
