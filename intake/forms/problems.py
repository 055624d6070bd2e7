"""A problem found in a template file: which file, where in it, and why (what `intake templates
check` prints). Its own module so that every module that checks templates can report problems
without importing the registry that loads them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    file: str  # relative to the templates root, e.g. "child_protection/v1.yaml"
    path: str  # key path inside the file, e.g. "pages[0].fields[3].box"; "" for the whole file
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.reason}" if self.path else f"{self.file}: {self.reason}"
