"""The one place Tesseract is called: `TesseractEngine`, a `contract.PageEngine`.

It keeps one tesserocr API per language loaded for the life of the process (a field then costs
~15-30 ms instead of ~150 ms of process start and model load, see OCR-NOTES.md), takes a grey
uint8 numpy image of one line (or one character) and returns an `OcrResult`. Every failure of
Tesseract becomes an `OcrEngineError` (tesserocr raises ``RuntimeError``), a recognition past the
time limit an `OcrTimeout`, as `contract` says. OMP_THREAD_LIMIT=1 is set before Tesseract loads
(`intake.config.limit_ocr_threads`): OpenMP makes every call ~5x slower on small machines.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from intake.config import limit_ocr_threads
from intake.errors import OcrEngineError, OcrTimeout
from intake.pipeline.engines.contract import (
    PSM_SINGLE_LINE,
    OcrResult,
    Symbol,
)

TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
PACKAGE_OF = {"chi_tra": "tesseract-ocr-chi-tra", "eng": "tesseract-ocr-eng"}

def find_tessdata(explicit: Path | None = None) -> str:
    if explicit:
        return str(explicit)
    env = os.environ.get("TESSDATA_PREFIX")
    if env and Path(env).is_dir():
        return env
    for c in TESSDATA_CANDIDATES:
        if Path(c, "eng.traineddata").is_file():
            return c
    raise OcrEngineError("Tesseract language data not found; install tesseract-ocr and tesseract-ocr-chi-tra")


def _check_lang(tessdata: str, lang: str) -> None:
    for part in lang.split("+"):
        if not Path(tessdata, f"{part}.traineddata").is_file():
            pkg = PACKAGE_OF.get(part, f"tesseract-ocr-{part.replace('_', '-')}")
            raise OcrEngineError(f"Tesseract has no {part!r} language data in {tessdata}; install {pkg}")


class TesseractEngine:
    """Tesseract kept loaded (tesserocr). One instance per thread: the APIs are not thread-safe."""

    name = "tesserocr"

    def __init__(self, tessdata: Path | None = None, timeout_s: float = 30.0) -> None:
        limit_ocr_threads()
        self.tessdata = find_tessdata(tessdata)
        self.timeout_ms = int(timeout_s * 1000)
        self._apis: dict[str, object] = {}

    def _api(self, lang: str):
        api = self._apis.get(lang)
        if api is None:
            import tesserocr

            _check_lang(self.tessdata, lang)
            try:
                # Tesseract's dictionaries "correct" names and IDs into words: not loaded (these
                # two can only be set when the model loads). Forms have no white-on-black
                # writing: no second, inverted recognition of every doubtful line (Tesseract 5
                # does one by default; it was slower and its winners were garbage at confidence 0).
                api = tesserocr.PyTessBaseAPI(path=self.tessdata, lang=lang, psm=tesserocr.PSM.SINGLE_LINE,
                                              variables={"load_system_dawg": "0", "load_freq_dawg": "0", "tessedit_do_invert": "0"})
            except RuntimeError as exc:
                raise OcrEngineError(f"Tesseract could not load {lang!r}: {exc}") from exc
            self._apis[lang] = api
        return api

    def read(self, image: np.ndarray, *, lang: str, psm: int = PSM_SINGLE_LINE, whitelist: str | None = None,
             symbols: bool = False) -> OcrResult:
        """See `contract.PageEngine.read`."""
        import tesserocr

        _check_image(image)
        api = self._api(lang)
        try:
            api.SetPageSegMode(psm)
            api.SetVariable("tessedit_char_whitelist", whitelist or "")
            _set_image(api, image)
            if not api.Recognize(timeout=self.timeout_ms):
                raise OcrTimeout(f"Tesseract gave up on a field after {self.timeout_ms} ms")
            text = api.GetUTF8Text().strip()
            confs = tuple(float(c) for c in api.AllWordConfidences())
            syms: tuple[Symbol, ...] = ()
            if symbols:
                out = []
                it = api.GetIterator()
                level = tesserocr.RIL.SYMBOL
                for r in tesserocr.iterate_level(it, level):
                    try:
                        t = r.GetUTF8Text(level)
                    except RuntimeError:  # "No text returned": an empty symbol, harmless
                        continue
                    if t:
                        out.append(Symbol(t, float(r.Confidence(level)), tuple(r.BoundingBox(level))))
                syms = tuple(out)
        except RuntimeError as exc:  # tesserocr's errors: Tesseract itself failed
            raise OcrEngineError(f"Tesseract failed reading a field ({lang}): {exc}") from exc
        finally:
            api.Clear()
        return OcrResult(text, confs, syms)

    def close(self) -> None:
        for api in self._apis.values():
            api.End()
        self._apis.clear()


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 2 or image.size == 0:
        shape = "x".join(str(n) for n in image.shape[::-1]) or "nothing"
        raise OcrEngineError(f"Tesseract was given an image it cannot read ({shape}; a grey image is needed)")


def _set_image(api, image: np.ndarray) -> None:
    """Hand an 8-bit grey image to Tesseract as raw bytes: tesserocr's `SetImage(PIL image)` writes a
    BMP in memory first, which cost about a tenth of the time of a field's recognition. 96 dpi is
    what that BMP declared, so results are the same as before."""
    if image.dtype != np.uint8 or image.ndim != 2:
        api.SetImage(Image.fromarray(image))
        return
    h, w = image.shape
    api.SetImageBytes(np.ascontiguousarray(image).tobytes(), w, h, 1, w)
    api.SetSourceResolution(96)


_local = threading.local()


def default_engine() -> TesseractEngine:
    """This thread's engine, created on first use."""
    eng = getattr(_local, "engine", None)
    if eng is None:
        from intake.config import get_settings

        s = get_settings()
        eng = _local.engine = TesseractEngine(s.tessdata_dir, s.ocr_timeout_s)
    return eng
