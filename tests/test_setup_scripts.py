"""The set-up helpers `make run` and `make test` call: which system packages a config needs,
and the clear failure when one is missing and cannot be installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def packages_for(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_services.py"), str(config)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout.split()


def test_local_redis_and_postgres_need_their_packages(tmp_path: Path) -> None:
    text = (
        "router_settings: {redis_url: 'redis://127.0.0.1:6379/0'}\n"
        "general_settings: {database_url: 'postgresql://imagegen@localhost/imagegen'}\n"
    )
    assert packages_for(tmp_path, text) == ["redis-server", "postgresql"]


def test_remote_services_and_a_unix_socket(tmp_path: Path) -> None:
    remote = "router_settings: {redis_url: 'redis://cache.internal:6379'}\n"
    assert packages_for(tmp_path, remote) == []
    # No host in the URL: libpq's Unix socket on this machine.
    socket = "general_settings: {database_url: 'postgresql:///imagegen'}\n"
    assert packages_for(tmp_path, socket) == ["postgresql"]


def test_environment_references_are_resolved(tmp_path: Path) -> None:
    text = "router_settings: {redis_url: os.environ/TEST_REDIS_URL}\n"
    assert packages_for(tmp_path, text, {"TEST_REDIS_URL": "redis://localhost:6380"}) == [
        "redis-server"
    ]
    assert packages_for(tmp_path, text, {"TEST_REDIS_URL": "redis://10.0.0.5:6380"}) == []


def test_missing_package_without_root_fails_naming_it_and_the_command() -> None:
    # A PATH with only what the script uses besides the package check: redis-server is absent.
    # As root, the script runs as `nobody`, so it cannot install and must say what to do; it
    # runs from a world-readable copy, since the checkout may sit below a private directory.
    bin_dir = Path(tempfile.mkdtemp(prefix="imagegen-path-"))
    try:
        for tool in ("id", "cat"):
            (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
        script = bin_dir / "system_deps.sh"
        shutil.copyfile(ROOT / "scripts" / "system_deps.sh", script)
        os.chmod(script, 0o755)
        os.chmod(bin_dir, 0o755)
        as_nobody = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "nobody", "--"]
        command = [*(as_nobody if os.geteuid() == 0 else []), "/bin/bash", str(script)]
        result = subprocess.run(
            [*command, "redis-server"],
            capture_output=True,
            text=True,
            env={"PATH": str(bin_dir)},
            check=False,
        )
    finally:
        shutil.rmtree(bin_dir)
    assert result.returncode == 1
    assert "not installed: redis-server" in result.stderr
    assert "apt-get install -y redis-server" in result.stderr
