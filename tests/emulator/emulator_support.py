"""Helpers shared by the SODA emulator tests: seeded datasets and HTTP clients."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import httpx

from emulator import Dataset

RESOURCE = "/resource/ijzp-q8t2.json"
START = "2024-01-01"
END = "2024-07-01"
_TLS = ssl.create_default_context()  # built once: httpx builds one per client otherwise (slow)


def make_dataset(n_rows: int = 3000, seed: int = 11, **options: object) -> Dataset:
    """A deterministic dataset whose clock is pinned, so default stamps are reproducible too."""
    clock = options.pop("clock", None) or (lambda: datetime(2024, 7, 20, tzinfo=UTC))
    return Dataset.generate(n_rows, seed, start=START, end=END, clock=clock, **options)  # type: ignore[arg-type]


def client_for(url: str, timeout: float = 30) -> httpx.Client:
    """An HTTP client for an emulator (plain HTTP; the TLS context is shared only to save time)."""
    return httpx.Client(base_url=url, timeout=timeout, verify=_TLS)
