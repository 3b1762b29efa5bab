"""The soak, shortened: steady mixed load against a real server process for a few seconds,
with RSS and descriptors flat and no outcome beyond the injected failures. The full
ten-minute run is `make soak`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "soak.py"


async def test_short_soak_ends_clean() -> None:
    spec = importlib.util.spec_from_file_location("soak", SCRIPT)
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = soak
    spec.loader.exec_module(soak)
    report = await soak.soak(seconds=8, max_requests=20_000, concurrency=8)
    assert report.problems == []
    assert report.unexpected == []
    assert report.requests > 100
    # Every kind of call was made, the injected failures included.
    assert set(report.by_kind) == {"unary", "stream", "provider_500", "refused"}
    assert report.fds_end <= report.fds_start + soak.FD_SLACK
    assert report.spend_rows == report.requests


async def test_short_soak_with_bursts_serves_every_burst_and_keeps_rss_flat() -> None:
    spec = importlib.util.spec_from_file_location("soak", SCRIPT)
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = soak
    spec.loader.exec_module(soak)
    bursts = soak.Bursts(size=60, every=2.5, budget_mb=32)
    report = await soak.soak(seconds=14, max_requests=20_000, concurrency=4, bursts=bursts)
    assert report.problems == [], report
    assert report.unexpected == []
    assert report.burst_calls >= 3 * 60 and report.burst_failures == {}
    # Flat: the bursts of the second half peak no higher than those of the first.
    assert report.rss_peak_second_half_mb <= report.rss_peak_first_half_mb + 48
    assert report.spend_rows == report.requests + report.burst_calls
