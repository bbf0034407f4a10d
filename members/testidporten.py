"""A test ID-porten inside the portal, for development and tests only (never production).

In the spirit of ID-porten's TestID: a small OpenID Connect provider where one picks a synthetic
person (``members/data/testidporten_persons.json``, Tenor-style national identity numbers) and
a security level, so the portal's ordinary ID-porten client (``members.oidc``) logs in through it
unchanged: discovery, ``authorize`` (authorization code with PKCE S256, ``state``, ``nonce``,
``prompt=login`` / ``prompt=none``, ``acr_values``), ``token`` (client_secret_post or _basic),
``jwks`` and ``endsession``. ID tokens are signed with ES256 by a P-256 key derived from
``SECRET_KEY`` (stable across restarts and processes) and carry ``pid``, ``given_name``,
``family_name``, ``name``, ``acr``, ``amr``, ``auth_time``, ``sid`` as ID-porten's do.

``portal.settings`` mounts it at ``/test-idporten/`` (``TEST_IDPORTEN_ENABLED``) and, in the quick start, configures the
portal's ID-porten client against it; ``portal.checks`` refuses production with it switched on.
Codes are self-contained, signed and short-lived, and used once (the cache remembers them).
"""

import base64
import functools
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode, urlparse

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.http.request import validate_host
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from joserfc import jwk, jwt

PERSONS_FILE = Path(__file__).parent / "data" / "testidporten_persons.json"
LEVELS = ("idporten-loa-high", "idporten-loa-substantial")
ALGORITHM = "ES256"
CODE_SECONDS = 60
TOKEN_SECONDS = 600
SSO_SESSION_KEY = "testidporten_sso"  # the provider's own login session: who was picked (a key, not the number)
CODE_SALT = "members.testidporten.code"


@functools.cache
def persons() -> list[dict]:
    return json.loads(PERSONS_FILE.read_text(encoding="utf-8"))["persons"]


def person_by_pid(pid: str) -> dict | None:
    return next((person for person in persons() if person["pid"] == pid), None)


def person_key(pid: str) -> str:
    """What the provider's session and codes keep instead of the number (synthetic, but kept out all the same)."""
    return hashlib.sha256(f"testidporten:{pid}".encode()).hexdigest()[:24]


def person_by_key(key: str) -> dict | None:
    return next((person for person in persons() if person_key(person["pid"]) == key), None)


def full_name(person: dict) -> str:
    return f"{person['given_name']} {person['family_name']}"


@functools.cache
def signing_key() -> jwk.ECKey:
    """A P-256 key derived from SECRET_KEY, so every process and restart signs with the same key."""
    seed = hmac.new(settings.SECRET_KEY.encode(), b"members.testidporten.signing-key", hashlib.sha256).digest()
    order = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
    private = ec.derive_private_key(int.from_bytes(seed, "big") % (order - 1) + 1, ec.SECP256R1())
    key = jwk.ECKey.import_key(private)
    key.ensure_kid()
    return key


def issuer(request) -> str:
    """This request's own origin: the portal's back end reaches the provider where it is configured."""
    return request.build_absolute_uri(reverse("testidporten_root")).rstrip("/")


def _same_origin(url: str, request) -> bool:
    """An address of this portal (its host, or another name it answers to, e.g. localhost)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    return parsed.netloc == request.get_host() or validate_host(parsed.hostname or "", settings.ALLOWED_HOSTS)


def _redirect_uri_ok(redirect_uri: str, request) -> bool:
    # Only the portal's own ID-porten callback on this host: the provider serves this portal alone.
    return _same_origin(redirect_uri, request) and urlparse(redirect_uri).path == reverse("oidc_callback_idporten")


def _error_redirect(redirect_uri: str, state: str, error: str, description: str = "") -> HttpResponseRedirect:
    params = {"error": error, "state": state}
    if description:
        params["error_description"] = description
    return HttpResponseRedirect(f"{redirect_uri}?{urlencode(params)}")


def _requested_level(acr_values: str) -> str:
    requested = [value for value in acr_values.split() if value in LEVELS]
    return requested[0] if requested else LEVELS[1]


def _satisfies(level: str, requested: str) -> bool:
    return level == LEVELS[0] or level == requested


def _issue_code(request, params: dict, sso: dict) -> HttpResponseRedirect:
    code = signing.dumps(
        {
            "client_id": params["client_id"],
            "redirect_uri": params["redirect_uri"],
            "nonce": params.get("nonce", ""),
            "code_challenge": params.get("code_challenge", ""),
            "person": sso["person"],
            "acr": sso["acr"],
            "auth_time": sso["auth_time"],
            "sid": sso["sid"],
            "jti": secrets.token_urlsafe(8),
        },
        salt=CODE_SALT,
        compress=True,
    )
    query = {"code": code, "state": params.get("state", ""), "iss": issuer(request)}
    return HttpResponseRedirect(f"{params['redirect_uri']}?{urlencode(query)}")


def discovery(request):
    base = issuer(request)
    return JsonResponse(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/endsession",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile"],
            "acr_values_supported": list(LEVELS),
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "nonce",
                "pid",
                "given_name",
                "family_name",
                "name",
                "acr",
                "amr",
                "auth_time",
                "sid",
                "locale",
            ],
            "ui_locales_supported": ["nb", "en"],
            "authorization_response_iss_parameter_supported": True,
        }
    )


def jwks(request):
    public = signing_key().as_dict(private=False)
    return JsonResponse({"keys": [{**public, "use": "sig", "alg": ALGORITHM}]})


@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request):
    """The login page: validate the request, then pick a person (or use the session's) and answer with a code."""
    params = request.POST if request.method == "POST" else request.GET
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if client_id != settings.TEST_IDPORTEN_CLIENT_ID or not _redirect_uri_ok(redirect_uri, request):
        # Never redirect to an address the provider does not know.
        return render(
            request, "members/testidporten/error.html", {"message": "Unknown client_id or redirect_uri."}, status=400
        )
    state = params.get("state", "")
    if params.get("response_type") != "code" or "openid" not in params.get("scope", "").split():
        return _error_redirect(redirect_uri, state, "invalid_request", "response_type=code and scope openid needed")
    if params.get("code_challenge_method", "S256") != "S256" or not params.get("code_challenge"):
        return _error_redirect(redirect_uri, state, "invalid_request", "PKCE with S256 is required")
    prompt = params.get("prompt", "").split()
    requested = _requested_level(params.get("acr_values", ""))
    sso = request.session.get(SSO_SESSION_KEY)
    keep = {key: params.get(key, "") for key in AUTHORIZE_PARAMS}

    if request.method == "POST":
        if request.POST.get("action") == "cancel":
            return _error_redirect(redirect_uri, state, "access_denied", "The user cancelled the login")
        person = person_by_pid(request.POST.get("pid", ""))
        level = request.POST.get("level", "")
        if person is None or level not in LEVELS:
            context = {"params": keep, "persons": persons(), "requested": requested, "error": True}
            return render(request, "members/testidporten/login.html", context, status=400)
        sso = {
            "person": person_key(person["pid"]),
            "acr": level,
            "auth_time": int(time.time()),
            "sid": secrets.token_urlsafe(12),
        }
        request.session[SSO_SESSION_KEY] = sso
        return _issue_code(request, keep, sso)

    usable = sso is not None and "login" not in prompt and _satisfies(sso["acr"], requested)
    if usable:
        return _issue_code(request, keep, sso)
    if "none" in prompt:
        return _error_redirect(redirect_uri, state, "login_required")
    context = {"params": keep, "persons": persons(), "requested": requested}
    return render(request, "members/testidporten/login.html", context)


AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "acr_values",
    "prompt",
    "ui_locales",
)


def _token_error(error: str, description: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


def _client_credentials(request) -> tuple[str, str]:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Basic "):
        try:
            client_id, _sep, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        return client_id, secret
    return request.POST.get("client_id", ""), request.POST.get("client_secret", "")


@csrf_exempt
@require_POST
def token(request):
    """Code for tokens: checks the client, the code (signed, 60 s, once), redirect_uri and PKCE."""
    client_id, secret = _client_credentials(request)
    if client_id != settings.TEST_IDPORTEN_CLIENT_ID or not hmac.compare_digest(
        secret, settings.TEST_IDPORTEN_CLIENT_SECRET
    ):
        return _token_error("invalid_client", "Unknown client or wrong secret", 401)
    if request.POST.get("grant_type") != "authorization_code":
        return _token_error("unsupported_grant_type", "Only authorization_code")
    code = request.POST.get("code", "")
    try:
        grant = signing.loads(code, salt=CODE_SALT, max_age=CODE_SECONDS)
    except signing.BadSignature:
        return _token_error("invalid_grant", "The code is unknown or expired")
    if not cache.add(f"testidporten:code:{hashlib.sha256(code.encode()).hexdigest()}", 1, CODE_SECONDS * 2):
        return _token_error("invalid_grant", "The code has been used")
    if grant["client_id"] != client_id or grant["redirect_uri"] != request.POST.get("redirect_uri"):
        return _token_error("invalid_grant", "The code was issued to another client or redirect_uri")
    verifier = request.POST.get("code_verifier", "")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if not verifier or not hmac.compare_digest(challenge, grant["code_challenge"]):
        return _token_error("invalid_grant", "PKCE verification failed")
    person = person_by_key(grant["person"])
    if person is None:
        return _token_error("invalid_grant", "Unknown person")
    now = int(time.time())
    claims = {
        "iss": issuer(request),
        "aud": client_id,
        "sub": hashlib.sha256(f"{client_id}:{person['pid']}".encode()).hexdigest()[:43],
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_SECONDS,
        "jti": secrets.token_urlsafe(12),
        "nonce": grant["nonce"],
        "pid": person["pid"],
        "given_name": person["given_name"],
        "family_name": person["family_name"],
        "name": full_name(person),
        "acr": grant["acr"],
        "amr": ["TestID"],
        "auth_time": grant["auth_time"],
        "sid": grant["sid"],
        "locale": "nb",
    }
    key = signing_key()
    id_token = jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[ALGORITHM])
    response = JsonResponse(
        {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "id_token": id_token,
            "scope": "openid profile",
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
def endsession(request):
    """RP-initiated logout: forget the provider's session, then back to the portal (same host only)."""
    request.session.pop(SSO_SESSION_KEY, None)
    target = request.GET.get("post_logout_redirect_uri", "")
    if target and _same_origin(target, request):
        state = request.GET.get("state")
        return HttpResponseRedirect(f"{target}?{urlencode({'state': state})}" if state else target)
    return render(request, "members/testidporten/logged_out.html")


def root(request):
    return HttpResponseBadRequest("Test ID-porten: see /.well-known/openid-configuration")


urlpatterns = [
    path("", root, name="testidporten_root"),
    path(".well-known/openid-configuration", discovery, name="testidporten_discovery"),
    path("authorize", authorize, name="testidporten_authorize"),
    path("token", token, name="testidporten_token"),
    path("jwks", jwks, name="testidporten_jwks"),
    path("endsession", endsession, name="testidporten_endsession"),
]
