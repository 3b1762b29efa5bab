"""Which hosts an input image URL may name: the operator's allowlist, as data.

The HTTP door fetches an `http(s)` image URL only when its host is listed here, and checks
before any connection is made (redirects included), so that a caller cannot use the gateway
to reach a host the operator did not choose (an internal service, a cloud metadata address).

An entry is a host name or an IP address, optionally with a port:

    images.example.com        that host, any port
    images.example.com:8443   that host, that port only
    *.cdn.example.com         any subdomain of cdn.example.com (not cdn.example.com itself)
    10.0.0.7                  an address, as written in the URL

Host names are compared lower-case and exactly: no DNS lookup decides whether a URL is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# One DNS label: letters, digits and inner hyphens (ASCII; an IDN host is listed in its
# xn-- form, which is how a URL's host is compared).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


@dataclass(frozen=True, slots=True)
class _Entry:
    host: str
    port: int | None
    subdomains: bool

    def allows(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.subdomains:
            return host.endswith("." + self.host)
        return host == self.host


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        # [v6 address] or [v6 address]:port
        close = entry.find("]")
        if close < 0:
            raise ValueError(f"{entry!r}: unclosed '['")
        host, rest = entry[1:close], entry[close + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(f"{entry!r}: expected ':port' after ']'")
        return host, _port(entry, rest[1:])
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, _port(entry, port)
    return entry, None


def _port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    return int(text)


def _parse(raw: str) -> _Entry:
    entry = raw.strip().lower()
    if not entry:
        raise ValueError("an empty entry")
    if "/" in entry or "@" in entry:
        raise ValueError(f"{raw!r}: give a host (and optionally :port), not a URL")
    host, port = _split_port(entry)
    subdomains = host.startswith("*.")
    if subdomains:
        host = host[2:]
    address = _address(host)
    if address is None:
        if "*" in host:
            raise ValueError(f"{raw!r}: a wildcard may only start an entry, as '*.domain'")
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(f"{raw!r}: not a host name or IP address")
        if subdomains and "." not in host:
            # '*.com' would allow half the internet: name the domain you trust.
            raise ValueError(f"{raw!r}: a wildcard needs a domain with at least two labels")
        return _Entry(host, port, subdomains)
    if subdomains:
        raise ValueError(f"{raw!r}: an IP address takes no wildcard")
    return _Entry(address, port, False)


def _address(host: str) -> str | None:
    """`host` as a canonical IP address, or None when it is not one."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class HostAllowlist:
    """The hosts input image URLs may name (empty: no URL is fetched)."""

    entries: tuple[_Entry, ...] = ()

    @classmethod
    def parse(cls, entries: list[str] | tuple[str, ...]) -> HostAllowlist:
        """The allowlist of `entries` (raises ValueError naming the bad entry)."""
        return cls(tuple(_parse(entry) for entry in entries))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def allows(self, host: str, port: int) -> bool:
        """Whether a URL naming `host` (as the URL spells it) and `port` may be fetched."""
        name = host.strip("[]").lower()
        name = _address(name) or name
        return any(entry.allows(name, port) for entry in self.entries)
