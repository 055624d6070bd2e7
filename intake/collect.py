"""Collecting what an interrupted process left behind in storage.

The upload stores an original *before* the transaction that creates its rows commits (so a
committed page always has its original); a process killed between the two leaves an original no
row points at, and one killed mid-write leaves a ``.tmp-*`` file (`LocalStorage.put`). Neither is
ever read, and both hold personal data. `collect_orphans` removes, when they are older than
`older_than_s` (so that an upload still in progress elsewhere is never touched):

- ``.tmp-*`` files anywhere under the storage folder;
- originals, previews and crops whose SHA-256 has no ``originals`` row;
- upload folders left in ``upload_tmp_dir`` (`intake.batches.receive.collect_stale`).

It runs when the app starts (`intake serve`) and as ``intake storage collect``; the counts are
logged, never a file name.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from sqlalchemy import select

from intake.batches.receive import collect_stale
from intake.config import Settings
from intake.db.models import Original
from intake.db.session import get_db

log = logging.getLogger(__name__)
ORPHAN_AFTER_S = 3600
_SHA_DIRS = ("originals", "previews", "crops")


def _known(settings: Settings, shas: set[str]) -> set[str]:
    known: set[str] = set()
    items = sorted(shas)
    with get_db(settings).read_session() as s:
        for i in range(0, len(items), 500):
            known |= set(s.scalars(select(Original.sha256).where(Original.sha256.in_(items[i:i + 500]))))
    return known


def collect_orphans(settings: Settings, *, older_than_s: float = ORPHAN_AFTER_S, dry_run: bool = False
                    ) -> dict[str, int]:
    """Remove temporary and orphaned files older than `older_than_s`; returns counts by kind."""
    assert settings.storage_dir is not None
    root = Path(settings.storage_dir)
    cutoff = time.time() - older_than_s
    counts = {"tmp": 0, "originals": 0, "previews": 0, "crops": 0, "uploads": 0}
    if root.is_dir():
        candidates: dict[str, list[tuple[str, Path]]] = {}
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                try:
                    old = path.lstat().st_mtime < cutoff
                except FileNotFoundError:
                    continue
                if not old:
                    continue
                if name.startswith(".tmp-"):
                    counts["tmp"] += 1
                    if not dry_run:
                        path.unlink(missing_ok=True)
                    continue
                parts = path.relative_to(root).parts
                if len(parts) >= 3 and parts[0] in _SHA_DIRS and len(parts[1]) == 2:
                    sha = parts[1] + parts[2]
                    if len(sha) == 64:
                        candidates.setdefault(sha, []).append((parts[0], path))
        known = _known(settings, set(candidates)) if candidates else set()
        for sha, files in candidates.items():
            if sha in known:
                continue
            for kind, path in files:
                counts[kind] += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
    if not dry_run:
        counts["uploads"] = collect_stale(settings, older_than_s)
    if any(counts.values()):
        log.warning("storage: collected %s", ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    return counts
