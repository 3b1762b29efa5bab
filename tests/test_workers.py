"""`server_settings.workers: 2`: two processes serve one port, and stop together."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import grpc

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc

CONNECTIONS = 24


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_sockets(port: int) -> dict[str, str]:
    """inode -> state ("0A" listening, "01" established) of the TCP sockets on local `port`."""
    sockets = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                sockets[fields[9]] = fields[3]
    return sockets


def _gone(pid: int) -> bool:
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def _kill_tree(process: asyncio.subprocess.Process) -> list[int]:
    """Children first (a failed test must not leave workers behind), then the parent."""
    children = _children(process.pid) if process.returncode is None else []
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if process.returncode is None:
        process.kill()
    return children


async def _wait_ready(http_port: int, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            assert process.returncode is None, "imagegen serve exited early"
            try:
                url = f"http://127.0.0.1:{http_port}/health/readiness"
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the workers did not become ready")


async def test_two_workers_answer_on_one_port_and_stop_together(tmp_path: Path) -> None:
    grpc_port, http_port = _free_port(), _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: placeholder\n"
        "    litellm_params:\n"
        "      model: local/placeholder\n"
        "server_settings:\n"
        "  workers: 2\n"
        "  grace_period_seconds: 2\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagegen.cli",
        "serve",
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(grpc_port),
        "--http-port",
        str(http_port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    channels: list[grpc.aio.Channel] = []
    try:
        await _wait_ready(http_port, process)
        # Readiness came from whichever worker answered first: wait (bounded) for the other.
        listening: dict[int, list[str]] = {}
        for _ in range(100):
            # The spawn start method adds a resource tracker beside the two workers.
            listening = {
                pid: [
                    inode
                    for inode in _socket_inodes(pid)
                    if _tcp_sockets(grpc_port).get(inode) == "0A"
                ]
                for pid in _children(process.pid)
            }
            if sum(1 for inodes in listening.values() if inodes) == 2:
                break
            await asyncio.sleep(0.1)
        serving = [pid for pid, inodes in listening.items() if inodes]
        assert len(serving) == 2, listening

        # Separate connections (no shared subchannel): the kernel spreads them over both.
        for _ in range(CONNECTIONS):
            channel = grpc.aio.insecure_channel(
                f"127.0.0.1:{grpc_port}", options=[("grpc.use_local_subchannel_pool", 1)]
            )
            channels.append(channel)
            response = await pb_grpc.ImageGenerationStub(channel).GenerateImages(
                pb.GenerateImagesRequest(prompt="a red fox", model="placeholder", size="256x256"),
                timeout=30,
            )
            assert response.images[0].data.startswith(b"\x89PNG")
        established = _tcp_sockets(grpc_port)
        per_worker = {
            pid: sum(1 for i in _socket_inodes(pid) if established.get(i) == "01")
            for pid in serving
        }
        assert sum(per_worker.values()) == CONNECTIONS, per_worker
        assert all(count > 0 for count in per_worker.values()), per_worker

        # SIGTERM to the parent stops every worker, and the parent exits cleanly.
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        assert all(_gone(pid) for pid in serving)
    finally:
        for channel in channels:
            await channel.close()
        if process.returncode is None:
            _kill_tree(process)
            await process.wait()


async def test_a_worker_that_dies_stops_the_server(tmp_path: Path) -> None:
    grpc_port, http_port = _free_port(), _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: placeholder\n"
        "    litellm_params:\n"
        "      model: local/placeholder\n"
        "server_settings:\n"
        "  workers: 2\n"
        "  grace_period_seconds: 1\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagegen.cli",
        "serve",
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(grpc_port),
        "--http-port",
        str(http_port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _wait_ready(http_port, process)
        serving = [
            pid
            for pid in _children(process.pid)
            if any(_tcp_sockets(grpc_port).get(i) == "0A" for i in _socket_inodes(pid))
        ]
        os.kill(serving[0], signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), 30) == 1
        assert process.stderr is not None
        assert b"exited with code -9" in await process.stderr.read()
    finally:
        if process.returncode is None:
            _kill_tree(process)
            await process.wait()
