"""Loading form templates from a folder: ``<root>/<form_id>/v<N>.yaml``.

A broken template never stops the others loading: it is left out of the registry and its
problems are kept, each as ``file: key.path: reason``.

The registry also answers what the reader compares a scan with: where a form's reference scans
are (beside its YAML file), and each template page blank, as a grey image at a resolution
(`Registry.blank_image`), made once per template version and kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import ValidationError

from intake.errors import TemplateError, TemplateNotFound
from intake.forms.model import Template
from intake.forms.problems import Problem

VERSION_FILE = re.compile(r"^v(\d+)\.ya?ml$")


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans (YAML 1.2), so an option may be `yes`/`no`."""


_Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> object:
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("tuple[float, float]",) or "[" in str(part) or part.startswith("function-"):
            continue  # pydantic's name for a union member, not a key
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_problems(file: str, exc: ValidationError) -> list[Problem]:
    out = []
    for e in exc.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "literal_error" and e["loc"] and e["loc"][-1] == "type":
            msg = f"unknown type {e['input']!r}; {msg.lower()}"
        elif e["type"] == "extra_forbidden":
            msg = "unknown key (not part of the template format)"
        out.append(Problem(file, loc_to_path(e["loc"]), msg))
    return out


def parse_template_file(path: Path, rel: str) -> tuple[Template | None, list[Problem]]:
    """Load and check one file. Returns the template only if it has no problems."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(rel, "", f"cannot read the file: {exc}")]
    except yaml.YAMLError as exc:
        return None, [Problem(rel, "", f"not valid YAML: {exc}".replace("\n", " "))]
    if not isinstance(data, dict):
        return None, [Problem(rel, "", "must be a mapping with id, version, title and pages")]
    try:
        template = Template.model_validate(data)
    except ValidationError as exc:
        return None, _pydantic_problems(rel, exc)
    problems = [Problem(rel, p, r) for p, r in template.problems()]
    m = VERSION_FILE.match(path.name)
    if m and int(m.group(1)) != template.version:
        problems.append(Problem(rel, "version", f"is {template.version} but the file is named {path.name}"))
    if path.parent.name != template.id:
        problems.append(Problem(rel, "id", f"is {template.id!r} but the file is in folder {path.parent.name!r}"))
    if template.reference is not None:
        for i, p in enumerate(template.reference.pages):
            if not (path.parent / p).is_file():
                problems.append(Problem(rel, f"reference.pages[{i}]", f"file {p!r} not found"))
    return (None if problems else template), problems


@dataclass(eq=False)  # compared and hashed by identity: the reader's caches are per registry
class Registry:
    root: Path
    templates: dict[tuple[str, int], Template] = field(default_factory=dict)
    files: dict[tuple[str, int], Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _blanks: dict[tuple[str, int, float], np.ndarray] = field(default_factory=dict, repr=False)

    def ids(self) -> list[str]:
        return sorted({k[0] for k in self.templates})

    def versions(self, form_id: str) -> list[int]:
        return sorted(v for i, v in self.templates if i == form_id)

    def get(self, form_id: str, version: int | None = None) -> Template:
        versions = self.versions(form_id)
        if not versions:
            broken = [str(p) for p in self.problems if p.file.startswith(f"{form_id}/")]
            hint = f" (its files have problems: {broken[0]})" if broken else ""
            raise TemplateNotFound(f"no form template {form_id!r}{hint}")
        if version is None:
            version = versions[-1]
        try:
            return self.templates[(form_id, version)]
        except KeyError:
            raise TemplateNotFound(
                f"form {form_id!r} has no version {version} (versions: {', '.join(map(str, versions))})"
            ) from None

    def path_of(self, t: Template) -> Path:
        """The YAML file `t` was loaded from (`TemplateNotFound` if this registry did not load it)."""
        path = self.files.get((t.id, t.version))
        if path is None or self.templates[(t.id, t.version)].fingerprint != t.fingerprint:
            raise TemplateNotFound(f"{t.key} was not loaded by the registry of {self.root}")
        return path

    def reference_scan(self, t: Template, page: int) -> Path:
        """Where the blank scan of page `page` (0-based) of a form in circulation is: the
        template's `reference.pages` are relative to its YAML file."""
        if t.reference is None:
            raise TemplateError(f"{t.key} has no reference scans: it is printed with our marks")
        return self.path_of(t).parent / t.reference.pages[page]

    def blank_image(self, t: Template, page: int, dpi: float) -> np.ndarray:
        """Page `page` (0-based) of the blank form as a grey image at `dpi`: the reference scan of
        a form in circulation, scaled; for our own forms the printed page, rendered from its PDF.
        Made once per template version, page and resolution, and kept (do not change it)."""
        key = (t.fingerprint, page, float(dpi))
        img = self._blanks.get(key)
        if img is None:
            img = self._blanks[key] = self._make_blank(t, page, dpi)
        return img

    def _make_blank(self, t: Template, page: int, dpi: float) -> np.ndarray:
        if t.reference is None:
            from intake.forms.render import blank_page  # reportlab and pdfium, loaded when needed

            return np.asarray(blank_page(t, page, int(round(dpi))))
        import cv2

        path = self.reference_scan(t, page)
        scan = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if scan is None:
            raise TemplateError(f"{t.key}: the reference scan {path.name} cannot be read")
        scale = dpi / t.reference.dpi
        return cv2.resize(scan, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    def all(self) -> list[Template]:
        return [self.templates[k] for k in sorted(self.templates)]


def template_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.glob("*/v*.y*ml") if VERSION_FILE.match(p.name))


def load_registry(root: Path) -> Registry:
    if not root.exists():
        raise TemplateError(f"templates folder {root} does not exist")
    reg = Registry(root=root)
    base = root.parent if root.is_file() else root
    for path in template_files(root):
        rel = path.relative_to(base.parent if root.is_file() else base).as_posix()
        template, problems = parse_template_file(path, rel)
        reg.problems.extend(problems)
        if template is None:
            continue
        key = (template.id, template.version)
        if key in reg.templates:
            reg.problems.append(Problem(rel, "version", f"{template.key} is defined twice"))
            continue
        reg.templates[key] = template
        reg.files[key] = path
    from intake.forms.revisions import check_revisions

    reg.problems.extend(check_revisions(reg))
    return reg


@lru_cache(maxsize=4)
def _cached(root: str) -> Registry:
    return load_registry(Path(root))


def registry_at(root: Path) -> Registry:
    """The registry of a templates folder, loaded once per process."""
    return _cached(str(root.resolve()))


def default_registry() -> Registry:
    """The registry of the configured templates folder, loaded once per process."""
    from intake.config import get_settings

    return registry_at(get_settings().templates_dir)
