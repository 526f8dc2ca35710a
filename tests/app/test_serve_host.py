"""`faq-engine serve` listens on 127.0.0.1 unless told otherwise (`--host`); the container image
sets HOST=0.0.0.0. The listening socket's address is read from the kernel (/proc/net/tcp)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    found = set()
    with open("/proc/net/tcp") as fh:
        for row in fh.readlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":  # TCP_LISTEN
                found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return found


@pytest.mark.parametrize("args,expected", [([], "127.0.0.1"), (["--host", "0.0.0.0"], "0.0.0.0")])
def test_serve_binds_host(trained_model, tmp_path, args, expected):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "HOST"}
    proc = subprocess.Popen([sys.executable, "-m", "faq_engine.cli", "serve", "--model-dir",
                             str(trained_model), "--port", str(port), "--workers", "1", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        assert listening_addresses(port) == {expected}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
