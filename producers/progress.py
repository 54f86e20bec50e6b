"""Progress of a long poll (a backfill): rows done, rate, ETA. Pure formatting."""

from __future__ import annotations

__all__ = ["format_duration", "format_progress"]


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_progress(done: int, total: int | None, elapsed: float) -> str:
    """'120,000/1,000,000 rows (12.0%), 4,100 rows/s, ETA 3m34s' (or without total/ETA)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    if total is None or total <= 0:
        return f"{done:,} rows, {rate:,.0f} rows/s"
    total = max(total, done)
    eta = (total - done) / rate if rate > 0 else 0.0
    return f"{done:,}/{total:,} rows ({100.0 * done / total:.1f}%), {rate:,.0f} rows/s, ETA {format_duration(eta)}"
