"""The vendor's side of the interop test: what a vendor's integration does with the portal's
configuration file and its own private key, using requests-oauth2client (a maintained OAuth 2
client library), and nothing from the portal's code.

``VendorClient(configuration, private_jwk)`` gets one DPoP-bound token per API (the configuration's
``apis`` groups) for a tenant (the tenant's ``assertionDetails`` go into the client assertion as
``assertion_details``; single-tenant clients send none), and calls an API with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import requests
from attrs import frozen
from jwskate import Jwk, Jwt
from requests_oauth2client import DPoPKey, OAuth2Client, PrivateKeyJwt
from requests_oauth2client.dpop import add_dpop_proof


@frozen(init=False)
class HelseIdClientAssertion(PrivateKeyJwt):
    """private_key_jwt as HelseID wants it: typ client-authentication+jwt, aud the authority, a new
    jti for every assertion (so the retry after use_dpop_nonce carries a new one), and the
    tenant's assertion_details when the configuration gives them."""

    assertion_details: Any = None

    def __init__(self, client_id: str, private_jwk: Jwk, *, aud: str, lifetime: int, assertion_details=None):
        self.__attrs_init__(
            client_id=client_id,
            private_jwk=private_jwk,
            alg=private_jwk.alg,
            lifetime=lifetime,
            jti_gen=lambda: str(uuid4()),
            aud=aud,
            assertion_details=assertion_details,
        )

    def client_assertion(self, audience: str) -> str:
        iat = int(datetime.now(tz=UTC).timestamp())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self.lifetime,
            "jti": self.jti_gen(),
        }
        if self.assertion_details is not None:
            claims["assertion_details"] = self.assertion_details
        return str(Jwt.sign(claims, key=self.private_jwk, alg=self.alg, typ="client-authentication+jwt"))


class VendorClient:
    def __init__(self, configuration: dict, private_jwk: dict):
        self.configuration = configuration
        self.private_jwk = Jwk(private_jwk)

    def tenant(self, organisation_number: str) -> dict:
        return next(t for t in self.configuration["tenants"] if t["organizationNumber"] == organisation_number)

    def oauth_client(self, assertion_details=None) -> OAuth2Client:
        config = self.configuration
        auth = HelseIdClientAssertion(
            config["clientId"],
            self.private_jwk,
            aud=config["clientAssertion"]["aud"],
            lifetime=config["clientAssertion"]["maxLifetimeSeconds"],
            assertion_details=assertion_details,
        )
        # testing=True only because the loopback token service speaks http, not https.
        return OAuth2Client(
            token_endpoint=config["tokenEndpoint"], auth=auth, dpop_bound_access_tokens=True, testing=True
        )

    def tokens_for(self, organisation_number: str | None = None, *, scopes_of: list[dict] | None = None) -> dict:
        """One DPoP-bound token per API audience, for a tenant: {audience: token}."""
        details = None
        groups = scopes_of
        if organisation_number is not None:
            tenant = self.tenant(organisation_number)
            details = tenant.get("assertionDetails")
            groups = groups if groups is not None else tenant["apis"]
        client = self.oauth_client(details)
        tokens = {}
        for group in groups:  # one token call per API: HelseID issues a token for one audience
            key = DPoPKey.generate(alg="ES256")
            tokens[group["audience"]] = client.client_credentials(scope=" ".join(group["scopes"]), dpop_key=key)
        return tokens

    @staticmethod
    def call(url: str, token, method: str = "GET") -> requests.Response:
        """Call an API with the token and a fresh DPoP proof (htm, htu, ath, jti) from the library.

        The proof is added directly rather than with the token as ``auth``: the library's response
        hook takes every DPoP 401 for a nonce request, and this API's refusals are not.
        """
        request = requests.Request(method, url, headers={"Authorization": f"DPoP {token.access_token}"}).prepare()
        add_dpop_proof(request, token.dpop_key, token.access_token)
        with requests.Session() as session:
            return session.send(request, timeout=5)
