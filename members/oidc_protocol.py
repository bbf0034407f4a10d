"""The OAuth and OpenID Connect pieces mozilla-django-oidc 5 leaves out, as HelseID runs them in late 2026.

- **ID token algorithms** (``id_token_algorithms``): PS256 and ES256, RS256 only where the
  provider's settings allow it, and only what the provider's discovery document says it signs with;
- **PAR**, pushed authorization requests (RFC 9126, ``push_authorization_request``): the
  authorization request goes to the provider in a back-channel POST with the client's
  authentication, and the browser carries only ``client_id`` and ``request_uri``;
- **DPoP** (RFC 9449, ``DPoPSigner``, ``post_with_dpop``): a proof of a key that lives only for one
  login on the token call, repeated once with the server's nonce after ``use_dpop_nonce``, each
  attempt with a body built anew (so with a new client assertion: HelseID refuses a reused ``jti``);
- **Back-Channel Logout 1.0** (``verify_logout_token``): the logout token's signature, ``typ``,
  ``iss``, ``aud``, ``iat``, ``exp``, ``jti``, ``events`` and ``sid``/``sub``.

JOSE is joserfc's; HTTP is ``requests``, as in mozilla-django-oidc. Nothing here touches the
session, the database or claims about the person: ``members.oidc`` wires these into the library.
"""

import time
import uuid
from collections.abc import Callable

import requests
from joserfc import jwk, jws
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError

# What the portal verifies: RSA-PSS and ECDSA. RS256 (PKCS#1 v1.5) only where a provider's setting
# allows it (ID-porten still signs with it; HelseID moved to PS256 in November 2026).
SECURE_ID_TOKEN_ALGORITHMS = ("PS256", "ES256")
LEGACY_ID_TOKEN_ALGORITHM = "RS256"  # noqa: S105  (an algorithm name)
DPOP_ALGORITHM = "ES256"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105  (a JWT type)
LOGOUT_TOKEN_MAX_AGE_SECONDS = 300  # how old a logout token's iat may be
CLOCK_SKEW_SECONDS = 60


class ProtocolRefusal(Exception):
    """A step of the protocol that failed in a way the person should be told about; ``code`` names it."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


# ID token algorithms ----------------------------------------------------------------------------------


def id_token_algorithms(*, allow_rs256: bool, supported: list | None) -> list[str]:
    """The algorithms an ID token (or logout token) from this provider may be signed with.

    ``supported`` is the discovery document's ``id_token_signing_alg_values_supported``; a provider
    that names none is taken at the portal's own list.
    """
    accepted = [*SECURE_ID_TOKEN_ALGORITHMS, *([LEGACY_ID_TOKEN_ALGORITHM] if allow_rs256 else [])]
    if supported:
        accepted = [alg for alg in accepted if alg in supported]
    return accepted


# Client requests -------------------------------------------------------------------------------------


def _error_of(response: requests.Response) -> tuple[str, str]:
    """``error`` and ``error_description`` of an OAuth error answer (empty when it is not one)."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error", "")), str(body.get("error_description", ""))


def push_authorization_request(
    endpoint: str, params: dict, *, client_authentication: dict, timeout: float, verify: bool
) -> str:
    """Pushes the authorization request (RFC 9126); returns the ``request_uri`` the browser carries.

    Raises ``ProtocolRefusal("par")`` when the provider refuses the request or answers without a
    ``request_uri``, and ``requests.RequestException`` when it cannot be reached.
    """
    response = requests.post(endpoint, data={**params, **client_authentication}, timeout=timeout, verify=verify)
    if response.status_code not in (200, 201):
        error, description = _error_of(response)
        raise ProtocolRefusal("par", f"{response.status_code} {error} {description}".strip())
    try:
        request_uri = response.json().get("request_uri")
    except (ValueError, AttributeError):
        request_uri = None
    if not isinstance(request_uri, str) or not request_uri:
        raise ProtocolRefusal("par", "no request_uri in the answer")
    return request_uri


class DPoPSigner:
    """A DPoP key for one login (RFC 9449): generated in memory, never stored; signs proofs."""

    def __init__(self, key: jwk.ECKey | jwk.RSAKey | None = None):
        self.key = key or jwk.ECKey.generate_key("P-256", private=True)
        self.algorithm = DPOP_ALGORITHM if self.key.key_type == "EC" else "PS256"
        self.public_jwk = self.key.as_dict(private=False)

    def proof(self, method: str, url: str, nonce: str | None = None) -> str:
        """A ``dpop+jwt`` proof for one HTTP request: ``htm``, ``htu`` (no query), ``iat``, a new ``jti``."""
        header = {"typ": "dpop+jwt", "alg": self.algorithm, "jwk": self.public_jwk}
        claims = {"jti": uuid.uuid4().hex, "htm": method.upper(), "htu": url.split("?")[0].split("#")[0]}
        claims["iat"] = int(time.time())
        if nonce:
            claims["nonce"] = nonce
        return jose_jwt.encode(header, claims, self.key, algorithms=[self.algorithm])


def _asks_for_dpop_nonce(response: requests.Response) -> bool:
    return response.status_code in (400, 401) and _error_of(response)[0] == "use_dpop_nonce"


def post_with_dpop(
    url: str, build_body: Callable[[], dict], *, signer: DPoPSigner | None, timeout: float, verify: bool
) -> requests.Response:
    """POST to a token endpoint with a DPoP proof; once more with the server's nonce if it asks.

    ``build_body`` is called for every attempt, so each carries a new client assertion. A second
    ``use_dpop_nonce`` raises ``ProtocolRefusal("dpop_nonce")``: a provider that keeps asking would
    otherwise loop forever. A refused or missing proof raises ``ProtocolRefusal("dpop")``. Other
    answers are returned as they are.
    """
    if signer is None:
        response = requests.post(url, data=build_body(), timeout=timeout, verify=verify)
    else:
        nonce = None
        for attempt in range(2):
            headers = {"DPoP": signer.proof("POST", url, nonce)}
            response = requests.post(url, data=build_body(), headers=headers, timeout=timeout, verify=verify)
            if not _asks_for_dpop_nonce(response):
                break
            nonce = response.headers.get("DPoP-Nonce")
            if attempt == 1 or not nonce:
                raise ProtocolRefusal("dpop_nonce", "the provider asked for a DPoP nonce again")
    # A refused proof, or a provider that demands one the portal was set not to send.
    error, description = _error_of(response)
    if response.status_code != 200 and (error == "invalid_dpop_proof" or "dpop" in description.lower()):
        raise ProtocolRefusal("dpop", f"{response.status_code} {error} {description}".strip())
    return response


# Back-channel logout ------------------------------------------------------------------------------------


def verify_logout_token(token: str, *, jwks: dict, issuer: str, client_id: str, algorithms: list[str]) -> dict:
    """The claims of a valid logout token (OpenID Connect Back-Channel Logout 1.0, section 2.6).

    Raises ``ProtocolRefusal`` with one of ``algorithm``, ``signature``, ``claims``, ``expired``,
    ``events``, ``subject`` or ``nonce``. Replays are the caller's to refuse (by ``jti``).
    """
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, UnicodeError):
        raise ProtocolRefusal("signature", "not a JWS") from None
    if header.get("alg") not in algorithms:
        raise ProtocolRefusal("algorithm", f"alg {header.get('alg')!r}")
    if header.get("typ") not in (None, LOGOUT_TOKEN_TYPE):
        raise ProtocolRefusal("claims", f"typ {header.get('typ')!r}")
    try:
        key_set = jwk.KeySet.import_key_set(jwks)
        claims = jose_jwt.decode(token, key_set, algorithms=algorithms).claims
    except (JoseError, ValueError, TypeError, KeyError):
        raise ProtocolRefusal("signature", "no published key verifies it") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if claims.get("iss") != issuer or client_id not in audiences:
        raise ProtocolRefusal("claims", "iss or aud")
    now = time.time()
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat > now + CLOCK_SKEW_SECONDS or iat < now - LOGOUT_TOKEN_MAX_AGE_SECONDS:
        raise ProtocolRefusal("expired", "iat")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp < now - CLOCK_SKEW_SECONDS):
        raise ProtocolRefusal("expired", "exp")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise ProtocolRefusal("claims", "no jti")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise ProtocolRefusal("events", "no back-channel logout event")
    if "nonce" in claims:
        raise ProtocolRefusal("nonce", "a logout token carries no nonce")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not (isinstance(sid, str) and sid) and not (isinstance(sub, str) and sub):
        raise ProtocolRefusal("subject", "neither sid nor sub")
    return claims
