"""Tests for intake.values: normalisation and validation of form field values."""

from __future__ import annotations

import pickle
import random
import re
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intake import values as v
from intake.values import (
    DATE_STYLES,
    NORMALIZERS,
    PHONE_STYLES,
    ValueProblem,
    format_date,
    format_phone,
    generate_national_id,
    generate_phone,
    national_id_check_digit,
    national_id_kind,
    national_id_sex,
    normalize,
    normalize_address,
    normalize_checkbox,
    normalize_date,
    normalize_name,
    normalize_national_id,
    normalize_number,
    normalize_phone,
    normalize_text,
    parse_date,
    validate,
)

CJK_RE = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
    "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"
)

seeds = st.integers(min_value=0, max_value=2**32 - 1)
sexes = st.sampled_from([None, "M", "F"])
id_kinds = st.sampled_from(["national_id", "resident_new", "resident_old"])


def problem_code(excinfo) -> str:
    return excinfo.value.code


# ------------------------------------------------------------------------------------------
# ValueProblem
# ------------------------------------------------------------------------------------------


def test_value_problem_fields_str_and_pickle():
    p = ValueProblem("national_id.checksum", "Check digit wrong.")
    assert isinstance(p, ValueError)
    assert p.code == "national_id.checksum"
    assert p.message == "Check digit wrong."
    assert str(p) == "Check digit wrong."
    q = pickle.loads(pickle.dumps(p))
    assert (q.code, q.message) == (p.code, p.message)


# ------------------------------------------------------------------------------------------
# Text, names, addresses
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("王 小 明", "王小明"),
        ("Wang Xiao Ming", "Wang Xiao Ming"),
        ("  Wang \t Xiao\n\nMing  ", "Wang Xiao Ming"),
        ("王\u3000小明", "王小明"),  # ideographic space
        ("ＡＢＣ　１２３", "ABC 123"),  # full-width letters/digits/space folded
        ("ａｂｃ", "abc"),
        ("臺北市 ， 中正區", "臺北市，中正區"),  # no space between CJK and CJK punctuation
        ("備註 （ 無 ）", "備註（無）"),  # full-width parentheses kept, spaces around them dropped
        ("台北市 Taipei", "台北市 Taipei"),  # CJK next to Latin: space kept
        ("e\u0301", "\u00e9"),  # NFC
        ("\u200b王小明\ufeff", "王小明"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_text_examples(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_text_keeps_fullwidth_punctuation():
    assert normalize_text("（一），：！") == "（一），：！"
    assert normalize_text("Ａ，Ｂ") == "A，B"


text_alphabet = st.sampled_from(
    list("王小明臺北市中正區路段號樓，。：（）、「」")
    + list("abcXYZ012 .,-")
    + ["\u3000", "\t", "\n", "\u00a0", "Ａ", "ｚ", "０", "９", "！", "\u0301", "\u302a", "\u302b"]
    + ["\U00020000", "\u3400", "\uf900", "\u200b"]
)


@settings(max_examples=300)
@given(st.text(alphabet=text_alphabet, max_size=40))
def test_normalize_text_idempotent_and_no_space_between_cjk(s):
    once = normalize_text(s)
    assert normalize_text(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert not re.search(r"\s", once.replace(" ", ""))
    for i, ch in enumerate(once):
        if ch == " " and 0 < i < len(once) - 1:
            assert not (CJK_RE.match(once[i - 1]) and CJK_RE.match(once[i + 1])), once


@settings(max_examples=200)
@given(st.text(max_size=30))
def test_normalize_text_idempotent_any_unicode(s):
    once = normalize_text(s)
    assert normalize_text(once) == once


def test_normalize_name():
    assert normalize_name(" 王 小 明 ") == "王小明"
    assert normalize_name("Wang  Xiao Ming") == "Wang Xiao Ming"
    assert normalize_name("陳 John") == "陳John"  # CJK present: all spaces removed
    with pytest.raises(ValueProblem) as e:
        normalize_name("   ")
    assert problem_code(e) == "name.empty"
    with pytest.raises(ValueProblem) as e:
        normalize_name("王小明2")
    assert problem_code(e) == "name.characters"
    with pytest.raises(ValueProblem) as e:
        normalize_name("王小明２")  # full-width digit
    assert problem_code(e) == "name.characters"
    for read in ("蔡雅玲：", "蔡雅玲:", "(蔡雅玲", "蔡雅玲。", "蔡雅玲/", "彭志強-", "彭志強."):  # misreadings
        with pytest.raises(ValueProblem) as e:
            normalize_name(read)
        assert problem_code(e) == "name.characters", read
    for name in ("阮氏·梅", "JEAN-LUC", "O'BRIEN", "J. SMITH", "WANG, XIAO MING", "瑪莉‧安", "LI", "Wu"):
        assert normalize_name(name)
    for read in ("I", "l", "J."):  # a speck or a rule's end read as a letter (seed 367: "I")
        with pytest.raises(ValueProblem) as e:
            normalize_name(read)
        assert problem_code(e) == "name.short", read


def test_normalize_address():
    # no spaces in a Chinese address: OCR puts them between digits ("7 8巷")
    assert normalize_address("臺北市 中正區 重慶南路 1 段 122 號") == "臺北市中正區重慶南路1段122號"
    assert normalize_address("新北市中和區小碧潭路7 8巷101號2樓") == "新北市中和區小碧潭路78巷101號2樓"
    assert normalize_address("Taipei City 100") == "Taipei City 100"
    assert normalize_address("台北市中正區") == "台北市中正區"  # 台 kept as written
    assert normalize_address("臺北市中正區") == "臺北市中正區"
    with pytest.raises(ValueProblem) as e:
        normalize_address("\u3000")
    assert problem_code(e) == "address.empty"
    assert normalize_address("臺北市信義區松仁路100號3樓之1(大樓)") == "臺北市信義區松仁路100號3樓之1(大樓)"
    with pytest.raises(ValueProblem) as e:
        normalize_address("桃園市楊梅區新興路=段254巷157號3樓")  # 三 read as =
    assert problem_code(e) == "address.characters"


def test_address_district_must_belong_to_its_county():
    assert normalize_address("100臺北市中正區重慶南路一段122號").startswith("100臺北市中正區")
    assert normalize_address("嘉義縣阿里山鄉中正村") == "嘉義縣阿里山鄉中正村"
    assert normalize_address("中山北路二段") == "中山北路二段"  # no county: nothing to check
    for misread in ("桃園市中靂區民族里24鄰", "臺北市大安匾和平東路", "台中市板橋區文化路"):
        with pytest.raises(ValueProblem) as e:
            normalize_address(misread)
        assert problem_code(e) == "address.district"


def test_ascii_punctuation_after_chinese_takes_full_width_form():
    assert normalize_text("社工得知,案主年幼. 多次") == "社工得知，案主年幼。多次"
    assert normalize_text("中山路2.5號") == "中山路2.5號"  # a decimal point stays
    assert normalize_text("Hello, world") == "Hello, world"


# ------------------------------------------------------------------------------------------
# National ID
# ------------------------------------------------------------------------------------------


def test_known_ids():
    assert normalize_national_id("A123456789") == "A123456789"
    assert national_id_kind("A123456789") == "national_id"
    assert national_id_sex("A123456789") == "M"
    # official sample of the 2021 resident certificate format
    assert normalize_national_id("A800000014") == "A800000014"
    assert national_id_kind("A800000014") == "resident_new"
    # old resident certificate: second letter A counts as 0 (last digit of 10)
    assert normalize_national_id("AA00000009") == "AA00000009"
    assert national_id_kind("AA00000009") == "resident_old"
    assert national_id_sex("AB00000001") == "F"  # B counts as 1: 1 + 8 + 1 = 10
    assert normalize_national_id("AB00000001") == "AB00000001"
    with pytest.raises(ValueProblem) as e:
        normalize_national_id("A123456788")
    assert problem_code(e) == "national_id.checksum"


def test_check_digit_by_hand():
    # A=10: 1*1 + 0*9 = 1; 1..8 weighted 8..1 = 120; total 121 -> check digit 9
    assert national_id_check_digit("A12345678") == "9"
    # F=15: 1 + 45 = 46; 2*8=16; 0s -> 62 -> 8
    assert national_id_check_digit("F20000000") == "8"
    assert normalize_national_id("F200000008") == "F200000008"
    # I=34: 3 + 36 = 39; 1*8 = 8 -> 47 -> 3
    assert national_id_check_digit("I10000000") == "3"
    # old ARC, D counts as 3: A -> 1, 3*8=24 -> 25 -> 5
    assert national_id_check_digit("AD0000000") == "5"
    with pytest.raises(ValueProblem) as e:
        national_id_check_digit("A1234567")
    assert problem_code(e) == "national_id.format"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a123456789", "A123456789"),
        (" A 1234-56789 ", "A123456789"),
        ("Ａ１２３４５６７８９", "A123456789"),
        ("A12345678g", "A123456789"),  # g -> 9
        ("AI23456789", "A123456789"),  # I -> 1 in position 1
        ("Al23456789", "A123456789"),  # l -> 1
        ("A1Z3456789", "A123456789"),  # Z -> 2
        ("A1234S6789", "A123456789"),  # S -> 5
        ("A1234567B9", "A123456789"),  # B -> 8
        ("A123456T89", "A123456789"),  # T -> 7
        ("A12345G789", "A123456789"),  # G -> 6
        ("AI2345678q", "A123456789"),  # q -> 9
        ("A|23456789", "A123456789"),  # | -> 1
        ("AB00000001", "AB00000001"),  # B in position 1 is an old ARC letter, not 8
        ("ab00000001", "AB00000001"),
    ],
)
def test_ocr_repairs(raw, expected):
    assert normalize_national_id(raw) == expected


def test_letter_position_repairs():
    first9 = "O12345678"
    good = first9 + national_id_check_digit(first9)
    assert normalize_national_id("0" + good[1:]) == good
    first9 = "S12345678"
    good = first9 + national_id_check_digit(first9)
    assert normalize_national_id("5" + good[1:]) == good
    first9 = "B22222222"
    good = first9 + national_id_check_digit(first9)
    assert normalize_national_id("8" + good[1:]) == good


@pytest.mark.parametrize(
    "raw",
    ["", "A12345678", "A1234567890", "A323456789", "A023456789", "AE23456789", "A12345678X",
     "#123456789", "AA0000000A"],
)  # fmt: skip
def test_id_format_errors(raw):
    with pytest.raises(ValueProblem) as e:
        normalize_national_id(raw)
    assert problem_code(e) == "national_id.format"


@settings(max_examples=300)
@given(seeds, id_kinds, sexes)
def test_generated_ids_valid_and_round_trip(seed, kind, sex):
    nid = generate_national_id(random.Random(seed), kind, sex)
    assert re.fullmatch(r"[A-Z][1289A-D][0-9]{8}", nid)
    assert normalize_national_id(nid) == nid
    assert normalize_national_id(nid.lower()) == nid
    assert national_id_kind(nid) == kind
    if sex is not None:
        assert national_id_sex(nid) == sex
    assert national_id_check_digit(nid[:9]) == nid[9]
    assert validate("national_id", nid) == []


def test_generator_covers_every_second_character():
    rng = random.Random(1)
    expected = {
        ("national_id", "M"): "1", ("national_id", "F"): "2",
        ("resident_new", "M"): "8", ("resident_new", "F"): "9",
    }  # fmt: skip
    for (kind, sex), second in expected.items():
        assert generate_national_id(rng, kind, sex)[1] == second
    old_m = {generate_national_id(rng, "resident_old", "male")[1] for _ in range(200)}
    old_f = {generate_national_id(rng, "resident_old", "female")[1] for _ in range(200)}
    assert old_m == {"A", "C"}
    assert old_f == {"B", "D"}
    with pytest.raises(ValueError):
        generate_national_id(rng, "passport")


WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 1, 1)  # positions 1..9


@settings(max_examples=200)
@given(seeds, id_kinds, st.integers(min_value=2, max_value=9), st.integers(1, 9))
def test_single_digit_change_detected_unless_weight_times_delta_is_multiple_of_10(
    seed, kind, pos, shift
):
    """Only weights coprime to 10 (7, 3, 1, 1 at positions 2, 6, 8, 9) catch every change.
    The even weights 8, 6, 4, 2 (positions 1, 3, 5, 7) miss a change by exactly 5, and weight 5
    (position 4) misses every even change. This is a property of the official algorithm, not of
    the implementation: "any single-digit change fails" is not true in general."""
    nid = generate_national_id(random.Random(seed), kind)
    old = int(nid[pos])
    new = (old + shift) % 10
    changed = nid[:pos] + str(new) + nid[pos + 1 :]
    undetectable = (WEIGHTS[pos - 1] * (new - old)) % 10 == 0
    w = WEIGHTS[pos - 1]
    assert undetectable == ((w % 2 == 0 and shift == 5) or (w == 5 and shift % 2 == 0))
    if undetectable:
        assert normalize_national_id(changed) == changed
    else:
        with pytest.raises(ValueProblem) as e:
            normalize_national_id(changed)
        assert problem_code(e) == "national_id.checksum"


def test_single_digit_change_counterexample_and_position_1():
    # 3 -> 8 at position 3 (weight 6) changes the sum by 30: still "valid"
    assert normalize_national_id("A128456789") == "A128456789"
    # 4 -> 6 at position 4 (weight 5) changes the sum by 10: still "valid"
    assert normalize_national_id("A123656789") == "A123656789"
    # positions with weights coprime to 10 catch every change
    for pos in (2, 6, 8, 9):
        for d in "0123456789":
            changed = "A123456789"[:pos] + d + "A123456789"[pos + 1 :]
            if changed != "A123456789":
                with pytest.raises(ValueProblem):
                    normalize_national_id(changed)
    # position 1 only takes 1, 2, 8, 9 (no two differ by 5): every change there is caught
    for second in "1289":
        if second == "1":
            continue
        with pytest.raises(ValueProblem) as e:
            normalize_national_id("A" + second + "23456789")
        assert problem_code(e) == "national_id.checksum"
    # the check digit itself (weight 1): every change is caught
    for d in "012345678":
        with pytest.raises(ValueProblem):
            normalize_national_id("A12345678" + d)


@settings(max_examples=200)
@given(seeds, id_kinds, st.integers(min_value=2, max_value=9), st.sampled_from("OoDQ"))
def test_ocr_letter_for_zero_in_digit_position_repaired(seed, kind, pos, letter):
    first9 = generate_national_id(random.Random(seed), kind)[:9]
    if pos < 9:
        first9 = first9[:pos] + "0" + first9[pos + 1 :]
    nid = first9 + national_id_check_digit(first9)
    assume(nid[pos] == "0")  # for the check digit position, only IDs whose check digit is 0
    damaged = nid[:pos] + letter + nid[pos + 1 :]
    assert normalize_national_id(damaged) == nid


@settings(max_examples=100)
@given(seeds, id_kinds)
def test_ocr_zero_for_o_in_letter_position_repaired(seed, kind):
    rng = random.Random(seed)
    first9 = "O" + generate_national_id(rng, kind)[1:9]
    nid = first9 + national_id_check_digit(first9)
    assert normalize_national_id("0" + nid[1:]) == nid


def test_kind_of_non_canonical_raises():
    with pytest.raises(ValueProblem) as e:
        national_id_kind("a123456789")
    assert problem_code(e) == "national_id.format"


# ------------------------------------------------------------------------------------------
# Dates
# ------------------------------------------------------------------------------------------

D = date(2024, 5, 3)


@pytest.mark.parametrize(
    "raw",
    [
        "113年5月3日", "民國113年5月3日", "民國 113 年 05 月 03 日", "中華民國113年5月3日",
        "113/05/03", "113/5/3", "113.5.3", "113-05-03", "1130503", "2024-05-03", "2024/5/3",
        "2024.05.03", "20240503", "2024年5月3日", "西元2024年5月3日", "１１３年５月３日",
        "１１３／０５／０３", " 1 1 3 / 0 5 / 0 3 ", "113年5月3",
        "113:05:03", "113,05,03", "113 05 03", "113/05 03", "2024 05/03", "113 0503",
    ],
)  # fmt: skip
def test_parse_date_spellings(raw):
    assert parse_date(raw) == D
    assert normalize_date(raw) == "2024-05-03"


def test_parse_date_short_roc_years():
    assert parse_date("990503") == date(2010, 5, 3)  # 6 digits = ROC yyMMdd
    assert parse_date("39/05/03") == date(1950, 5, 3)
    assert parse_date("0390503") == date(1950, 5, 3)
    assert parse_date("1年1月1日") == date(1912, 1, 1)
    assert parse_date("189/12/31") == date(2100, 12, 31)


def test_parse_date_century_hint():
    assert parse_date("990503", century_hint=1900) == date(1999, 5, 3)
    assert parse_date("24/05/03", century_hint=2000) == date(2024, 5, 3)
    assert parse_date("24/05/03", century_hint=20) == date(2024, 5, 3)
    # 3- and 4-digit years ignore the hint
    assert parse_date("113/05/03", century_hint=1900) == D


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("113/02/30", "date.invalid"),
        ("113/13/01", "date.invalid"),
        ("113/00/10", "date.invalid"),
        ("2023-02-29", "date.invalid"),
        ("0/12/31", "date.range"),  # 1911
        ("1911-12-31", "date.range"),
        ("2101-01-01", "date.range"),
        ("190/01/01", "date.range"),
        ("0000-01-01", "date.range"),
        ("", "date.format"),
        ("yesterday", "date.format"),
        ("113/5", "date.format"),
        ("10503", "date.format"),
        ("202405031", "date.format"),
        ("民國2024年5月3日", "date.format"),
        ("民國20240503", "date.format"),
        ("113年5月3日下午", "date.format"),
        ("11:3/05/03", "date.format"),  # a stop read inside a number: four groups
    ],
)
def test_parse_date_errors(raw, code):
    with pytest.raises(ValueProblem) as e:
        parse_date(raw)
    assert problem_code(e) == code
    value, problems = normalize("date", raw)
    expected = [] if not raw.strip() else [code]  # empty text is the caller's business
    assert (value, [p.code for p in problems]) == (None, expected)


def test_leap_day():
    assert parse_date("113/02/29") == date(2024, 2, 29)
    assert normalize_date("民國89年2月29日") == "2000-02-29"


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("roc_cjk", "113年5月3日"),
        ("roc_cjk_padded", "113年05月03日"),
        ("roc_slash", "113/05/03"),
        ("roc_compact", "1130503"),
        ("roc_dot", "113.5.3"),
        ("iso", "2024-05-03"),
        ("gregorian_slash", "2024/05/03"),
        ("gregorian_compact", "20240503"),
    ],
)
def test_format_date_examples(style, expected):
    assert format_date(D, style) == expected


def test_format_date_small_roc_year_and_errors():
    assert format_date(date(1950, 1, 2), "roc_compact") == "0390102"
    assert format_date(date(1950, 1, 2), "roc_slash") == "39/01/02"
    assert set(DATE_STYLES) == {
        "roc_cjk", "roc_cjk_padded", "roc_slash", "roc_compact", "roc_dot",
        "iso", "gregorian_slash", "gregorian_compact",
    }  # fmt: skip
    with pytest.raises(ValueError):
        format_date(D, "julian")
    with pytest.raises(ValueProblem) as e:
        format_date(date(1911, 12, 31), "roc_cjk")
    assert problem_code(e) == "date.range"


@settings(max_examples=400)
@given(
    st.dates(min_value=date(1912, 1, 1), max_value=date(2099, 12, 31)), st.sampled_from(DATE_STYLES)
)
def test_format_date_round_trips(d, style):
    text = format_date(d, style)
    assert parse_date(text) == d
    assert normalize("date", text) == (d.isoformat(), [])


# ------------------------------------------------------------------------------------------
# Phones
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912-345-678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("(02) 2345-6789", "0223456789"),
        ("02-23456789", "0223456789"),
        ("+886 912 345 678", "0912345678"),
        ("+886-2-2345-6789", "0223456789"),
        ("886912345678", "0912345678"),
        ("00886-2-2345-6789", "0223456789"),
        ("+886 (0)2 2345 6789", "0223456789"),
        ("０９１２－３４５－６７８", "0912345678"),
        ("（０２）２３４５－６７８９", "0223456789"),
        ("03-234-5678", "032345678"),
        ("04-2345-6789", "0423456789"),  # Taichung, 8 digits
        ("04-834-5678", "048345678"),  # Changhua, 7 digits
        ("037-123456", "037123456"),
        ("049-2345678", "0492345678"),
        ("082-312345", "082312345"),
        ("089-123456", "089123456"),
        ("0826-12345", "082612345"),
        ("0836-22345", "083622345"),
    ],
)
def test_normalize_phone_examples(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("0912-abc-678", "phone.format"),  # letters
        ("tel 0912345678", "phone.format"),
        ("02-2345-6789#123", "phone.format"),  # extension
        ("0912-345", "phone.format"),  # too short
        ("0912-345-6789", "phone.format"),  # too long (11 digits)
        ("091234567", "phone.format"),  # mobile with 9 digits
        ("02-234-5678", "phone.format"),  # 02 needs 8 digits
        ("0826-1234", "phone.format"),  # too short overall
        ("", "phone.format"),
        ("+", "phone.format"),
        ("012-345-6789", "phone.prefix"),  # unknown area code 01
        ("0012345678", "phone.prefix"),
        ("912345678", "phone.prefix"),  # no leading 0
        ("+1-212-555-0100", "phone.prefix"),  # not Taiwanese
    ],
)
def test_normalize_phone_errors(raw, code):
    with pytest.raises(ValueProblem) as e:
        normalize_phone(raw)
    assert problem_code(e) == code


@pytest.mark.parametrize(
    ("digits", "style", "expected"),
    [
        ("0912345678", "plain", "0912345678"),
        ("0912345678", "dashed", "0912-345-678"),
        ("0912345678", "paren", "0912-345-678"),
        ("0912345678", "spaced", "0912 345 678"),
        ("0912345678", "intl", "+886-912-345-678"),
        ("0223456789", "plain", "0223456789"),
        ("0223456789", "dashed", "02-2345-6789"),
        ("0223456789", "paren", "(02)2345-6789"),
        ("0223456789", "spaced", "02 2345 6789"),
        ("0223456789", "intl", "+886-2-2345-6789"),
        ("032345678", "dashed", "03-234-5678"),
        ("082312345", "paren", "(082)312345"),
        ("083622345", "intl", "+886-836-22345"),
    ],
)
def test_format_phone_examples(digits, style, expected):
    assert format_phone(digits, style) == expected


def test_format_phone_rejects_bad_input():
    with pytest.raises(ValueError):
        format_phone("0912345678", "fancy")
    with pytest.raises(ValueProblem) as e:
        format_phone("0112345678", "plain")
    assert problem_code(e) == "phone.prefix"
    with pytest.raises(ValueError):
        generate_phone(random.Random(0), "fax")


@settings(max_examples=400)
@given(seeds, st.sampled_from(["mobile", "landline"]), st.sampled_from(PHONE_STYLES))
def test_format_phone_round_trips(seed, kind, style):
    digits = generate_phone(random.Random(seed), kind)
    assert digits.isdigit() and len(digits) in (9, 10)
    assert digits.startswith("09") == (kind == "mobile")
    assert normalize_phone(digits) == digits
    assert normalize_phone(format_phone(digits, style)) == digits
    assert validate("phone", digits) == []


def test_generate_phone_covers_landline_areas():
    rng = random.Random(7)
    areas = {v._split_phone(generate_phone(rng, "landline"))[0] for _ in range(2000)}
    assert areas == {a for a, _, _ in v.LANDLINE_AREAS}


# ------------------------------------------------------------------------------------------
# Numbers and checkboxes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "typ"),
    [
        ("12", 12, int), ("１２", 12, int), (" 3 ", 3, int), ("2.5", 2.5, float),
        ("-4", -4, int), ("1,234", 1234, int), ("1,234.5", 1234.5, float), (".5", 0.5, float),
        ("２．５", 2.5, float), (7, 7, int),
    ],
)  # fmt: skip
def test_normalize_number(raw, expected, typ):
    result = normalize_number(raw)
    assert result == expected
    assert type(result) is typ


@pytest.mark.parametrize(
    "raw",
    ["abc", "", "1.2.3", "12,34", "1e5", "nan", "inf", "5.", "--1", "1 2 a", "9" * 400 + ".0"],
)
def test_normalize_number_errors(raw):
    with pytest.raises(ValueProblem) as e:
        normalize_number(raw)
    assert problem_code(e) == "number.format"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True), ("TRUE", True), ("yes", True), ("1", True), ("是", True), ("✓", True),
        ("✗", True), ("v", True), ("V", True), ("x", True), ("X", True), ("Ｖ", True),
        ("false", False), ("no", False), ("0", False), ("否", False), ("", False), ("  ", False),
    ],
)  # fmt: skip
def test_normalize_checkbox(raw, expected):
    assert normalize_checkbox(raw) is expected


def test_normalize_checkbox_error():
    with pytest.raises(ValueProblem) as e:
        normalize_checkbox("maybe")
    assert problem_code(e) == "checkbox.format"


# ------------------------------------------------------------------------------------------
# normalize() and validate()
# ------------------------------------------------------------------------------------------


def test_normalizers_table():
    assert NORMALIZERS["text"] is normalize_text
    assert NORMALIZERS["name"] is normalize_name
    assert NORMALIZERS["address"] is normalize_address
    assert NORMALIZERS["national_id"] is normalize_national_id
    assert NORMALIZERS["date"] is normalize_date
    assert NORMALIZERS["phone"] is normalize_phone
    assert NORMALIZERS["number"] is normalize_number


def test_normalize_dispatch():
    assert normalize("national_id", "a12345678g") == ("A123456789", [])
    assert normalize("date", "113年5月3日") == ("2024-05-03", [])
    assert normalize("phone", "+886 912 345 678") == ("0912345678", [])
    assert normalize("number", "１２") == (12, [])
    assert normalize("name", "王 小 明") == ("王小明", [])
    value, problems = normalize("national_id", "A123456788")
    assert value is None
    assert [p.code for p in problems] == ["national_id.checksum"]
    value, problems = normalize("phone", "0912-abc-678")
    assert (value, [p.code for p in problems]) == (None, ["phone.format"])


@pytest.mark.parametrize("field_type", sorted(NORMALIZERS))
@pytest.mark.parametrize("text", ["", "   ", "\u3000\t", None])
def test_normalize_empty_is_not_a_problem(field_type, text):
    assert normalize(field_type, text) == (None, [])


def test_normalize_unknown_type():
    with pytest.raises(KeyError):
        normalize("passport", "X")
    with pytest.raises(KeyError):
        validate("passport", "X")


@settings(max_examples=300)
@given(st.sampled_from(sorted(NORMALIZERS)), st.text(max_size=20))
def test_normalize_never_raises(field_type, text):
    value, problems = normalize(field_type, text)
    assert (value is None) or problems == []
    assert all(isinstance(p, ValueProblem) and p.code.count(".") == 1 for p in problems)


@pytest.mark.parametrize(
    ("field_type", "value", "codes"),
    [
        ("national_id", "A123456789", []),
        ("national_id", "A123456788", ["national_id.checksum"]),
        ("national_id", "a123456789", ["national_id.not_normalized"]),
        ("national_id", "A1234567B9", ["national_id.not_normalized"]),  # OCR repair not applied
        ("national_id", "A1234", ["national_id.format"]),
        ("date", "2024-05-03", []),
        ("date", date(2024, 5, 3), []),
        ("date", "113/05/03", ["date.format"]),
        ("date", "2024-5-3", ["date.format"]),
        ("date", "2024-02-30", ["date.invalid"]),
        ("date", "1911-12-31", ["date.range"]),
        ("date", "2101-01-01", ["date.range"]),
        ("date", date(1900, 1, 1), ["date.range"]),
        ("phone", "0912345678", []),
        ("phone", "0912-345-678", ["phone.not_normalized"]),
        ("phone", "0112345678", ["phone.prefix"]),
        ("phone", "091234", ["phone.format"]),
        ("number", 3, []),
        ("number", 2.5, []),
        ("number", "3", ["number.format"]),
        ("number", True, ["number.format"]),
        ("number", float("nan"), ["number.format"]),
        ("text", "Wang Xiao Ming", []),
        ("text", "王 小明", ["text.not_normalized"]),
        ("text", 5, ["text.format"]),
        ("name", "王小明", []),
        ("name", "王小明3", ["name.characters"]),
        ("address", "臺北市中正區", []),
        ("checkbox", True, []),
        ("checkbox", "yes", ["checkbox.format"]),
        ("text", None, []),
        ("phone", "", []),
    ],
)
def test_validate(field_type, value, codes):
    assert [p.code for p in validate(field_type, value)] == codes


@settings(max_examples=200)
@given(st.dates(min_value=date(1912, 1, 1), max_value=date(2100, 12, 31)))
def test_validate_accepts_iso_in_range(d):
    assert validate("date", d.isoformat()) == []


def test_police_precincts_are_districts_of_their_city():
    from intake.gazetteer import unknown_precincts

    assert unknown_precincts("桃園市政府警察局中壢分局忠義派出所") == []
    assert unknown_precincts("臺南市政府警察局東區分局") == []
    assert unknown_precincts("台南市政府警察局第一分局") == []  # numbered precincts
    assert unknown_precincts("新竹縣政府警察局竹北分局") == []  # 竹北市, named without 市
    assert unknown_precincts("桃園市政府警察局中靂分局忠義派出所") == ["桃園市政府警察局中靂分局"]  # 壢 misread
    assert unknown_precincts("臺南市政府警察局束區分局") == ["臺南市政府警察局束區分局"]  # 東 misread
    assert unknown_precincts("臺中市政府社會局") == []


def test_a_county_or_town_one_character_off_a_real_one_is_named() -> None:
    """Fresh seed 577, a fax: 彰化縣政府社會處 read 影化縣政府社會處 by Tesseract and the tiny
    recogniser alike. No county, city or township is 影化縣, and one is one character off it."""
    from intake.gazetteer import near_miss_places

    assert near_miss_places("影化縣政府社會處") == ["影化縣"]
    assert near_miss_places("內政部移民署高椎市服務站") == ["高椎市"]
    assert near_miss_places("彰化縣政府社會處") == []
    assert near_miss_places("台北市立聯合醫院") == []  # 台 is 臺
    assert near_miss_places("竹北市公所") == []  # a township ending in 市
    assert near_miss_places("案主往返各縣市與大城市之間") == []  # words two characters off any place


def test_one_definition_of_a_chinese_character() -> None:
    """`is_han` (the reader, the bigram model and the form importers use it): CJK Unified
    Ideographs and Extension A, the compatibility ideographs and Extension B (rare name characters);
    not the Yijing hexagram symbols between them (U+4DC0-4DFF), CJK punctuation or full-width Latin."""
    from intake.values import is_han

    assert all(is_han(c) for c in "龔栗慄\u3400\uf900\U00020000")
    assert not any(is_han(c) for c in "\u4dc0。，Ａa1 ")
    assert not is_han("栗慄")
