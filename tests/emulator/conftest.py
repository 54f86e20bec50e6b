"""Fixtures for the SODA emulator tests: small seeded datasets and servers on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from emulator_support import client_for, make_dataset

from emulator import Dataset, EmulatorServer


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
