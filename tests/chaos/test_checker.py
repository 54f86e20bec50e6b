"""The soak's checker on hand-made truth and lake rows: each kind of damage is detected and counted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chaos.checker import LakeRow, TruthRow, check

T = datetime(2025, 5, 17, 20, 40, 52, tzinfo=UTC)


def _truth(rid: str, month: int, at: datetime = T) -> TruthRow:
    return TruthRow(rid, at, (2024, month))


def _lake(rid: str, month: int, at: datetime = T, *, stored_in: int | None = None) -> LakeRow:
    return LakeRow(rid, at, (2024, stored_in if stored_in is not None else month), (2024, month))


TRUTH = [_truth("1", 1), _truth("2", 2), _truth("3", 3)]


def test_an_exact_lake_passes() -> None:
    result = check(TRUTH, [_lake("1", 1), _lake("2", 2), _lake("3", 3)])
    assert result.ok
    assert (result.rows_compared, result.lake_rows) == (3, 3)
    assert (result.lost, result.duplicated, result.stale, result.misplaced, result.undeleted) == (0, 0, 0, 0, 0)
    assert result.examples == {}


def test_a_row_missing_from_the_lake_is_lost() -> None:
    result = check(TRUTH, [_lake("1", 1), _lake("3", 3)])
    assert result.lost == 1 and result.failures == 1
    assert result.examples["lost"][0].startswith("2:")


def test_an_id_twice_in_the_lake_is_duplicated_once() -> None:
    # A moved row left behind in its old partition: two copies, the newest in the right month.
    old_copy = _lake("2", 1, T - timedelta(hours=1))
    result = check(TRUTH, [_lake("1", 1), _lake("2", 2), old_copy, _lake("3", 3)])
    assert result.duplicated == 1 and result.failures == 1
    assert "2 copies" in result.examples["duplicated"][0]


def test_an_older_version_in_the_lake_is_stale() -> None:
    newer = [_truth("1", 1), _truth("2", 2, T + timedelta(seconds=1)), _truth("3", 3)]
    result = check(newer, [_lake("1", 1), _lake("2", 2), _lake("3", 3)])
    assert result.stale == 1 and result.failures == 1
    assert "<" in result.examples["stale"][0]


def test_a_row_in_the_wrong_partition_is_misplaced() -> None:
    result = check(TRUTH, [_lake("1", 1), _lake("2", 2, stored_in=7), _lake("3", 3)])
    assert result.misplaced == 1 and result.failures == 1
    assert "month=07" in result.examples["misplaced"][0]


def test_a_row_stored_by_its_own_old_date_is_misplaced_against_the_source() -> None:
    # The lake row's date and partition agree with each other, but the source moved it (same version: a bug).
    result = check(TRUTH, [_lake("1", 1), _lake("2", 5), _lake("3", 3)])
    assert result.misplaced == 1 and result.failures == 1


def test_a_row_deleted_at_the_source_but_still_in_the_lake_is_undeleted() -> None:
    result = check(TRUTH, [_lake("1", 1), _lake("2", 2), _lake("3", 3), _lake("4", 4)])
    assert result.undeleted == 1 and result.failures == 1
    assert result.rows_compared == 3


def test_every_kind_at_once_is_counted_separately() -> None:
    truth = [*TRUTH, _truth("5", 5, T + timedelta(minutes=1)), _truth("6", 6)]
    lake = [
        _lake("1", 1),
        _lake("1", 1),  # duplicated
        _lake("2", 2, stored_in=3),  # misplaced
        # "3" lost
        _lake("5", 5),  # stale
        _lake("6", 6),
        _lake("9", 9),  # undeleted
    ]
    result = check(truth, lake)
    assert (result.lost, result.duplicated, result.stale, result.misplaced, result.undeleted) == (1, 1, 1, 1, 1)
    assert result.failures == 5 and not result.ok
