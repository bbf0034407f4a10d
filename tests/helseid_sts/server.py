"""Starts tests/helseid_sts/sts.mjs (npm's oidc-provider playing HelseID's token service) on loopback.

``register(clients)`` hands it the clients exactly as HelseID's client registry holds them (the
portal's backing-services simulator, read over HTTP): their public keys, tenants and scopes.
"""

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx
from joserfc.jwk import RSAKey

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("sts.mjs")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackSts:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "sts-ps256", "alg": "PS256", "use": "sig"})
        self.config_path = workdir / "helseid-sts.json"
        self.log_path = workdir / "helseid-sts.log"
        self.process = None

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration/jwks"

    def start(self) -> "LoopbackSts":
        config = {"port": self.port, "issuer": self.issuer, "jwks": {"keys": [self.signing_key.as_dict(private=True)]}}
        self.config_path.write_text(json.dumps(config))
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(self.config_path)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"helseid-sts exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"helseid-sts did not start: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def register(self, clients: list[dict]) -> None:
        """Replace the token service's clients with these (the registry's shape)."""
        httpx.put(f"{self.issuer}/__test__/clients", json={"clients": clients}, timeout=5).raise_for_status()

    def log(self) -> str:
        return self.log_path.read_text()
