"""Fixtures for the SODA emulator tests: small seeded datasets and servers on free ports."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from emulator import Dataset, EmulatorServer

RESOURCE = "/resource/ijzp-q8t2.json"
_TLS = ssl.create_default_context()  # built once: httpx builds one per client otherwise (slow)
START = "2024-01-01"
END = "2024-07-01"


def make_dataset(n_rows: int = 3000, seed: int = 11, **options: object) -> Dataset:
    """A deterministic dataset whose clock is pinned, so default stamps are reproducible too."""
    clock = options.pop("clock", None) or (lambda: datetime(2024, 7, 20, tzinfo=UTC))
    return Dataset.generate(n_rows, seed, start=START, end=END, clock=clock, **options)  # type: ignore[arg-type]


def client_for(url: str, timeout: float = 30) -> httpx.Client:
    """An HTTP client for an emulator (plain HTTP; the TLS context is shared only to save time)."""
    return httpx.Client(base_url=url, timeout=timeout, verify=_TLS)


@pytest.fixture(scope="module")
def shared_dataset() -> Dataset:
    """Read-only dataset shared by a module's tests (do not mutate it)."""
    return make_dataset(4000, seed=5, restamp_share=0.5)


@pytest.fixture(scope="module")
def shared_server(shared_dataset: Dataset) -> Iterator[EmulatorServer]:
    with EmulatorServer(shared_dataset) as server:
        yield server


@pytest.fixture
def client(shared_server: EmulatorServer) -> Iterator[httpx.Client]:
    with client_for(shared_server.url) as c:
        yield c


@pytest.fixture
def dataset() -> Dataset:
    """A fresh dataset a test may mutate."""
    return make_dataset(1500, seed=3)


@pytest.fixture
def server(dataset: Dataset) -> Iterator[EmulatorServer]:
    with EmulatorServer(dataset) as srv:
        yield srv


@pytest.fixture
def http(server: EmulatorServer) -> Iterator[httpx.Client]:
    with client_for(server.url) as c:
        yield c
