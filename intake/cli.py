"""The `intake` command. Thin: every command parses its arguments and calls the package."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from intake.config import limit_ocr_threads
from intake.errors import IntakeError
from intake.review.cli import app as review_app

limit_ocr_threads()

app = typer.Typer(help="form-intake: scanned notification forms into validated records.", no_args_is_help=True, add_completion=False)
templates_app = typer.Typer(help="Form templates: list, check, render, schema, import.", no_args_is_help=True)
import_app = typer.Typer(help="Turn another project's template into ours.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")
templates_app.add_typer(import_app, name="import")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"intake: {message}", err=True)
    raise typer.Exit(code)


def _registry(path: Path | None = None):
    from intake.config import get_settings
    from intake.forms.registry import load_registry

    return load_registry(path or get_settings().templates_dir)


# ---------------------------------------------------------------- templates
@templates_app.command("list")
def templates_list() -> None:
    """List the form templates and their versions."""
    reg = _registry()
    for t in reg.all():
        typer.echo(f"{t.id}\tv{t.version}\t{len(t.pages)} page(s)\t{sum(1 for _ in t.slots())} fields\t{t.title.text(' / ')}")
    for p in reg.problems:
        typer.echo(f"warning: {p}", err=True)


@templates_app.command("show")
def templates_show(form_id: str, version: Annotated[int | None, typer.Option("--version")] = None) -> None:
    """Show one template's pages and fields."""
    t = _registry().get(form_id, version)
    typer.echo(f"{t.key}  {t.title.text(' / ')}  ({t.paper}, {len(t.pages)} pages)")
    for page, f in t.fields():
        flags = " required" if f.required else ""
        extra = ""
        if f.type == "choice":
            extra = " [" + ("|".join(o.value for o in f.options)) + ("] (multiple)" if f.multiple else "]")
        elif f.type == "table":
            extra = f" {f.rows} rows of (" + ", ".join(f"{c.name}:{c.type}" for c in f.columns) + ")"
        typer.echo(f"  p{page + 1} {f.name:32} {f.type:11}{flags}{extra}")
    for c in t.computed:
        typer.echo(f"  -- {c.name:32} computed count of {len(c.count)} fields == {c.equals}")


@templates_app.command("check")
def templates_check(path: Annotated[Path | None, typer.Argument(help="a templates folder or one YAML file")] = None) -> None:
    """Check templates; print every problem as `file: key.path: reason`. Exit 1 if any."""
    from intake.config import get_settings
    from intake.forms.registry import load_registry

    root = path or get_settings().templates_dir
    if not root.exists():
        _fail(f"{root}: no such file or folder")
    reg = load_registry(root)
    for p in reg.problems:
        typer.echo(str(p))
    n = len(reg.templates)
    if reg.problems:
        _fail(f"{len(reg.problems)} problem(s); {n} template(s) are fine")
    typer.echo(f"{n} template(s) OK", err=True)


@templates_app.command("schema")
def templates_schema(form_id: str, version: Annotated[int | None, typer.Option("--version")] = None) -> None:
    """Print the JSON Schema (draft 2020-12) of a record's data."""
    from intake.forms.schema import record_schema

    typer.echo(json.dumps(record_schema(_registry().get(form_id, version)), ensure_ascii=False, indent=2))


@templates_app.command("diff")
def templates_diff(
    form_id: str,
    a: Annotated[int, typer.Argument(help="from this version")],
    b: Annotated[int, typer.Argument(help="to this version")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What changed between two versions: fields added, removed, renamed, retyped, options."""
    from intake.forms.revisions import diff

    d = diff(_registry(), form_id, a, b)
    if as_json:
        typer.echo(json.dumps(d.to_dict(), ensure_ascii=False, indent=2))
        return
    typer.echo(f"{form_id}: version {a} -> {b}")
    for line in d.lines():
        typer.echo(f"  {line}")


@templates_app.command("changelog")
def templates_changelog(
    form_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="the CHANGELOG.md kept beside the template")] = False,
) -> None:
    """Every version of a template, newest first, with its note and its changes."""
    from intake.forms.revisions import changelog, changelog_markdown

    reg = _registry()
    if markdown:
        typer.echo(changelog_markdown(reg, form_id), nl=False)
    else:
        typer.echo(json.dumps(changelog(reg, form_id), ensure_ascii=False, indent=2) if as_json
                   else changelog_markdown(reg, form_id), nl=False)


@templates_app.command("render")
def templates_render(
    form_id: str,
    out: Annotated[Path, typer.Option("--out", help="FILE.pdf, or FILE.png (one PNG per page: FILE-1.png ...)")],
    version: Annotated[int | None, typer.Option("--version")] = None,
    dpi: Annotated[int, typer.Option("--dpi", min=72, max=1200)] = 300,
) -> None:
    """Print a blank form: a print-ready PDF, or PNG pages."""
    from intake.forms.render import render_pages, render_pdf

    t = _registry().get(form_id, version)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        out.write_bytes(render_pdf(t))
        typer.echo(str(out))
    elif suffix == ".png":
        pages = render_pages(t, dpi)
        for i, img in enumerate(pages, 1):
            p = out if len(pages) == 1 else out.with_name(f"{out.stem}-{i}{out.suffix}")
            img.save(p, dpi=(dpi, dpi))
            typer.echo(str(p))
    else:
        _fail(f"--out must end in .pdf or .png, not {suffix or 'nothing'!r}")


@import_app.command("quexf")
def import_quexf(
    banding: Path,
    reference: Annotated[Path, typer.Option("--reference", help="blank scan of the form: PDF or one PNG per page")],
    form_id: Annotated[str, typer.Option("--id")],
    version: Annotated[int, typer.Option("--version")] = 1,
    out: Annotated[Path | None, typer.Option("--out", help="templates folder (default: the configured one)")] = None,
) -> None:
    """Import a queXF banding XML with its blank scan as a template."""
    from intake.forms.importers import import_quexf as run

    typer.echo(str(run(banding, reference, form_id, version, out or _templates_dir())))


@import_app.command("omrchecker")
def import_omrchecker(
    template_json: Path,
    form_id: Annotated[str, typer.Option("--id")],
    reference: Annotated[Path | None, typer.Option("--reference", help="blank or sample sheet image")] = None,
    version: Annotated[int, typer.Option("--version")] = 1,
    out: Annotated[Path | None, typer.Option("--out")] = None,
) -> None:
    """Import an OMRChecker template.json as a template."""
    from intake.forms.importers import import_omrchecker as run

    typer.echo(str(run(template_json, form_id, version, out or _templates_dir(), reference=reference)))


def _templates_dir() -> Path:
    from intake.config import get_settings

    return get_settings().templates_dir


# ---------------------------------------------------------------- synth
@app.command("synth")
def synth(
    form_id: str,
    count: Annotated[int, typer.Option("--count", min=1, max=100_000)],
    out: Annotated[Path, typer.Option("--out")],
    version: Annotated[int | None, typer.Option("--version")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    profile: Annotated[str, typer.Option("--profile", help="clean|office|fax|phone")] = "clean",
    fmt: Annotated[str, typer.Option("--format", help="png|jpeg|tiff|pdf|mixed (default: the profile's usual format)")] = "",
    hand: Annotated[float, typer.Option("--hand", min=0.0, max=1.0, help="share of fields written by hand")] = 0.0,
    fonts: Annotated[str, typer.Option("--fonts", help="classic|seen|unseen|all: the faces before issue 13, "
                                                       "those calibration may use, faces it never sees, "
                                                       "or seen and unseen")] = "classic",
) -> None:
    """Write synthetic filled forms and their truth JSON (valid data, nobody's real case)."""
    from intake.forms.synth import synthesize

    t = _registry().get(form_id, version)
    for record in synthesize(t, count=count, out_dir=out, seed=seed, profile=profile, fmt=fmt or None, hand=hand,
                             fonts=fonts):
        typer.echo(record)


# ---------------------------------------------------------------- extract / process / serve
@app.command("extract")
def extract(
    files: Annotated[list[Path], typer.Argument(help="scans: PDF, TIFF, PNG, JPEG")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per form instance")] = False,
) -> None:
    """Read forms from scans in-process (no services) and print what was read."""
    from intake.pipeline.extract import extract_files, format_instance_text

    unreadable = 0
    for item in extract_files(files):
        if isinstance(item, IntakeError):
            unreadable += 1
            typer.echo(f"intake: {getattr(item, 'file', '')}: {item.code}: {item.message}", err=True)
            continue
        if as_json:
            typer.echo(json.dumps(item, ensure_ascii=False))
        else:
            typer.echo(format_instance_text(item))
    if unreadable:
        raise typer.Exit(2)


@app.command("process")
def process(
    paths: Annotated[list[Path], typer.Argument(help="files or folders of scans")],
) -> None:
    """Process a whole batch into the database on embedded defaults, with a progress bar."""
    from intake.batches.cli import process_paths

    raise typer.Exit(process_paths(paths))


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="debug | info | warning | error | critical")] = "info",
) -> None:
    """Run the API and web pages (with an in-process worker when no broker is configured).

    On SQLite (the embedded default) the schema is brought up to date first; with no users at
    all, a user `admin` is created and its random password printed here, once."""
    import uvicorn

    from intake import logs
    from intake.api import create_app
    from intake.auth.service import ensure_first_admin
    from intake.config import get_settings
    from intake.db.session import get_db, upgrade

    try:
        level = logs.check_level(log_level)
    except ValueError as exc:
        _fail(str(exc), 2)
    logs.configure(level)
    settings = get_settings()
    if (settings.database_url or "").startswith("sqlite"):
        upgrade(settings)
    with get_db(settings).session() as session:
        password = ensure_first_admin(session)
    if password:
        typer.echo(f"created user 'admin' with password: {password}  (shown once; change it)")
    if not settings.broker_url:
        typer.echo("no INTAKE_BROKER_URL: pages are processed in this process", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=level)


# ---------------------------------------------------------------- downstream
@app.command("export")
def export(
    form_id: str,
    version: Annotated[int, typer.Option("--version", help="the template version whose records (and columns)")],
    fmt: Annotated[str, typer.Option("--format", help="csv | jsonl")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="file to write (default: standard output)")] = None,
    status: Annotated[str | None, typer.Option("--status", help="only records in this status")] = None,
    after: Annotated[str | None, typer.Option("--after", help="a feed cursor: only records changed since")] = None,
    all_versions: Annotated[bool, typer.Option("--all-versions", help="also older/newer versions, converted")] = False,
) -> None:
    """Export a template version's records as CSV or JSON Lines, streamed (see the codebook)."""
    from intake.auth.audit import audit
    from intake.config import get_settings
    from intake.db.session import get_db
    from intake.exports.service import export_lines

    if fmt not in ("csv", "jsonl"):
        _fail(f"--format must be csv or jsonl, not {fmt!r}")
    settings = get_settings()
    reg = _registry()
    reg.get(form_id, version)
    with get_db(settings).session() as session:
        audit(session, "cli", "record.export", "template", form_id, version=version, code=fmt, status=status)
    target = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        for chunk in export_lines(settings, reg, form_id, version, fmt, status, after, all_versions):  # type: ignore[arg-type]
            target.write(chunk)
    finally:
        if out:
            target.close()


@app.command("codebook")
def codebook_cmd(
    form_id: str,
    version: Annotated[int | None, typer.Option("--version")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "csv",
) -> None:
    """The codebook of a template version's exports: columns, types, labels, allowed codes."""
    from intake.exports.codebook import codebook, codebook_csv

    t = _registry().get(form_id, version)
    if fmt == "json":
        typer.echo(json.dumps(codebook(t), ensure_ascii=False, indent=2))
    elif fmt == "csv":
        typer.echo(codebook_csv(t), nl=False)
    else:
        _fail(f"--format must be csv or json, not {fmt!r}")


@app.command("stats")
def stats_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="the release as GET /api/v1/stats gives it")] = False,
    threshold: Annotated[int | None, typer.Option("--threshold", min=3, help="default: INTAKE_STATS_THRESHOLD")] = None,
    template: Annotated[str | None, typer.Option("--template")] = None,
) -> None:
    """Open statistics: accepted and approved records by template, month, county and category,
    small cells suppressed (shown as '<N' or 'x')."""
    from intake.config import get_settings
    from intake.stats.service import release, select_view

    reg = _registry()
    if template:
        reg.get(template)
    out = select_view(release(get_settings(), reg, threshold), template, None)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return

    def show(c: dict) -> str:
        return "x" if c["suppressed"] else str(c["count"])

    typer.echo(f"records accepted or approved; cells below {out['threshold']} suppressed (x), and cells that "
               "would reveal them")
    for scope, sc in out["scopes"].items():
        typer.echo(f"\n== {scope}: {show(sc['total'])} records")
        for dim in ("by_category", "by_month", "by_county"):
            cells = [c for c in sc.get(dim) or [] if c["suppressed"] or c["count"]]
            if cells:
                typer.echo(f"  {dim[3:]}: " + ", ".join(f"{c['key']} {show(c)}" for c in cells))


families_app = typer.Typer(help="Families (家庭歸戶): records of the same child or household.", no_args_is_help=True)
app.add_typer(families_app, name="families")


@families_app.command("rebuild")
def families_rebuild() -> None:
    """Recompute every record's family keys, links and family (after INTAKE_SECRET_KEY changed)."""
    from intake.config import get_settings
    from intake.db.session import get_db
    from intake.families.service import rebuild

    with get_db(get_settings()).session() as session:
        n = rebuild(session, _registry())
    typer.echo(f"{n} records relinked")


# ---------------------------------------------------------------- db / users
db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
users_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations to the configured database."""
    from intake.config import get_settings
    from intake.db.session import current_revision, upgrade

    settings = get_settings()
    upgrade(settings, revision)
    typer.echo(f"database at revision {current_revision(settings)}")


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option("--role", help="clerk | supervisor | admin")] = "clerk",
) -> None:
    """Add a user; the password comes from INTAKE_NEW_PASSWORD or a prompt."""
    import os

    from intake.auth.service import create_user
    from intake.config import get_settings
    from intake.db.session import get_db

    password = os.environ.get("INTAKE_NEW_PASSWORD") or typer.prompt(
        f"password for {name}", hide_input=True, confirmation_prompt=True)
    with get_db(get_settings()).session() as session:
        user = create_user(session, name, password, role)
        typer.echo(f"user {user.name} ({user.role}) created, id {user.id}")


@users_app.command("token")
def users_token(
    name: str,
    scope: Annotated[list[str], typer.Option("--scope", help="records:read, batches:write, ...")] = ["records:read"],  # noqa: B006
    expires_days: Annotated[int | None, typer.Option(
        "--expires-days", help="days until it expires (default INTAKE_TOKEN_DEFAULT_DAYS, at most "
                               "INTAKE_TOKEN_MAX_DAYS)")] = None,
) -> None:
    """Create an API token for a downstream system and print it (shown once); it expires."""
    from intake.auth.service import create_token
    from intake.config import get_settings
    from intake.db.session import get_db

    settings = get_settings()
    with get_db(settings).session() as session:
        tok, secret = create_token(session, name, scope, created_by=None, expires_days=expires_days,
                                   settings=settings)
        expires = tok.expires_at
    typer.echo(secret)
    typer.echo(f"expires {expires:%Y-%m-%d %H:%M} UTC", err=True)


@users_app.command("deactivate")
def users_deactivate(name: str) -> None:
    """Deactivate a user: every session ends and the API tokens they made are revoked."""
    from intake.auth.service import set_active, user_by_name
    from intake.config import get_settings
    from intake.db.session import get_db

    with get_db(get_settings()).session() as session:
        set_active(session, user_by_name(session, name), False, "system")
    typer.echo(f"user {name} deactivated")


@users_app.command("activate")
def users_activate(name: str) -> None:
    """Reactivate a deactivated user (their old sessions and tokens stay ended)."""
    from intake.auth.service import set_active, user_by_name
    from intake.config import get_settings
    from intake.db.session import get_db

    with get_db(get_settings()).session() as session:
        set_active(session, user_by_name(session, name), True, "system")
    typer.echo(f"user {name} reactivated")


@users_app.command("role")
def users_role(name: str, role: Annotated[str, typer.Argument(help="clerk | supervisor | admin")]) -> None:
    """Change a user's role (it applies from their next request)."""
    from intake.auth.service import set_role, user_by_name
    from intake.config import get_settings
    from intake.db.session import get_db

    with get_db(get_settings()).session() as session:
        set_role(session, user_by_name(session, name), role, "system")
    typer.echo(f"user {name} is now {role}")


@users_app.command("passwd")
def users_passwd(name: str) -> None:
    """Set a user's password (from INTAKE_NEW_PASSWORD or a prompt); all their sessions end."""
    import os

    from intake.auth.service import set_password, user_by_name
    from intake.config import get_settings
    from intake.db.session import get_db

    password = os.environ.get("INTAKE_NEW_PASSWORD") or typer.prompt(
        f"new password for {name}", hide_input=True, confirmation_prompt=True)
    with get_db(get_settings()).session() as session:
        ended = set_password(session, user_by_name(session, name), password, "system")
    typer.echo(f"password of {name} changed; {ended} session{'s' if ended != 1 else ''} ended")


app.add_typer(review_app, name="review")

storage_app = typer.Typer(help="Stored files: collect what interrupted processes left behind.", no_args_is_help=True)
app.add_typer(storage_app, name="storage")


@storage_app.command("collect")
def storage_collect(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count, remove nothing")] = False,
    older_than: Annotated[float, typer.Option("--older-than", help="seconds; younger files are left")] = 3600.0,
) -> None:
    """Remove .tmp-* files, originals (and their previews and crops) with no database row, and
    unfinished uploads, older than --older-than (also done when `intake serve` starts)."""
    from intake.collect import collect_orphans
    from intake.config import get_settings

    counts = collect_orphans(get_settings(), older_than_s=older_than, dry_run=dry_run)
    typer.echo(json.dumps(counts))


retention_app = typer.Typer(help="Retention: purge the stored files of finished forms; legal holds.",
                            no_args_is_help=True)
app.add_typer(retention_app, name="retention")


@retention_app.command("purge")
def retention_purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="count, delete nothing")] = False) -> None:
    """Delete the originals, previews and crops that retention says are due (records and audit
    kept); see intake/retention.py. Run it daily."""
    from intake.config import get_settings
    from intake.retention import purge

    typer.echo(json.dumps(purge(get_settings(), dry_run=dry_run)))


@retention_app.command("hold")
def retention_hold(
    record_id: int,
    release: Annotated[bool, typer.Option("--release", help="release the hold instead")] = False,
) -> None:
    """Put a record under a legal hold (its stored files are never purged), or release it."""
    from intake.config import get_settings
    from intake.retention import set_legal_hold

    set_legal_hold(get_settings(), record_id, not release, "system")
    typer.echo(f"record {record_id}: legal hold {'released' if release else 'set'}")


@storage_app.command("rekey")
def storage_rekey(
    new_key: Annotated[bool, typer.Option("--new-key", help="first put a new key at the top of the key file "
                                                           "(only without INTAKE_STORAGE_KEYS)")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count, change nothing")] = False,
) -> None:
    """Re-encrypt every stored file not under the current key (the first of INTAKE_STORAGE_KEYS, or
    of the key file) with it, one file at a time, atomically, while the service runs. Keep the old
    keys configured until this has finished."""
    from intake.config import get_settings
    from intake.storage import add_key_to_file, get_storage

    settings = get_settings()
    if new_key:
        if settings.storage_keys:
            _fail("--new-key changes the key file; with INTAKE_STORAGE_KEYS set, put the new key first there")
        typer.echo(f"new key {add_key_to_file(settings.data_dir)} added", err=True)
        from intake.storage import _local

        _local.cache_clear()
    typer.echo(json.dumps(get_storage(settings).rekey(dry_run=dry_run)))


def main() -> None:
    try:
        app()
    except IntakeError as exc:
        typer.echo(f"intake: {exc.code}: {exc.message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
