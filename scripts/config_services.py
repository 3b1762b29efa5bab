"""Print the system packages a config's local services need (for `make run CONFIG=...`).

A config whose router_settings.redis_url or general_settings.database_url points at this machine
needs redis-server or PostgreSQL installed here; a remote one needs nothing local. Reads the YAML
only: values written as os.environ/NAME are looked up the way the gateway does.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import urlsplit

import yaml

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
SERVICES = (
    ("router_settings", "redis_url", "redis-server"),
    ("general_settings", "database_url", "postgresql"),
)


def _resolve(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("os.environ/"):
        return os.environ.get(value.removeprefix("os.environ/")) or None
    return value


def local_packages(config: dict[str, Any]) -> list[str]:
    packages = []
    for section, key, package in SERVICES:
        url = _resolve((config.get(section) or {}).get(key))
        if url is not None and (urlsplit(url).hostname or "") in LOCAL_HOSTS:
            packages.append(package)
    return packages


def main(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    if not isinstance(config, dict):
        print(f"{path}: not a YAML mapping", file=sys.stderr)
        return 2
    print("\n".join(local_packages(config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
