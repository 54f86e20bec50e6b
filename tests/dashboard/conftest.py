"""Fixtures for the dashboard tests: a sample lake and a data dir without one."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from dashboard_lake_builder import BOUNDARY_ROWS, SampleLake, read_lake, sample_rows, write_lake


@pytest.fixture
def sample_lake(tmp_path: Path) -> SampleLake:
    """100 days of rows from 2023-12-10 to 2024-03-18, plus rows on month boundaries."""
    data_dir = tmp_path / "data"
    lake_dir = data_dir / "lake"
    write_lake(lake_dir, sample_rows(date(2023, 12, 10), 100) + BOUNDARY_ROWS)
    return SampleLake(data_dir, lake_dir, read_lake(lake_dir), date(2023, 12, 10), date(2024, 3, 18))


@pytest.fixture
def empty_data_dir(tmp_path: Path) -> Path:
    return tmp_path / "empty-data"
