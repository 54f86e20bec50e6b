"""The default date window and how the selection follows new data."""

from __future__ import annotations

from datetime import date

from dashboard.selection import default_window, follow_lake

JAN = (date(2024, 1, 1), date(2024, 1, 31))


def test_default_window_is_the_last_days_present() -> None:
    assert default_window(JAN, 30) == (date(2024, 1, 2), date(2024, 1, 31))
    assert default_window(JAN, 1) == (date(2024, 1, 31), date(2024, 1, 31))


def test_default_window_is_clipped_to_a_young_lake() -> None:
    assert default_window((date(2024, 1, 20), date(2024, 1, 31)), 30) == (
        date(2024, 1, 20),
        date(2024, 1, 31),
    )


def test_first_data_gets_the_default_window() -> None:
    assert follow_lake(None, None, JAN, 7) == (date(2024, 1, 25), date(2024, 1, 31))
    assert follow_lake((date(2024, 1, 3), date(2024, 1, 4)), None, JAN, 7) == (
        date(2024, 1, 25),
        date(2024, 1, 31),
    )


def test_a_window_ending_on_the_newest_day_slides_with_new_data() -> None:
    grown = (date(2024, 1, 1), date(2024, 2, 3))
    current = (date(2024, 1, 2), date(2024, 1, 31))
    assert follow_lake(current, JAN, grown, 30) == (date(2024, 1, 5), date(2024, 2, 3))


def test_an_analysts_past_window_is_kept() -> None:
    grown = (date(2024, 1, 1), date(2024, 2, 3))
    current = (date(2024, 1, 5), date(2024, 1, 10))
    assert follow_lake(current, JAN, grown, 30) == current


def test_a_window_is_clipped_when_the_lake_shrinks() -> None:
    shrunk = (date(2024, 1, 10), date(2024, 1, 20))
    assert follow_lake((date(2024, 1, 5), date(2024, 1, 15)), JAN, shrunk, 30) == (
        date(2024, 1, 10),
        date(2024, 1, 15),
    )
    # Ending on the old newest day: it follows the new newest day down.
    assert follow_lake((date(2024, 1, 25), date(2024, 1, 31)), JAN, shrunk, 30) == (
        date(2024, 1, 14),
        date(2024, 1, 20),
    )


def test_a_window_outside_the_new_bounds_falls_back_to_the_default() -> None:
    later = (date(2024, 3, 1), date(2024, 3, 31))
    current = (date(2024, 1, 5), date(2024, 1, 10))
    assert follow_lake(current, JAN, later, 7) == (date(2024, 3, 25), date(2024, 3, 31))
