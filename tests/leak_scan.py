"""A pytest plugin: every log record emitted during the whole test run is scanned for secrets
and image data, and the run fails if one is found.

Test runs exercise every success and failure path with the fakes' credentials and multi-MB
images, so a key or a base64 image that reaches a log line anywhere shows up here. Spans and
spend rows are scanned by their own tests with `find_leaks`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import pytest

# The fakes' credentials (tests/fakes) and the shapes of credentials in general.
KNOWN_SECRETS = (
    "sk-test-openai",
    "azure-test-key",
    "gemini-test-key",
    "recraft-test-key",
    "bfl-test-key",
    "sk-stability-test",
    "fal-test-key",
    "vertex-express-key",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlLWtleQ==",
)
LEAK_PATTERNS = (
    ("a bearer token", re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{12,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    # Base64 of a PNG / JPEG / WebP header, or any long base64 run: image data.
    ("base64 image data", re.compile(r"iVBORw0KGgo|/9j/4|UklGR")),
    ("a long base64 run", re.compile(r"[A-Za-z0-9+/]{400,}={0,2}")),
    ("raw PNG bytes", re.compile(r"\\x89PNG|\x89PNG")),
    # Edit inputs come as JPEG and WebP too: their bytes as a repr or as text.
    ("raw JPEG bytes", re.compile(r"\\xff\\xd8\\xff|\xff\xd8\xff")),
    ("raw WebP bytes", re.compile(r"RIFF.{4,16}WEBP", re.DOTALL)),
)


def find_leaks(text: str) -> list[str]:
    """What `text` leaks: the names of the secrets and patterns found in it."""
    found = [f"the secret {secret[:6]}…" for secret in KNOWN_SECRETS if secret in text]
    found += [name for name, pattern in LEAK_PATTERNS if pattern.search(text)]
    return found


@dataclass
class _Scanner(logging.Handler):
    leaks: list[str] = field(default_factory=list)
    records: int = 0

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, level=logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        for leak in find_leaks(text):
            if len(self.leaks) < 50:
                self.leaks.append(f"{record.name}: {leak} in {text[:160]!r}")

    def __hash__(self) -> int:
        return id(self)


_scanner = _Scanner()


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    root.addHandler(_scanner)
    # Everything, DEBUG included, must be clean: operators turn debug logging on.
    root.setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_scanner)
    if _scanner.leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"log leak scan: {len(_scanner.leaks)} leaking log records:", *_scanner.leaks]
        if reporter is not None:
            for line in lines:
                reporter.write_line(line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _scanner.leaks:
        terminalreporter.write_line(
            f"log leak scan: {_scanner.records} log records, no secret or image data"
        )
