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
