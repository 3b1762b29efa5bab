"""A real Azure Blob Storage endpoint for tests: Azurite (npm, installed by `make setup`) on a
free loopback port, with its well-known development account."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret: every Azurite has it).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
BINARY = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite-blob"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def azurite_url() -> Iterator[str]:
    """The blob endpoint of a private Azurite: http://127.0.0.1:PORT/devstoreaccount1."""
    if not BINARY.exists():
        pytest.fail("azurite is not installed (make setup runs npm ci)")
    port = _free_port()
    process = subprocess.Popen(
        [
            str(BINARY),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--silent",
            "--skipApiVersionCheck",
            "--inMemoryPersistence",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("azurite did not start")
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/{ACCOUNT}"
    finally:
        # Azurite waits for open keep-alive connections on SIGTERM: give it a moment, then go.
        process.terminate()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
