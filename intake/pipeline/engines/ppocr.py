"""The second, independent reader: PaddleOCR's PP-OCRv6 text-line recogniser through RapidOCR.

Tesseract's `chi_tra` model reads a typed Chinese name exactly about 9 times in 10; PP-OCRv6
(a CTC line recogniser with an 18,708-character dictionary that covers Traditional Chinese, run
by onnxruntime on the CPU) read 339 of 340 in the same measurement (docs/design-notes.md). Two
engines that work differently rarely make the same mistake, so a value both agree on can be
accepted where one engine's confidence could not be trusted; see `read.read_text`.

Only the recogniser is used (no text detection): the reader hands it one cut-out line of writing.
The model ships inside the `rapidocr` wheel from PyPI; nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from intake.errors import OcrEngineError

# Lines are handed over with this much ink height and white border: the model scales every line
# to 48 px high. On 1,536 synthetic fields (seed 3) 28 px of ink read as well as 32 px (1,300 and
# 1,301 of 1,312 typed fields exactly) in 11% less time (narrower lines); 24 px read 1,295.
INK_HEIGHT, PAD = 28, 10


@dataclass(frozen=True)
class LineResult:
    text: str
    score: float  # 0..1: the model's mean character probability for the line


class PPOCREngine:
    """One onnxruntime session, kept loaded; one instance per thread."""

    name = "ppocr"

    def __init__(self, threads: int = 1) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # pragma: no cover - a broken install
            raise OcrEngineError("the rapidocr package is missing; run scripts/setup") from exc
        # one thread per process: workers are one process per core (like OMP_THREAD_LIMIT=1)
        self._ocr = RapidOCR(params={
            "Global.log_level": "error",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            # RapidOCR pads every line to at least 320 px wide (48 x 320 is the training shape);
            # a 3-character name is ~130 px: padding to its own width read the same (1,301 vs
            # 1,300 of 1,312 typed fields) in 28% less time
            "Rec.rec_img_shape": [3, 48, 48],
        })
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)

    def read_line(self, image: np.ndarray) -> LineResult:
        """Read one line of writing (grey or BGR uint8, dark on light). A failure inside the
        recogniser is an `OcrEngineError`, handled like Tesseract's (not the scan's fault)."""
        if image.size == 0:
            raise OcrEngineError(f"PP-OCR was given an empty image ({image.shape[1]}x{image.shape[0]})")
        try:
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            out = self._ocr(image, use_det=False, use_cls=False, use_rec=True)
        except Exception as exc:  # onnxruntime's and RapidOCR's own error types
            raise OcrEngineError(f"PP-OCR failed: {type(exc).__name__}: {exc}") from exc
        texts = [t for t in (out.txts or ()) if t]
        if not texts:
            return LineResult("", 0.0)
        return LineResult("".join(texts).strip(), float(min(out.scores)))


_local = threading.local()


def default_ppocr() -> PPOCREngine:
    """This thread's recogniser, created on first use."""
    eng = getattr(_local, "engine", None)
    if eng is None:
        eng = _local.engine = PPOCREngine()
    return eng
