"""Fixtures for the wire tests: mocked HTTP (``responses``), fixed clocks and
clients that never sleep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from _api_helpers import AK, CA_BASE, CA_PASSWORD, DATE, FH_PROJECT, FH_TOKEN, SK, Sleeps

from terranb.api.cloudapi import CloudApiClient
from terranb.api.flighthub import FlightHubClient
from terranb.api.session import RetryPolicy
from terranb.api.terra import TerraClient


@pytest.fixture
def rm() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def terra(sleeps: Sleeps) -> TerraClient:
    return TerraClient(AK, SK, region="us", date=lambda: DATE, sleep=sleeps, rand=lambda: 0.5,
                       retry=RetryPolicy(max_attempts=3, backoff=0.1))


@pytest.fixture
def fh(sleeps: Sleeps) -> FlightHubClient:
    ids = iter(f"req-{i}" for i in range(1000))
    return FlightHubClient(FH_TOKEN, FH_PROJECT, region="us", sleep=sleeps,
                           request_id=lambda: next(ids), retry=RetryPolicy(max_attempts=3))


@pytest.fixture
def ca(sleeps: Sleeps) -> CloudApiClient:
    return CloudApiClient(CA_BASE, username="adminPC", password=CA_PASSWORD, sleep=sleeps,
                          now=lambda: 1_700_000_000.0, retry=RetryPolicy(max_attempts=3))
