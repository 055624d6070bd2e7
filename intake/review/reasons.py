"""Why a field needs a person, in words a supervisor understands: Traditional Chinese and English.

One entry per stable code the reader, the validators and the record checks give (see
docs/design-notes.md, "`intake extract --json`"); a rule's own message comes from its template.
The review pages show these under each field; the API's 422 answers carry the Chinese beside the
validator's English (`detail_zh`).
"""

from __future__ import annotations

from intake.forms.model import Template

REASONS: dict[str, tuple[str, str]] = {
    # reading
    "low_confidence": ("辨識信心不足，請與原件核對。", "The machine is not sure of this reading; compare it with the form."),
    "readings_disagree": ("兩個辨識引擎讀出不同的內容，顯示的是較常正確的那一個。",
                          "The two reading engines read different things; the one shown is the one right more often."),
    "unreadable": ("有筆跡，但無法辨識。", "Something is written here but could not be read."),
    "ocr_timeout": ("辨識逾時，請直接輸入。", "Reading this field took too long; type it in."),
    "verify": ("請與原件核對。", "Compare it with the form."),
    "faint_ink": ("筆跡很淡（淺色筆或鉛筆），請與原件核對。",
                  "The writing is faint (a light pen or pencil); compare it with the form."),
    "required": ("必填欄位是空的。", "This field is required and is empty."),
    "fax.writing_may_be_lost": ("這份傳真可能傳得太淡，淺色筆或鉛筆的字跡可能已經消失：空白不一定是沒填，請向來文單位確認或請對方重傳。",
                                "This fax may have been sent too light, and writing in a light pen or pencil may be gone: "
                                "empty may not mean unfilled. Check with the sender, or ask for the fax again."),
    "fax.writing_partly_lost": ("這份傳真上淺色筆或鉛筆的字跡可能有一部分已經消失，讀到的字可能不完整，請與原件核對。",
                                "Writing in a light pen or pencil may be partly gone from this fax: the reading may be "
                                "missing characters. Compare it with the form."),
    "page_missing": ("這一頁沒有掃描到。", "This page of the form was not scanned."),
    "page_unreadable": ("這一頁無法讀取。", "This page of the form could not be read."),
    "other_text_missing": ("勾選「其他」時，請填寫說明。", "\"Other\" is marked but its text is empty."),
    # names and texts
    "name.mixed_script": ("中文姓名中有英文字母，可能是破損的中文字被讀成字母，請確認。",
                          "A Chinese name has a Latin letter in it, likely a broken character read as one; check it."),
    "name.rare_surname": ("第一個字不是常見的姓氏，請確認。", "The first character is not a common surname; check it."),
    "name.variant_surname": ("這個姓氏有兩種寫法（如溫／温），請確認原件用哪一種。",
                             "This surname is written two ways (e.g. 溫/温); check which one the form uses."),
    "name.close_call": ("有一個字，辨識引擎在兩個字之間差一點就選了另一個，另一個引擎讀的正是那個字（如「改／苡」），請確認。",
                        "One character was a close call between two, and another engine read the other one (改/苡); check it."),
    "text.close_call": ("有一個字，辨識引擎在兩個字之間差一點就選了另一個，另一個引擎讀的正是那個字，請確認。",
                        "One character was a close call between two, and another engine read the other one; check it."),
    "address.close_call": ("有一個字，辨識引擎在兩個字之間差一點就選了另一個，另一個引擎讀的正是那個字，請確認。",
                           "One character was a close call between two, and another engine read the other one; check it."),
    "name.surname_uncertain": ("姓氏也可能是另一個字形相近的姓（如「關／闕」），請確認。",
                               "The surname could be another one that looks alike (關/闕); check it."),
    "name.one_character": ("姓名只讀到一個字，可能只寫了姓，或其餘的字跡已經消失，請確認。",
                           "The name reads as one character: a surname alone, or the rest of the writing is gone; check it."),
    "address.no_county": ("地址沒有以縣市開頭，可能沒寫縣市，或部分字跡已經消失，請確認。",
                          "The address does not begin with its county or city: not written, or part of the writing is gone; check it."),
    "date.padded_year": ("年份寫成0開頭的三位數（如019），可能是民國19年，也可能是2019年漏讀了「2」，請確認。",
                         "The year is three digits beginning with 0 (019): ROC year 19, or 2019 with its 2 not read; check it."),
    "text.spaced_digits": ("數字中間讀到一個空格（如「11 3」），中文裡的數字不會這樣寫，請確認。",
                           "A space inside a number (11 3): Chinese text writes none there; check it."),
    "name.detached_character": ("姓名中有一個字離其他字很遠，可能是污點或框線被讀成字（如「一」），請確認。",
                                "A character of the name stands far from the rest: a speck or a line read as one (一); check it."),
    "name.empty": ("姓名是空的。", "The name is empty."),
    "name.short": ("姓名只有一個字母，請確認。", "A name of one letter: check it."),
    "name.characters": ("姓名不能有數字或冒號、括號等符號，請確認。", "A name cannot contain digits, or symbols such as a colon or brackets; check it."),
    "name.format": ("姓名格式不對。", "The name is not in a valid form."),
    "name.unexpected_value": ("這個值不在常見的選項中，請確認。", "This is not one of the usual values here; check it."),
    "text.unexpected_value": ("這個值不在常見的選項中，請確認。", "This is not one of the usual values here; check it."),
    "text.unknown_precinct": ("警察分局名稱與該市的行政區不符，請確認。",
                              "The police precinct does not match a district of its city; check it."),
    "text.unknown_place": ("有一個縣市或鄉鎮名稱與實際地名只差一個字，可能讀錯了，請確認。",
                           "A county or town name is one character off a real one, likely misread; check it."),
    "text.confusable": ("兩個辨識引擎都讀成同一個容易混淆的字（如「人／入」、「字／宇」），請確認。",
                        "Both engines read a character they often confuse (人/入, 字/宇); check it."),
    "text.unlikely_characters": ("有一個容易混淆的字放在這裡不通順（如「人監」應為「入監」），請確認。",
                                 "A character both engines confuse makes no sense here (人監 for 入監); check it."),
    "name.confusable": ("兩個辨識引擎都讀成同一個容易混淆的字（如「字／宇」），請確認。",
                        "Both engines read a character they often confuse (字/宇); check it."),
    "address.confusable": ("兩個辨識引擎都讀成同一個容易混淆的字（如「二／三」），請確認。",
                           "Both engines read a character they often confuse (二/三); check it."),
    "name.stray_mark": ("名字中間或後面多了一個點，可能是紙上的污點被讀成標點，請確認。",
                        "A dot in or after the name may be a speck read as a stop; check it."),
    "text.stray_mark": ("中文字之間、中文字或中文標點後面多了一個英文句點或點，或讀到一個不確定的分號（可能是逗號上的污點），"
                        "請確認。",
                        "A Latin stop between or after Chinese characters, or after Chinese punctuation, or a semicolon "
                        "read without a clear lead (a speck above a comma), may be a speck read as a mark; check it."),
    "address.stray_mark": ("地址中間或後面多了一個點，可能是紙上的污點被讀成標點，請確認。",
                           "A dot in or after the address may be a speck read as a stop; check it."),
    "name.shared_doubt": ("兩個辨識模型在同一個字上都猶豫（如「住」也可能是「佳」），請確認。",
                          "Both recognisers hesitated over the same character (住, or 佳?); check it."),
    "text.line_end_dropped": ("有一行結尾的標點（、，。）可能被漏讀了：另一個辨識引擎在那裡讀到標點，請確認。",
                              "A line may have lost its final 、，。: another engine read one there; check it."),
    "address.line_end_dropped": ("有一行結尾的標點（、，。）可能被漏讀了：另一個辨識引擎在那裡讀到標點，請確認。",
                                 "A line may have lost its final 、，。: another engine read one there; check it."),
    "text.too_long": ("內容超過這個欄位的長度上限。", "The text is longer than this field allows."),
    "text.format": ("內容格式不對。", "The text is not in a valid form."),
    "address.district": ("地址的縣市後面不是它的鄉鎮市區，請確認。",
                         "The address names no district of its county or city after it; check it."),
    "address.characters": ("地址含有不應出現的符號（例如把「三段」讀成「=段」）。",
                           "The address has a symbol addresses never have (e.g. =段 for 三段)."),
    "address.empty": ("地址是空的。", "The address is empty."),
    "address.format": ("地址格式不對。", "The address is not in a valid form."),
    # numbers, IDs, dates, phones
    "date.long_ago": ("日期在九十五年以前，可能是年份少讀或讀錯一位（如 113 讀成 13、46 讀成 16），請確認。",
                      "The date is 95 years ago or more: a digit of the year may be missing or misread (113 read 13, 46 read 16); "
                      "check it."),
    "national_id.checksum": ("身分證字號的檢查碼不符，請逐字核對。", "The ID number's check digit does not match; compare every digit."),
    "national_id.format": ("身分證字號應為 1 個英文字母加 9 個字元，例如 A123456789。",
                           "An ID number is one letter and 9 characters, e.g. A123456789."),
    "national_id.digit_shape": ("有數字的形狀與讀出的數字不符（例如 3 和 8），請逐字核對。",
                                "A digit's shape does not match the digit read (3 and 8, say); compare every digit."),
    "national_id.letter_for_digit": ("有一個數字被辨識成英文字母，請逐字核對。", "One engine read a letter where a digit belongs; compare every character."),
    "national_id.uncertain_digit": ("有一個字元辨識得不夠肯定，請逐字核對。", "One character was read without a clear lead; compare every character."),
    "date.uncertain_digit": ("有一個數字辨識得不夠肯定，請核對。", "One digit was read without a clear lead; check it."),
    "phone.uncertain_digit": ("有一個數字辨識得不夠肯定，請核對。", "One digit was read without a clear lead; check it."),
    "address.uncertain_digit": ("地址中有一個「1」也可能是「4」，請核對門牌、巷弄或段的數字。",
                                "A 1 in the address may be a 4; check its numbers."),
    "number.uncertain_digit": ("有一個數字辨識得不夠肯定，請核對。", "One digit was read without a clear lead; check it."),
    "number.digit_shape": ("有數字的形狀與讀出的數字不符，請核對。", "A digit's shape does not match the digit read; check it."),
    "phone.digit_shape": ("有數字的形狀與讀出的數字不符，請核對。", "A digit's shape does not match the digit read; check it."),
    "number.format": ("這不是數字。", "This is not a number."),
    "date.format": ("日期格式不對，請輸入如 1130503 或 113/5/3。", "This is not a date; type it like 1130503 or 113/5/3."),
    "date.invalid": ("沒有這個日期（月份或日期不對）。", "There is no such date (wrong month or day)."),
    "date.range": ("日期超出範圍（民國元年至西元 2100 年）。", "The date is out of range (ROC year 1 to 2100)."),
    "phone.format": ("電話號碼的位數或格式不對。", "The phone number has the wrong number of digits or form."),
    "phone.prefix": ("電話號碼不是以區碼或 09 開頭。", "The phone number does not start with an area code or 09."),
    # marks
    "mark.cancelled": ("方格被塗滿（表示取消），請確認是否勾選。", "The box is filled in (a cancelled mark); check whether it is marked."),
    "mark.cancelled_only": ("只有被塗滿（取消）的方格，請確認勾選了哪一個。",
                            "Only cancelled (filled) boxes; check which one is meant."),
    "mark.square_not_found": ("找不到印好的方格，框內的筆跡可能是方格的邊。",
                              "The printed square was not found; the ink may be its own edge."),
    "choice.several_marked": ("只能選一個，卻勾了好幾個。", "Only one may be marked, but several are."),
    "choice.unknown": ("不是這個欄位的選項。", "This is not one of the field's options."),
    "choice.type": ("應為選項的清單。", "Expected a list of options."),
    "checkbox.format": ("應為勾選或未勾選。", "Expected marked or not marked."),
    "checkbox.type": ("應為勾選或未勾選。", "Expected marked or not marked."),
    "signature.type": ("應為有簽名或沒有簽名。", "Expected signed or not signed."),
    # record level
    "pages_missing": ("表單有幾頁沒有掃描到。", "Some pages of the form were not scanned."),
}
NOT_NORMALIZED = ("格式不是標準寫法。", "The value is not in its standard form.")
UNKNOWN = ("請與原件核對。", "Compare it with the form.")


def reason_words(code: str, template: Template | None = None, field_name: str | None = None) -> tuple[str, str]:
    """(中文, English) for a code; a rule's code in words from the template's own message."""
    if code.startswith("rule.") and template is not None:
        check = code.removeprefix("rule.")
        for rule in template.rules:
            if rule.check == check and (field_name is None or field_name in rule.fields):
                return rule.message.zh or rule.message.en or "", rule.message.en or rule.message.zh or ""
    if code in REASONS:
        return REASONS[code]
    if code.endswith(".not_normalized"):
        return NOT_NORMALIZED
    return UNKNOWN
