"""A Node.js test server of the suite's own (npm oidc-provider scripts) on a free loopback port."""

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_node_server(*, name: str, script: Path, config: dict, config_path: Path, log_path: Path, issuer: str):
    """Write the config, start ``node script config`` and wait until its discovery document answers."""
    config_path.write_text(json.dumps(config))
    log = log_path.open("w")
    process = subprocess.Popen(["node", str(script), str(config_path)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"{name} did not start: {log_path.read_text()}")


def stop_process(process) -> None:
    if process is not None:
        process.terminate()
        process.wait(timeout=10)
