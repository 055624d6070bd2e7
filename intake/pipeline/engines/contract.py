"""What the reader may expect of an OCR engine, and what an engine may and may not do.

Two kinds of engine read text here, each described by a `typing.Protocol` (structural: an engine
does not inherit from it; anything with these methods and this behaviour is one, such as the
fake engines the tests of `read.py` give answers to):

- `PageEngine` (Tesseract, `engines/tesseract.py`): reads an image under page-segmentation
  settings (one line, one character), in a language with an optional character whitelist, and
  can report each symbol with its box.
- `LineRecognizer` (PP-OCRv6, `engines/ppocr.py`): reads one cut-out line of writing, with no
  settings, and gives a text and one score for the line.

What holds for both:

- **Input**: a grey ``uint8`` 2-D array (PP-OCR also takes BGR), dark writing on light paper,
  cut and scaled by the caller (`read.py` decides sizes: they were measured). The engine never
  changes the array it was given.
- **Threads**: an instance is used by one thread at a time (Tesseract's APIs and an onnxruntime
  session are not shared); `default_engine()` / `default_ppocr()` give each thread its own. An
  engine runs on one core: it starts no threads or processes of its own beyond one
  (``OMP_THREAD_LIMIT=1``, one onnxruntime thread), since parallelism comes from worker
  processes.
- **Errors**: a failure of the engine itself (its language data or model missing, a crash
  inside it, an image it cannot take, such as an empty one) raises `OcrEngineError`, chained
  from the cause, with a message saying what to install or what was wrong; a recognition that
  runs past the time limit raises `OcrTimeout` (a subclass: the reader sends that one field to
  review and reads the rest of the page). Nothing else escapes an engine: not tesserocr's
  ``RuntimeError``, not onnxruntime's own exceptions.
- **Empty answers**: a text of ``""`` (with confidence 0) means the engine recognised nothing in
  what it was given. It is an answer, not an error, and not the same as an empty field: the
  reader decides a field is empty from its ink, before any engine is asked.
- **Confidence**: Tesseract's are per word, 0..100, as Tesseract reports them (the reader uses the
  lowest); PP-OCR's score is for the whole line, 0..1. Neither is a probability of being right:
  `confidence.py` maps them to one, per field type, from measurements.
- **Names**: `name` says which engine read a value, in results and reviews ("tesserocr",
  "ppocr", "ppocr_tiny").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

# Tesseract's page segmentation modes the reader uses.
PSM_SINGLE_LINE = 7
PSM_SINGLE_CHAR = 10


@dataclass(frozen=True)
class Symbol:
    text: str
    conf: float  # 0..100
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the input image


@dataclass(frozen=True)
class OcrResult:
    """What a `PageEngine` read: the text, each word's confidence, and (when asked) each symbol."""

    text: str
    word_confs: tuple[float, ...] = ()  # 0..100 per word, as Tesseract reports them
    symbols: tuple[Symbol, ...] = field(default=(), compare=False)

    @property
    def min_conf(self) -> float:
        """The lowest word confidence (the best single predictor of an error); 0 without words."""
        return min(self.word_confs) if self.word_confs else 0.0


@dataclass(frozen=True)
class CharChoice:
    """One character of a line as a recogniser chose it: its probability and the runner-up's
    (another character, or "" for CTC's blank) at the same place."""

    text: str
    prob: float
    alt: str = ""
    alt_prob: float = 0.0

    @property
    def margin(self) -> float:
        return self.prob - self.alt_prob


@dataclass(frozen=True)
class LineResult:
    """What a `LineRecognizer` read: the line's text and its score, and (when the recogniser gives
    them: PP-OCR does) each character of the text with its probability and runner-up."""

    text: str
    score: float  # 0..1: the model's mean character probability for the line
    chars: tuple[CharChoice, ...] = ()  # one per character of `text`, or empty


@runtime_checkable
class PageEngine(Protocol):
    """An engine read with settings: Tesseract. See the module's docstring for what every engine
    may and may not do."""

    name: str

    def read(self, image: np.ndarray, *, lang: str, psm: int = PSM_SINGLE_LINE, whitelist: str | None = None,
             symbols: bool = False) -> OcrResult:
        """Read `image` as `psm` says (one line, one character) in `lang` ("chi_tra", "eng"),
        allowing only the characters of `whitelist` when given; with `symbols`, each recognised
        symbol with its box too. Raises `OcrEngineError` (language data missing, an empty image)
        or `OcrTimeout`."""
        ...


@runtime_checkable
class LineRecognizer(Protocol):
    """A recogniser of one line of writing: PP-OCR. See the module's docstring for what every
    engine may and may not do."""

    name: str

    def read_line(self, image: np.ndarray) -> LineResult:
        """Read one cut-out line. Raises `OcrEngineError` (model missing, an empty image, a
        failure inside the model)."""
        ...
