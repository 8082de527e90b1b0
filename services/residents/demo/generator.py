"""Synthetic residents of one municipality, deterministic for a seed.

Households follow the shape of Japan's 2020 census (38% one person, 28% two, 16%
three, 12.5% four, 6% five or more); couples are of similar age, children 22–45
years younger than their parents, some households keep a grandparent. About 2.5%
of residents are foreign residents with their own names and languages. Addresses
are 町字 of the municipality (towns from Faker ja_JP, with 丁目), 番地 and, for
four in ten households, a building and room. About 6–8% of people need help to
evacuate (the elderly living alone, care levels, disabilities, language), and about
0.1% are under a DV-support block.

Rows come out as the CSV columns of residents.csvio.columns, so the import reads
them like any municipal file; `GeneratedResident.assistance` carries the register
entry that goes with a row, if any.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from residents.csvio.columns import COLUMNS
from residents.demo import names
from residents.registry.fields import today
from yui.tenancy.prefectures import PREFECTURES

#: rough centre of each prefecture (its capital), for coordinates around the municipality
_CENTRES = {
    "01": (43.06, 141.35), "02": (40.82, 140.74), "03": (39.70, 141.15), "04": (38.27, 140.87),
    "05": (39.72, 140.10), "06": (38.24, 140.36), "07": (37.75, 140.47), "08": (36.34, 140.45),
    "09": (36.57, 139.88), "10": (36.39, 139.06), "11": (35.86, 139.65), "12": (35.61, 140.12),
    "13": (35.69, 139.69), "14": (35.45, 139.64), "15": (37.90, 139.02), "16": (36.70, 137.21),
    "17": (36.59, 136.63), "18": (36.07, 136.22), "19": (35.66, 138.57), "20": (36.65, 138.18),
    "21": (35.39, 136.72), "22": (34.98, 138.38), "23": (35.18, 136.91), "24": (34.73, 136.51),
    "25": (35.00, 135.87), "26": (35.02, 135.76), "27": (34.69, 135.52), "28": (34.69, 135.18),
    "29": (34.69, 135.83), "30": (34.23, 135.17), "31": (35.50, 134.24), "32": (35.47, 133.05),
    "33": (34.66, 133.93), "34": (34.40, 132.46), "35": (34.19, 131.47), "36": (34.07, 134.56),
    "37": (34.34, 134.04), "38": (33.84, 132.77), "39": (33.56, 133.53), "40": (33.61, 130.42),
    "41": (33.25, 130.30), "42": (32.74, 129.87), "43": (32.79, 130.74), "44": (33.24, 131.61),
    "45": (31.91, 131.42), "46": (31.56, 130.56), "47": (26.21, 127.68),
}  # fmt: skip
_KANJI_NUMBERS = "一二三四五六七八九"
_SIZES = (1, 2, 3, 4, 5, 6)
_SIZE_WEIGHTS = (38, 28, 16, 12.5, 4, 1.5)
_CARE_LEVELS = ("要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5")
_SUPPORTER_ROLES = ("民生委員", "自主防災組織", "近隣住民", "町内会")


@dataclass(frozen=True)
class SupporterSpec:
    name: str
    role: str
    phone: str


@dataclass(frozen=True)
class AssistanceSpec:
    reasons: tuple[str, ...]
    care_level: str
    needs: str
    priority: int
    consent_to_share: bool
    supporters: tuple[SupporterSpec, ...]


@dataclass(frozen=True)
class GeneratedResident:
    row: dict[str, str]
    assistance: AssistanceSpec | None = None


@dataclass
class _Person:
    family: tuple[str, str]
    given: tuple[str, str]
    sex: str
    age: int
    relationship: str
    nationality: str = ""
    language: str = "ja"
    extra: dict[str, str] = field(default_factory=dict)


#: the day the synthetic population is "as of": a fixed day, so that a seed gives the
#: same residents whatever day the generator runs
REFERENCE_DAY = date(2025, 4, 1)


class Generator:
    def __init__(self, tenant: str, *, seed: int = 0, reference: date = REFERENCE_DAY) -> None:
        self.tenant = tenant
        self.random = random.Random(f"{tenant}:{seed}")
        self.today = min(reference, today())
        self.family, self.female, self.male = names.pools()
        town_names = names.towns()
        self.random.shuffle(town_names)
        self.towns = [
            (f"{town}{_KANJI_NUMBERS[chome]}丁目", f"{index + 1:04d}{chome + 1:03d}")
            for index, town in enumerate(town_names[:60])
            for chome in range(self.random.randint(1, 5))
        ]
        self.buildings = names.buildings()
        self.centre = _CENTRES.get(tenant[:2], _CENTRES["13"])
        self.prefecture = PREFECTURES.get(tenant[:2], "")

    # --- people ---------------------------------------------------------------------

    def _given(self, sex: str) -> tuple[str, str]:
        return self.random.choice(self.female if sex == "female" else self.male)

    def _single_age(self) -> int:
        band = self.random.choices(((20, 39), (40, 64), (65, 74), (75, 98)), (35, 30, 15, 20))[0]
        return self.random.randint(*band)

    def _household(self, size: int) -> list[_Person]:
        rng = self.random
        if rng.random() < 0.025:
            return self._foreign_household(min(size, 4))
        family = rng.choice(self.family)
        if size == 1:
            age = self._single_age()
            sex = "female" if rng.random() < (0.65 if age >= 65 else 0.45) else "male"
            return [_Person(family, self._given(sex), sex, age, "世帯主")]
        couple = size >= 3 or rng.random() < 0.6
        head_age = rng.randint(28, 62) if size >= 3 else rng.randint(25, 90)
        head_sex = "male" if rng.random() < 0.8 else "female"
        people = [_Person(family, self._given(head_sex), head_sex, head_age, "世帯主")]
        if couple:
            spouse_sex = "female" if head_sex == "male" else "male"
            spouse_age = max(18, head_age + rng.randint(-6, 4))
            people.append(
                _Person(
                    family,
                    self._given(spouse_sex),
                    spouse_sex,
                    spouse_age,
                    "妻" if spouse_sex == "female" else "夫",
                )
            )
        if size >= 5 and rng.random() < 0.5:
            elder_sex = "female" if rng.random() < 0.7 else "male"
            elder_age = min(100, head_age + rng.randint(24, 36))
            people.append(
                _Person(
                    family,
                    self._given(elder_sex),
                    elder_sex,
                    elder_age,
                    "母" if elder_sex == "female" else "父",
                )
            )
        while len(people) < size:
            child_sex = rng.choice(("female", "male"))
            child_age = max(0, head_age - rng.randint(22, 42))
            people.append(_Person(family, self._given(child_sex), child_sex, child_age, "子"))
        return people

    def _foreign_household(self, size: int) -> list[_Person]:
        rng = self.random
        nationality, language, families, givens = rng.choice(names.FOREIGN)
        family = rng.choice(families)
        head_given, head_kana, head_sex = rng.choice(givens)
        head_age = rng.randint(20, 60)
        people = [
            _Person(
                family, (head_given, head_kana), head_sex, head_age, "世帯主", nationality, language
            )
        ]
        while len(people) < size:
            given, kana, sex = rng.choice(givens)
            relationship = (
                "子"
                if len(people) > 1 or rng.random() < 0.3
                else ("妻" if sex == "female" else "夫")
            )
            age = (
                max(0, head_age - rng.randint(22, 35))
                if relationship == "子"
                else max(18, head_age + rng.randint(-5, 5))
            )
            people.append(
                _Person(family, (given, kana), sex, age, relationship, nationality, language)
            )
        return people

    def _birth_date(self, age: int) -> date:
        born = (
            self.today.replace(year=self.today.year - age)
            if not (self.today.month == 2 and self.today.day == 29)
            else self.today.replace(year=self.today.year - age, day=28)
        )
        return born - timedelta(days=self.random.randint(1, 364))

    def _phone(self) -> str:
        rng = self.random
        if rng.random() < 0.75:
            return f"0{rng.choice('789')}0-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        return f"0{rng.randint(11, 99)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"

    # --- the needs-assistance register -------------------------------------------------

    def _assistance(self, person: _Person, alone: bool) -> AssistanceSpec | None:
        rng = self.random
        reasons: list[str] = []
        care_level = ""
        needs: list[str] = []
        if person.age >= 75 and alone and rng.random() < 0.7:
            reasons.append("elderly_alone")
        if person.age >= 75 and rng.random() < 0.22:
            reasons.append("care_level")
            care_level = rng.choice(_CARE_LEVELS)
            if care_level >= "要介護3":
                needs.append("車椅子で移動")
        if rng.random() < 0.012:
            reasons.append("disability")
            needs.append(
                rng.choice(("視覚障害: 誘導が必要", "聴覚障害: 筆談・手話", "肢体不自由: 担架"))
            )
        if person.nationality and (person.age >= 65 or rng.random() < 0.1):
            reasons.append("language")
            needs.append(f"通訳 ({person.language})")
        if person.age == 0 and rng.random() < 0.05:
            reasons.append("infant")
        if not reasons:
            return None
        priority = (
            1
            if ("disability" in reasons or care_level >= "要介護3")
            else 2
            if "elderly_alone" in reasons
            else 3
        )
        supporters = [
            SupporterSpec(
                f"{person.family[0]} {self._given(rng.choice(('female', 'male')))[0]}",
                "家族",
                self._phone(),
            )
        ]
        if rng.random() < 0.6:
            family = rng.choice(self.family)[0]
            supporters.append(
                SupporterSpec(
                    f"{family} {self._given(rng.choice(('female', 'male')))[0]}",
                    rng.choice(_SUPPORTER_ROLES),
                    self._phone(),
                )
            )
        return AssistanceSpec(
            reasons=tuple(sorted(set(reasons))),
            care_level=care_level,
            needs="、".join(needs),
            priority=priority,
            consent_to_share=rng.random() < 0.65,
            supporters=tuple(supporters),
        )

    # --- rows ------------------------------------------------------------------------

    def residents(self, count: int) -> Iterator[GeneratedResident]:
        rng = self.random
        produced = household_seq = 0
        while produced < count:
            household_seq += 1
            size = min(rng.choices(_SIZES, _SIZE_WEIGHTS)[0], count - produced)
            people = self._household(size)
            town, town_code = rng.choice(self.towns)
            block = f"{rng.randint(1, 30)}-{rng.randint(1, 25)}"
            building = (
                f"{rng.choice(self.buildings)}{town[:2]}{rng.randint(1, 12)}{rng.randint(1, 8):02d}"
                if rng.random() < 0.4
                else ""
            )
            located = rng.random() < 0.7
            latitude = f"{self.centre[0] + rng.uniform(-0.06, 0.06):.6f}" if located else ""
            longitude = f"{self.centre[1] + rng.uniform(-0.08, 0.08):.6f}" if located else ""
            head = people[0]
            head_name = f"{head.family[0]}　{head.given[0]}"
            for person in people:
                produced += 1
                birth = self._birth_date(person.age)
                born_here = person.age < 18 and rng.random() < 0.6
                became = (
                    birth
                    if born_here
                    else birth + timedelta(days=rng.randint(0, max(0, (self.today - birth).days)))
                )
                since = (
                    became
                    if rng.random() < 0.7
                    else became + timedelta(days=rng.randint(0, max(0, (self.today - became).days)))
                )
                adult = person.age >= 18
                dv = adult and rng.random() < 0.0012
                row = {
                    "宛名番号": f"{produced:010d}",
                    "世帯番号": f"{household_seq:08d}",
                    "氏名": f"{person.family[0]}　{person.given[0]}",
                    "氏名の振り仮名": f"{person.family[1]}　{person.given[1]}",
                    "生年月日": birth.isoformat(),
                    "性別": "女" if person.sex == "female" else "男",
                    "続柄": person.relationship,
                    "世帯主氏名": head_name,
                    "国籍・地域": person.nationality,
                    "住民となった年月日": became.isoformat(),
                    "住定年月日": since.isoformat(),
                    "住民状態": "住民",
                    "消除年月日": "",
                    "町字コード": town_code,
                    "町字": town,
                    "番地": block,
                    "方書": building,
                    "緯度": latitude,
                    "経度": longitude,
                    "電話番号": self._phone() if adult and rng.random() < 0.6 else "",
                    "メールアドレス": (
                        f"user{produced}@example.jp" if adult and rng.random() < 0.3 else ""
                    ),
                    "希望言語": person.language,
                    "支援措置": "1" if dv else "0",
                }
                yield GeneratedResident(row, self._assistance(person, alone=size == 1))


HEADER = [column.name for column in COLUMNS]
