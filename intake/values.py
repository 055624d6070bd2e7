"""Field values: normalisation and validation for Taiwanese notification forms.

This module is the single place where the text read off a form (or written by the synthetic form
generator) is turned into a canonical value, and where a canonical value is checked:

* ``normalize_*`` turn free text into the canonical value or raise `ValueProblem`;
* ``normalize(field_type, text)`` is the never-raising entry point used by the page reader;
* ``validate(field_type, value)`` checks an already-normalised value (truth files, corrections);
* ``format_*`` / ``generate_*`` produce the spellings and values the synthetic generator prints.

Canonical values: text/name/address -> ``str``; national_id -> ``"A123456789"``;
date -> ISO ``"YYYY-MM-DD"``; phone -> digits only (``"0912345678"``); number -> ``int``/``float``;
checkbox -> ``bool``.

Problem codes (stable, tests and the clerk pages rely on them)::

    text.format, text.not_normalized
    name.empty, name.characters, name.short, name.format, name.not_normalized
    address.empty, address.format, address.not_normalized
    national_id.format, national_id.checksum, national_id.not_normalized
    date.format, date.invalid, date.range
    phone.format, phone.prefix, phone.not_normalized
    number.format
    checkbox.format

Pure Python, standard library only, no I/O.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime

__all__ = [
    "DATE_STYLES",
    "NORMALIZERS",
    "PHONE_STYLES",
    "ValueProblem",
    "format_date",
    "format_phone",
    "generate_national_id",
    "generate_phone",
    "national_id_check_digit",
    "national_id_kind",
    "national_id_sex",
    "normalize",
    "normalize_address",
    "normalize_checkbox",
    "normalize_date",
    "normalize_name",
    "normalize_national_id",
    "normalize_number",
    "normalize_phone",
    "normalize_text",
    "parse_date",
    "validate",
]


class ValueProblem(ValueError):
    """A field value that cannot be accepted.

    `code` is a stable machine code such as ``"national_id.checksum"``; `message` is one short
    English sentence a clerk understands. ``str(problem)`` is the message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ValueProblem({self.code!r}, {self.message!r})"

    def __reduce__(self):  # picklable (Celery ships exceptions between processes)
        return (type(self), (self.code, self.message))


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------

# Folding decision: only full-width ASCII digits and letters (０-９, Ａ-Ｚ, ａ-ｚ) and the ideographic
# space U+3000 are folded to half-width. Full-width punctuation such as （），：is kept as written,
# because the printed forms use it and a clerk expects to see it unchanged.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}
_FOLD.update({cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)})
_FOLD.update({cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)})
_FOLD[0x3000] = 0x20
# Invisible characters OCR and copy/paste leave behind: zero-width space and byte-order mark.
_FOLD[0x200B] = None
_FOLD[0xFEFF] = None

# Han ideographs, as a regex class body: CJK Unified Ideographs with Extension A, the compatibility
# ideographs, and Extensions B-F with the compatibility supplement (rare characters in names). The
# one definition of "a Chinese character" here: the reader (`pipeline.read`), the bigram model and
# the form importers use it through `IDEOGRAPHS` and `is_han`.
IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
# CJK punctuation U+3000..U+303F and the full-width punctuation that is not folded
# (U+FF01..U+FF5E minus digits and letters, plus the full-width/half-width CJK brackets
# U+FF5F..U+FF65).
_CJK_PUNCT = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_CJK_CLASS = f"[{IDEOGRAPHS}{_CJK_PUNCT}]"
_IDEOGRAPH_RE = re.compile(f"[{IDEOGRAPHS}]")
_SPACE_BETWEEN_CJK = re.compile(f"(?<={_CJK_CLASS}) (?={_CJK_CLASS})")
_WHITESPACE = re.compile(r"\s+")


def normalize_text(s: str) -> str:
    """Canonical spelling of free text.

    NFC; full-width digits/letters and the ideographic space folded to ASCII (full-width
    punctuation kept); whitespace runs collapsed to one space and stripped; no space left between
    two CJK characters (ideographs or CJK/full-width punctuation). Spaces between Latin words and
    between Latin and CJK text are kept. ASCII punctuation written right after an ideograph
    (",", ";", ":", "!", "?", and "." when no digit follows) takes its full-width form, as CJK text
    is printed ("中山路，" not "中山路,"): OCR engines and keyboards give either. Idempotent.
    """
    t = str(s).translate(_FOLD)
    t = unicodedata.normalize("NFC", t)
    t = _WHITESPACE.sub(" ", t)
    t = _SPACE_BETWEEN_CJK.sub("", t)
    t = _cjk_punctuation(t)
    t = _SPACE_BETWEEN_CJK.sub("", t)
    t = t.strip(" ")
    # A final NFC: removing a space can bring combining marks together (canonical reordering).
    return unicodedata.normalize("NFC", t)


_ASCII_TO_CJK_PUNCT = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", ".": "。"}


def _cjk_punctuation(t: str) -> str:
    out = list(t)
    for i, ch in enumerate(out):
        if ch in _ASCII_TO_CJK_PUNCT and i > 0:
            prev = out[i - 1] if out[i - 1] != " " or i < 2 else out[i - 2]
            if not _IDEOGRAPH_RE.match(prev):
                continue
            if ch == "." and i + 1 < len(out) and out[i + 1].isdigit():
                continue
            out[i] = _ASCII_TO_CJK_PUNCT[ch]
    return "".join(out)


def has_ideograph(s: str) -> bool:
    """Whether `s` holds a Han ideograph (`IDEOGRAPHS`)."""
    return _IDEOGRAPH_RE.search(s) is not None


def is_han(ch: str) -> bool:
    """Whether `ch` is one Han ideograph (`IDEOGRAPHS`)."""
    return len(ch) == 1 and _IDEOGRAPH_RE.match(ch) is not None


def normalize_name(s: str) -> str:
    """Canonical person name: `normalize_text`, and all spaces removed if it contains a CJK ideograph
    ("王 小 明" -> "王小明"; "Wang Xiao Ming" unchanged).

    Raises ``name.empty`` for empty text, ``name.short`` for a name of one letter, and
    ``name.characters`` if it contains digits, or
    punctuation or symbols names do not use (names use the middle dot of transliterations, hyphen,
    apostrophe, full stop and comma; one in Chinese characters only the middle dot: "蔡雅玲：" and
    "彭志強-" are misreadings).
    """
    t = normalize_text(s)
    if not t:
        raise ValueProblem("name.empty", "The name is empty.")
    if any(ch.isdigit() for ch in t):
        raise ValueProblem("name.characters", "A name cannot contain digits; check the name.")
    allowed = _IN_CJK_NAMES if has_ideograph(t) else _IN_NAMES
    odd = sorted({ch for ch in t if unicodedata.category(ch)[0] in "PS" and ch not in allowed})
    if odd:
        raise ValueProblem("name.characters", f"A name has no {' '.join(odd)}; check the name.")
    if has_ideograph(t):
        t = t.replace(" ", "")
    elif sum(ch.isalpha() for ch in t) < 2:
        # no name is one letter: a speck or a rule's end read as "I" (fresh seed 367, an empty
        # name on a phone photo accepted as I)
        raise ValueProblem("name.short", "A name has two letters or more; check the name.")
    return t


def normalize_address(s: str) -> str:
    """Canonical address: `normalize_text`, and no spaces at all if it contains a CJK ideograph
    (Taiwanese addresses have none; OCR puts some between digits). "臺" and "台" are kept as
    written (both are correct).

    Raises ``address.empty`` for empty text, and ``address.district`` when it starts with a county
    or city (after an optional postal code) not followed by one of its districts — "桃園市中靂區"
    is a misreading of "桃園市中壢區" (see `intake.gazetteer`).
    """
    t = normalize_text(s)
    if not t:
        raise ValueProblem("address.empty", "The address is empty.")
    if has_ideograph(t):
        t = t.replace(" ", "")
        from intake.gazetteer import district_of

        found = district_of(t.lstrip("0123456789"))
        if found is not None and found[1] is None:
            raise ValueProblem("address.district", f"The address names no district of {found[0]} after it; check it.")
        odd = sorted({ch for ch in t if ch in _NOT_IN_ADDRESSES})
        if odd:  # "三段" misread as "=段"
            raise ValueProblem("address.characters", f"An address has no {' '.join(odd)}; check it.")
    return t


# Punctuation that names do use: the middle dots of transliterated names (·‧・), hyphen, apostrophes,
# full stop and comma (Latin initials, "WANG, XIAO MING").
_IN_NAMES = frozenset("·‧・-'’.,")
_IN_CJK_NAMES = frozenset("·‧・")  # a name in Chinese characters: only the dot of a transliteration (彭志強- is a misreading)

# ASCII symbols that Taiwanese addresses never contain ("-" and "()" they do: 之, 號之1, (大樓)).
_NOT_IN_ADDRESSES = frozenset("=+*#@$%^&_|\\/<>~`!?;:\"'[]{}")


# --------------------------------------------------------------------------------------------
# National ID / resident certificate number
# --------------------------------------------------------------------------------------------

LETTER_CODES: dict[str, int] = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34, "J": 18,
    "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25, "S": 26, "T": 27,
    "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip
# Weights of the 9 characters after the first letter (the letter itself counts as 1, 9).
_ID_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 1, 1)

# OCR confusions, repaired by position. Letter position: digit -> look-alike letter.
_LETTER_FIX = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}
# Digit positions: look-alike -> digit (case-sensitive: "g" is 9 but "G" is 6).
_DIGIT_FIX = {
    "O": "0", "o": "0", "D": "0", "Q": "0",
    "I": "1", "l": "1", "|": "1", "i": "1",
    "Z": "2", "z": "2", "S": "5", "s": "5", "B": "8", "G": "6", "g": "9", "q": "9", "T": "7",
}  # fmt: skip
_ID_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015_]")
_ID_RE = re.compile(r"[A-Z][1289A-D][0-9]{8}")

# second character -> (kind, sex)
_ID_SECOND = {
    "1": ("national_id", "M"), "2": ("national_id", "F"),
    "8": ("resident_new", "M"), "9": ("resident_new", "F"),
    "A": ("resident_old", "M"), "B": ("resident_old", "F"),
    "C": ("resident_old", "M"), "D": ("resident_old", "F"),
}  # fmt: skip
ID_KINDS = ("national_id", "resident_new", "resident_old")


def _id_total(chars: str) -> int:
    """Weighted checksum sum of a letter followed by up to 9 characters."""
    code = LETTER_CODES[chars[0]]
    total = (code // 10) * 1 + (code % 10) * 9
    for weight, ch in zip(_ID_WEIGHTS, chars[1:], strict=False):
        # old resident certificate: the second letter counts as the last digit of its code
        value = LETTER_CODES[ch] % 10 if ch.isalpha() else int(ch)
        total += weight * value
    return total


def _id_format_problem() -> ValueProblem:
    return ValueProblem(
        "national_id.format",
        "The ID number must be one letter followed by 9 characters, e.g. A123456789.",
    )


def national_id_check_digit(first9: str) -> str:
    """The 10th character (a digit) that makes `first9` a valid ID/resident certificate number.

    `first9` must already be canonical (e.g. "A12345678"); raises ``national_id.format`` otherwise.
    """
    if not re.fullmatch(r"[A-Z][1289A-D][0-9]{7}", first9 or ""):
        raise _id_format_problem()
    return str((10 - _id_total(first9) % 10) % 10)


def normalize_national_id(s: str) -> str:
    """Canonical national ID / resident certificate number, e.g. "A123456789".

    Upper-cases, folds full-width characters, drops spaces and hyphens, and repairs common OCR
    confusions by position (a digit in the letter position, a look-alike letter in a digit
    position). The second character decides the kind: 1/2 national ID, 8/9 new resident
    certificate, A-D old resident certificate. Raises ``national_id.format`` (wrong length or
    shape) or ``national_id.checksum``.
    """
    t = _ID_SEPARATORS.sub("", unicodedata.normalize("NFKC", str(s)))
    if len(t) != 10:
        raise _id_format_problem()
    first, second, rest = t[0], t[1], t[2:]
    if first.isascii() and first.isalpha():
        first = first.upper()
    else:
        first = _LETTER_FIX.get(first, first)
    # Position 1: A-D (either case) is an old resident certificate; otherwise it must be a digit.
    if second.isascii() and second.upper() in "ABCD":
        second = second.upper()
    else:
        second = _DIGIT_FIX.get(second, second)
    rest = "".join(_DIGIT_FIX.get(ch, ch) for ch in rest)
    result = first + second + rest
    if not _ID_RE.fullmatch(result):
        raise _id_format_problem()
    if _id_total(result) % 10 != 0:
        raise ValueProblem(
            "national_id.checksum",
            "The ID number's check digit does not match; compare every digit with the form.",
        )
    return result


def national_id_kind(normalized: str) -> str:
    """Kind of a canonical number: "national_id", "resident_new" or "resident_old"."""
    if not _ID_RE.fullmatch(normalized or ""):
        raise _id_format_problem()
    return _ID_SECOND[normalized[1]][0]


def national_id_sex(normalized: str) -> str:
    """Sex encoded in a canonical number: "M" or "F"."""
    if not _ID_RE.fullmatch(normalized or ""):
        raise _id_format_problem()
    return _ID_SECOND[normalized[1]][1]


def _sex_code(sex: str | None) -> str | None:
    if sex is None:
        return None
    key = str(sex).strip().upper()
    if key in ("M", "MALE", "男"):
        return "M"
    if key in ("F", "FEMALE", "女"):
        return "F"
    raise ValueError(f"sex must be 'M', 'F' or None, not {sex!r}")


def generate_national_id(
    rng: random.Random, kind: str = "national_id", sex: str | None = None
) -> str:
    """A random valid number of `kind` ("national_id", "resident_new", "resident_old").

    `sex` is "M"/"F" ("male"/"female" accepted) or None for random.
    """
    if kind not in ID_KINDS:
        raise ValueError(f"unknown ID kind {kind!r}; expected one of {ID_KINDS}")
    want = _sex_code(sex)
    seconds = [c for c, (k, sx) in _ID_SECOND.items() if k == kind and (want is None or sx == want)]
    first9 = (
        rng.choice(sorted(LETTER_CODES))
        + rng.choice(seconds)
        + "".join(str(rng.randrange(10)) for _ in range(7))
    )
    return first9 + national_id_check_digit(first9)


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

ROC_OFFSET = 1911
DATE_MIN = date(1912, 1, 1)  # ROC year 1
DATE_MAX = date(2100, 12, 31)  # "after 2100" is out of range; 2100 itself is accepted

DATE_STYLES: tuple[str, ...] = (
    "roc_cjk",
    "roc_cjk_padded",
    "roc_slash",
    "roc_compact",
    "roc_dot",
    "iso",
    "gregorian_slash",
    "gregorian_compact",
)

_DATE_PREFIX = re.compile(r"^(中華民國|中华民国|民國|民国|西元|公元)")
_DATE_CJK = re.compile(r"([0-9]{1,4})年([0-9]{1,2})月([0-9]{1,2})日?")
# Between the numbers: / . - as written, and : , as PP-OCR reads the punctuation of some typefaces
# (cwTeX's date stops came out as 113:05:03 and 113,05,03 on the unseen-faces sets)
_DATE_SEP = re.compile(r"([0-9]{1,4})[/.\-:,]([0-9]{1,2})[/.\-:,]([0-9]{1,2})")
# a gap between digits that may stand for a separator the reader did not see (2026 05/11)
_DIGIT_GAP = re.compile(r"(?<=[0-9])\s+(?=[0-9])")
_DATE_COMPACT = re.compile(r"[0-9]{6,8}")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _date_format_problem(s: object) -> ValueProblem:
    return ValueProblem(
        "date.format", f"Cannot read {str(s)!r} as a date; write it like 113年5月3日 or 2024-05-03."
    )


def _make_date(year: int, month: int, day: int) -> date:
    if not DATE_MIN.year <= year <= DATE_MAX.year:
        raise ValueProblem(
            "date.range", "The date must be between 1912-01-01 (ROC year 1) and 2100-12-31."
        )
    if not 1 <= month <= 12:
        raise ValueProblem("date.invalid", f"The month must be between 1 and 12, not {month}.")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueProblem(
            "date.invalid", f"Month {month} of {year} has no day {day}; check the day."
        ) from None


def parse_date(s: str, *, century_hint: int | None = None) -> date:
    """Read a ROC (Minguo) or Gregorian date.

    Accepted: "113年5月3日", "民國113年5月3日", "113/05/03", "113.5.3", "113-05-03", "1130503"
    (7 digits, ROC yyyMMdd), "990503" (6 digits, ROC yyMMdd), "2024-05-03", "2024/5/3",
    "2024.05.03", "20240503", "2024年5月3日". A 1-3 digit year is ROC (+1911), a 4-digit year is
    Gregorian; a "民國" prefix forces ROC and "西元" forces Gregorian. Full-width digits and
    whitespace anywhere are accepted; ":" and "," separate like "/" (a reader's take on some
    typefaces' stops), and a gap between digit groups does where that gives three groups
    ("114 09 21", "2026 05/11").

    `century_hint` (e.g. 1900 or 2000; 19/20 also accepted) makes a 2-digit year a Gregorian year in
    that century instead of a ROC year; None (the default) reads 2-digit years as ROC, as forms
    print them. Raises ``date.format``, ``date.invalid`` or ``date.range``.
    """
    if isinstance(s, datetime):
        s = s.date()
    if isinstance(s, date):
        return _make_date(s.year, s.month, s.day)
    century = None
    if century_hint is not None:
        century = century_hint * 100 if century_hint < 100 else century_hint
        century -= century % 100
    raw = unicodedata.normalize("NFKC", str(s))
    t = _WHITESPACE.sub("", raw)
    # a gap between digit groups read where a separator is printed ("2026 05/11", "114 09 21"):
    # a separator, when that makes three groups; otherwise gaps are nothing (" 1 1 3 / 0 5 / 0 3 ")
    gapped = _WHITESPACE.sub("", _DIGIT_GAP.sub("/", raw.strip()))
    era = None
    m = _DATE_PREFIX.match(t)
    if m:
        era = "gregorian" if m.group(1) in ("西元", "公元") else "roc"
        t = t[m.end() :]
        gapped = gapped[m.end() :] if _DATE_PREFIX.match(gapped) else gapped
    if _DATE_SEP.fullmatch(gapped) and not _DATE_SEP.fullmatch(t):
        t = gapped

    def year_of(text: str) -> int:
        y = int(text)
        if era == "gregorian":
            return y
        if era == "roc":
            if len(text) == 4:  # "民國2024年": a Gregorian year after the ROC prefix
                raise _date_format_problem(s)
            return y + ROC_OFFSET
        if len(text) == 4:
            return y
        if len(text) == 2 and century is not None:
            return century + y
        return y + ROC_OFFSET

    if m := _DATE_CJK.fullmatch(t) or _DATE_SEP.fullmatch(t):
        return _make_date(year_of(m.group(1)), int(m.group(2)), int(m.group(3)))
    if _DATE_COMPACT.fullmatch(t):
        if len(t) == 8:
            if era == "roc":
                raise _date_format_problem(s)
            return _make_date(int(t[:4]), int(t[4:6]), int(t[6:]))
        if era == "gregorian":
            raise _date_format_problem(s)
        # 7 digits: ROC yyyMMdd; 6 digits: ROC yyMMdd (or Gregorian yyMMdd with century_hint)
        return _make_date(year_of(t[:-4]), int(t[-4:-2]), int(t[-2:]))
    raise _date_format_problem(s)


def normalize_date(s: str) -> str:
    """`parse_date(s)` as ISO "YYYY-MM-DD"."""
    return parse_date(s).isoformat()


def format_date(d: date, style: str) -> str:
    """Spell `d` in one of `DATE_STYLES` ("roc_cjk" -> "113年5月3日", "roc_cjk_padded" ->
    "113年05月03日", "roc_slash" -> "113/05/03", "roc_compact" -> "1130503" (year zero-padded to 3
    digits), "roc_dot" -> "113.5.3", "iso" -> "2024-05-03", "gregorian_slash" -> "2024/05/03",
    "gregorian_compact" -> "20240503"). ROC styles need a date from 1912-01-01 on.
    """
    if style not in DATE_STYLES:
        raise ValueError(f"unknown date style {style!r}; expected one of {DATE_STYLES}")
    y, mo, dd = d.year, d.month, d.day
    if style.startswith("roc_"):
        r = y - ROC_OFFSET
        if r < 1:
            raise ValueProblem("date.range", "Dates before 1912 have no ROC year.")
        return {
            "roc_cjk": f"{r}年{mo}月{dd}日",
            "roc_cjk_padded": f"{r}年{mo:02d}月{dd:02d}日",
            "roc_slash": f"{r}/{mo:02d}/{dd:02d}",
            "roc_compact": f"{r:03d}{mo:02d}{dd:02d}",
            "roc_dot": f"{r}.{mo}.{dd}",
        }[style]
    return {
        "iso": f"{y:04d}-{mo:02d}-{dd:02d}",
        "gregorian_slash": f"{y:04d}/{mo:02d}/{dd:02d}",
        "gregorian_compact": f"{y:04d}{mo:02d}{dd:02d}",
    }[style]


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------

MOBILE_PREFIX = "09"
MOBILE_SUBSCRIBER_LEN = 8
# Landline area codes: (area code, accepted subscriber lengths, lengths the generator uses).
# Longest area code wins when several match (0826 before 082 before 08). Total length is 9 or 10.
LANDLINE_AREAS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("0826", (5,), (5,)),  # Wuqiu
    ("0836", (5,), (5,)),  # Matsu
    ("037", (6, 7), (6,)),  # Miaoli
    ("049", (6, 7), (7,)),  # Nantou
    ("082", (6, 7), (6,)),  # Kinmen
    ("089", (6, 7), (6,)),  # Taitung
    ("02", (8,), (8,)),  # Taipei, New Taipei, Keelung
    ("03", (7, 8), (7,)),
    ("04", (7, 8), (7, 8)),  # Taichung uses 8 digits
    ("05", (7, 8), (7,)),
    ("06", (7, 8), (7,)),
    ("07", (7, 8), (7,)),
    ("08", (7, 8), (7,)),
)
PHONE_STYLES: tuple[str, ...] = ("plain", "dashed", "paren", "spaced", "intl")

_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015().]")


def _phone_format_problem(why: str) -> ValueProblem:
    return ValueProblem("phone.format", f"The phone number {why}.")


def _split_phone(digits: str) -> tuple[str, str]:
    """(prefix, subscriber) of canonical digits; raises phone.format / phone.prefix."""
    if not digits.isascii() or not digits.isdigit():
        raise _phone_format_problem("may contain only digits")
    if len(digits) < 9:
        raise _phone_format_problem("is too short")
    if len(digits) > 10:
        raise _phone_format_problem("is too long")
    if digits.startswith(MOBILE_PREFIX):
        if len(digits) != len(MOBILE_PREFIX) + MOBILE_SUBSCRIBER_LEN:
            raise _phone_format_problem("must have 10 digits for a mobile number")
        return MOBILE_PREFIX, digits[2:]
    known_area = False
    for area, lengths, _ in LANDLINE_AREAS:
        if digits.startswith(area):
            known_area = True
            if len(digits) - len(area) in lengths:
                return area, digits[len(area) :]
    if known_area:
        raise _phone_format_problem("has the wrong number of digits for its area code")
    raise ValueProblem(
        "phone.prefix",
        "The phone number does not start with a Taiwanese area code or 09 (mobile).",
    )


def normalize_phone(s: str) -> str:
    """Canonical Taiwanese phone number: digits only, e.g. "0912345678", "0223456789".

    Accepts spaces, hyphens, dots, parentheses, full-width digits and the "+886"/"886"/"00886"
    country prefix (replaced by the trunk "0"; a "(0)" after it is tolerated). Valid numbers are
    mobiles "09" + 8 digits and landlines per `LANDLINE_AREAS`. Extensions ("#123", "分機") are not
    accepted. Raises ``phone.format`` (non-digits, too short/long, wrong length for its area code)
    or ``phone.prefix`` (not a Taiwanese number / unknown area code).
    """
    t = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", str(s)))
    if not t:
        raise _phone_format_problem("is empty")
    international = False
    if t.startswith("+"):
        if not t[1:].isascii() or not t[1:].isdigit():
            raise _phone_format_problem("may contain only digits")
        if not t.startswith("+886"):
            raise ValueProblem("phone.prefix", "Only Taiwanese (+886) phone numbers are accepted.")
        t, international = t[4:], True
    elif t.startswith("00886"):
        t, international = t[5:], True
    elif t.startswith("886"):
        t, international = t[3:], True
    if not t.isascii() or not t.isdigit():
        raise _phone_format_problem("may contain only digits")
    if international:
        t = "0" + (t[1:] if t.startswith("0") else t)
    elif not t.startswith("0") and 9 <= len(t) <= 10:
        raise ValueProblem(
            "phone.prefix", "The phone number must start with 0 (area code or 09) or +886."
        )
    _split_phone(t)
    return t


def _group(sub: str) -> tuple[str, ...]:
    if len(sub) == 8:
        return sub[:4], sub[4:]
    if len(sub) == 7:
        return sub[:3], sub[3:]
    return (sub,)  # 5 or 6 digits are written in one block


def format_phone(digits: str, style: str) -> str:
    """Spell a phone number in one of `PHONE_STYLES`.

    "plain" 0912345678; "dashed" 0912-345-678 / 02-2345-6789; "paren" (02)2345-6789 (a mobile is
    written as in "dashed"); "spaced" 0912 345 678 / 02 2345 6789; "intl" +886-912-345-678 /
    +886-2-2345-6789. `digits` is normalised first (raises `ValueProblem` if invalid).
    """
    if style not in PHONE_STYLES:
        raise ValueError(f"unknown phone style {style!r}; expected one of {PHONE_STYLES}")
    digits = normalize_phone(digits)
    prefix, sub = _split_phone(digits)
    if style == "plain":
        return digits
    if prefix == MOBILE_PREFIX:
        parts = (digits[:4], digits[4:7], digits[7:])
        if style == "spaced":
            return " ".join(parts)
        if style == "intl":
            return "+886-" + "-".join((parts[0][1:], *parts[1:]))
        return "-".join(parts)  # dashed, paren
    groups = _group(sub)
    if style == "dashed":
        return "-".join((prefix, *groups))
    if style == "paren":
        return f"({prefix})" + "-".join(groups)
    if style == "spaced":
        return " ".join((prefix, *groups))
    return "+886-" + "-".join((prefix[1:], *groups))  # intl


def generate_phone(rng: random.Random, kind: str = "mobile") -> str:
    """A random valid number (digits only) of `kind` "mobile" or "landline"."""
    if kind == "mobile":
        return MOBILE_PREFIX + "".join(str(rng.randrange(10)) for _ in range(MOBILE_SUBSCRIBER_LEN))
    if kind == "landline":
        area, _, gen_lengths = rng.choice(LANDLINE_AREAS)
        n = rng.choice(gen_lengths)
        longer = [a for a, _, _ in LANDLINE_AREAS if len(a) > len(area) and a.startswith(area)]
        while True:
            # subscriber numbers do not start with 0 or 1, nor with digits that would make the
            # number read as a longer area code ("03" + "7..." is Miaoli's 037)
            digits = area + str(rng.randrange(2, 10)) + "".join(str(rng.randrange(10)) for _ in range(n - 1))
            if not any(digits.startswith(a) for a in longer):
                return digits
    raise ValueError(f"unknown phone kind {kind!r}; expected 'mobile' or 'landline'")


# --------------------------------------------------------------------------------------------
# Numbers and checkboxes
# --------------------------------------------------------------------------------------------

# Optional sign, digits (thousands commas allowed when grouped correctly), optional decimals.
_NUMBER_RE = re.compile(r"([+-]?)([0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)?(?:\.([0-9]+))?")


def normalize_number(s: str) -> int | float:
    """A number: "12", "１２", " 3 ", "1,234" -> int; "2.5", ".5" -> float.

    Whitespace is ignored; thousands commas must be correctly grouped. Raises ``number.format``.
    """
    if isinstance(s, bool):
        raise ValueProblem("number.format", "Expected a number, not yes/no.")
    if isinstance(s, int):
        return s
    if isinstance(s, float):
        if not math.isfinite(s):
            raise ValueProblem("number.format", "The number is not finite.")
        return s
    t = _WHITESPACE.sub("", unicodedata.normalize("NFKC", str(s))).replace("\u2212", "-")
    m = _NUMBER_RE.fullmatch(t)
    if not m or (m.group(2) is None and m.group(3) is None):
        raise ValueProblem("number.format", f"Cannot read {str(s)!r} as a number.")
    plain = t.replace(",", "")
    try:
        value: int | float = float(plain) if m.group(3) is not None else int(plain)
    except ValueError:  # more digits than Python converts
        raise ValueProblem("number.format", "The number is too long.") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueProblem("number.format", "The number is too large.")
    return value


# A cross is a mark: "x" and "✗" mean the box is ticked.
_CHECK_TRUE = frozenset(
    ["true", "t", "yes", "y", "1", "on", "checked", "是", "有"]
    + ["✓", "✔", "☑", "☒", "v", "x", "✗", "✘"]
)
_CHECK_FALSE = frozenset(
    ["", "false", "f", "no", "n", "0", "off", "unchecked", "否", "無", "无", "☐", "□"]
)


def normalize_checkbox(s: str) -> bool:
    """Checkbox state from a text spelling: true/false, yes/no, 1/0, 是/否, ✓/✗, v/x (a cross counts
    as a mark, so "x" and "✗" are True); "" and None are False. Raises ``checkbox.format``.
    """
    if isinstance(s, bool):
        return s
    if s is None:
        return False
    key = normalize_text(s).casefold()
    if key in _CHECK_TRUE:
        return True
    if key in _CHECK_FALSE:
        return False
    raise ValueProblem("checkbox.format", f"Cannot read {str(s)!r} as ticked or not ticked.")


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------

NORMALIZERS: dict[str, Callable[[str], object]] = {
    "text": normalize_text,
    "name": normalize_name,
    "address": normalize_address,
    "national_id": normalize_national_id,
    "date": normalize_date,
    "phone": normalize_phone,
    "number": normalize_number,
    # Not in the original list; included so a checkbox field read as text can be normalised too.
    "checkbox": normalize_checkbox,
}


def normalize(field_type: str, text: str) -> tuple[object | None, list[ValueProblem]]:
    """Normalise `text` as `field_type`; never raises for bad text.

    Returns ``(value, [])`` or ``(None, [problem])``. Empty or whitespace-only text (or None)
    returns ``(None, [])``: whether a field may be empty is the caller's decision. An unknown
    `field_type` raises KeyError (a programming error).
    """
    normalizer = NORMALIZERS[field_type]
    if text is None or not normalize_text(text):
        return None, []
    try:
        return normalizer(text), []
    except ValueProblem as problem:
        return None, [problem]


_STRING_TYPES = ("text", "name", "address", "national_id", "phone")


def validate(field_type: str, value: object) -> list[ValueProblem]:
    """Problems with an already-normalised `value` (truth file, supervisor correction).

    A value is accepted only in its canonical form: strings must equal what the normaliser makes
    of them (so OCR repairs such as "A12345678O" are *not* accepted here), dates must be ISO
    "YYYY-MM-DD" strings (or `date` objects) in range, numbers int/float, checkboxes bool.
    None and "" are empty and return [] (emptiness is the caller's decision). An unknown
    `field_type` raises KeyError.
    """
    normalizer = NORMALIZERS[field_type]
    if value is None or value == "":
        return []
    if field_type in _STRING_TYPES:
        if not isinstance(value, str):
            return [ValueProblem(f"{field_type}.format", "The value must be text.")]
        try:
            canonical = normalizer(value)
        except ValueProblem as problem:
            return [problem]
        if canonical != value:
            return [
                ValueProblem(
                    f"{field_type}.not_normalized",
                    f"The value is not in its standard form; expected {canonical!r}.",
                )
            ]
        return []
    if field_type == "date":
        if isinstance(value, date):
            try:
                parse_date(value)
            except ValueProblem as problem:
                return [problem]
            return []
        m = _ISO_DATE.fullmatch(value) if isinstance(value, str) else None
        if not m:
            return [ValueProblem("date.format", "The date must be written as YYYY-MM-DD.")]
        try:
            _make_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueProblem as problem:
            return [problem]
        return []
    if field_type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            return [ValueProblem("number.format", "The value must be a finite number.")]
        return []
    if field_type == "checkbox":
        if not isinstance(value, bool):
            return [ValueProblem("checkbox.format", "The value must be true or false.")]
        return []
    raise KeyError(field_type)  # pragma: no cover - every NORMALIZERS key is handled above
