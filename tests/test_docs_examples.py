"""Every example marked runnable in README.md and docs/ runs against a live gateway.

One `imagegen serve` process (the built-in offline config: the `placeholder` model) on free
loopback ports; each example runs in a fresh directory with the project's Python (python
blocks) or bash with .venv/bin on PATH (sh blocks), after `localhost:50051` and
`localhost:4000` — the addresses the docs use — are pointed at that process. An example
passes when it exits 0 (examples assert what they show).

Examples that call grpcurl need it installed (`clients/scripts/tools.sh grpcurl`, which
`make clients-test` runs); `make clients-test` runs them with IMAGEGEN_DOCS_REQUIRE_GRPCURL=1,
so in CI every one of them runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROVIDER_ENV
from tests.doc_pages import ROOT, Example, all_examples

EXAMPLES = all_examples()
GRPCURL_LOCATIONS = (ROOT / ".tools" / "bin" / "grpcurl",)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveGateway:
    grpc_port: int
    http_port: int
    env: dict[str, str]

    def localize(self, code: str) -> str:
        return code.replace("localhost:50051", f"127.0.0.1:{self.grpc_port}").replace(
            "localhost:4000", f"127.0.0.1:{self.http_port}"
        )


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_ENV}
    env["IMAGEGEN_DATA_DIR"] = str(data_dir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    grpcurl = _grpcurl()
    if grpcurl is not None:
        env["PATH"] = f"{grpcurl.parent}{os.pathsep}{env['PATH']}"
    return env


def _grpcurl() -> Path | None:
    for candidate in GRPCURL_LOCATIONS:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("grpcurl")
    return Path(found) if found else None


def _wait_ready(process: subprocess.Popen[bytes], http_port: int) -> None:
    deadline = time.monotonic() + 60
    url = f"http://127.0.0.1:{http_port}/health/readiness"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"imagegen serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("imagegen serve did not become ready within 60 s")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    data_dir = tmp_path_factory.mktemp("docs-data")
    env = _clean_env(data_dir)
    grpc_port, http_port = _free_port(), _free_port()
    # The server's log goes to a file: a pipe nobody reads would block it once full.
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imagegen.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(grpc_port),
            "--http-port",
            str(http_port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        try:
            _wait_ready(process, http_port)
        except RuntimeError as exc:
            log.flush()
            tail = (data_dir / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{exc}; its log ends:\n{tail}") from None
        yield LiveGateway(grpc_port, http_port, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_the_docs_have_runnable_examples_for_each_door() -> None:
    readme = [e for e in EXAMPLES if e.path.name == "README.md"]
    assert len(readme) >= 3, "README: one runnable example per door (gRPC, Python, HTTP)"
    languages = {e.language for e in EXAMPLES}
    assert languages == {"python", "sh"}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_runs(example: Example, live: LiveGateway, tmp_path: Path) -> None:
    if example.needs == "grpcurl" and _grpcurl() is None:
        if os.environ.get("IMAGEGEN_DOCS_REQUIRE_GRPCURL") == "1":
            pytest.fail("grpcurl is required here: clients/scripts/tools.sh grpcurl")
        pytest.skip("grpcurl not installed: `make clients-test` runs this example")
    code = live.localize(example.code)
    if example.language == "python":
        command = [sys.executable, "-c", code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, (
        f"{example.id} failed ({result.returncode}):\n{result.stdout[-2000:]}\n"
        f"{result.stderr[-4000:]}"
    )
