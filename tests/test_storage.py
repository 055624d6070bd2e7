"""Storage: content-addressed originals, keys, atomic writes."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from intake.errors import OriginalMissing
from intake.storage import LocalStorage, crop_key, original_key, preview_key


def test_originals_are_addressed_by_sha256_and_never_rewritten(tmp_path: Path) -> None:
    st = LocalStorage(tmp_path)
    data = b"%PDF-1.4 scan bytes"
    digest, key = st.put_original(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert key == f"originals/{digest[:2]}/{digest[2:]}"
    path = tmp_path / key
    assert path.read_bytes() == data
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    assert st.put_original(data) == (digest, key)
    assert path.stat().st_mtime_ns == before - 10**9  # the same bytes: not written again
    assert st.get(key) == data


def test_keys_for_previews_and_crops_are_separate_and_safe() -> None:
    sha = "ab" + "c" * 62
    assert preview_key(sha, 3) == f"previews/ab/{'c' * 62}/3.jpg"
    key = crop_key(sha, 2, "household_members[2].name")
    assert key.startswith(f"crops/ab/{'c' * 62}/2/") and key.endswith(".png")
    assert "[" not in key and ".." not in key
    with pytest.raises(ValueError):
        original_key("not-a-digest")


def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    st = LocalStorage(tmp_path / "root")
    for bad in ("../x", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(ValueError):
            st.put(bad, b"x")


def test_missing_key_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(OriginalMissing) as exc:
        LocalStorage(tmp_path).get("originals/ab/cd")
    assert exc.value.code == "original_missing"


def test_put_replaces_atomically_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    st = LocalStorage(tmp_path)
    big_a, big_b = b"a" * 3_000_000, b"b" * 3_000_000
    st.put("crops/x.png", big_a)
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            data = st.get("crops/x.png")
            seen.add(data[:1] + data[-1:] + bytes([len(data) == 3_000_000]))

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(20):
        st.put("crops/x.png", big_b)
        st.put("crops/x.png", big_a)
    stop.set()
    t.join()
    assert seen <= {b"aa\x01", b"bb\x01"}  # never a mix, never a partial file
    assert [p.name for p in (tmp_path / "crops").iterdir()] == ["x.png"]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    st = LocalStorage(tmp_path)
    (tmp_path / "crops").mkdir()
    with pytest.raises(TypeError):
        st.put("crops/y.png", object())  # type: ignore[arg-type]
    assert list((tmp_path / "crops").iterdir()) == []
    assert not st.exists("crops/y.png")


# ---------------------------------------------------------------- encryption at rest
def test_stored_files_are_encrypted_and_do_not_contain_the_original_bytes(tmp_path: Path) -> None:
    from intake.config import Settings
    from intake.storage import get_storage, key_file

    settings = Settings(env="test", data_dir=tmp_path, storage_dir=tmp_path / "storage")
    st = get_storage(settings)
    data = b"%PDF-1.4 " + "王小明 A123456789 ".encode() * 200
    digest, key = st.put_original(data)
    st.put("previews/ab/cd/1.jpg", b"\xff\xd8\xff preview bytes of a child's form")
    on_disk = (tmp_path / "storage" / key).read_bytes()
    assert on_disk.startswith(b"\0IE1") and b"A123456789" not in on_disk and "王小明".encode() not in on_disk
    assert b"preview bytes" not in (tmp_path / "storage/previews/ab/cd/1.jpg").read_bytes()
    assert st.get(key) == data and hashlib.sha256(st.get(key)).hexdigest() == digest
    # the key file was made on first use, readable by its owner only
    assert key_file(tmp_path).stat().st_mode & 0o777 == 0o600
    # a file moved to another key does not decrypt
    os.replace(tmp_path / "storage" / key, tmp_path / "storage/previews/ab/cd/1.jpg")
    from intake.errors import StorageError

    with pytest.raises(StorageError):
        st.get("previews/ab/cd/1.jpg")


def test_rotation_re_encrypts_everything_under_the_new_key(tmp_path: Path) -> None:
    import base64

    from intake.storage import Keyring, LocalStorage

    old = base64.b64encode(b"o" * 32).decode()
    new = base64.b64encode(b"n" * 32).decode()
    plain = LocalStorage(tmp_path)  # objects stored before encryption was turned on
    plain.put("crops/ab/cd/1/name.png", b"\x89PNG a crop")
    before = LocalStorage(tmp_path, Keyring(Keyring.parse(f"old:{old}")))
    before.put("originals/ab/cd", b"%PDF-1.4 original")
    assert before.get("crops/ab/cd/1/name.png") == b"\x89PNG a crop"  # clear objects still read
    both = LocalStorage(tmp_path, Keyring(Keyring.parse(f"new:{new},old:{old}")))
    assert both.rekey(dry_run=True) == {"rekeyed": 2, "current": 0}
    assert both.rekey() == {"rekeyed": 2, "current": 0}
    assert both.rekey() == {"rekeyed": 0, "current": 2}
    assert {Keyring.key_id((tmp_path / k).read_bytes()) for k in ("originals/ab/cd", "crops/ab/cd/1/name.png")} == {
        "new"}
    only_new = LocalStorage(tmp_path, Keyring(Keyring.parse(f"new:{new}")))  # the old key can go now
    assert only_new.get("originals/ab/cd") == b"%PDF-1.4 original"
    assert only_new.get("crops/ab/cd/1/name.png") == b"\x89PNG a crop"


def test_the_key_file_rotation_is_picked_up_by_a_running_process(tmp_path: Path) -> None:
    from intake.storage import LocalStorage, add_key_to_file, load_keyring

    running = LocalStorage(tmp_path / "s", load_keyring(None, tmp_path))
    running.put("originals/ab/cd", b"%PDF-1.4 x")
    new_id = add_key_to_file(tmp_path)
    rekeyer = LocalStorage(tmp_path / "s", load_keyring(None, tmp_path))
    assert rekeyer.keyring.current == new_id and rekeyer.rekey()["rekeyed"] == 1
    assert running.get("originals/ab/cd") == b"%PDF-1.4 x"  # re-reads the key file for the new id


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    from intake.config import Settings
    from intake.db.session import forget_db, upgrade

    settings = Settings(env="test", data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    old = os.umask(0o022)
    try:
        upgrade(settings)
    finally:
        os.umask(old)
        forget_db(settings.database_url or "")
    for p in tmp_path.glob("x.db*"):
        assert p.stat().st_mode & 0o077 == 0, p.name


def test_processes_starting_together_share_one_key_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from intake.storage import load_keyring; "
            "print(load_keyring(None, Path(sys.argv[1])).current)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE) for _ in range(6)]
    ids = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(ids) == 1 and all(p.returncode == 0 for p in procs)
    assert [p.name for p in tmp_path.iterdir()] == ["storage.keys"]  # no temporary file left
