"""Words and icons the clerk pages show, in Traditional Chinese with English.

One source for both renderers: the Jinja templates use these dicts directly, and the batch page
embeds `client_labels()` as JSON so its script renders live updates with the same words and icons.
Every status has an icon *and* a word (never colour alone).
"""

from __future__ import annotations

import math
from typing import Any

# Icons: 16 x 16 inline SVG, drawn in the current text colour, hidden from screen readers (the word
# next to them says the same). Only trusted constant markup here: the page script inserts it as HTML.
_SVG = ('<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">'
        '{}</svg>')
ICONS = {
    "clock": _SVG.format('<circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.6"/>'
                         '<path d="M8 4.2V8l2.6 1.7" fill="none" stroke="currentColor" stroke-width="1.6"/>'),
    "gear": _SVG.format('<circle cx="8" cy="8" r="2.4" fill="none" stroke="currentColor" stroke-width="1.6"/>'
                        '<path d="M8 1.5v2.2M8 12.3v2.2M1.5 8h2.2M12.3 8h2.2M3.4 3.4l1.6 1.6M11 11l1.6 1.6'
                        'M3.4 12.6 5 11M11 5l1.6-1.6" stroke="currentColor" stroke-width="1.6"/>'),
    "check": _SVG.format('<circle cx="8" cy="8" r="7" fill="currentColor"/>'
                         '<path d="M4.6 8.3 7 10.6l4.4-4.8" fill="none" stroke="#fff" stroke-width="1.8"/>'),
    "question": _SVG.format('<circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.6"/>'
                            '<path d="M6.1 6.2a2 2 0 1 1 2.6 1.9c-.5.2-.7.6-.7 1.1v.6" fill="none" '
                            'stroke="currentColor" stroke-width="1.6"/><circle cx="8" cy="11.7" r="1" '
                            'fill="currentColor"/>'),
    "warning": _SVG.format('<path d="M8 1.5 15 14H1z" fill="none" stroke="currentColor" stroke-width="1.6" '
                           'stroke-linejoin="round"/><path d="M8 6v4" stroke="currentColor" stroke-width="1.6"/>'
                           '<circle cx="8" cy="12" r=".9" fill="currentColor"/>'),
    "cross": _SVG.format('<circle cx="8" cy="8" r="7" fill="currentColor"/>'
                         '<path d="m5.3 5.3 5.4 5.4m0-5.4-5.4 5.4" stroke="#fff" stroke-width="1.8"/>'),
    "stop": _SVG.format('<circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.6"/>'
                        '<path d="m3.5 12.5 9-9" stroke="currentColor" stroke-width="1.6"/>'),
    "sheet": _SVG.format('<path d="M3.5 1.5h6l3 3v10h-9z" fill="none" stroke="currentColor" stroke-width="1.6" '
                         'stroke-linejoin="round"/>'),
    "aside": _SVG.format('<path d="M2 4.5h12M2 8h7M2 11.5h5" stroke="currentColor" stroke-width="1.6"/>'
                         '<path d="m10.5 9.5 3.5 2-3.5 2z" fill="currentColor"/>'),
    "copy": _SVG.format('<rect x="5" y="5" width="9" height="9.5" rx="1" fill="none" stroke="currentColor" '
                        'stroke-width="1.6"/><path d="M3 11V2.5h8" fill="none" stroke="currentColor" '
                        'stroke-width="1.6"/>'),
}

# status -> (icon, tone for CSS, 中文, English)
PAGE_STATUS: dict[str, tuple[str, str, str, str]] = {
    "queued": ("clock", "wait", "等待中", "Waiting"),
    "processing": ("gear", "busy", "讀取中", "Reading"),
    "read": ("check", "ok", "已讀取", "Read"),
    "unidentified": ("question", "bad", "無法辨識表單", "Form not recognised"),
    "unregistered": ("warning", "bad", "無法對準表單", "Could not line up"),
    "unreadable_file": ("cross", "bad", "無法開啟", "Could not open"),
    "blank": ("sheet", "wait", "空白頁", "Blank page"),
    "failed": ("cross", "bad", "讀取失敗", "Failed"),
    "cancelled": ("stop", "off", "已取消", "Cancelled"),
    "set_aside": ("aside", "off", "已略過", "Set aside"),
}
# A read page is shown green only when its record needs nobody; otherwise its record's status
# is shown beside it (the page's own status stays its processing state).
RECORD_DONE = ("accepted", "approved")
BATCH_STATUS: dict[str, tuple[str, str, str, str]] = {
    "processing": ("gear", "busy", "處理中", "Processing"),
    "done": ("check", "ok", "已完成", "Done"),
    "cancelled": ("stop", "off", "已取消", "Cancelled"),
}
# A batch whose pages are all read but where something still needs a person is not shown as
# done (its status stays "done": the processing state).
BATCH_DONE_OPEN = ("warning", "wait", "已讀完，待處理", "Read; needs a person")
FILE_STATUS: dict[str, tuple[str, str, str, str]] = {
    "accepted": ("check", "ok", "已接受", "Accepted"),
    "duplicate": ("copy", "off", "重複的檔案", "Duplicate"),
    "refused": ("cross", "bad", "未接受", "Refused"),
}
RECORD_STATUS: dict[str, tuple[str, str, str, str]] = {
    "accepted": ("check", "ok", "已接受", "Accepted"),
    "needs_review": ("warning", "wait", "待人工確認", "Needs review"),
    "approved": ("check", "ok", "已核可", "Approved"),
    "rejected": ("cross", "bad", "已退件", "Rejected"),
    "superseded": ("stop", "off", "已被取代", "Superseded"),
}
# Pages that can be read again from the batch page: final, and not read.
RERUNNABLE = ("unidentified", "unregistered", "unreadable_file", "failed", "set_aside")
FINAL = ("read", "unidentified", "unregistered", "unreadable_file", "blank", "failed", "cancelled", "set_aside")
# Pages a supervisor places (template, four corners) or sets aside; and pages that are problems
# (mirrored by `service.problem_condition` and `isProblem` in batch.js).
PLACEABLE = ("unidentified", "unregistered", "blank", "set_aside")
SETTABLE_ASIDE = ("unidentified", "unregistered", "blank", "unreadable_file", "failed")
PROBLEM = ("unidentified", "unregistered", "blank", "unreadable_file", "failed")
WITH_THUMBNAIL = ("unidentified", "unregistered", "blank", "set_aside")

# What a reason code means for the clerk and what to do, in Chinese; the English sentence shown
# beside it is the server's own message when there is one (it is more specific), else this one.
REASONS: dict[str, tuple[str, str]] = {
    "unidentified": ("找不到表單的 QR 碼或定位標記。請確認這是本系統的通報表、方向正確，再重新掃描。",
                     "No form code or registration marks were found. Check that this is one of our forms, "
                     "then scan it again."),
    "unregistered": ("認出了表單，但無法對準表格線（可能歪斜、折到或被裁切）。請放平後重新掃描。",
                     "The form was recognised but could not be lined up with its layout. Scan it again, "
                     "flat and straight."),
    "unreadable_file": ("檔案無法開啟。請重新掃描或重新匯出。", "The file could not be opened. Scan or export it again."),
    "blank": ("這一頁是空白的（例如雙面掃描的背面）。督導可以略過它。",
              "This page is blank (the back of a sheet scanned on both sides, say). A supervisor can set it aside."),
    "placement_invalid": ("無法用這個位置讀取這一頁。", "The page cannot be placed like this."),
    "corrupt_file": ("檔案已損壞或不完整。請重新掃描或重新匯出。", "The file is damaged or incomplete. Scan or export it again."),
    "unsupported_file_type": ("這不是可讀取的掃描檔。請上傳 PDF、TIFF、PNG 或 JPEG。",
                              "This is not a scan we can read. Upload PDF, TIFF, PNG or JPEG files."),
    "empty_file": ("檔案是空的。", "The file is empty."),
    "file_too_large": ("檔案太大。請分成幾個較小的檔案上傳。", "The file is too large. Split it into smaller files."),
    "too_many_pages": ("檔案頁數太多。請分成幾個較小的檔案上傳。", "The file has too many pages. Split it."),
    "upload_too_large": ("這次上傳的檔案合計太大。請分批上傳。", "This upload is too large in all. Upload the files in parts."),
    "over_budget": ("檔案的頁數或像素總量超過上限。請分成較小的檔案或另一批上傳，並以 300 dpi 掃描。",
                    "The file has too many pages or pixels in all. Split it, upload it in another batch, or "
                    "scan at 300 dpi."),
    "too_many_uploads": ("上傳太頻繁或數量太多。請稍後再試。", "Too many uploads for now. Try again later."),
    "too_many_files": ("一次上傳的檔案太多。請分批上傳。", "Too many files in one upload. Upload them in parts."),
    "page_too_large": ("頁面尺寸或像素過大。請以 300 dpi 掃描。", "The page is too large. Scan at 300 dpi."),
    "page_too_small": ("頁面太小或解析度太低。請以 300 dpi 掃描。", "The page is too small. Scan at 300 dpi."),
    "encrypted_file": ("PDF 有密碼保護。請另存為沒有密碼的檔案。", "The PDF is password-protected. Save it without a password."),
    "ocr_engine_failed": ("文字辨識程式出錯，不是掃描的問題。請按「重新讀取」；仍失敗請通知管理員。",
                          "The reading software failed (not the scan). Re-run the page; tell an administrator "
                          "if it fails again."),
    "too_many_attempts": ("讀取這一頁多次中斷。請檢查掃描，再按「重新讀取」。",
                          "Reading this page was interrupted several times. Check the scan, then re-run it."),
    "original_missing": ("找不到原始檔案。請重新上傳。", "The original file is missing. Upload it again."),
    "template_invalid": ("表單範本有問題。請通知管理員。", "The form template has a problem. Tell an administrator."),
    "template_not_found": ("找不到這份表單的範本。請通知管理員。", "This form's template is missing. Tell an administrator."),
    "failed": ("讀取失敗。請按「重新讀取」；仍失敗請通知管理員。", "Reading failed. Re-run the page; tell an administrator "
               "if it fails again."),
    "internal_error": ("發生未預期的錯誤。請按「重新讀取」；仍失敗請通知管理員。",
                       "An unexpected error stopped the reading. Re-run the page; tell an administrator if it "
                       "fails again."),
    "timeout": ("讀取這一頁超過時間限制。請檢查掃描，再按「重新讀取」。",
                "Reading this page took too long. Check the scan, then re-run it."),
    "not_authenticated": ("請重新登入。", "Please sign in again."),
    "forbidden": ("您沒有這項權限。", "You do not have permission for this."),
    "not_found": ("找不到。", "Not found."),
    "conflict": ("現在無法這樣做。", "This cannot be done now."),
    "invalid_request": ("要求不正確。", "The request is not valid."),
}


def sentence(message: str | None) -> str:
    """The server's message as a sentence: capital first letter, final full stop."""
    text = (message or "").strip()
    if not text:
        return ""
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():  # a word, not a file name such as "scan-2.pdf:"
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?。" else text + "."


def reason(code: str | None, message: str | None, status: str | None = None) -> dict[str, str] | None:
    """{zh, en, code} for an error, or None when there is none."""
    if not code and not message:
        return None
    zh, en = REASONS.get(code or "", REASONS.get(status or "", ("無法讀取。", "This could not be read.")))
    return {"zh": zh, "en": sentence(message) or en, "code": code or status or ""}


def badge(table: dict[str, tuple[str, str, str, str]], status: str) -> dict[str, str]:
    icon, tone, zh, en = table.get(status, ("question", "off", status, status))
    return {"icon": ICONS[icon], "tone": tone, "zh": zh, "en": en, "status": status}


def eta_text(eta_seconds: float | None, done: int, total: int) -> tuple[str, str]:
    """(中文, English) for the time left. Mirrors `etaText` in batch.js."""
    if total and done >= total:
        return "全部完成", "all pages done"
    if eta_seconds is None:
        return "估算中…（第一頁讀完後就有預估）", "estimating… (an estimate follows the first page read)"
    if eta_seconds < 60:
        return "剩不到 1 分鐘", "less than a minute left"
    minutes = math.ceil(eta_seconds / 60)
    if minutes < 60:
        return f"約剩 {minutes} 分鐘", f"about {minutes} minute{'s' if minutes != 1 else ''} left"
    hours, rest = divmod(minutes, 60)
    zh = f"約剩 {hours} 小時" + (f" {rest} 分鐘" if rest else "")
    en = f"about {hours} hour{'s' if hours != 1 else ''}" + (
        f" {rest} minute{'s' if rest != 1 else ''}" if rest else "") + " left"
    return zh, en


def human_size(n: int) -> str:
    """Mirrors `humanSize` in upload.js."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def upload_labels() -> dict[str, Any]:
    """What upload.js needs: the reasons and the file statuses."""
    return {"reasons": {k: {"zh": zh, "en": en} for k, (zh, en) in REASONS.items()},
            "file_status": {k: badge(FILE_STATUS, k) for k in FILE_STATUS}}


def batch_badge(status: str, problems: int = 0) -> dict[str, str]:
    if status == "done" and problems:
        icon, tone, zh, en = BATCH_DONE_OPEN
        return {"icon": ICONS[icon], "tone": tone, "zh": zh, "en": en, "status": status}
    return badge(BATCH_STATUS, status)


def page_badge(status: str, record_status: str | None = None) -> dict[str, str]:
    """The page's status; a read page whose record still needs a person is not shown green."""
    b = badge(PAGE_STATUS, status)
    if status == "read" and record_status not in RECORD_DONE:
        b["tone"] = "off"
    return b


def client_labels() -> dict[str, Any]:
    """What batch.js needs to render a row or the progress exactly as the server does."""
    return {
        "page_status": {k: badge(PAGE_STATUS, k) for k in PAGE_STATUS},
        "batch_status": {k: badge(BATCH_STATUS, k) for k in BATCH_STATUS},
        "batch_done_open": batch_badge("done", 1),
        "record_status": {k: badge(RECORD_STATUS, k) for k in RECORD_STATUS},
        "reasons": {k: {"zh": zh, "en": en} for k, (zh, en) in REASONS.items()},
        "rerunnable": list(RERUNNABLE),
        "final": list(FINAL),
        "placeable": list(PLACEABLE),
        "settable_aside": list(SETTABLE_ASIDE),
        "problem": list(PROBLEM),
        "with_thumbnail": list(WITH_THUMBNAIL),
        "record_done": list(RECORD_DONE),
    }
