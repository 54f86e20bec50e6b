"""Generation: deterministic, calibrated on the real sample, shaped like the portal's loads."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from emulator_support import make_dataset

from emulator import Dataset
from emulator.calibrate import derive
from emulator.calibration import load_calibration
from emulator.store import case_code, case_number_text

SAMPLE = Path(__file__).parents[1] / "fixtures" / "chicago_crimes_2024_sample.csv"
CALIBRATION = Path(__file__).parents[2] / "emulator" / "calibration.json"


@pytest.fixture(scope="module")
def sample() -> list[dict[str, str]]:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def generated() -> list[dict[str, object]]:
    return make_dataset(20_000, seed=99).current_rows()


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = make_dataset(800, seed=7)
    b = make_dataset(800, seed=7)
    assert a.current_rows() == b.current_rows()
    a.daily_load(30, 2, 1)
    b.daily_load(30, 2, 1)
    assert a.current_rows() == b.current_rows()
    assert make_dataset(800, seed=8).current_rows() != make_dataset(800, seed=7).current_rows()


def test_type_shares_match_the_sample(sample: list[dict[str, str]], generated: list[dict[str, object]]) -> None:
    # The sample over-represents HOMICIDE (one row per victim, sorted first); compare the rest.
    real = Counter(r["Primary Type"] for r in sample if r["Primary Type"] != "HOMICIDE")
    ours = Counter(str(r["primary_type"]) for r in generated if r["primary_type"] != "HOMICIDE")
    real_total, our_total = sum(real.values()), sum(ours.values())
    for ptype, count in real.most_common(8):
        expected = count / real_total
        assert abs(ours[ptype] / our_total - expected) < 0.015 + 0.1 * expected, ptype
    homicides = sum(r["primary_type"] == "HOMICIDE" for r in generated) / len(generated)
    assert homicides < 0.006


def test_arrest_domestic_and_places_match_the_sample(
    sample: list[dict[str, str]], generated: list[dict[str, object]]
) -> None:
    def share(rows: list[dict[str, object]], key: str) -> float:
        return sum(r[key] is True for r in rows) / len(rows)

    non_homicide = [r for r in sample if r["Primary Type"] != "HOMICIDE"]
    real_arrest = sum(r["Arrest"] == "true" for r in non_homicide) / len(non_homicide)
    real_domestic = sum(r["Domestic"] == "true" for r in non_homicide) / len(non_homicide)
    assert abs(share(generated, "arrest") - real_arrest) < 0.03
    assert abs(share(generated, "domestic") - real_domestic) < 0.03
    real_street = sum(r["Location Description"] == "STREET" for r in sample) / len(sample)
    our_street = sum(r.get("location_description") == "STREET" for r in generated) / len(generated)
    assert abs(our_street - real_street) < 0.04


def test_geography_is_chicagos(generated: list[dict[str, object]]) -> None:
    assert len({r["district"] for r in generated}) == 22
    assert len({r["ward"] for r in generated}) == 50
    assert len({r["community_area"] for r in generated}) == 77
    assert len({r["beat"] for r in generated}) > 250
    located = [r for r in generated if "latitude" in r]
    assert 0.97 <= len(located) / len(generated) <= 0.99
    assert all(41.64 <= float(str(r["latitude"])) <= 42.03 for r in located)
    assert all(-87.94 <= float(str(r["longitude"])) <= -87.52 for r in located)


def test_rows_are_published_about_a_week_after_the_incident(generated: list[dict[str, object]]) -> None:
    lags = Counter(
        (datetime.fromisoformat(str(r["updated_on"])).date() - datetime.fromisoformat(str(r["date"])).date()).days
        for r in generated
        if r[":created_at"] == r[":updated_at"]
    )
    total = sum(lags.values())
    assert lags[8] / total > 0.85
    assert min(lags) >= 8


def test_a_daily_load_shares_one_updated_on(generated: list[dict[str, object]]) -> None:
    by_day = Counter(str(r["updated_on"])[:10] for r in generated)
    stamps_per_day: dict[str, set[str]] = {}
    for r in generated:
        stamps_per_day.setdefault(str(r["updated_on"])[:10], set()).add(str(r["updated_on"]))
    assert all(len(s) == 1 for s in stamps_per_day.values())
    assert max(by_day.values()) > 50


def test_ids_increase_with_publication_and_homicides_have_their_own_series(
    generated: list[dict[str, object]],
) -> None:
    main = [(str(r[":created_at"]), int(str(r["id"]))) for r in generated if r["primary_type"] != "HOMICIDE"]
    main.sort()
    ids = [i for _, i in main]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert 13_000_000 < ids[0] < 13_600_000
    victims = [int(str(r["id"])) for r in generated if r["primary_type"] == "HOMICIDE"]
    assert victims and all(20_000 < v < 40_000 for v in victims)


def test_case_numbers(generated: list[dict[str, object]]) -> None:
    numbers = [str(r["case_number"]) for r in generated]
    assert all(n.startswith("JH") and len(n) == 8 for n in numbers)
    duplicates = len(numbers) - len(set(numbers))
    assert 0 < duplicates < len(numbers) * 0.01
    assert case_number_text(2025 * 1_000_000 + 12345) == "JJ012345"
    assert case_code("JH146864") == 2024 * 1_000_000 + 146864
    assert case_code("P1234567") is None


def test_mass_restamp_at_generation() -> None:
    rows = make_dataset(3000, seed=12, restamp_share=0.6).current_rows()
    _stamp, top_count = Counter(str(r[":updated_at"]) for r in rows).most_common(1)[0]
    assert top_count > 1200


def test_default_range_ends_a_week_before_the_clock() -> None:
    clock = datetime(2025, 3, 1, 18, tzinfo=UTC)  # noon in Chicago: today's 15:40 load has not happened
    dataset = Dataset.generate(2000, 1, days=30, clock=lambda: clock)
    rows = dataset.current_rows()
    dates = [str(r["date"]) for r in rows]
    assert min(dates) >= "2025-01-22" and max(dates) < "2025-02-21"
    assert max(str(r[":updated_at"]) for r in rows) < "2025-03-01T18:00:00.000Z"
    assert max(str(r["updated_on"]) for r in rows).startswith("2025-02-28T15:4")


def test_calibration_file_is_reproducible_from_the_sample(sample: list[dict[str, str]]) -> None:
    committed = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    assert json.loads(json.dumps(derive(sample))) == committed
    calibration = load_calibration()
    assert abs(sum(calibration.type_shares.values()) - 1) < 1e-6
    assert calibration.type_shares["HOMICIDE"] == pytest.approx(0.0023)


def test_a_million_rows_fit() -> None:
    """Scale sanity on a smaller slice: memory per row stays small (columns, not dicts)."""
    dataset = make_dataset(20_000, seed=1)
    store = dataset._store
    per_row = sum(
        getattr(store, name).itemsize * len(getattr(store, name))
        if hasattr(getattr(store, name), "itemsize")
        else len(getattr(store, name))
        for name in store.COLUMN_ATTRIBUTES
    ) / len(dataset)
    assert per_row < 100
