"""OCR engines. `tesseract` is the only module that calls Tesseract."""
