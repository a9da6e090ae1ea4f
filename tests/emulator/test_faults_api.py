"""API-side knobs: --latency-ms delays every request, --fail-rate injects 500/503/drops (seeded)."""

from __future__ import annotations

import time

import pytest
import requests

from terranb.emulator import serve

pytestmark = [pytest.mark.served, pytest.mark.slow]

LOGIN = "/manage/api/v1/login"
BODY = {"username": "adminPC", "password": "adminPC", "flag": 1}


def _outcomes(base_url: str, n: int) -> list[str]:
    out = []
    for _ in range(n):
        try:
            r = requests.post(base_url + LOGIN, json=BODY, timeout=10)
            if r.status_code >= 500:
                assert "injected" in r.json()["message"]
            out.append(str(r.status_code))
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            out.append("drop")
    return out


def test_latency_and_fail_rate_knobs():
    with serve(latency_ms=150, fail_rate=0.5, seed=7, job_seconds=1) as emu:
        t0 = time.monotonic()
        first = _outcomes(emu.base_url, 24)
        elapsed = time.monotonic() - t0
        assert elapsed >= 24 * 0.15
        kinds = set(first)
        assert "200" in kinds and kinds & {"500", "503", "drop"}
        failed = sum(k != "200" for k in first)
        assert 4 <= failed <= 20
    # deterministic under --seed: the verdicts are the seeded stream, request by request
    from terranb.emulator.netem import FaultInjector

    stream = FaultInjector(0.5, seed=7)
    expected = [{"ok": "200"}.get(v, v) for v in (stream.next() for _ in range(24))]
    assert first == expected


def test_no_faults_by_default(served):
    t0 = time.monotonic()
    assert _outcomes(served.base_url, 20) == ["200"] * 20
    assert time.monotonic() - t0 < 20 * 0.15
