"""Names of places and people (intake.gazetteer): which surnames a person must check."""

from __future__ import annotations

import pytest

from intake.gazetteer import known_surname, variant_surname


@pytest.mark.parametrize("name", ["黃淑芬", "黃志明", "陳淑芬", "林志明",
                                  "鍾志明", "鐘志明"])  # two surnames of their own, told apart
def test_standard_surnames_with_no_other_form_in_use_are_not_variants(name: str) -> None:
    assert known_surname(name) and not variant_surname(name)


@pytest.mark.parametrize("name", [
    "黄淑芬",  # non-standard form of 黃
    "温志明", "溫志明",  # both forms really used in Taiwan (温 0.18%, 溫 0.06%)
    "涂志明", "凃志明", "塗志明",
])
def test_surnames_written_two_ways_in_taiwan_are_variants(name: str) -> None:
    assert variant_surname(name)
