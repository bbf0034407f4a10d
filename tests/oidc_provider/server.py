"""Starts tests/oidc_provider/provider.mjs (npm's oidc-provider) on a free loopback port.

The provider stands in for both HelseID and ID-porten: one client per portal provider prefix,
HelseID's with ``private_key_jwt`` (the portal's public key registered at the provider), ID-porten's
with a client secret. ``portal_settings()`` gives the matching ``settings.OIDC_PROVIDERS``.
"""

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx
from joserfc.jwk import RSAKey

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("provider.mjs")
IDPORTEN_SECRET = "test-only-idporten-client-secret-0123456789"

# Synthetic national identity numbers; the tests search the database and logs for them.
ACCOUNTS = {
    "kari": {"pid": "14917898765", "given_name": "Kari", "family_name": "Kommune"},
    "ola": {"pid": "01928374650", "given_name": "Ola", "family_name": "Nordmann"},
    "lav": {"pid": "29876543210", "given_name": "Lav", "family_name": "Sikkerhet", "security_level": "3"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackProvider:
    def __init__(self, portal_url: str, workdir: Path, accounts: dict | None = None):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.portal_url = portal_url.rstrip("/")
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "provider-1", "alg": "RS256", "use": "sig"})
        # The portal's HelseID key: only its public half is registered at the provider.
        self.client_key = RSAKey.generate_key(2048, parameters={"kid": "portal-1", "alg": "PS256", "use": "sig"})
        self.config_path = workdir / "oidc-provider.json"
        self.log_path = workdir / "oidc-provider.log"
        self.process = None
        self.accounts = {**ACCOUNTS, **(accounts or {})}

    def client(self, name: str, **auth) -> dict:
        return {
            "client_id": f"portal-{name}",
            "redirect_uris": [f"{self.portal_url}/innlogging/{name}/callback/"],
            "post_logout_redirect_uris": [f"{self.portal_url}/innlogging/logget-ut/"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            **auth,
        }

    def start(self) -> "LoopbackProvider":
        config = {
            "port": self.port,
            "issuer": self.issuer,
            "jwks": {"keys": [self.signing_key.as_dict(private=True)]},
            "clients": [
                self.client(
                    "helseid",
                    token_endpoint_auth_method="private_key_jwt",
                    token_endpoint_auth_signing_alg="PS256",
                    jwks={"keys": [self.client_key.as_dict(private=False)]},
                ),
                self.client(
                    "idporten",
                    token_endpoint_auth_method="client_secret_post",
                    client_secret=IDPORTEN_SECRET,
                    require_auth_time=True,  # ID-porten always says when the person authenticated
                ),
            ],
            "accounts": self.accounts,
        }
        self.config_path.write_text(json.dumps(config))
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(self.config_path)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"oidc-provider did not start: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def next_id_token(self, mode: str) -> None:
        """Make the provider's next token response carry a misbehaving ID token (once)."""
        httpx.post(f"{self.issuer}/__test__/next-id-token", data={"mode": mode}, timeout=5).raise_for_status()

    def portal_settings(self) -> dict:
        common = {"issuer": self.issuer, "sign_algo": "RS256", "userinfo_endpoint": ""}
        endpoints = {"authorization_endpoint": "", "token_endpoint": "", "jwks_uri": "", "end_session_endpoint": ""}
        return {
            "helseid": {
                **common,
                **endpoints,
                "label": "HelseID",
                "client_id": "portal-helseid",
                "client_secret": "",
                "private_key": json.dumps(self.client_key.as_dict(private=True)),
                "scopes": "openid profile helseid://scopes/identity/pid helseid://scopes/identity/security_level",
                "pid_claim": "helseid://claims/identity/pid",
                "assurance_claim": "helseid://claims/identity/security_level",
                "accepted_assurance": "4",
                "acr_values": "",
            },
            "idporten": {
                **common,
                **endpoints,
                "label": "ID-porten",
                "client_id": "portal-idporten",
                "client_secret": IDPORTEN_SECRET,
                "private_key": "",
                "scopes": "openid profile",
                "pid_claim": "pid",
                "assurance_claim": "acr",
                "accepted_assurance": "idporten-loa-high",
                "acr_values": "idporten-loa-high",
            },
        }
