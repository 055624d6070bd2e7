"""The container deployment (Dockerfile, .dockerignore, docker-compose.yml), checked statically:
there is no Docker daemon where these tests run, so nothing is built or started. What is checked
is what can go wrong without one: the commands the services run are ones our CLI accepts (parsed
by the real CLI, option types included), the environment is made of real settings that load in
production mode, the Dockerfile installs the same system packages as scripts/setup, the health
check's URL answers 200 from the real app (the check's own code is run against a live server),
the compose wiring (dependencies, one beat, scalable workers, the shared storage volume), and
`python -m workers beat` itself (fails clearly without a broker; with one, starts Celery beat with
its schedule in INTAKE_DATA_DIR).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import typer.main
import uvicorn
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from intake import cli
from intake.api import create_app
from intake.config import PROJECT_ROOT, Settings, get_settings
from workers import cli as workers_cli

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
SETUP_SCRIPT = PROJECT_ROOT / "scripts" / "setup"
OUR_IMAGE = "form-intake:latest"
# ${VAR}, ${VAR:?message}, ${VAR:-default} ... as Compose interpolates them
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?\-+])([^}]*))?\}")


# ---------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def ours(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if s.get("image") == OUR_IMAGE}


def command_argv(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's variable substitution, with the variables in `given` (missing ones fail)."""
    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in given:
            return given[name]
        if op in (":-", "-"):
            return arg
        raise AssertionError(f"${{{name}}} is not set and has no default")
    return INTERPOLATION.sub(one, value)


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """{volume or host path: container path} for the service's volumes (short or long syntax)."""
    mounts = {}
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            mounts[str(v["source"])] = str(v["target"])
        else:
            source, target = str(v).split(":")[:2]
            mounts[source] = target
    return mounts


# The commands our services run: `intake ...` and `python -m workers ...`, each with its own CLI.
PROGRAMS = {("intake",): cli.app, ("python", "-m", "workers"): workers_cli.app}


def program(argv: list[str]) -> tuple[typer.Typer, list[str]]:
    """(the CLI that runs `argv`, its arguments)."""
    for prefix, app in PROGRAMS.items():
        if tuple(argv[:len(prefix)]) == prefix:
            return app, argv[len(prefix):]
    raise AssertionError(f"{argv} is not one of our commands")


def parse_cli(argv: list[str], app: typer.Typer = cli.app) -> typer.Context:
    """Parse `intake ARGV` (or ARGV of another of our CLIs) with the real CLI (types converted,
    nothing run); the leaf context. (Typer 0.29 carries its own copy of Click, so this goes
    through typer's names only.)"""
    cmd = typer.main.get_command(app)
    ctx = typer.Context(cmd, info_name="intake")
    args = list(argv)
    while hasattr(cmd, "resolve_command"):  # a group
        assert args and not args[0].startswith("-"), f"no subcommand in {argv}"
        _, sub, args = cmd.resolve_command(ctx, args)
        assert sub is not None, f"unknown command in {argv}"
        if not hasattr(sub, "resolve_command"):
            return sub.make_context(sub.name, args, parent=ctx)
        ctx = typer.Context(sub, info_name=sub.name, parent=ctx)
        cmd = sub
    raise AssertionError(f"{argv} is not a command")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    out, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def dockerfile_env() -> dict[str, str]:
    env = {}
    for word, rest in dockerfile_instructions():
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def dockerfile_apt_packages() -> list[str]:
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN" and "apt-get install" in rest]
    assert len(runs) == 1, "expected exactly one RUN with apt-get install"
    packages = []
    for step in runs[0].split("&&"):
        words = shlex.split(step)
        if "apt-get" in words and "install" in words:
            packages += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return packages


def setup_apt_packages() -> tuple[list[str], list[str]]:
    """(runtime APT_PACKAGES, the extras added with --test) from scripts/setup."""
    text = SETUP_SCRIPT.read_text()
    runtime = re.search(r"^APT_PACKAGES=\(([^)]*)\)", text, re.M)
    extras = re.search(r"^\s*APT_PACKAGES\+=\(([^)]*)\)", text, re.M)
    assert runtime and extras, "scripts/setup no longer defines APT_PACKAGES as expected"
    return shlex.split(runtime.group(1), comments=True), shlex.split(extras.group(1), comments=True)


def dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` (or a folder above it) out of the build context."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:  # Docker: the last matching pattern wins; "!" re-includes
        negate = pattern.startswith("!")
        p = pattern.lstrip("!").strip("/")
        rx = re.escape(p).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(rx, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- commands
def test_the_intake_command_is_our_cli() -> None:
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["intake"] == "intake.cli:main"


def test_every_service_of_ours_runs_a_command_the_cli_accepts(services: dict[str, dict[str, Any]]) -> None:
    mine = ours(services)
    assert set(mine) == {"migrate", "api", "worker", "beat"}
    runner = CliRunner()
    for name, service in mine.items():
        argv = command_argv(service)
        app, args = program(argv)
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, f"{name}: `{' '.join(argv)} --help` -> {result.exit_code}\n{result.output}"
        parse_cli(args, app)  # the options themselves, with their types, not just --help


def parse_service(service: dict[str, Any]) -> typer.Context:
    app, args = program(command_argv(service))
    return parse_cli(args, app)


def test_commands_parse_to_the_intended_values(services: dict[str, dict[str, Any]]) -> None:
    assert program(command_argv(services["api"]))[0] is cli.app
    api = parse_service(services["api"])
    assert (api.command.name, api.params) == ("serve", {"host": "0.0.0.0", "port": 8000, "log_level": "info"})
    assert program(command_argv(services["worker"]))[0] is workers_cli.app
    worker = parse_service(services["worker"])
    assert worker.command.name == "worker"
    assert worker.params["beat"] is False, "beat runs in its own service; a scaled worker must not run it"
    assert worker.params["concurrency"] >= 1
    migrate = parse_service(services["migrate"])
    assert (migrate.command.name, migrate.params) == ("upgrade", {"revision": "head"})
    assert parse_service(services["beat"]).command.name == "beat"


def test_the_parser_used_above_rejects_bad_commands() -> None:
    for app, argv in ((cli.app, ["serve", "--port", "eighty"]), (workers_cli.app, ["worker", "--no-such-option"]),
                      (workers_cli.app, ["worker", "--concurrency", "0"]), (workers_cli.app, ["beat", "extra"])):
        with pytest.raises(typer.TyperException) as exc:
            parse_cli(argv, app)
        assert exc.value.exit_code == 2, argv  # a usage error
    for app, argv in ((cli.app, ["no-such-command"]), (cli.app, ["worker"]), (workers_cli.app, ["serve"])):
        with pytest.raises((AssertionError, typer.TyperException)):
            parse_cli(argv, app)


def test_the_image_default_command_is_serve_on_all_interfaces() -> None:
    cmds = [rest for word, rest in dockerfile_instructions() if word == "CMD"]
    assert len(cmds) == 1
    argv = yaml.safe_load(cmds[0])  # exec form: a JSON list
    assert argv == ["intake", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert parse_cli(argv[1:]).params == {"host": "0.0.0.0", "port": 8000, "log_level": "info"}


# ---------------------------------------------------------------- environment
def test_every_intake_variable_is_a_setting(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    names = set(compose["x-intake-env"]) | set(dockerfile_env())
    for service in services.values():
        names |= set(environment(service))
    intake_names = {n for n in names if n.startswith("INTAKE_")}
    assert {"INTAKE_ENV", "INTAKE_DATABASE_URL", "INTAKE_BROKER_URL", "INTAKE_STORAGE_DIR",
            "INTAKE_DATA_DIR", "INTAKE_SECRET_KEY"} <= intake_names
    unknown = sorted(n for n in intake_names if n.removeprefix("INTAKE_").lower() not in Settings.model_fields)
    assert not unknown, f"not settings (pydantic-settings would ignore them): {unknown}"


def test_our_services_share_the_intake_environment(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    shared = {k: str(v) for k, v in compose["x-intake-env"].items()}
    for name, service in ours(services).items():
        assert environment(service) == shared, name


def test_the_environment_loads_as_production_settings(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    given = {"POSTGRES_PASSWORD": "pw", "INTAKE_SECRET_KEY": "a-real-secret",
             "INTAKE_STORAGE_KEYS": "k1:" + "QUFB" * 10 + "QUE="}  # 32 bytes, base64
    env = {**dockerfile_env(), **{k: interpolate(str(v), given) for k, v in compose["x-intake-env"].items()}}
    for key in [k for k in os.environ if k.startswith("INTAKE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.env == "production" and s.secret_key == "a-real-secret"
    from intake.storage import keyring_for

    assert keyring_for(s).current == "k1"  # stored files are encrypted with the configured key
    url = make_url(s.database_url or "")
    assert url.get_dialect().driver == "psycopg"  # the driver we install
    assert s.broker_url and s.broker_url.startswith("redis://")


def test_secrets_are_required_not_defaulted(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    env = compose["x-intake-env"]
    assert INTERPOLATION.fullmatch(env["INTAKE_SECRET_KEY"]).group(2) == ":?"
    assert ":?" in env["INTAKE_DATABASE_URL"]
    assert environment(services["postgres"])["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    with pytest.raises(AssertionError):
        interpolate(env["INTAKE_SECRET_KEY"], {})


def test_the_database_and_broker_urls_point_at_the_services(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    env = {k: interpolate(str(v), {"POSTGRES_PASSWORD": "pw", "INTAKE_SECRET_KEY": "k",
                                                  "INTAKE_STORAGE_KEYS": "k1:x"})
           for k, v in compose["x-intake-env"].items()}
    db = make_url(env["INTAKE_DATABASE_URL"])
    pg = environment(services["postgres"])
    assert db.host in services and services[db.host]["image"].startswith("postgres:")
    assert (db.port, db.username, db.database) == (5432, pg["POSTGRES_USER"], pg["POSTGRES_DB"])
    assert db.password == "pw"
    broker = make_url(env["INTAKE_BROKER_URL"])
    assert broker.host in services and services[broker.host]["image"].startswith("redis:")
    assert broker.port == 6379


# ---------------------------------------------------------------- Dockerfile
def test_the_dockerfile_installs_the_runtime_packages_of_scripts_setup() -> None:
    runtime, test_extras = setup_apt_packages()
    image = dockerfile_apt_packages()
    assert len(image) == len(set(image)), "a package is listed twice"
    assert sorted(image) == sorted(runtime)
    assert not set(image) & set(test_extras)


def test_the_dockerfile_builds_like_scripts_setup_without_test_extras() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    installs = [rest for word, rest in instructions if word == "RUN" and "pip install" in rest]
    assert len(installs) == 1
    words = shlex.split(installs[0].split("&&")[0])
    assert "-c" in words and words[words.index("-c") + 1] == "constraints.txt"
    assert "--no-binary" in words and words[words.index("--no-binary") + 1] == "tesserocr"
    assert not any("[" in w for w in words), "no extras (the test extras are not for the image)"
    assert dockerfile_env()["OMP_THREAD_LIMIT"] == "1"


def test_the_image_runs_as_a_user_that_owns_the_storage(compose: dict[str, Any]) -> None:
    users = [rest for word, rest in dockerfile_instructions() if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    storage = compose["x-intake-env"]["INTAKE_STORAGE_DIR"]
    setup = " ".join(rest for word, rest in dockerfile_instructions() if word == "RUN")
    # a named volume takes the ownership of the image's folder it is mounted on
    assert f"mkdir -p {storage}" in setup and f"chown -R {users[-1]}:{users[-1]}" in setup


def test_dockerignore_leaves_out_local_state_and_keeps_what_the_image_needs() -> None:
    for path in (".venv/bin/python", "var/intake.db", ".git/HEAD", "tests/artifacts/page.png",
                 "__pycache__/x.pyc", "intake/__pycache__/cli.cpython-311.pyc"):
        assert dockerignored(path), path
    needed = ["pyproject.toml", "constraints.txt", "README.md", "intake/cli.py", "workers/app.py",
              "intake/pipeline/calibration.json", "intake/db/migrations/env.py"]
    needed += [str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "form_templates").rglob("*") if p.is_file()]
    for path in needed:
        assert (PROJECT_ROOT / path).exists(), path
        assert not dockerignored(path), path


# ---------------------------------------------------------------- health
def _health_check(services: dict[str, dict[str, Any]]) -> tuple[list[str], str]:
    test = services["api"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python" and test[2] == "-c", "slim has no curl: python runs the check"
    url = re.search(r"https?://[^'\"\s]+", test[3])
    assert url, test
    return test[1:], url.group(0)


def test_the_health_check_url_is_a_route_that_answers_200(services: dict[str, dict[str, Any]], settings: Settings) -> None:
    _, url = _health_check(services)
    u = urlsplit(url)
    serve = parse_cli(command_argv(services["api"])[1:])
    assert u.hostname in ("127.0.0.1", "localhost") and u.port == serve.params["port"]
    app = create_app(settings)
    assert u.path in {getattr(r, "path", None) for r in app.routes}
    with TestClient(app) as client:
        assert client.get(u.path).status_code == 200
        assert client.get(u.path + "-not").status_code == 404


def test_the_health_check_command_passes_on_a_live_app_and_fails_without_one(
        services: dict[str, dict[str, Any]], settings: Settings) -> None:
    argv, url = _health_check(services)
    port = free_port()
    code = argv[2].replace(":8000/", f":{port}/")
    assert code != argv[2]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        ok = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr.decode()
        wrong_path = subprocess.run([sys.executable, "-c", code.replace("/health", "/no-such-page")],
                                    capture_output=True, timeout=30)
        assert wrong_path.returncode != 0
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    down = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert down.returncode != 0


# ---------------------------------------------------------------- wiring
def test_workers_can_scale(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, f"worker has {key}: `--scale worker=N` would clash"
    assert (worker.get("deploy") or {}).get("replicas") in (None, 1)


def test_beat_runs_exactly_once(services: dict[str, dict[str, Any]]) -> None:
    beats = [n for n, s in ours(services).items()
             if program(command_argv(s))[1][:1] == ["beat"] or "--beat" in command_argv(s) or "-B" in command_argv(s)]
    assert beats == ["beat"]
    assert command_argv(services["beat"]) == ["python", "-m", "workers", "beat"]
    assert (services["beat"].get("deploy") or {}).get("replicas") in (None, 1)


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_our_services_build_one_image(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    for name, service in ours(services).items():
        build = service.get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context == ".", name
    assert "version" not in compose, "the Compose spec has no version key"


def test_other_images_are_official_with_a_pinned_major(services: dict[str, dict[str, Any]]) -> None:
    official = re.compile(r"(?:docker\.io/)?(?:library/)?(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*)"
                          r":(?P<major>\d+)(?:\.\d+)*(?:-[a-z0-9]+)?")
    others = {n: s["image"] for n, s in services.items() if s.get("image") != OUR_IMAGE}
    assert set(others) == {"postgres", "redis"}
    for name, image in others.items():
        m = official.fullmatch(image)
        assert m, f"{name}: {image} is not an official image with a numeric tag"
        assert m.group("name") == name
    assert not official.fullmatch("postgres:latest") and not official.fullmatch("bitnami/redis:7")


def test_storage_is_one_volume_at_the_storage_dir(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    storage_dir = compose["x-intake-env"]["INTAKE_STORAGE_DIR"]
    mounts = {name: volume_mounts(services[name]) for name in ("api", "worker", "beat")}
    sources = {src for m in mounts.values() for src, dst in m.items() if dst == storage_dir}
    assert len(sources) == 1, mounts
    (volume,) = sources
    assert volume in (compose.get("volumes") or {}), "a named volume (not a host path), declared at the top"
    for name, m in mounts.items():
        assert m.get(volume) == storage_dir, name
    assert dockerfile_env()["INTAKE_STORAGE_DIR"] == storage_dir


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose (config check, no daemon) not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "pw", "INTAKE_SECRET_KEY": "k"}
    result = subprocess.run(["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- python -m workers beat
def _clean_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key in [k for k in os.environ if k.startswith("INTAKE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


def test_beat_without_a_broker_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clean_env(monkeypatch, INTAKE_DATA_DIR=str(tmp_path))
    try:
        result = CliRunner().invoke(workers_cli.app, ["beat"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "INTAKE_BROKER_URL is not set" in result.output


def test_beat_starts_celery_beat_with_its_schedule_in_the_data_dir(tmp_path: Path) -> None:
    """The real command in a subprocess, on a broker nobody listens on: beat starts (the banner
    names the schedule file) before it ever needs the broker; then it is stopped."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env |= {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
            "INTAKE_DATABASE_URL": f"sqlite:///{tmp_path / 'intake.db'}", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "workers", "beat"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("beat: Starting" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
    output = "".join(lines)
    assert "celery beat" in output
    assert f"db -> {data_dir / 'celerybeat-schedule'}" in output
    assert data_dir.is_dir()


@pytest.mark.slow
def test_the_broker_keeps_its_queue_across_a_crash(compose: dict[str, Any], services: dict[str, dict[str, Any]],
                                                   tmp_path: Path) -> None:
    """The compose Redis runs with an append-only file on a named volume at its data folder: its
    own command line, run here by the real redis-server (on a free port, in a folder of its own),
    keeps a queued message across a SIGKILL (issue 12, item 3)."""
    redis = services["redis"]
    command = redis["command"]
    assert command[0] == "redis-server" and command[command.index("--appendonly") + 1] == "yes"
    volumes = {v.split(":")[0]: v.split(":")[1] for v in redis["volumes"]}
    assert "redisdata" in compose["volumes"] and volumes.get("redisdata") == "/data"  # the image's data folder
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    import redis as redis_client

    def run() -> subprocess.Popen:
        proc = subprocess.Popen(command + ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                if redis_client.Redis(port=port, socket_connect_timeout=0.5).ping():
                    return proc
            except redis_client.RedisError:
                time.sleep(0.05)
        proc.kill()
        raise AssertionError("redis-server did not start with the compose command")

    port = free_port()
    proc = run()
    try:
        r = redis_client.Redis(port=port)
        r.lpush("intake", b"a page message")
        time.sleep(1.5)  # appendfsync everysec: on disk within a second
        proc.kill()  # SIGKILL: no save at shutdown
        proc.wait(5)
        proc = run()
        assert redis_client.Redis(port=port).lrange("intake", 0, -1) == [b"a page message"]
    finally:
        proc.kill()
        proc.wait(5)
