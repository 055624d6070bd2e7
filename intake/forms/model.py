"""The form template format (see form_templates/README.md) as pydantic models.

All geometry is in millimetres from the top-left corner of the page; a box is ``[x, y, w, h]``.
Structural problems (unknown keys, wrong types, unknown field type) are found by pydantic when a
file is loaded; problems that need the whole template (duplicate names, boxes off the page or
overlapping, dangling references) are found by `Template.problems()`. Both report a key path such
as ``pages[0].fields[3].box`` so an author can find the line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    model_validator,
)
from pydantic import (
    Field as PField,
)

from intake.forms.check import template_problems  # check imports this module for types only

_CELL_PATH = re.compile(r"^(\w+)\[(\d+)\]\.(\w+)$")
Name = Annotated[str, PField(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
# A choice option's value: a name, or a questionnaire's own answer code ("1", "2", "-1", "A3"),
# which imported forms keep so that records match the questionnaire's codebook.
OptionValue = Annotated[str, PField(pattern=r"^-?[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]

FieldType = Literal[
    "text",
    "name",
    "address",
    "national_id",
    "date",
    "phone",
    "number",
    "checkbox",
    "choice",
    "signature",
    "table",
]
TEXT_TYPES = frozenset({"text", "name", "address", "national_id", "date", "phone", "number"})
MARK_TYPES = frozenset({"checkbox", "choice"})

PAPER_SIZES_MM: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
    "A5": (148.0, 210.0),
    "Letter": (215.9, 279.4),
    "Legal": (215.9, 355.6),
}


def _check_box(v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x, y, w, h = v
    if w <= 0 or h <= 0:
        raise ValueError("width and height must be positive")
    if x < 0 or y < 0:
        raise ValueError("x and y must not be negative (origin is the page's top-left corner)")
    return v


Box = Annotated[tuple[float, float, float, float], AfterValidator(_check_box)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Strict):
    zh: str | None = None
    en: str | None = None

    @model_validator(mode="after")
    def _one_language(self) -> Label:
        if not (self.zh or self.en):
            raise ValueError("a label needs zh or en text")
        return self

    def text(self, sep: str = " ") -> str:
        return sep.join(t for t in (self.zh, self.en) if t)


class Option(Strict):
    value: OptionValue
    label: Label
    box: Box
    text_field: Name | None = None  # the "other: ___" text field filled when this is marked


class OcrHints(Strict):
    """Per-field overrides of the reader's defaults for the field's type."""

    lang: str | None = None  # e.g. "eng", "chi_tra"
    whitelist: str | None = None


class Field(Strict):
    name: Name
    label: Label
    type: FieldType
    box: Box | None = None  # the writing area; for a choice, optional (the options carry boxes)
    label_box: Box | None = None  # where the label is printed; default: beside the box
    hint: Label | None = None  # small print under the box, e.g. a date format
    required: bool = False
    cells: int | None = PField(None, ge=2, le=40)  # printed comb of character cells
    lines: int = PField(1, ge=1, le=30)  # ruled writing lines inside the box
    max_length: int | None = PField(None, ge=1)
    # The values usually written here (e.g. a relation: 本人, 配偶, 長子): a reading outside the list
    # is kept but goes to review (`<type>.unexpected_value`), so a misread like 本入 is not accepted.
    expected: list[str] = []
    # checkbox / choice
    multiple: bool = False
    options: list[Option] = []
    fill_cancels: bool = False  # a fully filled box means "cancelled", not "marked"
    # "box": an empty printed square, marked by any ink inside it (our forms, queXF).
    # "bubble": a printed circle with a letter or digit inside (OMR sheets), marked by filling it;
    # read relative to the other bubbles of the same field.
    mark_style: Literal["box", "bubble"] = "box"
    # table: rows repeated every row_pitch mm below the columns' boxes (which are row 0)
    rows: int | None = PField(None, ge=1, le=100)
    row_pitch: float | None = PField(None, gt=0)
    columns: list[Field] = []
    ocr: OcrHints | None = None

    @model_validator(mode="after")
    def _type_rules(self) -> Field:
        t = self.type
        if t == "choice":
            if len(self.options) < 2:
                raise ValueError("a choice needs at least two options")
        elif self.options:
            raise ValueError(f"options are only allowed on a choice, not on {t}")
        if t == "table":
            if not (self.rows and self.row_pitch and self.columns):
                raise ValueError("a table needs rows, row_pitch and columns")
            for c in self.columns:
                if c.type in ("table", "choice"):
                    raise ValueError(f"a table column cannot be a {c.type}")
        elif self.rows or self.row_pitch or self.columns:
            raise ValueError("rows, row_pitch and columns are only allowed on a table")
        if t not in ("choice", "table") and self.box is None:
            raise ValueError(f"a {t} field needs a box")
        if self.cells and t not in TEXT_TYPES:
            raise ValueError(f"cells are only allowed on text-like fields, not on {t}")
        if self.cells and self.lines > 1:
            raise ValueError("a field has either cells or several lines, not both")
        if self.expected and t not in ("text", "name"):
            raise ValueError(f"expected values are only allowed on a text or name field, not on {t}")
        if self.multiple and t != "choice":
            raise ValueError("multiple is only allowed on a choice")
        if self.fill_cancels and t not in MARK_TYPES:
            raise ValueError("fill_cancels is only allowed on a checkbox or choice")
        if self.mark_style != "box" and t not in MARK_TYPES:
            raise ValueError("mark_style is only allowed on a checkbox or choice")
        return self

    def option(self, value: str) -> Option:
        for o in self.options:
            if o.value == value:
                return o
        raise KeyError(value)

    def area(self) -> tuple[float, float, float, float]:
        """The field's bounding box: its box, or the union of its options' or columns' boxes."""
        if self.box is not None and self.type != "table":
            return self.box
        boxes = [o.box for o in self.options]
        if self.type == "table":
            assert self.rows and self.row_pitch
            last = (self.rows - 1) * self.row_pitch
            for c in self.columns:
                assert c.box is not None
                boxes += [c.box, (c.box[0], c.box[1] + last, c.box[2], c.box[3])]
        x0 = min(b[0] for b in boxes)
        y0 = min(b[1] for b in boxes)
        x1 = max(b[0] + b[2] for b in boxes)
        y1 = max(b[1] + b[3] for b in boxes)
        return (x0, y0, x1 - x0, y1 - y0)


class Section(Strict):
    title: Label
    box: Box


class Text(Strict):
    text: str
    at: tuple[float, float]  # baseline-left point, mm
    size: float = PField(9.0, gt=2, le=40)  # points
    bold: bool = False


class Page(Strict):
    fields: list[Field] = []
    sections: list[Section] = []
    texts: list[Text] = []


class When(Strict):
    field: Name
    equals: str | bool | int


class Rule(Strict):
    check: Literal["not_after", "required_if", "at_least_one"]
    fields: list[Name] = PField(min_length=1)
    when: When | None = None
    message: Label

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        if self.check == "not_after" and len(self.fields) != 2:
            raise ValueError("not_after compares exactly two date fields: [earlier, later]")
        if self.check == "required_if" and self.when is None:
            raise ValueError("required_if needs when: {field, equals}")
        return self


class UrgentWhen(Strict):
    """One condition that makes a record urgent (reviewed first): a field (or computed value)
    `equals` a value (for a multiple choice: contains it), or a number is `at_least` this."""

    field: Name
    equals: str | bool | int | None = None
    at_least: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> UrgentWhen:
        if (self.equals is None) == (self.at_least is None):
            raise ValueError("give exactly one of equals or at_least")
        return self


class Computed(Strict):
    """A value the record carries that nobody writes on paper, derived from read fields."""

    name: Name
    label: Label
    count: list[Name] = PField(min_length=1)  # number of these fields whose value equals `equals`
    equals: str | bool


class Reference(Strict):
    """Blank scans of a form already in circulation (no marks, no QR): one image per page."""

    pages: list[str] = PField(min_length=1)  # paths relative to the template file
    dpi: float = PField(gt=50, le=1200)


class Revises(Strict):
    """How this version's fields map to the previous version's (see `intake.forms.revisions`):
    fields renamed (new name: previous name) and option values renamed per choice field (new
    value: previous value). Fields not named keep their name; a name that exists in only one of
    the two versions was added or removed."""

    version: int = PField(ge=1)
    fields: dict[Name, Name] = {}
    options: dict[Name, dict[OptionValue, OptionValue]] = {}
    note: Label | None = None  # the changelog entry, in words


class Statistics(Strict):
    """What the open statistics count a record by (`intake.stats`); each defaults as shown there:
    the month of a date field, the county or city of an address field, and the report category:
    one choice field (its options are the categories) or several (each field a category)."""

    month: Name | None = None
    county: Name | None = None
    category: list[Name] = []


class Template(Strict):
    id: Name
    version: int = PField(ge=1)
    title: Label
    paper: Literal["A4", "A3", "A5", "Letter", "Legal"] | tuple[float, float] = "A4"
    languages: list[str] = ["chi_tra", "eng"]
    description: str | None = None
    source: str | None = None  # where the form comes from (law, agency, revision date)
    marks: bool = True  # printed with our registration marks and QR code
    reference: Reference | None = None
    pages: list[Page] = PField(min_length=1)
    rules: list[Rule] = []
    computed: list[Computed] = []
    urgent_when: list[UrgentWhen] = []  # any of these makes a record urgent in the review queue
    revises: Revises | None = None  # the previous version and how fields map to it
    statistics: Statistics | None = None  # what the open statistics count records by

    @model_validator(mode="after")
    def _marks_or_reference(self) -> Template:
        if not self.marks and self.reference is None:
            raise ValueError("a template without marks needs a reference: blank scans to match")
        if self.reference is not None and len(self.reference.pages) != len(self.pages):
            raise ValueError("reference.pages must list one blank scan per page")
        if self.revises is not None and self.revises.version >= self.version:
            raise ValueError("revises.version must be an earlier version than this one")
        return self

    # -- identity -------------------------------------------------------------------------
    @cached_property
    def fingerprint(self) -> str:
        """A hash of the template's content: two templates with the same key and different
        content (an edited file) never share cached renderings or reference features."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def __hash__(self) -> int:  # lists inside make the default frozen-model hash fail
        return hash(self.fingerprint)

    # -- geometry -------------------------------------------------------------------------
    @property
    def page_size_mm(self) -> tuple[float, float]:
        if isinstance(self.paper, str):
            return PAPER_SIZES_MM[self.paper]
        return self.paper

    @property
    def key(self) -> str:
        return f"{self.id}/v{self.version}"

    # -- fields ---------------------------------------------------------------------------
    def fields(self) -> Iterator[tuple[int, Field]]:
        """Top-level fields with their 0-based page index, in reading order."""
        for i, page in enumerate(self.pages):
            for f in page.fields:
                yield i, f

    def field(self, name: str) -> Field:
        for _, f in self.fields():
            if f.name == name:
                return f
        raise KeyError(name)

    def field_at(self, path: str) -> Field:
        """The field a value's path names: a field name, or ``table[row].column`` for a table cell
        (the column's definition). KeyError for a path the template does not have."""
        m = _CELL_PATH.match(path)
        if m is None:
            return self.field(path)
        table = self.field(m.group(1))
        for c in table.columns:
            if c.name == m.group(3) and table.rows is not None and int(m.group(2)) < table.rows:
                return c
        raise KeyError(path)

    def slots(self) -> Iterator[Slot]:
        """Every place a value is read from, tables expanded into one slot per cell.

        A slot's `path` is the key of the value in a reading result: the field name, or
        ``table[row].column`` for a table cell (row from 0).
        """
        for page, f in self.fields():
            if f.type == "table":
                assert f.rows and f.row_pitch
                for r in range(f.rows):
                    dy = r * f.row_pitch
                    for c in f.columns:
                        assert c.box is not None
                        x, y, w, h = c.box
                        yield Slot(f"{f.name}[{r}].{c.name}", c, page, (x, y + dy, w, h), f, r)
            else:
                yield Slot(f.name, f, page, f.area(), None, None)

    def value_names(self) -> list[str]:
        """Top-level keys of a record's data: fields, then computed values."""
        return [f.name for _, f in self.fields()] + [c.name for c in self.computed]

    def problems(self) -> list[tuple[str, str]]:
        return template_problems(self)


@dataclass(frozen=True)
class Slot:
    path: str
    field: Field
    page: int
    box: tuple[float, float, float, float]
    table: Field | None
    row: int | None


def load_template_data(data: Any) -> Template:
    return Template.model_validate(data)
