"""A private nginx in front of gateway replicas: `grpc_pass` for the gRPC door and
`proxy_pass` for the HTTP door, on free loopback ports, with its own prefix, pid file,
logs and temp paths (no root needed; as root it stays one process, no worker user)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def _binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise RuntimeError("nginx is not installed: make setup installs it (apt-get install nginx)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Balancer:
    grpc_address: str
    http_base_url: str
    error_log: Path


def _config(root: Path, grpc_port: int, http_port: int, replicas: Sequence[tuple[int, int]]) -> str:
    # max_fails=0: a refused connection (a replica restarting) sends the request to the next
    # replica without marking the refusing one down for fail_timeout.
    grpc_servers = "".join(f"    server 127.0.0.1:{g} max_fails=0;\n" for g, _ in replicas)
    http_servers = "".join(f"    server 127.0.0.1:{h} max_fails=0;\n" for _, h in replicas)
    temp = "".join(
        f"  {name}_temp_path {root / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
daemon off;
master_process off;
pid {root / "nginx.pid"};
error_log {root / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temp}
  upstream grpc_replicas {{
{grpc_servers}  }}
  upstream http_replicas {{
{http_servers}  }}
  server {{
    listen 127.0.0.1:{grpc_port} http2;
    location / {{
      grpc_pass grpc://grpc_replicas;
      grpc_next_upstream error timeout;
      grpc_read_timeout 120s;
      grpc_send_timeout 120s;
    }}
  }}
  server {{
    listen 127.0.0.1:{http_port};
    client_max_body_size 64m;
    location / {{
      proxy_pass http://http_replicas;
      proxy_next_upstream error timeout;
      proxy_read_timeout 120s;
    }}
  }}
}}
"""


@contextmanager
def nginx_in_front(root: Path, replicas: Sequence[tuple[int, int]]) -> Iterator[Balancer]:
    """nginx balancing over `replicas` ((grpc port, http port) each), until the block ends."""
    root.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port = _free_port(), _free_port()
    conf = root / "nginx.conf"
    conf.write_text(_config(root, grpc_port, http_port, replicas))
    process = subprocess.Popen(
        [_binary(), "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        for port in (grpc_port, http_port):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log = (
                            (root / "error.log").read_text()
                            if (root / "error.log").exists()
                            else ""
                        )
                        raise RuntimeError(f"nginx did not start: {log[-2000:]}") from None
                    time.sleep(0.05)
        yield Balancer(
            f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}", root / "error.log"
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
