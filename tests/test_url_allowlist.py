"""server_settings.image_url_allowlist as data: which host and port pairs an entry allows."""

from __future__ import annotations

import pytest

from imagegen.images.url_allowlist import HostAllowlist

ENTRIES = [
    "Images.Example.com",
    "assets.example.com:8443",
    "*.cdn.example.com",
    "10.0.0.7",
    "[::1]:9000",
]


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("images.example.com", 443, True),
        ("IMAGES.EXAMPLE.COM", 80, True),  # host names compare lower-case
        ("images.example.com.evil.net", 443, False),
        ("evilimages.example.com", 443, False),
        ("assets.example.com", 8443, True),
        ("assets.example.com", 443, False),  # a port in the entry is the only one allowed
        ("a.cdn.example.com", 443, True),
        ("a.b.cdn.example.com", 443, True),
        ("cdn.example.com", 443, False),  # *.domain: its subdomains, not itself
        ("10.0.0.7", 80, True),
        ("10.0.0.8", 80, False),
        ("[::1]", 9000, True),
        ("0:0:0:0:0:0:0:1", 9000, True),  # the same address, written out
        ("::1", 9001, False),
        ("localhost", 80, False),  # no DNS: a name is not its address
    ],
)
def test_entries_allow_exactly_their_hosts_and_ports(host: str, port: int, allowed: bool) -> None:
    assert HostAllowlist.parse(ENTRIES).allows(host, port) is allowed


def test_an_empty_allowlist_allows_nothing() -> None:
    allowlist = HostAllowlist.parse([])
    assert not allowlist
    assert not allowlist.allows("images.example.com", 443)


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "*",
        "*.com",
        "https://x.example.com",
        "x.example.com/p",
        "u@x.example.com",
        "*.10.0.0.1",
        "x.example.com:0",
        "x.example.com:70000",
        "[::1",
        "-x.example.com",
    ],
)
def test_bad_entries_are_refused_naming_them(entry: str) -> None:
    with pytest.raises(ValueError):
        HostAllowlist.parse([entry])
