"""`make bench` must keep working: one short round of scenario (a) through both doors.

The figures themselves are not asserted (this machine is shared and a test is no benchmark);
that every request through the gateway succeeds, and each target was measured, is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_scenario_a_runs_through_both_doors(tmp_path: Path) -> None:
    raw = tmp_path / "raw.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run_all.py"),
            "--only",
            "a",
            "--no-litellm",
            "--rounds",
            "1",
            "--duration",
            "0.5",
            "--raw",
            str(raw),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    cells = json.loads(raw.read_text())[0]
    measured = {key: results[0] for key, results in cells.items() if key.startswith("(")}
    for target in ("direct", "imagegen gRPC", "imagegen HTTP"):
        for concurrency in (1, 32, 256):
            result = measured[repr((target, concurrency))]
            assert result["ok"] > 0, (target, concurrency, result)
            assert result["errors"] == {}, (target, concurrency, result)
            assert result["p50_ms"] >= 250  # the upstream's 250 ms is in every answer


def test_scenario_f_edits_run_and_assert_raw_bytes_on_the_grpc_leg(tmp_path: Path) -> None:
    raw, out = tmp_path / "raw.json", tmp_path / "RESULTS.md"
    out.write_text(
        "# results\n\n## (a) earlier\n\nkept\n\n## How to read these numbers\n\n"
        "## (e) Polling engine\n\nalso kept\n"
    )
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run_all.py"),
            *("--only", "f", "--no-litellm", "--rounds", "1", "--duration", "0.5"),
            *("--raw", str(raw), "--out", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    cells = json.loads(raw.read_text())[4]
    for target in ("direct", "imagegen gRPC"):
        for concurrency in (1, 32):
            result = cells[repr((target, concurrency))][0]
            assert result["ok"] > 0 and result["errors"] == {}, (target, concurrency, result)
    text = out.read_text()
    # Its own section, spliced in after the other scenarios and before the notes.
    assert text.index("## (a) earlier") < text.index("## (f) Edits")
    assert text.index("## (f) Edits") < text.index("## How to read these numbers")
    assert "(1.000x)" in text and "kept" in text and "## (e) Polling engine\n\nalso kept" in text
