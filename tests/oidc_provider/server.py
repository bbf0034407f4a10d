"""Starts tests/oidc_provider/provider.mjs (npm's oidc-provider) on free loopback ports.

Two providers, each with its own issuer: one in strict **HelseID mode** (PAR required, DPoP with a
server nonce required, PS256 ID tokens, a client assertion's ``jti`` accepted once, back-channel
logout; the portal authenticates with ``private_key_jwt``, its public key registered there), one in
**ID-porten mode** (no PAR, no DPoP, RS256 ID tokens, a client secret, back-channel logout).
``LoopbackProviders.portal_settings()`` gives the matching ``settings.OIDC_PROVIDERS``.
"""

import json
from pathlib import Path

import httpx
from joserfc.jwk import RSAKey

from tests.node_server import free_port, start_node_server, stop_process

SCRIPT = Path(__file__).with_name("provider.mjs")
IDPORTEN_SECRET = "test-only-idporten-client-secret-0123456789"

# Synthetic national identity numbers; the tests search the database and logs for them.
ACCOUNTS = {
    "kari": {"pid": "14917898765", "given_name": "Kari", "family_name": "Kommune"},
    "ola": {"pid": "01928374650", "given_name": "Ola", "family_name": "Nordmann"},
    "lav": {"pid": "29876543210", "given_name": "Lav", "family_name": "Sikkerhet", "security_level": "3"},
}


class LoopbackProvider:
    def __init__(self, mode: str, portal_url: str, workdir: Path, accounts: dict | None = None):
        assert mode in ("helseid", "idporten")
        self.mode = mode
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.portal_url = portal_url.rstrip("/")
        # No fixed alg: the same RSA key signs PS256 (HelseID) or RS256 (ID-porten, and the test's RS256 forgery).
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": f"{mode}-1", "use": "sig"})
        # The portal's HelseID key: only its public half is registered at the provider.
        self.client_key = RSAKey.generate_key(2048, parameters={"kid": "portal-1", "alg": "PS256", "use": "sig"})
        self.config_path = workdir / f"oidc-provider-{mode}.json"
        self.log_path = workdir / f"oidc-provider-{mode}.log"
        self.process = None
        self.accounts = {**ACCOUNTS, **(accounts or {})}

    def client(self) -> dict:
        name = self.mode
        client = {
            "client_id": f"portal-{name}",
            "redirect_uris": [f"{self.portal_url}/innlogging/{name}/callback/"],
            "post_logout_redirect_uris": [f"{self.portal_url}/innlogging/logget-ut/"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            # Node's fetch may resolve "localhost" to ::1 while the live server listens on 127.0.0.1.
            "backchannel_logout_uri": f"{self.portal_url.replace('://localhost', '://127.0.0.1')}"
            f"/innlogging/{name}/backchannel-logout/",
            "backchannel_logout_session_required": True,
        }
        if self.mode == "helseid":
            return {
                **client,
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "PS256",
                "jwks": {"keys": [self.client_key.as_dict(private=False)]},
                "id_token_signed_response_alg": "PS256",
                "require_pushed_authorization_requests": True,
                "dpop_bound_access_tokens": True,
            }
        return {
            **client,
            "token_endpoint_auth_method": "client_secret_post",
            "client_secret": IDPORTEN_SECRET,
            "id_token_signed_response_alg": "RS256",
            "require_auth_time": True,  # ID-porten always says when the person authenticated
        }

    def start(self) -> "LoopbackProvider":
        config = {
            "mode": self.mode,
            "port": self.port,
            "issuer": self.issuer,
            "jwks": {"keys": [self.signing_key.as_dict(private=True)]},
            "clients": [self.client()],
            "accounts": self.accounts,
        }
        self.process = start_node_server(
            name="oidc-provider",
            script=SCRIPT,
            config=config,
            config_path=self.config_path,
            log_path=self.log_path,
            issuer=self.issuer,
        )
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def _control(self, path: str, mode: str) -> None:
        httpx.post(f"{self.issuer}/__test__/{path}", data={"mode": mode}, timeout=5).raise_for_status()

    def next_id_token(self, mode: str) -> None:
        """Make the provider's next token response carry a misbehaving ID token (once)."""
        self._control("next-id-token", mode)

    def next_par(self, mode: str) -> None:
        """``refuse``: the next pushed authorization request is answered 400 invalid_request."""
        self._control("next-par", mode)

    def next_token(self, mode: str) -> None:
        """``reject-dpop`` (once, invalid_dpop_proof) or ``nonce-loop`` (use_dpop_nonce on every call)."""
        self._control("next-token", mode)

    def reset(self) -> None:
        httpx.post(f"{self.issuer}/__test__/reset", timeout=5).raise_for_status()

    def calls(self) -> dict:
        """What the provider's token endpoint received, and the back-channel logouts it sent."""
        response = httpx.get(f"{self.issuer}/__test__/calls", timeout=5)
        response.raise_for_status()
        return response.json()

    def portal_settings(self) -> dict:
        common = {
            "issuer": self.issuer,
            "userinfo_endpoint": "",
            "authorization_endpoint": "",
            "token_endpoint": "",
            "jwks_uri": "",
            "end_session_endpoint": "",
            "pushed_authorization_request_endpoint": "",
            "par": "auto",
        }
        if self.mode == "helseid":
            return {
                **common,
                "label": "HelseID",
                "client_id": "portal-helseid",
                "client_secret": "",
                "private_key": json.dumps(self.client_key.as_dict(private=True)),
                "scopes": "openid profile helseid://scopes/identity/pid helseid://scopes/identity/security_level",
                "pid_claim": "helseid://claims/identity/pid",
                "assurance_claim": "helseid://claims/identity/security_level",
                "accepted_assurance": "4",
                "acr_values": "",
                "allow_rs256": False,
                "dpop": "on",
            }
        return {
            **common,
            "label": "ID-porten",
            "client_id": "portal-idporten",
            "client_secret": IDPORTEN_SECRET,
            "private_key": "",
            "scopes": "openid profile",
            "pid_claim": "pid",
            "assurance_claim": "acr",
            "accepted_assurance": "idporten-loa-high",
            "acr_values": "idporten-loa-high",
            "allow_rs256": True,
            "dpop": "auto",
        }


class LoopbackProviders:
    """HelseID (strict mode) and ID-porten, each a loopback oidc-provider of its own."""

    def __init__(self, portal_url: str, workdir: Path, accounts: dict | None = None):
        self.helseid = LoopbackProvider("helseid", portal_url, workdir, accounts=accounts)
        self.idporten = LoopbackProvider("idporten", portal_url, workdir, accounts=accounts)

    def start(self) -> "LoopbackProviders":
        self.helseid.start()
        try:
            self.idporten.start()
        except Exception:
            self.helseid.stop()
            raise
        return self

    def stop(self) -> None:
        self.helseid.stop()
        self.idporten.stop()

    def reset(self) -> None:
        self.helseid.reset()
        self.idporten.reset()

    def portal_settings(self) -> dict:
        return {"helseid": self.helseid.portal_settings(), "idporten": self.idporten.portal_settings()}
