"""Readers globbing the lake with DuckDB while the writer swaps partitions thousands of times.

The lake's read contract (docs/consumers.md, "Reading the lake while it is written"):
fingerprint the partition files (path, size, mtime, inode), run the query over
exactly those files, fingerprint again; when the two fingerprints are equal the
answer is a consistent snapshot — no duplicate id, no error — because every swap
replaces a file by a new inode and a move leaves its old partition before it
enters the new one.  When they differ, the query raced a swap: run it again.

DuckDB opens each parquet file twice per query (footer at bind time, data at scan
time), so a plain glob query can fail when a swap lands between the two opens;
that is why the contract re-checks the fingerprint instead of trusting one run.
"""

from __future__ import annotations

import multiprocessing as mp
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from dashboard.lake import lake_version
from sinks.parquet_lake import Delete, LakeWriter, Upsert
from tests.sinks.test_parquet_lake import _row

SWAPS = 2000
IDS = 400
PARTITIONS = [(2024, month) for month in range(1, 9)]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _in(partition: tuple[int, int]) -> datetime:
    return datetime(partition[0], partition[1], 10, 12, tzinfo=UTC)


def _write(lake: str, swaps: int, ready: mp.synchronize.Event, done: mp.synchronize.Event) -> None:
    """Updates, moves to another month and deletes of random ids until ``swaps`` partition swaps."""
    writer = LakeWriter(Path(lake))
    rng = random.Random(7)
    where: dict[str, tuple[int, int] | None] = {}
    first = []
    for i in range(IDS):
        partition = rng.choice(PARTITIONS)
        first.append(Upsert(_row(str(i), _in(partition), T0), partition))
        where[str(i)] = partition
    writer.apply(first, [])
    ready.set()
    swapped, tick = 0, T0
    while swapped < swaps:
        tick += timedelta(seconds=1)
        upserts, deletes = [], []
        for rid in map(str, rng.sample(range(IDS), 12)):
            old, draw = where[rid], rng.random()
            if draw < 0.1 and old is not None:
                deletes.append(Delete(rid, old, tick))
                where[rid] = None
                continue
            new = rng.choice(PARTITIONS) if draw < 0.6 or old is None else old
            upserts.append(Upsert(_row(rid, _in(new), tick), new, previous=old if old != new else None))
            where[rid] = new
        swapped += writer.apply(upserts, deletes).partitions
    done.set()


def test_a_reader_loop_through_thousands_of_swaps_sees_no_duplicate_and_no_error(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    writer = ctx.Process(target=_write, args=(str(tmp_path), SWAPS, ready, done), daemon=True)
    writer.start()
    assert ready.wait(120), "the writer did not start"
    con = duckdb.connect()
    consistent = raced = 0
    try:
        while not done.is_set() or consistent == 0:
            before = lake_version(tmp_path)
            try:
                counts = con.execute(
                    "select count(*), count(distinct id) from read_parquet($files)", {"files": list(before.paths)}
                ).fetchone()
            except duckdb.Error as exc:
                assert lake_version(tmp_path) != before, f"query failed on files no swap touched: {exc}"
                raced += 1
                continue
            if lake_version(tmp_path) != before:
                raced += 1
                continue
            assert counts is not None
            rows, ids = counts
            assert rows == ids, f"a consistent read saw {rows - ids} duplicate id(s)"
            consistent += 1
    finally:
        writer.join(60)
    assert writer.exitcode == 0, "the writer failed"
    assert consistent > 100, f"only {consistent} consistent reads ({raced} raced swaps)"
