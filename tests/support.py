"""Helpers that several test modules share: ports, a served process, administrative SQL."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_ready(process: subprocess.Popen, url: str, log: Path, timeout: float = 30) -> None:
    """Wait until `url` answers 200; fail with the process's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"survey serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"survey serve was not ready within {timeout} s:\n{log.read_text()}")


async def admin(url: str, *statements: str) -> None:
    """Run statements one by one on a connection of their own (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()
