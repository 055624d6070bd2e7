"""Realistic, valid record data for a template: the truth of a synthetic form.

`synth_record(template, rng)` returns a record's data normalised as DESIGN.md's table says, and
always valid: ``record_violations(template, data) == []``. Nobody in it is real: names come from
Faker's zh_TW provider, ID numbers are random with valid check digits, addresses combine real
county and district names with Faker street names and random numbers.

What is generic and what is not: the field *type* decides the kind of value, the template's
``required``, ``rules`` (not_after / required_if / at_least_one), options' ``text_field`` and
``computed`` are honoured for any template. Realism comes from name heuristics: fields sharing a
prefix (``child_name``, ``child_sex``, ``child_birth_date``, ...) describe one person; the prefix
says who it is (child, reporter, victim, ...); a ``*_relationship`` choice decides how that person
relates to the child or victim (a father is a man 18-45 years older, shares the child's surname,
and so on); a table with a ``name`` column is a household. A field the heuristics do not know still
gets a valid value of its type, and a final repair pass makes every rule hold.

Dates are relative to a fixed reference date, so output never depends on today.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from faker import Faker

from intake.forms.model import Field, Template
from intake.forms.rules import computed_values, empty_value, is_empty, record_violations
from intake.forms.synth.draw import fits_box
from intake.values import (
    generate_national_id,
    generate_phone,
    national_id_check_digit,
    normalize_address,
    normalize_name,
    normalize_phone,
    normalize_text,
)

REFERENCE_DATE = date(2026, 6, 30)
REPORT_WINDOW_DAYS = 3 * 365

# --------------------------------------------------------------------------------------------
# Places: county, ID letter, landline area code, districts, relative population weight
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class County:
    name: str
    letter: str  # first letter of ID numbers registered there
    area: str  # landline area code
    lead: str  # first digits of local subscriber numbers (keeps 03-7... from reading as 037)
    sub_len: int  # digits after the area code
    districts: tuple[str, ...]
    weight: float  # relative population


COUNTIES: tuple[County, ...] = (
    County("臺北市", "A", "02", "2", 8, ("中正區", "大安區", "信義區", "士林區", "內湖區"), 2.5),
    County("新北市", "F", "02", "28", 8, ("板橋區", "三重區", "中和區", "新莊區", "淡水區"), 4.0),
    County("基隆市", "C", "02", "24", 8, ("仁愛區", "中正區", "七堵區"), 0.36),
    County("桃園市", "H", "03", "34", 7, ("桃園區", "中壢區", "八德區", "龜山區", "楊梅區"), 2.3),
    County("新竹市", "O", "03", "5", 7, ("東區", "北區", "香山區"), 0.45),
    County("新竹縣", "J", "03", "56", 7, ("竹北市", "竹東鎮", "湖口鄉", "新豐鄉"), 0.58),
    County("苗栗縣", "K", "037", "2345", 6, ("苗栗市", "頭份市", "竹南鎮", "苑裡鎮"), 0.54),
    County("臺中市", "B", "04", "2", 8, ("西屯區", "北屯區", "豐原區", "大里區", "太平區"), 2.8),
    County("彰化縣", "N", "04", "78", 7, ("彰化市", "員林市", "鹿港鎮", "和美鎮"), 1.2),
    County("南投縣", "M", "049", "2", 7, ("南投市", "埔里鎮", "草屯鎮", "竹山鎮"), 0.48),
    County("雲林縣", "P", "05", "5678", 7, ("斗六市", "虎尾鎮", "斗南鎮", "西螺鎮"), 0.65),
    County("嘉義市", "I", "05", "2", 7, ("東區", "西區"), 0.26),
    County("嘉義縣", "Q", "05", "237", 7, ("太保市", "朴子市", "民雄鄉", "水上鄉"), 0.48),
    County("臺南市", "D", "06", "2567", 7, ("東區", "永康區", "安平區", "新營區", "仁德區"), 1.8),
    County("高雄市", "E", "07", "235678", 7, ("三民區", "鳳山區", "左營區", "苓雅區", "楠梓區"), 2.7),
    County("屏東縣", "T", "08", "78", 7, ("屏東市", "潮州鎮", "東港鎮", "恆春鎮"), 0.8),
    County("宜蘭縣", "G", "03", "9", 7, ("宜蘭市", "羅東鎮", "礁溪鄉", "蘇澳鎮"), 0.45),
    County("花蓮縣", "U", "03", "8", 7, ("花蓮市", "吉安鄉", "玉里鎮", "新城鄉"), 0.32),
    County("臺東縣", "V", "089", "23", 6, ("臺東市", "成功鎮", "關山鎮", "卑南鄉"), 0.21),
    County("澎湖縣", "X", "06", "9", 7, ("馬公市", "湖西鄉", "白沙鄉"), 0.1),
    County("金門縣", "W", "082", "3", 6, ("金城鎮", "金湖鎮", "金沙鎮"), 0.14),
)
_CN_DIGITS = "一二三四五六七八九"
_STREET_SUFFIX = ("路", "路", "路", "街", "街", "大道")

# Romanised names of foreign residents (ARC holders): family, given, as on a residence permit.
FOREIGN_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # country: (family names, male given names, female given names)
    "vn": (("NGUYEN", "TRAN", "LE", "PHAM", "HOANG", "VU", "DANG", "BUI"), ("VAN NAM", "VAN HUNG", "MINH TUAN", "DUC ANH"), ("THI HOA", "THI LAN", "THI MAI", "THI THU", "THI NGOC")),
    "id": (("",), ("AGUS SALIM", "BUDI SANTOSO", "RUDI"), ("SITI RAHAYU", "DEWI LESTARI", "WAHYUNI", "SRI MULYANI", "NUR AINI", "RINA")),
    "ph": (("SANTOS", "REYES", "CRUZ", "GARCIA", "MENDOZA", "BAUTISTA"), ("JOSE", "MARK", "JOHN PAUL"), ("MARIA", "JOY", "ANA", "GRACE")),
    "th": (("SRISAI", "KAEWMANEE", "BOONMA", "SAETANG"), ("SOMCHAI", "NIRAN"), ("MALAI", "ARUNEE")),
}
# Chinese-character names new immigrants often register (Vietnamese 阮氏 / 阮文 style).
FOREIGN_CJK_NAMES = {"F": ("阮氏玉", "阮氏秋", "陳氏蓮", "黎氏梅", "范氏香", "武氏雪", "黃氏英"), "M": ("阮文雄", "陳文明", "黎文勇", "范文德")}

# --------------------------------------------------------------------------------------------
# Choices: weights by field name and option value (unknown ones weigh 1, "other" options 0.15)
# --------------------------------------------------------------------------------------------
CHOICE_WEIGHTS: dict[str, dict[str, float]] = {
    "reporter_role": {"education": 3, "medical": 2.2, "police": 2.4, "social_work": 2.2, "childcare": 0.6, "immigration": 0.2, "other": 0.4},
    "perpetrator_relationship": {"father": 3, "mother": 3, "step_parent": 0.8, "grandparent": 0.5, "relative": 0.7, "parent_partner": 0.8, "caregiver": 0.5, "other": 0.3},
    "relationship": {"spouse": 3.5, "former_spouse": 1, "cohabitant": 1.2, "lineal_relative": 2, "collateral_relative": 0.8, "intimate_partner": 1, "other": 0.3},
    "report_reasons": {"art53_harmful_substances": 0.3, "art47_harmful_venues": 0.2, "art49_prohibited_acts": 5, "art51_left_unattended": 1.2, "art56_needs_protection": 2.5, "other_harm": 0.4},
    "abuse_types": {"physical": 4, "psychological": 3, "sexual": 0.6, "neglect": 2.5},
    "violence_types": {"physical": 5, "psychological": 4.5, "verbal": 3.5, "sexual": 0.5, "economic": 1, "stalking": 0.8, "other": 0.3},
    "children_witnessed": {"yes": 4, "no": 4, "unknown": 1.5},
}
SEX_VALUES = {"male": "M", "m": "M", "man": "M", "boy": "M", "female": "F", "f": "F", "woman": "F", "girl": "F"}

ROLE_OTHER = ("村里幹事", "里長", "司法人員", "觀護人", "社區志工", "大樓管理員", "戶政人員", "補習班教師", "教保員")
RELATION_OTHER = ("鄰居", "教練", "房東", "同學家長", "室友", "雇主", "補習班老師", "家教")
DV_RELATION_OTHER = ("前同居人之家屬", "同居人之子女", "配偶之兄弟", "前配偶之父母", "室友")
HARM_OTHER = ("疑似遭受同儕霸凌", "長期缺課未就學", "疑似遭受網路誘騙", "多次離家未歸", "疑似有自傷行為")
VIOLENCE_OTHER = ("破壞物品", "限制行動自由", "威脅帶走子女", "騷擾親友", "沒收證件")
GENERIC_SHORT = ("詳如附件", "詳見事件概述", "另行補充", "依現場狀況")

# --------------------------------------------------------------------------------------------
# Narratives: neutral, non-graphic sentences assembled from phrase lists
# --------------------------------------------------------------------------------------------
OPENERS_CHILD = {
    "education": ("學校導師發現案主近日上課精神不濟，", "學校老師發現案主連續多日未到校，", "輔導老師與案主晤談時，"),
    "medical": ("案主由家屬陪同至急診就醫，", "醫院社工於門診時發現，", "護理人員於健康檢查時發現，"),
    "police": ("警方接獲鄰居通報後前往案家訪查，", "員警執行巡邏勤務時發現，"),
    "social_work": ("社工進行家訪時發現，", "社工於電話關懷時得知，"),
    "childcare": ("托育人員發現案主到園時衣物髒污，", "幼兒園老師發現案主近日情緒低落，"),
    "": ("鄰居通報案家夜間常有大聲爭吵，", "經他人轉知，"),
}
MIDDLE_CHILD = {
    "physical": ("案主手臂有瘀青，詢問時表示是在家中被打。", "案主表示家長生氣時會動手打人。"),
    "psychological": ("案主表示家長常以言語責罵及威脅。", "案主談及家中狀況時顯得緊張害怕。"),
    "neglect": ("案主表示經常沒有吃早餐，放學後獨自在家。", "家中環境髒亂，照顧者經常不在家。", "案主衣物不合季節，身體清潔狀況不佳。"),
    "sexual": ("案主向老師透露曾遭受不當碰觸，詳情待進一步了解。",),
    "art51_left_unattended": ("案主年紀尚幼，多次被發現獨自留在家中。",),
    "art53_harmful_substances": ("案主疑似接觸菸酒或其他有害身心之物質。",),
    "art47_harmful_venues": ("案主多次於深夜出入不當場所。",),
    "art56_needs_protection": ("案主目前缺乏適當照顧，需要安置評估。",),
    "other_harm": ("案主疑似在校遭受同儕霸凌。",),
    "": ("案主表示不想回家。", "案主近期學業表現明顯退步。", "案主表示家中經常發生爭吵。"),
}
CLOSERS_CHILD = ("已通知社工進行後續評估。", "目前案主暫由祖母照顧。", "建議儘速派員訪視。", "通報人已安撫案主情緒。", "相關紀錄已留存備查。", "學校已與家長聯繫，家長表示會改善。")

OPENERS_DV = {
    "medical": ("被害人至急診就醫，表示", "被害人由友人陪同就醫，自述"),
    "police": ("員警接獲報案後到場處理，被害人表示", "被害人至派出所報案，表示"),
    "social_work": ("社工電話關懷時，被害人表示", "社工家訪時得知"),
    "education": ("學校老師從學生口中得知，", "學校輔導室轉知，"),
    "": ("被害人主動求助，表示", "鄰居通報，"),
}
MIDDLE_DV = {
    "physical": ("與相對人發生口角後遭推打，手臂有瘀傷。", "相對人酒後情緒失控並動手推人。"),
    "psychological": ("相對人經常以言語威脅、恐嚇被害人。", "相對人常在家中摔東西，讓被害人感到害怕。"),
    "verbal": ("相對人時常辱罵被害人。",),
    "economic": ("相對人控制家中經濟，不給予生活費。",),
    "stalking": ("相對人於分手後持續跟蹤被害人至工作地點。",),
    "sexual": ("被害人表示曾遭受性暴力，詳情由社工進一步了解。",),
    "other": ("相對人多次限制被害人外出。",),
    "": ("雙方近期因家務及經濟問題多次發生衝突。", "被害人表示類似情形已持續一段時間。"),
}
CLOSERS_DV = ("被害人已聲請保護令。", "被害人目前暫住親友家。", "已提供保護專線113及相關資源資訊。", "被害人表示需要庇護安置。", "已轉介家庭暴力防治中心。")
WITNESS_DV = ("衝突發生時家中子女在場。",)

OPENERS_FAMILY = ("經家訪了解，", "學校反映，", "里長反映，", "經電話關懷得知，")
MIDDLE_FAMILY = {
    "income_loss": "案家主要經濟者近期失業，家中收入中斷。",
    "debt": "案家因債務問題，生活壓力大。",
    "basic_needs": "案家三餐不繼，需要物資協助。",
    "housing": "案家租屋即將到期，居住不穩定。",
    "death_or_missing": "案家一名成員於今年過世，家庭頓失支柱。",
    "serious_illness": "家中成員罹患重大疾病，需長期治療。",
    "incarceration": "家中成員目前入監服刑中。",
    "disaster": "案家住處因意外受損。",
    "family_conflict": "家庭成員間經常發生衝突。",
    "isolation": "案家缺乏親友支持。",
    "divorce_custody": "父母離婚後對子女監護有爭議。",
    "violence_risk": "家中曾有爭吵及肢體衝突之情形。",
    "inadequate_care": "照顧者無法提供兒少適當照顧。",
    "school_difficulty": "兒少經常缺課，學習適應困難。",
    "behaviour": "兒少有逃學及夜歸情形。",
    "teen_parent": "案家少女懷孕中，需協助產檢及育兒準備。",
    "disability": "案家成員領有身心障礙證明。",
    "mental_illness": "主要照顧者有精神疾病，目前就醫中。",
    "substance_use": "案家成員有飲酒過量之情形。",
    "long_term_care": "家中長輩需要長期照顧。",
    "suicide_risk": "主要照顧者曾表達輕生念頭。",
    "immigrant_adjustment": "新住民母親來臺不久，語言溝通困難。",
    "work_difficulty": "案家求職不順，難以穩定就業。",
    "social_isolation": "案家與社區互動少，鮮少外出。",
    "cares_for_ill": "兒少需照顧生病的家人。",
    "household_duties": "兒少放學後需負擔主要家務。",
    "sibling_care": "兒少需照顧年幼弟妹。",
    "earns_income": "兒少課後打工貼補家用。",
}
CLOSERS_FAMILY = ("建議轉介家庭服務中心提供協助。", "案家同意接受後續服務。", "已提供急難救助資訊。", "請社福中心評估後續服務需求。")
GENERIC_SENTENCES = ("相關資料已核對無誤。", "後續將持續追蹤。", "當事人已知悉本表內容。", "如需補充資料請與通報人聯繫。", "其他事項另行說明。")

CHILD_PREFIXES = ("child", "kid", "minor", "youth", "student", "baby", "infant")
PRO_PREFIXES = ("reporter", "referrer", "informant", "worker", "officer", "staff", "caseworker")
PERSON_SUFFIXES = ("_national_id", "_birth_date", "_name", "_sex", "_gender", "_phone", "_nationality", "_address")
PLAIN_PERSON_FIELDS = {"name", "full_name", "national_id", "birth_date", "sex", "gender", "phone", "nationality", "address"}
NARRATIVE_NAMES = ("narrative", "situation", "description", "summary", "notes", "remarks", "details", "content")


@dataclass
class Person:
    key: str
    role: str  # "child" | "pro" | "adult"
    sex: str  # "M" | "F"
    birth: date
    nationality: str  # "roc" | "foreign" | "mainland"
    name: str
    surname: str
    national_id: str
    phone: str
    county: County
    address: str
    sex_value: str | None = None  # an option value other than male/female ("other", "unknown")


@dataclass
class _Member:
    relation: str
    person: Person


class _Names:
    """Faker's zh_TW name and street tables, drawn from with the record's own generator.

    Drawing from the tables (with their frequency weights) instead of calling a seeded Faker
    keeps each record independent of Faker's internal use of randomness and is much faster; if a
    Faker release renames the tables, a Faker instance seeded from the record's generator is used.
    """

    def __init__(self) -> None:
        from faker.providers.address.zh_TW import Provider as Address
        from faker.providers.person.zh_TW import Provider as Person

        def table(d) -> tuple[tuple[str, ...], tuple[float, ...]]:
            items = list(d.items()) if hasattr(d, "items") else [(k, 1.0) for k in d]
            keys = tuple(k for k, _ in items)
            cum, acc = [], 0.0
            for _, w in items:
                acc += float(w)
                cum.append(acc)
            return keys, tuple(cum)

        self.last = table(Person.last_names)
        self.male = table(Person.first_names_male)
        self.female = table(Person.first_names_female)
        streets = [n for n in dict.fromkeys(Address.street_names) if 2 <= len(n) <= 3 and n[-1] not in "街路巷"]
        self.street = table(streets)

    @staticmethod
    def pick(rng: random.Random, tab: tuple[tuple[str, ...], tuple[float, ...]]) -> str:
        keys, cum = tab
        return rng.choices(keys, cum_weights=cum)[0]


_local = threading.local()


def _names() -> _Names | None:
    names = getattr(_local, "names", None)
    if names is None:
        try:
            names = _local.names = _Names()
        except (ImportError, AttributeError):  # pragma: no cover - a Faker without the tables
            _local.names = False
            return None
    return names or None


class _FakerFallback:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fake: Faker | None = None

    def _f(self) -> Faker:
        if self.fake is None:
            fake = getattr(_local, "faker", None)
            if fake is None:
                fake = _local.faker = Faker("zh_TW")
            fake.seed_instance(self.rng.getrandbits(64))
            self.fake = fake
        return self.fake


class _Fake:
    """last_name / first_name_male / first_name_female / street_name for one record."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names = _names()
        self.fallback = _FakerFallback(rng)

    def last_name(self) -> str:
        return _Names.pick(self.rng, self.names.last) if self.names else self.fallback._f().last_name()

    def first_name_male(self) -> str:
        return _Names.pick(self.rng, self.names.male) if self.names else self.fallback._f().first_name_male()

    def first_name_female(self) -> str:
        return _Names.pick(self.rng, self.names.female) if self.names else self.fallback._f().first_name_female()

    def street_name(self) -> str:
        return _Names.pick(self.rng, self.names.street) if self.names else self.fallback._f().street_name()


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _birth_for_age(rng: random.Random, age: int, on: date) -> date:
    """A birth date that makes someone exactly `age` on `on`."""
    latest = _years_before(on, age)
    earliest = _years_before(on, age + 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randint(0, (latest - earliest).days))


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


class _Gen:
    def __init__(self, t: Template, rng: random.Random) -> None:
        self.t = t
        self.rng = rng
        self.fake = _Fake(rng)
        self.fields = {f.name: f for _, f in t.fields()}
        self.data: dict[str, Any] = {}
        self.persons: dict[str, Person] = {}
        self.household: list[_Member] | None = None
        self.county = self._pick_county()
        self.tai = rng.random() < 0.35  # this writer spells 臺 as 台
        self.report = self._report_date()
        self.severity = rng.random()  # drives the yes/no risk items together
        self.required_if_targets = {n for r in t.rules if r.check == "required_if" for n in r.fields}
        self.group_size: dict[str, int] = {}
        for r in t.rules:
            if r.check == "at_least_one":
                for n in r.fields:
                    self.group_size[n] = max(self.group_size.get(n, 0), len(r.fields))
        self._keys: list[str] | None = None
        self.carer_rel: dict[str, str] = {}
        self.text_fields = {o.text_field: f.name for f in self.fields.values() for o in f.options if o.text_field}

    # ---------------------------------------------------------------- basics
    def _pick_county(self) -> County:
        return self.rng.choices(COUNTIES, weights=[c.weight for c in COUNTIES])[0]

    def _report_date(self) -> date:
        d = REFERENCE_DATE - timedelta(days=self.rng.randint(0, REPORT_WINDOW_DAYS))
        if d.weekday() >= 5 and self.rng.random() < 0.8:  # most reports are filed on weekdays
            d -= timedelta(days=d.weekday() - 4)
        return d

    def _tw(self, s: str) -> str:
        return s.replace("臺", "台") if self.tai else s

    def fits(self, f: Field, text: str, box=None) -> bool:
        box = box or f.box
        if box is None:
            return True
        if f.max_length and len(text) > f.max_length:
            return False
        return fits_box(text, box[2], box[3], lines=f.lines, cells=f.cells)

    def pick_fitting(self, f: Field, candidates, box=None) -> str:
        cands = list(candidates)
        self.rng.shuffle(cands)
        for c in cands:
            if self.fits(f, c, box):
                return c
        c = min(cands, key=len)
        while len(c) > 1 and not self.fits(f, c, box):
            c = c[:-1]
        return c

    # ---------------------------------------------------------------- places
    def address(self, county: County | None = None) -> str:
        rng = self.rng
        county = county or self.county
        district = rng.choice(county.districts)
        parts = [county.name, district]
        if rng.random() < 0.15:
            parts.append(f"{self.place_name()}里{rng.randint(1, 30)}鄰")
        parts.append(self.place_name() + rng.choice(_STREET_SUFFIX))
        if rng.random() < 0.3:
            parts.append(f"{_CN_DIGITS[rng.randint(0, 4)]}段" if rng.random() < 0.8 else f"{rng.randint(1, 5)}段")
        if rng.random() < 0.35:
            parts.append(f"{rng.randint(1, 300)}巷")
            if rng.random() < 0.3:
                parts.append(f"{rng.randint(1, 40)}弄")
        no = f"{rng.randint(1, 400)}號"
        sub = rng.random() < 0.1
        if sub:
            no += f"之{rng.randint(1, 9)}"
        parts.append(no)
        if not sub and rng.random() < 0.6:
            fl = f"{rng.randint(2, 15)}樓"
            if rng.random() < 0.1:
                fl += f"之{rng.randint(1, 6)}"
            parts.append(fl)
        return normalize_address(self._tw("".join(parts)))

    def place_name(self) -> str:
        """A two- or three-character place name (Faker's street names, minus odd ones)."""
        for _ in range(20):
            n = self.fake.street_name()
            if 2 <= len(n) <= 3 and n[-1] not in "街路巷":
                return n
        return "中正"

    def organisation(self, role: str | None, county: County) -> str:
        rng = self.rng
        c = county.name
        district = rng.choice(county.districts)
        dshort = district[:-1] if len(district) > 2 else district
        place = self.place_name()
        city_gov = f"{c}政府"
        if role == "education":
            kind = rng.choice(("國民小學", "國民小學", "國民中學", "高級中學"))
            out = rng.choice((f"{c}{district}{place}{kind}" if district.endswith("區") else f"{c}{place}{kind}", f"{c}立{place}{kind}", f"{place}{kind}"))
        elif role == "medical":
            out = rng.choice((f"{place}醫院", f"{c}立{place}醫院", f"{self.fake.last_name()}{rng.choice(('小兒科', '家庭醫學科', '婦產科'))}診所", f"{dshort}衛生所"))
        elif role == "police":
            out = f"{c}政府警察局{dshort}分局{place}派出所"
        elif role == "social_work":
            out = rng.choice((f"{city_gov}社會{'局' if c.endswith('市') else '處'}", f"{dshort}家庭服務中心", f"{c}家庭暴力暨性侵害防治中心", f"{dshort}社會福利服務中心"))
        elif role == "childcare":
            out = rng.choice((f"{place}幼兒園", f"{c}立{place}幼兒園", f"{place}托嬰中心", f"{dshort}居家托育服務中心"))
        elif role == "immigration":
            out = f"內政部移民署{c}服務站"
        else:
            out = rng.choice((f"{place}里辦公處", f"{place}社區發展協會", f"{dshort}戶政事務所", f"{place}社區關懷據點"))
        return self._tw(out)

    def school(self, age: int, county: County) -> str | None:
        place = self.place_name()
        if age < 2:
            return None
        kind = "幼兒園" if age < 6 else "國民小學" if age < 12 else "國民中學" if age < 15 else "高級中學"
        style = self.rng.random()
        if style < 0.3:
            return self._tw(f"{county.name}立{place}{kind}")
        if style < 0.5 and kind in ("國民小學", "國民中學"):
            return self._tw(f"{place}{'國小' if kind == '國民小學' else '國中'}")
        return self._tw(f"{place}{kind}")

    # ---------------------------------------------------------------- people
    def chinese_name(self, sex: str, surname: str | None = None) -> tuple[str, str]:
        sur = surname or self.fake.last_name()
        given = self.fake.first_name_male() if sex == "M" else self.fake.first_name_female()
        return normalize_name(sur + given), sur

    def foreign_name(self, sex: str) -> str:
        rng = self.rng
        if rng.random() < 0.35:
            return rng.choice(FOREIGN_CJK_NAMES[sex])
        families, male, female = FOREIGN_NAMES[rng.choice(sorted(FOREIGN_NAMES))]
        fam, given = rng.choice(families), rng.choice(male if sex == "M" else female)
        text = f"{fam} {given}".strip() if rng.random() < 0.6 else f"{given.title()} {fam.title()}".strip()
        return normalize_name(text)

    def national_id(self, sex: str, nationality: str, county: County) -> str:
        rng = self.rng
        if nationality != "roc":
            kind = "resident_new" if rng.random() < 0.8 else "resident_old"
            return generate_national_id(rng, kind, sex)
        letter = county.letter if rng.random() < 0.7 else rng.choice([c.letter for c in COUNTIES])
        first9 = letter + ("1" if sex == "M" else "2") + "".join(str(rng.randrange(10)) for _ in range(7))
        return first9 + national_id_check_digit(first9)

    def phone(self, kind: str, county: County) -> str:
        """A mobile, or a landline of `county` (its area code and local number plan)."""
        rng = self.rng
        if kind == "mobile":
            return generate_phone(rng, "mobile")
        digits = county.area + rng.choice(county.lead) + "".join(str(rng.randrange(10)) for _ in range(county.sub_len - 1))
        return normalize_phone(digits)

    def make_person(self, key: str, role: str, sex: str, age: int, *, nationality: str = "roc", surname: str | None = None, county: County | None = None, address: str | None = None) -> Person:
        rng = self.rng
        county = county or self.county
        if nationality == "foreign":
            name, sur = self.foreign_name(sex), ""
        else:
            name, sur = self.chinese_name(sex, surname)
        pro = role == "pro"
        phone = self.phone("landline" if (pro and rng.random() < 0.55) or rng.random() < 0.1 else "mobile", county)
        return Person(
            key=key, role=role, sex=sex, birth=_birth_for_age(rng, age, self.report),
            nationality=nationality, name=name, surname=sur,
            national_id=self.national_id(sex, nationality, county), phone=phone, county=county,
            address=address or self.address(county),
        )

    def _relationship_of(self, key: str) -> str | None:
        """The relationship choice value that says who person `key` is (to the child/victim)."""
        for name in (f"{key}_relationship", f"{key}_relation"):
            if name in self.fields and self.fields[name].type == "choice":
                return self.value(name)
        if key in ("respondent", "perpetrator", "offender", "abuser") and "relationship" in self.fields:
            if self.fields["relationship"].type == "choice":
                return self.value("relationship")
        return None

    def _subject(self, exclude: str) -> Person | None:
        """The person a relationship is relative to: the child, else the victim."""
        keys = [k for k in self._person_keys() if k != exclude]
        for want in (*CHILD_PREFIXES, "victim"):
            for k in keys:
                if k == want or k.startswith(want):
                    return self.person(k)
        return None

    def _person_keys(self) -> list[str]:
        if self._keys is not None:
            return self._keys
        out: list[str] = []
        for name, f in self.fields.items():
            k = person_key(name)
            if k is not None and k not in out and f.type != "table":
                has_core = any(f"{k}{s}" in self.fields for s in ("_name", "_national_id", "_birth_date")) or (
                    k == "" and any(n in self.fields for n in ("name", "full_name", "national_id", "birth_date"))
                )
                if has_core:
                    out.append(k)
        self._keys = out
        return out

    def person(self, key: str) -> Person:
        if key in self.persons:
            return self.persons[key]
        rng = self.rng
        lower = key.lower()
        nationality = "roc"
        sex_value: str | None = None
        surname = None
        address = None
        county = self.county
        if any(lower.startswith(p) for p in CHILD_PREFIXES):
            role, sex, age = "child", rng.choice("MF"), rng.randint(0, 17)
        elif any(lower.startswith(p) for p in PRO_PREFIXES):
            role, sex, age = "pro", ("F" if rng.random() < 0.65 else "M"), rng.randint(23, 64)
            if rng.random() < 0.15:
                county = self._pick_county()
        else:
            role = "adult"
            same = self._same_as(key)
            if same is not None:
                self.persons[key] = same
                return same
            sex, age, surname, address = self._relative_to_subject(key)
        # sex and nationality fields of this person, when the form has them
        sex_field = self.fields.get(f"{key}_sex" if key else "sex") or self.fields.get(f"{key}_gender" if key else "gender")
        if sex_field is not None and sex_field.type == "choice":
            rare = [o.value for o in sex_field.options if o.value.lower() not in SEX_VALUES]
            if rare and rng.random() < 0.01:
                sex_value = rng.choice(rare)
        nat_field = self.fields.get(f"{key}_nationality" if key else "nationality")
        if role == "adult":
            if nat_field is not None and nat_field.type == "choice":
                r = rng.random()
                nationality = "foreign" if r < 0.08 else "mainland" if r < 0.13 else "roc"
            elif rng.random() < 0.05:
                nationality = "foreign"
        p = self.make_person(key, role, sex, age, nationality=nationality, surname=surname, county=county, address=address)
        p.sex_value = sex_value
        self.persons[key] = p
        return p

    def _same_as(self, key: str) -> Person | None:
        """A perpetrator who is the child's main carer is one person on two lines of the form."""
        lower = key.lower()
        if not lower.startswith(("perpetrator", "offender", "abuser")):
            return None
        rel = self._relationship_of(key)
        if rel not in ("father", "mother", "grandparent"):
            return None
        for k in self._person_keys():
            if self.carer_rel.get(k) == rel and k in self.persons:
                return self.persons[k]
        return None

    def _relative_to_subject(self, key: str) -> tuple[str, int, str | None, str | None]:
        """(sex, age, surname, address) of an adult from their relationship to the child/victim."""
        rng = self.rng
        lower = key.lower()
        rel = self._relationship_of(key)
        subject = self._subject(key)
        if lower.startswith("victim"):
            return ("F" if rng.random() < 0.75 else "M"), _adult_age(rng), None, None
        if subject is None:
            return rng.choice("MF"), _adult_age(rng), None, None
        s_age = _age(subject.birth, self.report)
        home = subject.address if rng.random() < 0.75 else None
        if lower.startswith(("guardian", "carer", "caregiver", "parent")) and rel is None:
            # the main carer: not the parent who harms the child, unless (often) they are one
            harm = next((self._relationship_of(k) for k in self._person_keys() if k.startswith(("perpetrator", "respondent", "offender", "abuser"))), None)
            w = {"mother": 6.0, "father": 3.0, "grandparent": 1.5}
            if harm in w:
                w[harm] = 5.0 if harm == "grandparent" else 4.0  # ~ a third: the carer is the one
                if harm != "grandparent":
                    w["mother" if harm == "father" else "father"] += 3.0
            rel = rng.choices(list(w), weights=list(w.values()))[0]
            self.carer_rel[key] = rel
        opposite = "F" if subject.sex == "M" else "M"
        if rel in ("father", "mother", "step_parent", "parent_partner"):
            sex = {"father": "M", "mother": "F"}.get(rel) or ("M" if rng.random() < 0.75 else "F")
            age = s_age + rng.randint(18 if sex == "F" else 20, 42)
            surname = subject.surname if rel == "father" and rng.random() < 0.9 else None
            return sex, min(age, 75), surname, home
        if rel == "grandparent":
            return rng.choice("MF"), min(88, s_age + rng.randint(40, 65)), None, home
        if rel in ("spouse", "former_spouse", "cohabitant", "intimate_partner"):
            sex = opposite if rng.random() < 0.92 else subject.sex
            age = max(18, min(85, s_age + rng.randint(-6, 10 if sex == "M" else 5)))
            return sex, age, None, home if rel in ("spouse", "cohabitant") else None
        if rel == "lineal_relative":
            if s_age >= 55 and rng.random() < 0.6:
                return rng.choice("MF"), max(18, s_age - rng.randint(22, 35)), subject.surname or None, home
            return rng.choice("MF"), min(88, s_age + rng.randint(20, 35)), None, home
        if rel == "collateral_relative":
            return rng.choice("MF"), max(18, min(85, s_age + rng.randint(-12, 12))), subject.surname or None, None
        if rel == "caregiver":
            return ("F" if rng.random() < 0.85 else "M"), rng.randint(30, 65), None, None
        if subject.role == "child" and rel is None and rng.random() < 0.6:  # unspecified: mostly a parent
            sex = rng.choice("MF")
            return sex, min(75, s_age + rng.randint(20, 42)), subject.surname if sex == "M" else None, home
        return rng.choice("MF"), _adult_age(rng), None, None

    # ---------------------------------------------------------------- households (tables)
    def household_anchor(self) -> Person:
        for k in self._person_keys():
            if k in ("contact", "") or k.startswith(("contact", "applicant", "head")):
                return self.person(k)
        for k in self._person_keys():
            p = self.person(k)
            if p.role == "adult":
                return p
        if "_household_anchor" not in self.persons:
            self.persons["_household_anchor"] = self.make_person("_household_anchor", "adult", self.rng.choice("MF"), self.rng.randint(25, 60))
        return self.persons["_household_anchor"]

    def make_household(self) -> list[_Member]:
        if self.household is not None:
            return self.household
        rng = self.rng
        anchor = self.household_anchor()
        a_age = _age(anchor.birth, self.report)
        if a_age < 22 or a_age > 75:
            # an anchor too young or too old to head a family with children: recast as a parent
            anchor.birth = _birth_for_age(rng, rng.randint(26, 55), self.report)
            a_age = _age(anchor.birth, self.report)
        home = anchor.address
        members = [_Member("本人", anchor)]
        spouse = None
        if rng.random() < 0.68:
            s_sex = "F" if anchor.sex == "M" else "M"
            nat = "foreign" if rng.random() < 0.06 else "roc"
            spouse = self.make_person("_spouse", "adult", s_sex, max(20, a_age + rng.randint(-6, 6)), nationality=nat, address=home)
            members.append(_Member(rng.choice(("配偶", "配偶", "夫" if s_sex == "M" else "妻")) if rng.random() < 0.9 else "同居人", spouse))
        if rng.random() < 0.2 and a_age + 22 < 90:
            for sex, rel in (("M", "父"), ("F", "母")):
                if rng.random() < 0.6:
                    members.append(_Member(rel, self.make_person("_parent", "adult", sex, min(92, a_age + rng.randint(22, 34)), surname=anchor.surname if sex == "M" else None, address=home)))
        father = anchor if anchor.sex == "M" else spouse if spouse and spouse.sex == "M" else None
        n_kids = rng.choices((0, 1, 2, 3, 4), weights=(0.8, 3, 3.5, 1.8, 0.5))[0]
        max_kid_age = max(0, min(a_age - 18, 30))
        kids = []
        for _ in range(n_kids):
            sex = rng.choice("MF")
            age = rng.randint(0, max_kid_age)
            sur = father.surname if father and father.surname else anchor.surname or None
            kids.append(self.make_person("_kid", "child" if age < 18 else "adult", sex, age, surname=sur, address=home))
        kids.sort(key=lambda p: p.birth)
        order = {"M": 0, "F": 0}
        for k in kids:
            order[k.sex] += 1
            i = order[k.sex]
            base = "子" if k.sex == "M" else "女"
            rel = (("長", "次", "三", "四")[i - 1] + base) if rng.random() < 0.7 else base
            members.append(_Member(rel, k))
        if rng.random() < 0.05:
            sex = rng.choice("MF")
            older = rng.random() < 0.5
            sib = self.make_person("_sibling", "adult", sex, max(18, a_age + (rng.randint(1, 8) if older else -rng.randint(1, 8))), surname=anchor.surname or None, address=home)
            members.append(_Member({("M", True): "兄", ("M", False): "弟", ("F", True): "姊", ("F", False): "妹"}[(sex, older)], sib))
        if rng.random() < 0.15:  # the contact is not always listed first
            members = members[1:] + members[:1]
        self.household = members
        return members

    def table(self, f: Field) -> list[dict[str, Any]]:
        assert f.rows
        rng = self.rng
        cols = {c.name: c for c in f.columns}
        is_household = any(n in cols for n in ("name", "full_name"))
        rows: list[dict[str, Any]] = []
        if is_household:
            members = self.make_household()[: f.rows]
        else:
            members = [_Member("", self.make_person("_row", "adult", rng.choice("MF"), _adult_age(rng))) for _ in range(rng.randint(1, f.rows))]
        for m in members:
            p = m.person
            row: dict[str, Any] = {}
            for c in f.columns:
                row[c.name] = self.cell(c, m, p, f.rows)
            if all(is_empty(v) for v in row.values()):
                continue
            rows.append(row)
        return rows

    def cell(self, c: Field, m: _Member, p: Person, rows: int) -> Any:
        rng = self.rng
        n = c.name.lower()
        t = c.type
        if t == "name":
            return p.name if self.fits(c, p.name) else self.chinese_name(p.sex, p.surname or None)[0]
        if t == "national_id":
            return None if rng.random() < 0.08 else p.national_id
        if t == "date":
            return None if rng.random() < 0.05 else p.birth.isoformat()
        if t == "phone":
            return None if rng.random() < 0.5 else p.phone
        if t == "address":
            return None if rng.random() < 0.6 else p.address
        if t == "checkbox":
            return rng.random() < (0.85 if "live" in n or "同住" in (c.label.zh or "") else 0.5)
        if t == "signature":
            return rng.random() < 0.5
        if t == "number":
            return _age(p.birth, self.report) if "age" in n else rng.randint(1, 9)
        if t == "text" and ("relation" in n or "relationship" in n):
            return m.relation if m.relation and self.fits(c, m.relation) else None
        if t == "text":
            if "sex" in n or "gender" in n:
                return "男" if p.sex == "M" else "女"
            return None if rng.random() < 0.7 else self.short_text(c)
        return empty_value(c)

    # ---------------------------------------------------------------- fields
    def value(self, name: str, *, force: bool = False) -> Any:
        """The value of field `name`, generated on first use (force: never empty)."""
        if name in self.data and not (force and is_empty(self.data[name])):
            return self.data[name]
        f = self.fields[name]
        v = self.generate(f, force=force)
        if force and is_empty(v):
            for _ in range(20):
                v = self.generate(f, force=True)
                if not is_empty(v):
                    break
        self.data[name] = v
        return v

    def generate(self, f: Field, *, force: bool) -> Any:
        name = f.name
        t = f.type
        req = f.required or force
        if t == "table":
            rows = self.table(f)
            if req and not rows:
                anchor = self.household_anchor()
                rows = [{c.name: self.cell(c, _Member("本人", anchor), anchor, f.rows or 1) for c in f.columns}]
            return rows
        if name in self.text_fields:  # the "other: ___" text of an option
            owner = self.fields[self.text_fields[name]]
            if not force and not f.required:
                return None  # filled later, only when its option is marked
            return self.other_text(f, owner)
        if name in self.required_if_targets and not force:
            return None if not f.required else self._generate_plain(f, req)
        return self._generate_plain(f, req)

    def _generate_plain(self, f: Field, req: bool) -> Any:
        rng = self.rng
        name = f.name
        lower = name.lower()
        t = f.type
        pk = person_key(name)
        person = self.person(pk) if pk is not None and pk in self._person_keys() else None
        if t == "choice":
            return self.choice(f, req, person)
        if t == "checkbox":
            return self.checkbox(f, req)
        if t == "signature":
            return True if req else rng.random() < 0.85
        if t == "date":
            if person is not None and lower.endswith("birth_date"):
                p_empty = 0.25 if pk in ("respondent", "perpetrator") else 0.08
                return None if not req and rng.random() < p_empty else person.birth.isoformat()
            if self.is_report_date(name):
                return self.report.isoformat()
            if not req and rng.random() < 0.1:
                return None
            if "birth" in lower:
                return _birth_for_age(rng, _adult_age(rng), self.report).isoformat()
            return (self.report - timedelta(days=_days_before_report(rng))).isoformat()
        if t == "national_id":
            if person is None:
                return self.national_id(rng.choice("MF"), "roc", self.county)
            p_empty = 0.35 if pk in ("respondent", "perpetrator") else 0.1
            return None if not req and rng.random() < p_empty else person.national_id
        if t == "name":
            p = person or self.person(pk or "")
            if not self.fits(f, p.name):
                p.name, p.surname = self.chinese_name(p.sex, p.surname or None)
                p.nationality = "roc" if p.nationality == "foreign" else p.nationality
            return p.name
        if t == "phone":
            if person is None:
                return None if not req and rng.random() < 0.15 else self.phone(rng.choice(("mobile", "landline")), self.county)
            return None if not req and rng.random() < 0.15 else person.phone
        if t == "address":
            if person is not None:
                return None if not req and rng.random() < 0.08 else self._fit_address(f, person.address)
            if not req and rng.random() < 0.12:
                return None
            subj = self._subject("")
            if any(w in lower for w in ("family", "home", "household", "residence")) or (subj and rng.random() < 0.45):
                anchor = subj or self.household_anchor()
                return self._fit_address(f, anchor.address)
            return self._fit_address(f, self.address())
        if t == "number":
            return self.number(f, req)
        if t == "text":
            if self.is_free(f):
                # free text comes last (step 5), when the rest of the story is known
                return self.narrative(f) if req else None
            return self.text(f, req)
        raise ValueError(f"cannot generate a value for a {t} field")  # pragma: no cover

    def _fit_address(self, f: Field, addr: str) -> str:
        for _ in range(20):
            if self.fits(f, addr):
                return addr
            addr = self.address()
        return addr

    def is_free(self, f: Field) -> bool:
        """A free-text box (a narrative), as opposed to a short text such as an organisation."""
        if f.type != "text" or f.name in self.text_fields:
            return False
        return f.lines > 1 or any(w in f.name.lower() for w in NARRATIVE_NAMES)

    def is_report_date(self, name: str) -> bool:
        n = name.lower()
        return any(w in n for w in ("report", "referral", "notification", "filing", "received")) and n.endswith("date")

    def choice(self, f: Field, req: bool, person: Person | None) -> Any:
        rng = self.rng
        values = [o.value for o in f.options]
        lower = f.name.lower()
        if person is not None and (lower.endswith(("_sex", "_gender")) or lower in ("sex", "gender")):
            if person.sex_value and person.sex_value in values:
                return person.sex_value
            for v in values:
                if SEX_VALUES.get(v.lower()) == person.sex:
                    return v
        if person is not None and (lower.endswith("_nationality") or lower == "nationality"):
            want = {"roc": ("roc", "taiwan", "national", "domestic", "citizen"), "foreign": ("foreign",), "mainland": ("mainland", "china", "hk", "macau")}[person.nationality]
            for v in values:
                if any(w in v.lower() for w in want):
                    return None if not req and rng.random() < 0.03 else v
        weights = self._weights(f)
        if f.multiple:
            p_any = 1.0 if req else min(0.85, 1.6 / self.group_size[f.name]) if f.name in self.group_size else 0.8
            if rng.random() >= p_any:
                return []
            if values == ["yes", "no"] or set(values) == {"yes", "no"}:
                return [rng.choice(values)]
            k = min(len(values), rng.choices((1, 2, 3), weights=(0.55, 0.3, 0.15))[0])
            chosen: list[str] = []
            pool = list(zip(values, weights, strict=True))
            for _ in range(k):
                v = rng.choices([p[0] for p in pool], weights=[p[1] for p in pool])[0]
                chosen.append(v)
                pool = [p for p in pool if p[0] != v]
            return [v for v in values if v in chosen]  # in the printed order
        if not req and rng.random() < 0.06:
            return None
        if set(values) == {"yes", "no"}:
            return "yes" if rng.random() < 0.08 + 0.6 * self.severity else "no"
        return rng.choices(values, weights=weights)[0]

    def _weights(self, f: Field) -> list[float]:
        table = CHOICE_WEIGHTS.get(f.name, {})
        return [table.get(o.value, 0.15 if o.text_field else 1.0) for o in f.options]

    def checkbox(self, f: Field, req: bool) -> bool:
        rng = self.rng
        n = f.name.lower()
        if req:
            return True
        if "child" in n and n.startswith("has_"):
            members = self.make_household()
            return any(_age(m.person.birth, self.report) < 18 for m in members)
        if "urgent" in n or "emergency" in n:
            return rng.random() < 0.2
        if "consent" in n or "agree" in n:
            return rng.random() < 0.75
        return rng.random() < 0.5

    def number(self, f: Field, req: bool) -> int | None:
        rng = self.rng
        n = f.name.lower()
        if "grade" in n:
            kids = [p for k, p in ((k, self.person(k)) for k in self._person_keys()) if p.role == "child"]
            if kids:
                age = _age(kids[0].birth, self.report)
                if 6 <= age <= 17:
                    return max(1, min(12, age - 6 + (1 if self.report.month >= 9 else 0)))
                return rng.randint(1, 6) if req else None
        if "household" in n or ("size" in n and "family" in n):
            if any(ff.type == "table" for ff in self.fields.values()):
                return len(self.make_household())
        if not req and rng.random() < 0.15:
            return None
        if "count" in n or "number" in n or "size" in n:
            return rng.choices((1, 2, 3, 4), weights=(5, 3, 1, 0.5))[0]
        if "age" in n:
            return rng.randint(1, 80)
        return rng.randint(1, 20)

    def text(self, f: Field, req: bool) -> str | None:
        rng = self.rng
        n = f.name.lower()
        if n.endswith(("_organisation", "_organization", "_agency", "_unit", "_employer")):
            pk = n.rsplit("_", 1)[0]
            if f"{pk}_role" in self.fields:
                role = self.value(f"{pk}_role")
            else:  # no role on the form: the professions that refer families
                role = rng.choices(("social_work", "education", "medical", "police", "childcare", "other"), weights=(4, 3, 2, 1, 1, 0.7))[0]
            county = self.persons[pk].county if pk in self.persons else self.county
            return self.pick_fitting(f, [self.organisation(role, county) for _ in range(4)])
        if "school" in n:
            kids = [self.person(k) for k in self._person_keys() if self.person(k).role == "child"]
            age = _age(kids[0].birth, self.report) if kids else rng.randint(6, 17)
            s = self.school(age, kids[0].county if kids else self.county)
            if s is None:
                return None if not req else self.pick_fitting(f, [self.school(10, self.county) or "國民小學"])
            if not req and rng.random() < 0.08:
                return None
            return self.pick_fitting(f, [s, self.school(age, self.county) or s])
        if not req and rng.random() < 0.5:
            return None
        return self.short_text(f)

    def short_text(self, f: Field) -> str:
        if f.expected:  # what people write there (e.g. a language), never a filler phrase
            return self.pick_fitting(f, list(f.expected))
        return self.pick_fitting(f, GENERIC_SHORT)

    def other_text(self, f: Field, owner: Field) -> str:
        n = owner.name.lower()
        if "role" in n or "occupation" in n:
            cands = ROLE_OTHER
        elif "relationship" in n or "relation" in n:
            cands = RELATION_OTHER if any(k.startswith(CHILD_PREFIXES) for k in self._person_keys()) else DV_RELATION_OTHER
        elif "reason" in n or "harm" in n or "abuse" in n:
            cands = HARM_OTHER
        elif "violence" in n:
            cands = VIOLENCE_OTHER
        else:
            cands = GENERIC_SHORT
        return self.pick_fitting(f, cands)

    # ---------------------------------------------------------------- free text
    def narrative(self, f: Field) -> str:
        rng = self.rng
        marked = self._marked_options(("report_reasons", "abuse_types", "violence_types"))
        role = next((v for k, v in self.data.items() if k.endswith("_role") and isinstance(v, str)), "")
        if "violence_types" in self.fields:
            openers, middles, closers = OPENERS_DV, MIDDLE_DV, CLOSERS_DV
        elif any(k.startswith(CHILD_PREFIXES) for k in self._person_keys()) or "abuse_types" in self.fields:
            openers, middles, closers = OPENERS_CHILD, MIDDLE_CHILD, CLOSERS_CHILD
        elif any(v in MIDDLE_FAMILY for v in self._marked_options()) or "household_members" in self.fields:
            marked = self._marked_options()
            opener = rng.choice(OPENERS_FAMILY)
            body = [MIDDLE_FAMILY[v] for v in marked if v in MIDDLE_FAMILY]
            rng.shuffle(body)
            return self._assemble(f, opener, body, list(CLOSERS_FAMILY))
        else:
            return self._assemble(f, "", list(GENERIC_SENTENCES), [])
        opener = rng.choice(openers.get(role, openers[""]))
        body: list[str] = []
        for v in marked:
            body += list(middles.get(v, ()))
        rng.shuffle(body)
        body += rng.sample(list(middles[""]), k=min(len(middles[""]), rng.randint(0, 2)))
        if self.data.get("children_witnessed") == "yes":
            body.insert(1, rng.choice(WITNESS_DV))
        return self._assemble(f, opener, body, list(closers))

    def _assemble(self, f: Field, opener: str, body: list[str], closers: list[str]) -> str:
        """Sentences that fit the box: as many of `body` as the writer has time for."""
        rng = self.rng
        body = list(dict.fromkeys(body))
        want = rng.randint(1, max(1, min(len(body), 4)))
        closer = rng.choice(closers) if closers and rng.random() < 0.8 else ""
        parts = body[:want]
        while True:
            text = normalize_text(opener + "".join(parts) + closer)
            if text and self.fits(f, text):
                return text
            if closer:
                closer = ""
            elif parts:
                parts = parts[:-1]
            else:
                cut = text
                while len(cut) > 1 and not self.fits(f, cut):
                    cut = cut[:-1]
                return cut

    def _marked_options(self, only: tuple[str, ...] = ()) -> list[str]:
        """Option values marked so far (in the fields `only`, when given and present)."""
        names = [n for n in only if n in self.fields] or list(self.fields)
        out: list[str] = []
        for name in names:
            f = self.fields[name]
            if f.type != "choice":
                continue
            v = self.data.get(name)
            for x in v if isinstance(v, list) else [v] if v else []:
                if x not in out:
                    out.append(x)
        return out

    # ---------------------------------------------------------------- driver
    def run(self) -> dict[str, Any]:
        t = self.t
        order = list(self.fields.values())
        free = [f for f in order if self.is_free(f)]
        free_names = {f.name for f in free}
        # 1. choices that do not describe a person (roles, relationships, grounds)
        for f in order:
            if f.type == "choice" and (person_key(f.name) is None or "relationship" in f.name):
                self.value(f.name)
        # 2. tables, then everything else in reading order
        for f in order:
            if f.type == "table":
                self.value(f.name)
        for f in order:
            if f.name not in free_names:
                self.value(f.name)
        # 3. required_if: fill what the marked conditions ask for
        for r in t.rules:
            if r.check == "required_if":
                assert r.when is not None
                src = self.fields[r.when.field]
                v = self.data.get(r.when.field)
                met = (isinstance(v, list) and r.when.equals in v) if src.type == "choice" and src.multiple else v == r.when.equals
                for n in r.fields:
                    if met:
                        self.value(n, force=True)
                    elif is_empty(self.data.get(n)) and self.fields[n].type != "number" and self.rng.random() < 0.3:
                        # the form does not ask for it, but writers often give it anyway
                        self.data[n] = self._generate_plain(self.fields[n], False)
        # 4. "other" texts for marked options
        for f in order:
            for o in f.options:
                if o.text_field and o.text_field in self.fields:
                    v = self.data.get(f.name)
                    marked = (o.value in v) if isinstance(v, list) else v == o.value
                    if marked:
                        self.data[o.text_field] = self.other_text(self.fields[o.text_field], f)
                    elif not self.fields[o.text_field].required:
                        self.data[o.text_field] = None
        # 5. free text last
        for f in free:
            if f.required or self.rng.random() < 0.85:
                self.data[f.name] = self.narrative(f)
            else:
                self.data[f.name] = None
        self.repair()
        data = self.snapshot()
        data.update(computed_values(t, data))
        return data

    def snapshot(self) -> dict[str, Any]:
        """The record's data so far, with the canonical empty value for every empty field."""
        out: dict[str, Any] = {}
        for f in self.fields.values():
            v = self.data.get(f.name)
            out[f.name] = empty_value(f) if is_empty(v) else v
        return out

    def repair(self) -> None:
        """Make every rule hold, whatever the heuristics did."""
        t = self.t
        for _ in range(8):
            data = self.snapshot()
            problems = record_violations(t, data)
            if not problems:
                return
            for p in problems:
                code = p.code
                if code == "required":
                    self.value(p.fields[0], force=True)
                elif code == "other_text_missing":
                    owner = self.fields[p.fields[0]]
                    self.data[p.fields[1]] = self.other_text(self.fields[p.fields[1]], owner)
                elif code == "rule.required_if":
                    for n in p.fields:
                        if is_empty(self.data.get(n)):
                            self.value(n, force=True)
                elif code == "rule.at_least_one":
                    self.value(self.rng.choice(list(p.fields)), force=True)
                elif code == "rule.not_after":
                    a, b = p.fields
                    later = date.fromisoformat(self.data[b])
                    self.data[a] = (later - timedelta(days=_days_before_report(self.rng))).isoformat()
                else:
                    raise RuntimeError(f"synthetic data for {t.key} is invalid: {p.message}")
        left = record_violations(t, self.snapshot())
        if left:
            raise RuntimeError(f"synthetic data for {t.key} breaks its rules: {[v.message for v in left]}")


def _adult_age(rng: random.Random) -> int:
    return max(18, min(80, int(rng.triangular(18, 80, 38))))


def _days_before_report(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.4:
        return 0
    if r < 0.75:
        return rng.randint(1, 3)
    if r < 0.95:
        return rng.randint(4, 30)
    return rng.randint(31, 180)


@lru_cache(maxsize=4096)
def person_key(name: str) -> str | None:
    """The person a field describes: "child" for child_name, "" for a bare name, else None."""
    if name in PLAIN_PERSON_FIELDS:
        return ""
    for s in PERSON_SUFFIXES:
        if name.endswith(s) and len(name) > len(s):
            return name[: -len(s)]
    return None


def synth_record(template: Template, rng: random.Random) -> dict[str, Any]:
    """A valid, realistic record for `template` (see the module docstring)."""
    return _Gen(template, rng).run()


__all__ = ["COUNTIES", "REFERENCE_DATE", "Person", "person_key", "synth_record"]
