"""Loading files into pages (intake.pipeline.load): types judged by content, limits checked
before decoding, named errors for bad input, fax resolutions made square."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from intake.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedFile,
    PageTooLarge,
    PageTooSmall,
    UnsupportedFileType,
)
from intake.pipeline.load import count_pages, iter_pages, load_page
from tests.pipeline.conftest import png_bytes, truth


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_bad_files_get_named_errors() -> None:
    with pytest.raises(EmptyFile):
        count_pages(b"")
    with pytest.raises(UnsupportedFileType, match="text file"):
        count_pages(b"name,id\nWang,A123456789\n")
    with pytest.raises(UnsupportedFileType, match="ZIP"):
        count_pages(b"PK\x03\x04rest-of-a-docx")
    with pytest.raises(CorruptFile):
        count_pages(b"%PDF-1.7\n garbage that is no pdf")


def test_a_decompression_bomb_is_refused_without_decoding() -> None:
    import tracemalloc

    bomb = _png_header_only(100_000, 100_000)  # 10 gigapixels claimed in 100 bytes
    tracemalloc.start()
    with pytest.raises(PageTooLarge) as exc:
        list(iter_pages(bomb, "bomb.png"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert exc.value.code == "page_too_large"
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MB allocated for a refused file"


def test_a_page_over_our_pixel_limit_is_refused_on_that_page_only() -> None:
    # 12000 x 9000 = 108 megapixels: under Pillow's bomb limit, over ours (80)
    big = _png_header_only(12_000, 9_000)
    [page] = list(iter_pages(big, "big.png"))
    assert isinstance(page.error, PageTooLarge) and "108 megapixels" in page.error.message
    assert page.image is None


def test_tiny_and_truncated_images_are_marked_per_page() -> None:
    [tiny] = list(iter_pages(png_bytes(np.zeros((1, 1), np.uint8)), "tiny.png"))
    assert isinstance(tiny.error, PageTooSmall)
    good = png_bytes(np.full((800, 600), 255, np.uint8))
    [trunc] = list(iter_pages(good[: len(good) // 3], "cut.png"))
    assert isinstance(trunc.error, CorruptFile) and "damaged or incomplete" in trunc.error.message


def test_an_encrypted_pdf_is_named() -> None:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt="secret")
    c.drawString(100, 100, "x")
    c.save()
    with pytest.raises(EncryptedFile, match="password"):
        list(iter_pages(buf.getvalue(), "locked.pdf"))


def test_a_huge_pdf_page_is_refused_before_rendering() -> None:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(200 * 72, 200 * 72))  # a 200-inch page
    c.drawString(100, 100, "x")
    c.showPage()
    c.setPageSize((595, 842))
    c.drawString(100, 100, "an ordinary A4 page")
    c.save()
    pages = list(iter_pages(buf.getvalue(), "huge.pdf"))
    assert isinstance(pages[0].error, PageTooLarge) and "5080 x 5080 mm" in pages[0].error.message
    assert pages[1].error is None and abs(pages[1].image.shape[0] - 3508) <= 1 and pages[1].image.shape[1] == 2480


def test_fax_resolution_is_made_square(tmp_path: Path) -> None:
    img = Image.new("1", (1728, 1100), 1)  # a 204 x 98 dpi fax page: ~215 x 285 mm
    f = tmp_path / "fax.tif"
    img.save(f, dpi=(204, 98), compression="group4")
    [page] = list(iter_pages(f, f.name))
    assert page.dpi == pytest.approx(204) and page.dpi_from_file
    assert page.image.shape == (round(1100 * 204 / 98), 1728)


def test_load_page_reads_only_the_page_asked_for(clean_cp: Path, tmp_path: Path) -> None:
    tr = truth(clean_cp, 1)
    imgs = [Image.open(clean_cp / f).convert("L") for f in tr["files"]]
    tif = tmp_path / "two.tif"
    imgs[0].save(tif, save_all=True, append_images=imgs[1:], dpi=(300, 300))
    assert count_pages(tif) == ("tiff", 2)
    second = load_page(tif, "two.tif", 2)
    assert second.index == 2 and np.array_equal(second.image, np.asarray(imgs[1]))

