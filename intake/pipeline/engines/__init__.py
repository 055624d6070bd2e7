"""OCR engines: `tesseract` is the only module that calls Tesseract, `ppocr` the only one that
runs PP-OCR; `contract` says what the reader may expect of an engine (and a test's fake engine
must do)."""
