from pathlib import Path

from producers.state import Watermark, WatermarkStore


def test_watermark_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = WatermarkStore(tmp_path / "state", "ijzp-q8t2")
    assert store.load() is None
    store.save(Watermark("2025-01-01T00:00:00.000Z", "row-1"))
    store.save(Watermark("2025-01-02T00:00:00.000Z", "row-2"))
    assert store.load() == Watermark("2025-01-02T00:00:00.000Z", "row-2")
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["poller-ijzp-q8t2.json"]
