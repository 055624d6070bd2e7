"""Rules of the house that no single module's tests would notice breaking: which package may
import which, no import circles (function-level imports included), and a repository that carries
everything its tests read."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys

import pytest

from intake.config import PROJECT_ROOT

PACKAGES = ("intake", "workers")


def _module_name(path) -> str:  # noqa: ANN001 - a Path under PROJECT_ROOT
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    out = {}
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic loads these itself
            out[_module_name(path)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of ours that `name` imports anywhere in its code (in functions too), except
    under ``if TYPE_CHECKING:`` (never run). ``from a.b import c`` counts as a.b.c when that is
    a module, else as a.b."""
    package = name if _is_package(name) else name.rpartition(".")[0]
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
               for stmt in node.body for n in ast.walk(stmt)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:
                    out.add(full)
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def _is_package(name: str) -> bool:
    return (PROJECT_ROOT / name.replace(".", "/") / "__init__.py").is_file()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, tree, set(mods)) for name, tree in mods.items()}


def test_the_import_graph_is_read_from_the_code(graph: dict[str, set[str]]) -> None:
    """The parser sees imports at the top and inside functions, and skips TYPE_CHECKING ones."""
    assert "intake.pipeline.register" in graph["intake.pipeline.extract"]  # at the top
    assert "intake.pipeline.engines.tesseract" in graph["intake.pipeline.extract"]  # inside read_page
    assert "intake.batches.jobs" in graph["workers.tasks"]
    assert len(graph) > 60


def test_there_are_no_import_circles(graph: dict[str, set[str]]) -> None:
    """A circle hidden in a function-level import works until someone moves the import to the top
    (or imports the modules in another order); then the process fails at start."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_a_circle_would_be_found() -> None:
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"a": {"b"}, "b": {"c"}, "c": {"a"}}).prepare()


def test_intake_never_imports_workers(graph: dict[str, set[str]]) -> None:
    wrong = sorted((m, i) for m, imports in graph.items() if m.startswith("intake")
                   for i in imports if i.split(".")[0] == "workers")
    assert wrong == []


def test_the_reader_does_not_import_the_pdf_renderer(graph: dict[str, set[str]]) -> None:
    """Registration compares a scan with the blank page the registry keeps (rendered once per
    template version, see tests/pipeline/test_register.py) and takes the QR's geometry from
    `forms.layout`: no pipeline module imports the renderer (and reportlab with it)."""
    assert [m for m in graph if m.startswith("intake.pipeline") and "intake.forms.render" in graph[m]] == []


def test_intake_imports_without_celery() -> None:
    """`intake` (its command and its app included) runs without Celery: only `workers` loads it."""
    code = ("import sys, intake, intake.cli, intake.api, intake.batches.inprocess; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'celery', 'kombu', 'billiard', 'workers'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    # and the check can fail: the workers' commands do load Celery
    out = subprocess.run([sys.executable, "-c", "import sys, workers.app; print('celery' in sys.modules)"],
                         capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "True", out.stderr


# Paths to data outside the repository: a fresh clone does not have them.
OUTSIDE = ("/work/" + "shared", "../" + "shared", "INTAKE_" + "SHARED_DATA", "shared/" + "data")


def test_tracked_files_name_no_data_outside_the_repository() -> None:
    """Everything the tests, benchmarks and code read is in the repository (tests/resources/ for
    other projects' samples): no path outside it, not even in documentation that a reader might
    copy into a test."""
    files = subprocess.run(["git", "ls-files", "-z"], capture_output=True, cwd=PROJECT_ROOT, check=True).stdout
    found = []
    for rel in files.decode().split("\0"):
        path = PROJECT_ROOT / rel
        if not rel or not path.is_file() or path == PROJECT_ROOT / "tests" / "test_structure.py":
            continue
        data = path.read_bytes()
        if b"\0" in data[:4096]:
            continue  # an image or a PDF
        text = data.decode("utf-8", errors="replace")
        found += [f"{rel}: {needle}" for needle in OUTSIDE if needle in text]
    assert found == []
