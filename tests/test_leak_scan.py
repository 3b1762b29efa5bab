"""The log leak scan recognises what an edit could leak: every input format's bytes (as a repr
or as text) and base64, and the keys of the fakes the edit tests call."""

from __future__ import annotations

import base64

import pytest

from tests.fakes.images import jpeg_bytes, png_bytes, webp_bytes
from tests.leak_scan import KNOWN_SECRETS, find_leaks

INPUTS = {
    "png": png_bytes(64, 48, 1),
    "jpeg": jpeg_bytes(64, 48, 2),
    "webp": webp_bytes(64, 48, 3),
    "large webp": webp_bytes(1200, 900, 4),
}


@pytest.mark.parametrize("name", INPUTS)
def test_input_bytes_and_their_base64_are_leaks(name: str) -> None:
    data = INPUTS[name]
    assert find_leaks(f"sending {data[:40]!r}")
    assert find_leaks("sending " + data[:40].decode("latin-1"))
    assert find_leaks("sending " + base64.b64encode(data).decode()[:60])


def test_summaries_and_the_edit_test_keys() -> None:
    line = '{"field": "images[1]", "sha256": "a2d760d1664e9ea0", "bytes": 105, "format": "webp"}'
    assert find_leaks(line) == []
    for key in ("bfl-test-key", "sk-stability-test", "fal-test-key", "gemini-test-key"):
        assert key in KNOWN_SECRETS
        assert find_leaks(f"calling with {key}")
