"""Names of places and people that a reading can be checked against.

- Taiwan's 22 counties and cities with their 368 townships and districts (the 2014 structure,
  unchanged since), for addresses: "中靂區" is a misreading, "中壢區" a district.
- Surnames (and the few written with two variant characters), from Faker's zh_TW table (200 surnames with their shares of Taiwan's population,
  99% in total), for names: a reading whose first character is not a surname is more likely a
  misreading than a rare surname, so it goes to review (it is never rejected).
"""

from __future__ import annotations

import re
from functools import lru_cache

COUNTIES: dict[str, tuple[str, ...]] = {
    "臺北市": ("中正區", "大同區", "中山區", "松山區", "大安區", "萬華區", "信義區", "士林區", "北投區", "內湖區", "南港區", "文山區"),
    "新北市": ("板橋區", "三重區", "中和區", "永和區", "新莊區", "新店區", "樹林區", "鶯歌區", "三峽區", "淡水區", "汐止區", "瑞芳區",
              "土城區", "蘆洲區", "五股區", "泰山區", "林口區", "深坑區", "石碇區", "坪林區", "三芝區", "石門區", "八里區", "平溪區",
              "雙溪區", "貢寮區", "金山區", "萬里區", "烏來區"),
    "基隆市": ("中正區", "七堵區", "暖暖區", "仁愛區", "中山區", "安樂區", "信義區"),
    "桃園市": ("桃園區", "中壢區", "大溪區", "楊梅區", "蘆竹區", "大園區", "龜山區", "八德區", "龍潭區", "平鎮區", "新屋區", "觀音區", "復興區"),
    "新竹市": ("東區", "北區", "香山區"),
    "新竹縣": ("竹北市", "竹東鎮", "新埔鎮", "關西鎮", "湖口鄉", "新豐鄉", "芎林鄉", "橫山鄉", "北埔鄉", "寶山鄉", "峨眉鄉", "尖石鄉", "五峰鄉"),
    "苗栗縣": ("苗栗市", "頭份市", "苑裡鎮", "通霄鎮", "竹南鎮", "後龍鎮", "卓蘭鎮", "大湖鄉", "公館鄉", "銅鑼鄉", "南庄鄉", "頭屋鄉",
              "三義鄉", "西湖鄉", "造橋鄉", "三灣鄉", "獅潭鄉", "泰安鄉"),
    "臺中市": ("中區", "東區", "南區", "西區", "北區", "西屯區", "南屯區", "北屯區", "豐原區", "東勢區", "大甲區", "清水區", "沙鹿區",
              "梧棲區", "后里區", "神岡區", "潭子區", "大雅區", "新社區", "石岡區", "外埔區", "大安區", "烏日區", "大肚區", "龍井區",
              "霧峰區", "太平區", "大里區", "和平區"),
    "彰化縣": ("彰化市", "員林市", "鹿港鎮", "和美鎮", "北斗鎮", "溪湖鎮", "田中鎮", "二林鎮", "線西鄉", "伸港鄉", "福興鄉", "秀水鄉",
              "花壇鄉", "芬園鄉", "大村鄉", "埔鹽鄉", "埔心鄉", "永靖鄉", "社頭鄉", "二水鄉", "田尾鄉", "埤頭鄉", "芳苑鄉", "大城鄉",
              "竹塘鄉", "溪州鄉"),
    "南投縣": ("南投市", "埔里鎮", "草屯鎮", "竹山鎮", "集集鎮", "名間鄉", "鹿谷鄉", "中寮鄉", "魚池鄉", "國姓鄉", "水里鄉", "信義鄉", "仁愛鄉"),
    "雲林縣": ("斗六市", "斗南鎮", "虎尾鎮", "西螺鎮", "土庫鎮", "北港鎮", "古坑鄉", "大埤鄉", "莿桐鄉", "林內鄉", "二崙鄉", "崙背鄉",
              "麥寮鄉", "東勢鄉", "褒忠鄉", "臺西鄉", "元長鄉", "四湖鄉", "口湖鄉", "水林鄉"),
    "嘉義市": ("東區", "西區"),
    "嘉義縣": ("太保市", "朴子市", "布袋鎮", "大林鎮", "民雄鄉", "溪口鄉", "新港鄉", "六腳鄉", "東石鄉", "義竹鄉", "鹿草鄉", "水上鄉",
              "中埔鄉", "竹崎鄉", "梅山鄉", "番路鄉", "大埔鄉", "阿里山鄉"),
    "臺南市": ("中西區", "東區", "南區", "北區", "安平區", "安南區", "永康區", "歸仁區", "新化區", "左鎮區", "玉井區", "楠西區", "南化區",
              "仁德區", "關廟區", "龍崎區", "官田區", "麻豆區", "佳里區", "西港區", "七股區", "將軍區", "學甲區", "北門區", "新營區",
              "後壁區", "白河區", "東山區", "六甲區", "下營區", "柳營區", "鹽水區", "善化區", "大內區", "山上區", "新市區", "安定區"),
    "高雄市": ("新興區", "前金區", "苓雅區", "鹽埕區", "鼓山區", "旗津區", "前鎮區", "三民區", "楠梓區", "小港區", "左營區", "仁武區",
              "大社區", "岡山區", "路竹區", "阿蓮區", "田寮區", "燕巢區", "橋頭區", "梓官區", "彌陀區", "永安區", "湖內區", "鳳山區",
              "大寮區", "林園區", "鳥松區", "大樹區", "旗山區", "美濃區", "六龜區", "內門區", "杉林區", "甲仙區", "桃源區", "那瑪夏區",
              "茂林區", "茄萣區"),
    "屏東縣": ("屏東市", "潮州鎮", "東港鎮", "恆春鎮", "萬丹鄉", "長治鄉", "麟洛鄉", "九如鄉", "里港鄉", "鹽埔鄉", "高樹鄉", "萬巒鄉",
              "內埔鄉", "竹田鄉", "新埤鄉", "枋寮鄉", "新園鄉", "崁頂鄉", "林邊鄉", "南州鄉", "佳冬鄉", "琉球鄉", "車城鄉", "滿州鄉",
              "枋山鄉", "三地門鄉", "霧臺鄉", "瑪家鄉", "泰武鄉", "來義鄉", "春日鄉", "獅子鄉", "牡丹鄉"),
    "宜蘭縣": ("宜蘭市", "羅東鎮", "蘇澳鎮", "頭城鎮", "礁溪鄉", "壯圍鄉", "員山鄉", "冬山鄉", "五結鄉", "三星鄉", "大同鄉", "南澳鄉"),
    "花蓮縣": ("花蓮市", "鳳林鎮", "玉里鎮", "新城鄉", "吉安鄉", "壽豐鄉", "光復鄉", "豐濱鄉", "瑞穗鄉", "富里鄉", "秀林鄉", "萬榮鄉", "卓溪鄉"),
    "臺東縣": ("臺東市", "成功鎮", "關山鎮", "卑南鄉", "大武鄉", "太麻里鄉", "東河鄉", "長濱鄉", "鹿野鄉", "池上鄉", "綠島鄉", "延平鄉",
              "海端鄉", "達仁鄉", "金峰鄉", "蘭嶼鄉"),
    "澎湖縣": ("馬公市", "湖西鄉", "白沙鄉", "西嶼鄉", "望安鄉", "七美鄉"),
    "金門縣": ("金城鎮", "金湖鎮", "金沙鎮", "金寧鄉", "烈嶼鄉", "烏坵鄉"),
    "連江縣": ("南竿鄉", "北竿鄉", "莒光鄉", "東引鄉"),
}

# Surnames written with two characters, checked before single ones.
COMPOUND_SURNAMES = ("歐陽", "司馬", "諸葛", "上官", "東方", "張簡", "范姜", "周黃", "張廖", "簡李", "劉張", "江謝")


def _canon(s: str) -> str:
    return s.replace("台", "臺")


def split_county(address: str) -> tuple[str, str] | None:
    """(county as in COUNTIES, rest of the address) if it starts with a county or city name."""
    a = _canon(address)
    for county in COUNTIES:
        if a.startswith(county):
            return county, a[len(county):]
    return None


def district_of(address: str) -> tuple[str, str | None] | None:
    """(county, district or None if what follows the county is not one of its districts);
    None when the address does not start with a county or city."""
    parts = split_county(address)
    if parts is None:
        return None
    county, rest = parts
    for d in sorted(COUNTIES[county], key=len, reverse=True):
        if rest.startswith(_canon(d)):
            return county, d
    return county, None


@lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    from faker.providers.person.zh_TW import Provider

    return frozenset(Provider.last_names) | frozenset(COMPOUND_SURNAMES)


# Surnames written more than one way. Each group: the standard Traditional form (the Ministry of
# Education's standard character) first, then its other forms. OCR reads either as the more
# common one, so a person checks which the form says, but only where that can matter:
# - a non-standard form (温, 黄, 凃) is always checked: it is rare, and a misreading of the
#   standard one as often as it is the writer's own form;
# - a standard form is checked only when another form of it is really used in Taiwan: at least
#   `VARIANT_MIN_SHARE` of the standard form's share of the population (Faker's zh_TW table,
#   the surname list above). 黃 is 6% of Taiwan, 黄 0.15% (1 in 40): a name beginning with 黃
#   is not checked for that (it was: every 黃 name went to review). 溫 0.06% / 温 0.18%,
#   鍾 0.65% / 鐘 0.12% (two surnames of their own), 涂 0.12% / 凃 0.07% / 塗 0.01% are.
SURNAME_FORMS: tuple[tuple[str, str], ...] = (("溫", "温"), ("黃", "黄"), ("鍾", "鐘"), ("涂", "凃塗"), ("鐘", "鍾"),
                                              ("塗", "涂凃"))
NON_STANDARD_SURNAMES = frozenset("温黄凃")
VARIANT_MIN_SHARE = 0.10
# Two surnames of their own that the readers tell apart (金+重, 金+童): checked, like 黃, only where
# a recogniser that can read both doubted the form or read the other (`read._surname_form_doubted`).
# Until the tenth session (2026-12-03) every 鍾 and 鐘 name went to review: 55 on fresh seeds
# 467-557 and 280 more made for it (140 each, typed and handwritten, clean, office, fax and phone,
# unseen faces), and no final value had the other surname; only PP-OCR's tiny recogniser, which
# has no 鍾 at all, read 鐘 (128 of the 140 鍾), and Tesseract read 鍾 for 鐘 three times.
TOLD_APART_SURNAMES = frozenset("鍾鐘")


@lru_cache(maxsize=1)
def _surname_shares() -> dict[str, float]:
    from faker.providers.person.zh_TW import Provider

    return {k: float(v) for k, v in Provider.last_names.items()}


@lru_cache(maxsize=1)
def variant_surnames() -> frozenset[str]:
    """The first characters of a name that send it to a person as a "variant surname"."""
    shares = _surname_shares()
    out = set(NON_STANDARD_SURNAMES)
    for standard, others in SURNAME_FORMS:
        own = shares.get(standard, 0.0)
        if standard not in TOLD_APART_SURNAMES and any(shares.get(o, 0.0) >= VARIANT_MIN_SHARE * own for o in others):
            out.add(standard)
    return frozenset(out)


def variant_surname(name: str) -> bool:
    """Whether a name begins with a surname whose other written form is really used in Taiwan,
    or with a non-standard form (not 黃: see `SURNAME_FORMS`; nor 鍾 and 鐘, `TOLD_APART_SURNAMES`)."""
    return name[:1] in variant_surnames()


def other_surname_forms(name: str) -> str:
    """The other written forms of the surname a name begins with ("黄" for 黃...), "" if none."""
    return "".join(others for standard, others in SURNAME_FORMS if name[:1] == standard)


def known_surname(name: str) -> bool:
    """Whether a Chinese name starts with a known surname (compound ones first)."""
    s = surnames()
    return name[:2] in s or name[:1] in s


_PRECINCT = re.compile(r"(\S{2,3}?[縣市])政府警察局(\S{1,4}?)分局")
_NUMBERED = re.compile(r"第[一二三四五六七八九十]+")


def unknown_precincts(text: str) -> list[str]:
    """Police precincts named in `text` ("桃園市政府警察局中壢分局") whose name is neither one of
    that county's districts (with or without 區/鄉/鎮/市) nor numbered (第一分局): "中靂分局" is a
    misreading of "中壢分局". Real precincts named otherwise (中正第一分局) are listed too, so a
    person looks; none is ever wrongly passed."""
    out = []
    for m in _PRECINCT.finditer(_canon(text)):
        county, name = m.group(1), m.group(2)
        districts = COUNTIES.get(county)
        if districts is None or _NUMBERED.fullmatch(name):
            continue
        if not any(name in (_canon(d), _canon(d)[:-1]) for d in districts):
            out.append(m.group(0))
    return out


@lru_cache(maxsize=1)
def _places_by_suffix() -> dict[str, frozenset[str]]:
    """The counties, cities and townships of three characters ending in 縣 or 市, by that suffix."""
    names = {_canon(n) for county, districts in COUNTIES.items() for n in (county, *districts)}
    return {s: frozenset(n for n in names if len(n) == 3 and n[-1] == s) for s in "縣市"}


def near_miss_places(text: str) -> list[str]:
    """Three characters ending in 縣 or 市 in `text` that name no county, city or township but
    are one character off one ("影化縣" for 彰化縣): a place name misread, as the readers misread
    彰 as 影 on a fax. Words such as 各縣市 or 大城市 are two characters off any."""
    t = _canon(text)
    places = _places_by_suffix()
    out = []
    for i in range(len(t) - 2):
        w = t[i:i + 3]
        known = places.get(w[-1])
        if not known or w in known:
            continue
        if any(sum(a != b for a, b in zip(w, k, strict=True)) == 1 for k in known):
            out.append(w)
    return out
