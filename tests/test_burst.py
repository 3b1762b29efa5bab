"""The burst of bench/burst.py at reduced size, against a real `imagegen serve` process with
a small memory budget: every call is served (nothing lost, nothing shed) and the process's
RSS, sampled from /proc, stays far below what the answers weigh when all held at once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"
CALLS = 150
BUDGET_MB = 32
# What the answers weigh, held together: each call's 2 MB body and its 1.5 MB image.
ANSWERS_MB = CALLS * 3.5


def load_burst() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("burst", BENCH / "burst.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["burst"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_burst_within_a_small_budget_loses_nothing_and_bounds_rss(tmp_path: Path) -> None:
    burst = load_burst()
    with burst.running(tmp_path) as bench:
        burst.start_upstream(bench)
        run = burst.burst(bench, CALLS, BUDGET_MB, delay_ms=1500)
    assert (run.ok, run.shed, run.errors) == (CALLS, 0, {}), run.error_details
    above_idle = run.peak_rss_mb - run.idle_rss_mb
    # The budget, the read-ahead of each waiting answer (~130 KB) and the allocator's slack;
    # without the budget this burst holds ~200 MB above idle (every answer at once).
    assert above_idle < ANSWERS_MB / 6, (run.idle_rss_mb, run.peak_rss_mb)
    assert len(run.rss) > 20  # sampled throughout
