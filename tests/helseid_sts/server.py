"""Starts tests/helseid_sts/sts.mjs (npm's oidc-provider playing HelseID's token service) on loopback.

``register(clients)`` hands it the clients exactly as HelseID's client registry holds them (the
portal's backing-services simulator, read over HTTP): their public keys, tenants and scopes.
"""

from pathlib import Path

import httpx
from joserfc.jwk import RSAKey

from tests.node_server import free_port, start_node_server, stop_process

SCRIPT = Path(__file__).with_name("sts.mjs")


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
        self.process = start_node_server(
            name="helseid-sts",
            script=SCRIPT,
            config=config,
            config_path=self.config_path,
            log_path=self.log_path,
            issuer=self.issuer,
        )
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def register(self, clients: list[dict]) -> None:
        """Replace the token service's clients with these (the registry's shape)."""
        httpx.put(f"{self.issuer}/__test__/clients", json={"clients": clients}, timeout=5).raise_for_status()

    def log(self) -> str:
        return self.log_path.read_text()
