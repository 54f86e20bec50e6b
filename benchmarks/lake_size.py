"""Lake size: bytes per row of our parquet lake vs the portal's CSV export of the same rows.

    python benchmarks/lake_size.py [--rows 1000000] [--json OUT.json]

``--rows`` rows from the emulator's calibrated generator (seed 1, four years)
are written twice:

* into a lake by ``sinks.parquet_lake.LakeWriter``, from the rows normalised as
  the poller does and turned into lake rows as the processor's decoder does
  (``Upsert(lake_row(record), partition_of(date))`` handed to
  ``writer.apply``).  One ``apply`` per partition: every flush rewrites the whole
  partition sorted by local time, so the final files are the ones the
  processor's micro-batches leave;
* as the portal's CSV export (``/api/views/ijzp-q8t2/rows.csv``): its header,
  column order, ``MM/DD/YYYY hh:mm:ss AM`` dates, ``true``/``false`` flags and
  ``"(lat, lon)"`` locations, as in ``tests/fixtures/chicago_crimes_2024_sample.csv``.

Lake bytes are the ``data.parquet`` files (not ``_metadata.json``).  The CSV's
gzip size (level 6) is shown for reference.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa

from benchmarks._common import fmt_num, markdown_table, source_rows, stop_on_sigterm, write_report
from crimestream.errors import ValidationError
from producers.normalize import normalize_row
from sinks.lake_schema import LAKE_SCHEMA, PARTITION_FILE, table_dir
from sinks.parquet_lake import LakeWriter, Upsert
from sinks.records import Partition, lake_row, partition_of

__all__ = ["CSV_COLUMNS", "LakeSize", "main", "portal_csv_row", "portal_time"]

# The portal's CSV export: (header, SODA field), in the export's order.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ID", "id"),
    ("Case Number", "case_number"),
    ("Date", "date"),
    ("Block", "block"),
    ("IUCR", "iucr"),
    ("Primary Type", "primary_type"),
    ("Description", "description"),
    ("Location Description", "location_description"),
    ("Arrest", "arrest"),
    ("Domestic", "domestic"),
    ("Beat", "beat"),
    ("District", "district"),
    ("Ward", "ward"),
    ("Community Area", "community_area"),
    ("FBI Code", "fbi_code"),
    ("X Coordinate", "x_coordinate"),
    ("Y Coordinate", "y_coordinate"),
    ("Year", "year"),
    ("Updated On", "updated_on"),
    ("Latitude", "latitude"),
    ("Longitude", "longitude"),
    ("Location", "location"),
)
_CSV_TIME = "%m/%d/%Y %I:%M:%S %p"
_TIMES = frozenset({"date", "updated_on"})
_CHUNK = 50_000


def portal_time(floating: str) -> str:
    """A SODA floating timestamp ('2024-02-10T00:44:00.000') as the CSV export prints it ('02/10/2024 12:44:00 AM')."""
    return datetime.fromisoformat(floating).strftime(_CSV_TIME)


def _csv_value(field: str, raw: Mapping[str, Any]) -> str:
    value = raw.get(field)
    if value is None:
        return ""
    if field in _TIMES:
        return portal_time(str(value))
    if field == "location":
        lat, lon = raw.get("latitude"), raw.get("longitude")
        return f"({lat}, {lon})" if lat is not None and lon is not None else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def portal_csv_row(raw: Mapping[str, Any]) -> list[str]:
    """One SODA JSON row (``$select=:*,*``) as the cells of the portal's CSV export."""
    return [_csv_value(field, raw) for _, field in CSV_COLUMNS]


@dataclass(frozen=True)
class LakeSize:
    rows: int
    invalid: int
    lake_bytes: int
    partitions: int
    csv_bytes: int
    csv_gzip_bytes: int
    lake_build_s: float

    def figures(self) -> dict[str, float]:
        n = self.rows
        return {
            "rows": n,
            "lake_bytes_per_row": self.lake_bytes / n,
            "csv_bytes_per_row": self.csv_bytes / n,
            "csv_gzip_bytes_per_row": self.csv_gzip_bytes / n,
            "lake_bytes": self.lake_bytes,
            "csv_bytes": self.csv_bytes,
            "lake_to_csv": self.lake_bytes / self.csv_bytes,
            "partitions": self.partitions,
        }

    def markdown(self) -> str:
        n = self.rows
        rows = [
            [f"our lake (parquet, zstd, {self.partitions} partitions)", fmt_num(self.lake_bytes / 2**20, 1),
             f"{self.lake_bytes / n:.1f}", f"{self.lake_bytes / self.csv_bytes:.2f}"],
            ["portal CSV export", fmt_num(self.csv_bytes / 2**20, 1), f"{self.csv_bytes / n:.1f}", "1.00"],
            ["portal CSV export, gzip -6", fmt_num(self.csv_gzip_bytes / 2**20, 1),
             f"{self.csv_gzip_bytes / n:.1f}", f"{self.csv_gzip_bytes / self.csv_bytes:.2f}"],
        ]  # fmt: skip
        return (
            "## Lake size vs the portal's CSV\n\n"
            f"The same {fmt_num(n)} generated rows (seed 1, four years): the lake as `LakeWriter` builds it from the "
            "normalised events (every column of the Avro record plus `date_local`, one sorted zstd file per month), "
            "and the portal's CSV export format (its header, dates and quoting).\n\n"
            f"{markdown_table(['format', 'MiB', 'bytes/row', 'vs CSV'], rows)}\n"
        )


class _LakeBuffer:
    """Lake rows grouped by partition, kept as arrow tables until written."""

    def __init__(self) -> None:
        self.pending: dict[Partition, list[dict[str, Any]]] = defaultdict(list)
        self.tables: dict[Partition, list[pa.Table]] = defaultdict(list)
        self.count = 0

    def add(self, record: dict[str, Any]) -> None:
        self.pending[partition_of(record["date"])].append(lake_row(record))
        self.count += 1
        if self.count % _CHUNK == 0:
            self.compact()

    def compact(self) -> None:
        for partition, rows in self.pending.items():
            self.tables[partition].append(pa.Table.from_pylist(rows, schema=LAKE_SCHEMA))
        self.pending.clear()

    def write(self, writer: LakeWriter) -> None:
        self.compact()
        for partition in sorted(self.tables):
            rows = pa.concat_tables(self.tables.pop(partition)).to_pylist()
            writer.apply([Upsert(row, partition) for row in rows], [])


def _gzip_size(path: Path) -> int:
    target = path.with_name(path.name + ".gz")
    with open(path, "rb") as source, gzip.open(target, "wb", compresslevel=6) as sink:
        shutil.copyfileobj(source, sink, length=1 << 20)
    return target.stat().st_size


def _write_csv_and_buffer(rows: int, handle: TextIO, lake: _LakeBuffer) -> int:
    """Stream the rows into the CSV file and the lake buffer; returns how many rows were invalid."""
    out = csv.writer(handle, lineterminator="\n")
    out.writerow([header for header, _ in CSV_COLUMNS])
    invalid = 0
    for raw in source_rows(rows):
        try:
            record = normalize_row(raw)
        except ValidationError:
            invalid += 1  # the poller would dead-letter it; it stays out of both
            continue
        out.writerow(portal_csv_row(raw))
        lake.add(record)
    return invalid


def measure(rows: int, workdir: Path) -> LakeSize:
    csv_path = workdir / "crimes.csv"
    lake = _LakeBuffer()
    with open(csv_path, "w", encoding="utf-8", newline="") as handle:
        invalid = _write_csv_and_buffer(rows, handle, lake)
    started = time.monotonic()
    lake.write(LakeWriter(workdir / "lake"))
    build_s = time.monotonic() - started
    files = list(table_dir(workdir / "lake").glob(f"*/*/{PARTITION_FILE}"))
    return LakeSize(
        rows=lake.count,
        invalid=invalid,
        lake_bytes=sum(f.stat().st_size for f in files),
        partitions=len(files),
        csv_bytes=csv_path.stat().st_size,
        csv_gzip_bytes=_gzip_size(csv_path),
        lake_build_s=build_s,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of generated data")
    parser.add_argument("--json", type=Path, help="write the report (figures + markdown) here")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="crimestream-bench-size-") as tmp:
        result = measure(args.rows, Path(tmp))
    report = write_report(args.json, "lake_size", result.figures(), result.markdown())
    print(report.markdown)
    if result.invalid:
        print(f"note: {result.invalid:,} generated row(s) were invalid and left out of both")
    return 0


if __name__ == "__main__":
    sys.exit(main())
