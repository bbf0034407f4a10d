"""HelseID access tokens with DPoP (RFC 9449, RFC 9068) for the self-service API.

A call carries ``Authorization: DPoP <access token>`` and a ``DPoP`` proof. The access token is a JWT
from HelseID (its JWKS, cached and re-fetched, bounded, when a token names an unknown ``kid``): ``typ``
at+jwt, our issuer, the API audience, not expired, bound to a key (``cnf.jkt``), with the scope of the
operation. The proof: ``typ`` dpop+jwt, signed by the public key in its header whose RFC 7638
thumbprint is ``cnf.jkt``, this request's ``htm`` and ``htu``, a recent ``iat``, ``ath`` the token's
hash, and a ``jti`` never seen before (its hash is kept in the database until it would be too old).

The organisation acting is the token's: ``helseid://claims/client/claims/orgnr_supplier`` (or
``orgnr_parent``) for vendor operations, ``orgnr_parent`` for a member's, never the request body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, import_key
from ninja.security.http import HttpAuthBase

from portal.text import find_unsafe

from .problems import ApiProblem

TOKEN_ALGS = ["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
PROOF_ALGS = ["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
CLAIMS = "helseid://claims/client/claims/"
ORGNR_PARENT = CLAIMS + "orgnr_parent"
ORGNR_SUPPLIER = CLAIMS + "orgnr_supplier"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")
CHALLENGE = 'DPoP algs="' + " ".join(PROOF_ALGS) + '"'

SCOPE_VENDOR_READ = "vendor.read"
SCOPE_VENDOR_WRITE = "vendor.write"
SCOPE_MEMBER_READ = "member.read"


def full_scope(scope: str) -> str:
    return f"{settings.API_AUDIENCE}/{scope}"


@dataclass
class Caller:
    """Who is calling: the HelseID client and the organisation numbers its token carries."""

    client_id: str
    scopes: frozenset[str]
    orgnr_parent: str
    orgnr_supplier: str
    claims: dict = field(repr=False)

    @property
    def vendor_orgnr(self) -> str:
        return self.orgnr_supplier or self.orgnr_parent


class _JwksCache:
    """HelseID's signing keys, kept API_JWKS_CACHE_SECONDS; an unknown kid fetches again, at most once
    per API_JWKS_REFETCH_MIN_SECONDS (so forged kids cannot make us hammer HelseID)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._uri = ""
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    def clear(self) -> None:
        with self._lock:
            self._keys, self._fetched_at, self._uri = None, 0.0, ""

    def _fetch(self, uri: str) -> None:
        try:
            response = httpx.get(uri, timeout=5, follow_redirects=False)
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError):
            if self._keys is None:
                raise ApiProblem("invalid-token", _("HelseID's signing keys could not be read.")) from None
        self._fetched_at = time.monotonic()
        self._uri = uri

    def key_for(self, kid: str | None):
        uri = settings.API_HELSEID_JWKS_URI or settings.API_HELSEID_ISSUER.rstrip("/") + (
            "/.well-known/openid-configuration/jwks"
        )
        with self._lock:
            now = time.monotonic()
            if self._keys is None or uri != self._uri or now - self._fetched_at > settings.API_JWKS_CACHE_SECONDS:
                self._keys = None if uri != self._uri else self._keys
                self._fetch(uri)
            key = self._find(kid)
            if key is None and now - self._fetched_at >= settings.API_JWKS_REFETCH_MIN_SECONDS:
                self._fetch(uri)  # rotated: HelseID publishes a new key before it signs with it
                key = self._find(kid)
        if key is None:
            raise ApiProblem("invalid-token", _("The access token is signed with a key HelseID does not publish."))
        return key

    def _find(self, kid):
        for key in self._keys.keys if self._keys else []:
            if kid is None or key.kid == kid:
                return key
        return None


jwks_cache = _JwksCache()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _header(compact: str) -> dict:
    try:
        part = compact.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, UnicodeDecodeError, IndexError, RecursionError):  # RecursionError: a deeply nested header
        return {}
    return header if isinstance(header, dict) else {}


def _refuse(slug: str, detail: str, error: str = "invalid_token") -> ApiProblem:
    return ApiProblem(slug, detail, headers={"WWW-Authenticate": f'{CHALLENGE}, error="{error}"'})


def verify_access_token(token: str) -> dict:
    header = _header(token)
    typ = header.get("typ")
    if (
        not isinstance(typ, str)
        or typ.lower() not in ("at+jwt", "application/at+jwt")
        or header.get("alg") not in TOKEN_ALGS
    ):
        raise _refuse("invalid-token", _("The access token is not a HelseID access token (at+jwt)."))
    key = jwks_cache.key_for(header.get("kid"))
    try:
        claims = jwt.decode(token, key, algorithms=TOKEN_ALGS).claims
    except (JoseError, ValueError, TypeError):
        raise _refuse("invalid-token", _("The access token's signature is not valid.")) from None
    now = time.time()
    if claims.get("iss") != settings.API_HELSEID_ISSUER:
        raise _refuse("invalid-token", _("The access token is not from HelseID."))
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if settings.API_AUDIENCE not in audiences:
        raise _refuse("invalid-token", _("The access token is not for this API (audience)."))
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
        raise _refuse("invalid-token", _("The access token has expired."))
    if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now + 5:
        raise _refuse("invalid-token", _("The access token is not valid yet."))
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jkt"), str):
        raise _refuse("dpop-required", _("The access token is not bound to a DPoP key (cnf.jkt)."))
    return claims


def verify_proof(request, proof: str, token: str, jkt: str) -> None:
    header = _header(proof)
    jwk = header.get("jwk")
    if header.get("typ") != "dpop+jwt" or header.get("alg") not in PROOF_ALGS or not isinstance(jwk, dict):
        raise _refuse(
            "invalid-dpop-proof", _("The DPoP proof's header is not valid (typ, alg, jwk)."), "invalid_dpop_proof"
        )
    if any(member in jwk for member in PRIVATE_MEMBERS):
        raise _refuse("invalid-dpop-proof", _("The DPoP proof's key must be a public key."), "invalid_dpop_proof")
    try:
        key = import_key(jwk)
        thumbprint = key.thumbprint()
        claims = jwt.decode(proof, key, algorithms=[header["alg"]]).claims
    except (JoseError, ValueError, TypeError, KeyError):
        raise _refuse(
            "invalid-dpop-proof", _("The DPoP proof's signature is not valid."), "invalid_dpop_proof"
        ) from None
    if thumbprint != jkt:
        raise _refuse(
            "invalid-dpop-proof",
            _("The DPoP proof is not signed by the key the token is bound to."),
            "invalid_dpop_proof",
        )
    if claims.get("htm") != request.method:
        raise _refuse("invalid-dpop-proof", _("The DPoP proof is for another method (htm)."), "invalid_dpop_proof")
    if claims.get("htu") != request.build_absolute_uri(request.path):
        raise _refuse("invalid-dpop-proof", _("The DPoP proof is for another address (htu)."), "invalid_dpop_proof")
    window = settings.API_DPOP_IAT_WINDOW_SECONDS
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or abs(iat - time.time()) > window:
        raise _refuse(
            "invalid-dpop-proof", _("The DPoP proof is too old or from the future (iat)."), "invalid_dpop_proof"
        )
    if claims.get("ath") != _b64(hashlib.sha256(token.encode()).digest()):
        raise _refuse(
            "invalid-dpop-proof", _("The DPoP proof is for another access token (ath)."), "invalid_dpop_proof"
        )
    jti = claims.get("jti")
    # A lone surrogate (JSON can carry one) cannot be hashed as UTF-8: refused like a missing jti.
    if not isinstance(jti, str) or not 1 <= len(jti) <= 512 or find_unsafe(jti):
        raise _refuse("invalid-dpop-proof", _("The DPoP proof has no jti."), "invalid_dpop_proof")
    remember_jti(jti, window)


def remember_jti(jti: str, window: int) -> None:
    from portal.models import ApiProofJti

    now = timezone.now()
    digest = hashlib.sha256(jti.encode()).hexdigest()
    try:
        with transaction.atomic():
            ApiProofJti.objects.create(jti_hash=digest, expires_at=now + timedelta(seconds=2 * window + 5))
    except IntegrityError:
        raise _refuse("dpop-proof-replayed", _("This DPoP proof has been used before."), "invalid_dpop_proof") from None
    ApiProofJti.objects.filter(expires_at__lt=now).delete()


def rate_limit(client_id: str) -> None:
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    window = int(time.time() // 60)
    key = "api-rate:" + hashlib.sha256(client_id.encode()).hexdigest()[:32] + f":{window}"
    cache.add(key, 0, 120)
    try:
        count = cache.incr(key)
    except ValueError:
        count = 1
    if count > limit:
        retry = 60 - int(time.time() % 60)
        raise ApiProblem(
            "rate-limited",
            _("This client may make %(limit)s calls a minute.") % {"limit": limit},
            headers={"Retry-After": str(retry)},
        )


class DPoPAuth(HttpAuthBase):
    """The security scheme of every operation: a HelseID access token with a DPoP proof and one scope."""

    openapi_scheme = "DPoP"

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def __call__(self, request) -> Caller:
        authorization = request.headers.get("Authorization", "")
        scheme, _sep, token = authorization.strip().partition(" ")
        token = token.strip()
        if not scheme:
            raise _refuse("unauthenticated", _("Send Authorization: DPoP <access token> and a DPoP proof."))
        if scheme.lower() == "bearer":
            raise _refuse("dpop-required", _("Bearer tokens are refused: send the token as DPoP with a DPoP proof."))
        if scheme.lower() != "dpop" or not token:
            raise _refuse("unauthenticated", _("Send Authorization: DPoP <access token> and a DPoP proof."))
        proof = request.headers.get("DPoP", "").strip()
        if not proof or "," in proof:
            raise _refuse(
                "invalid-dpop-proof", _("Send exactly one DPoP proof in the DPoP header."), "invalid_dpop_proof"
            )
        claims = verify_access_token(token)
        verify_proof(request, proof, token, claims["cnf"]["jkt"])
        scopes = claims.get("scope", "")
        granted = frozenset(scopes.split() if isinstance(scopes, str) else scopes if isinstance(scopes, list) else [])
        if full_scope(self.scope) not in granted:
            raise ApiProblem(
                "insufficient-scope",
                _("This operation needs the scope %(scope)s.") % {"scope": full_scope(self.scope)},
                headers={
                    "WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope", scope="{full_scope(self.scope)}"'
                },
            )
        client_id = str(claims.get("client_id") or claims.get("sub") or "")
        if not client_id:
            raise _refuse("invalid-token", _("The access token names no client."))
        rate_limit(client_id)
        caller = Caller(
            client_id=client_id,
            scopes=granted,
            orgnr_parent=str(claims.get(ORGNR_PARENT) or ""),
            orgnr_supplier=str(claims.get(ORGNR_SUPPLIER) or ""),
            claims=claims,
        )
        request.api_caller = caller
        return caller
