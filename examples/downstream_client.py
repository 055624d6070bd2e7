#!/usr/bin/env python
"""An example downstream client of form-intake: keeps a copy of the records in its own SQLite
database, pulling the change feed incrementally, and pulls again whenever a verified webhook says
something changed.

    python examples/downstream_client.py pull   --base-url URL --token TOKEN --db copy.db
    python examples/downstream_client.py listen --base-url URL --token TOKEN --db copy.db \\
        --secret whsec_... --port 8700

``pull`` asks ``GET /api/v1/records?after=<cursor>`` page by page. Each page's records and the new
cursor are written in ONE SQLite transaction, so a client stopped at any moment (Ctrl-C, a crash,
``--stop-after``) resumes where its last committed page ended: it misses nothing, and a record it
sees again (a newer revision) replaces the older copy. ``--template`` and ``--as-version`` ask for
one template's records in the shape of the version this client was written for.

``listen`` serves ``POST /`` for webhooks: each message is verified with the Standard Webhooks
library (``standardwebhooks``: signature over id, timestamp and body; timestamps older than five
minutes refused); a verified one is logged in the ``webhooks`` table (its ``webhook-id`` once:
retries and replays are recognised) and triggers a pull; anything else gets 401 and changes
nothing. The webhook carries ids and the revision only; the data comes from the feed.

Needs: httpx, standardwebhooks (both on PyPI). The token needs the records:read scope.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, revision INTEGER NOT NULL, status TEXT NOT NULL, template TEXT NOT NULL,
    template_version INTEGER NOT NULL, data TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhooks (
    msg_id TEXT PRIMARY KEY, type TEXT NOT NULL, record_id INTEGER NOT NULL, revision INTEGER NOT NULL,
    received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
"""


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)  # explicit BEGIN/COMMIT below
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    return db


def pull(base_url: str, token: str, db_path: Path, *, template: str | None = None, as_version: int | None = None,
         limit: int = 100, stop_after: int | None = None) -> int:
    """Pull every change since the stored cursor; returns how many records were written."""
    db = connect(db_path)
    lock = _locks.setdefault(str(db_path), threading.Lock())
    written = pages = 0
    with lock, httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        while stop_after is None or pages < stop_after:
            row = db.execute("SELECT value FROM state WHERE key = 'cursor'").fetchone()
            params: dict[str, str | int] = {"limit": limit}
            if row:
                params["after"] = row[0]
            if template:
                params["template"] = template
            if as_version:
                params["as_version"] = as_version
            r = http.get("/api/v1/records", params=params)
            r.raise_for_status()
            page = r.json()
            db.execute("BEGIN IMMEDIATE")
            try:
                for item in page["items"]:
                    db.execute(
                        "INSERT INTO records (id, revision, status, template, template_version, data, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET revision = excluded.revision, "
                        "status = excluded.status, template = excluded.template, "
                        "template_version = excluded.template_version, data = excluded.data, "
                        "updated_at = excluded.updated_at WHERE excluded.revision > records.revision",
                        (item["id"], item["revision"], item["status"], item["template"], item["template_version"],
                         json.dumps(item["data"], ensure_ascii=False), item["updated_at"]))
                db.execute("INSERT INTO state (key, value) VALUES ('cursor', ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (page["next"],))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            written += len(page["items"])
            pages += 1
            if not page["items"]:
                break
    db.close()
    return written


_locks: dict[str, threading.Lock] = {}


def listen(base_url: str, token: str, db_path: Path, secret: str, port: int, **pull_args: object) -> None:
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                message = verifier.verify(body, {k: v for k, v in self.headers.items()})
            except WebhookVerificationError:
                self._answer(401)
                return
            data = message.get("data", {})
            db = connect(db_path)
            db.execute("INSERT OR IGNORE INTO webhooks (msg_id, type, record_id, revision) VALUES (?, ?, ?, ?)",
                       (self.headers["webhook-id"], message.get("type", ""), data.get("record_id", 0),
                        data.get("revision", 0)))
            db.close()
            self._answer(204)  # answer fast; the pull runs after
            threading.Thread(target=pull, args=(base_url, token, db_path), kwargs=pull_args, daemon=True).start()

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    pull(base_url, token, db_path, **pull_args)  # catch up first
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["pull", "listen"])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--template")
    ap.add_argument("--as-version", type=int)
    ap.add_argument("--limit", type=int, default=100, help="records per page")
    ap.add_argument("--stop-after", type=int, help="stop after this many pages (pull)")
    ap.add_argument("--secret", help="the subscription's whsec_ secret (listen)")
    ap.add_argument("--port", type=int, default=8700)
    args = ap.parse_args()
    common = {"template": args.template, "as_version": args.as_version, "limit": args.limit}
    if args.command == "pull":
        n = pull(args.base_url, args.token, args.db, stop_after=args.stop_after, **common)
        print(f"{n} record(s) written", flush=True)
    else:
        if not args.secret:
            sys.exit("listen needs --secret")
        listen(args.base_url, args.token, args.db, args.secret, args.port, **common)


if __name__ == "__main__":
    main()
