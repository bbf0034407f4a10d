"""Single sign-on with HelseID and ID-porten through mozilla-django-oidc.

The library does the OpenID Connect work: the authorization code flow with PKCE, ``state`` and
``nonce`` kept in the session, the token call, the ID token's signature checked against the
provider's JWKS, RP-initiated logout and the silent re-check when the ID token has expired.
What this module adds:

- **several providers**: each configured provider (``settings.OIDC_PROVIDERS``) gets its own URL
  prefix (``/innlogging/helseid/``, ``/innlogging/idporten/``); views and backend read their
  settings through ``get_settings`` for that provider, with endpoints from its discovery document;
- **private_key_jwt**: when a provider is configured with a private JWK the token call carries a
  signed ``client_assertion`` instead of a client secret (HelseID accepts nothing else);
- **stricter ID token checks**: issuer, audience and ``azp`` (the library checks neither), a
  required expiry, and the provider's assurance level (ID-porten ``acr``, HelseID
  ``security_level``);
- **people matched by national identity number**, kept only as a keyed hash
  (``members.identity``); the plain number lives in local variables for the duration of one
  request and is never logged, stored or put in the session;
- **clear refusals**: every failure (tampered ``state``, wrong ``nonce``, expired or wrongly signed
  ID token, provider errors) ends on one error page saying what happened, and is audited;
- **HelseID as it runs in late 2026** (protocol pieces in ``members.oidc_protocol``): ID token
  algorithms from discovery (PS256/ES256; RS256 only where allowed), the authorization request
  pushed (PAR) when the provider has the endpoint, a DPoP proof on the token call with the nonce
  retry, and OpenID Connect Back-Channel Logout ending every session of that person from that
  provider (``FederatedSession`` records which Django session came from which provider session).
"""

import base64
import json
import logging
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import requests
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import SuspiciousOperation
from django.dispatch import receiver
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.crypto import salted_hmac
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.generic import View
from joserfc import jwk
from joserfc import jwt as jose_jwt
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh as LibrarySessionRefresh
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView, OIDCLogoutView

from portal.audit import audit

from . import authority, oidc_protocol
from .identity import pid_hash

LOGGER = logging.getLogger(__name__)

# Session keys. None of them ever holds a national identity number.
PROVIDER_SESSION_KEY = "portal_oidc_provider"  # which provider this session's login came from
PENDING_IDENTITY_KEY = "portal_oidc_pending"  # a first login waiting for an e-mail address (hash only)
PENDING_IDENTITY_SECONDS = 15 * 60
# The ID token is needed as ``id_token_hint`` when logging out at the provider. It carries the
# national identity number, so it is kept out of the database: encrypted, in an HttpOnly cookie.
ID_TOKEN_COOKIE = "portal_oidc_hint"  # noqa: S105  (a cookie name)
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DISCOVERY_CACHE_SECONDS = 3600

REFUSALS = {
    "state": _(
        "The answer from the identity provider does not belong to a login started in this browser (the "
        "“state” check failed). Nothing was logged in. Start the login again from the portal."
    ),
    "nonce": _(
        "The ID token was not issued for this login (the “nonce” check failed). Nothing was logged in. "
        "Start the login again."
    ),
    "signature": _(
        "The ID token's signature could not be verified with the identity provider's published keys. "
        "Nothing was logged in."
    ),
    "expired": _("The ID token has expired or is not valid yet. Check your computer's clock and log in again."),
    "claims": _("The ID token was not issued by this identity provider for this portal. Nothing was logged in."),
    "assurance": _(
        "The log-in was not made at a high enough security level. Log in again with BankID, Buypass or "
        "another high-level method."
    ),
    "missing_pid": _("The identity provider did not send your national identity number, so you cannot be identified."),
    "token": _("The identity provider did not hand over the tokens for this login. Start the login again."),
    "unavailable": _("The identity provider is not answering right now. Try again in a few minutes."),
    "cancelled": _("The log-in was cancelled. You are not logged in."),
    "session_ended": _("Your session at the identity provider has ended, so you have been logged out. Log in again."),
    "provider_error": _("The identity provider could not complete the log-in. You are not logged in."),
    "inactive": _("This account is deactivated. Contact NHN's customer centre."),
    "identity_conflict": _(
        "This national identity is linked to another account in the portal, or your account to another "
        "identity. Nothing was changed. Contact NHN's customer centre if this is wrong."
    ),
    "par": _(
        "The identity provider refused the portal's pushed authorization request (PAR), so the log-in could "
        "not start. Nothing was logged in. Try again; if it keeps happening, contact NHN's customer centre."
    ),
    "dpop": _(
        "The identity provider refused the portal's proof of possession (DPoP) in the token request. Nothing "
        "was logged in. Try again; if it keeps happening, contact NHN's customer centre."
    ),
    "dpop_nonce": _(
        "The identity provider kept asking for a new DPoP nonce, so the portal stopped after one retry. "
        "Nothing was logged in. Try again in a few minutes."
    ),
    "algorithm": _(
        "The ID token was signed with an algorithm the portal does not accept from this identity provider. "
        "Nothing was logged in."
    ),
}


class LoginRefused(Exception):
    """A federated login the portal refuses; ``code`` is a key of REFUSALS."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be fetched."""


# Providers and their endpoints --------------------------------------------------------------------

_discovery: dict[str, tuple[float, dict]] = {}


def provider_config(name: str | None) -> dict | None:
    return settings.OIDC_PROVIDERS.get(name) if name else None


def configured_providers() -> list[tuple[str, str]]:
    """(name, label) of every configured provider, for the login page."""
    return [(name, config["label"]) for name, config in settings.OIDC_PROVIDERS.items()]


def discovery_document(issuer: str) -> dict:
    """The provider's ``/.well-known/openid-configuration``, cached for an hour per process."""
    cached = _discovery.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(str(error)) from None
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(f"The discovery document at {url} names another issuer.")
    _discovery[issuer] = (time.monotonic() + DISCOVERY_CACHE_SECONDS, document)
    return document


def provider_endpoint(config: dict, key: str) -> str:
    """An endpoint given in the settings, else the one the discovery document names."""
    return config.get(key) or discovery_document(config["issuer"]).get(key, "")


def _mode(config: dict, key: str) -> str:
    """A per-provider ``auto`` / ``on`` / ``off`` setting (anything else counts as ``auto``)."""
    value = str(config.get(key, "auto")).strip().lower()
    return value if value in {"on", "off"} else "auto"


def pushed_authorization_endpoint(config: dict) -> str:
    """Where to push the authorization request (RFC 9126), or "" to send the browser with it.

    ``auto`` (the default) pushes whenever the provider's metadata has
    ``pushed_authorization_request_endpoint``; ``on`` insists (a provider without one is refused);
    ``off`` never pushes.
    """
    mode = _mode(config, "par")
    if mode == "off":
        return ""
    endpoint = provider_endpoint(config, "pushed_authorization_request_endpoint")
    if mode == "on" and not endpoint:
        raise LoginRefused("par")
    return endpoint


def uses_dpop(config: dict) -> bool:
    """Whether the token call carries a DPoP proof: ``on``, ``off``, or ``auto`` when the provider offers it."""
    mode = _mode(config, "dpop")
    if mode != "auto":
        return mode == "on"
    return bool(discovery_document(config["issuer"]).get("dpop_signing_alg_values_supported"))


def accepted_id_token_algorithms(config: dict) -> list[str]:
    """PS256 and ES256 (RS256 where ``allow_rs256``), as far as the provider's discovery names them."""
    supported = discovery_document(config["issuer"]).get("id_token_signing_alg_values_supported")
    allow_rs256 = config.get("allow_rs256") in (True, "true", "1", "yes", "on")
    return oidc_protocol.id_token_algorithms(allow_rs256=allow_rs256, supported=supported)


def client_authentication(config: dict) -> dict:
    """The client's authentication for one call to the provider, built anew each time.

    With a private JWK, a client assertion with its own ``jti`` (HelseID refuses a reused one);
    otherwise the client secret in the body (``client_secret_post``).
    """
    if config["private_key"]:
        return {
            "client_id": config["client_id"],
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": client_assertion(config, audience=config["issuer"]),
        }
    return {"client_id": config["client_id"], "client_secret": config["client_secret"]}


class ProviderSettings:
    """Per-provider values for the library's settings; everything else comes from settings.py."""

    provider: str | None = None

    @property
    def config(self) -> dict:
        """This provider's settings; 404 for a provider that is not configured."""
        config = provider_config(self.provider)
        if config is None:
            raise Http404("No such identity provider.")
        return config

    def get_settings(self, attr, *args):
        config = provider_config(self.provider)
        if config is not None:
            per_provider = {
                "OIDC_RP_CLIENT_ID": lambda: config["client_id"],
                "OIDC_RP_CLIENT_SECRET": lambda: config["client_secret"],
                "OIDC_RP_SIGN_ALGO": lambda: (accepted_id_token_algorithms(config) or ["PS256"])[0],
                "OIDC_RP_SCOPES": lambda: config["scopes"],
                "OIDC_OP_AUTHORIZATION_ENDPOINT": lambda: provider_endpoint(config, "authorization_endpoint"),
                "OIDC_OP_TOKEN_ENDPOINT": lambda: provider_endpoint(config, "token_endpoint"),
                "OIDC_OP_JWKS_ENDPOINT": lambda: provider_endpoint(config, "jwks_uri"),
                "OIDC_OP_USER_ENDPOINT": lambda: config["userinfo_endpoint"],
                "OIDC_AUTHENTICATION_CALLBACK_URL": lambda: f"oidc_callback_{self.provider}",
            }
            if attr in per_provider:
                return per_provider[attr]()
        return import_from_settings(attr, *args)


# Client authentication ----------------------------------------------------------------------------


def client_assertion(config: dict, audience: str) -> str:
    """A signed ``client_assertion`` for private_key_jwt, shaped as HelseID asks (60 s, unique jti)."""
    key = jwk.import_key(json.loads(config["private_key"]))
    curve_alg = {"P-384": "ES384", "P-521": "ES512"}.get(key.get("crv"), "ES256")
    alg = key.get("alg") or ("PS256" if key.key_type == "RSA" else curve_alg)
    now = int(time.time())
    header = {"alg": alg, "typ": "client-authentication+jwt"}
    if key.kid:
        header["kid"] = key.kid
    claims = {
        "iss": config["client_id"],
        "sub": config["client_id"],
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jose_jwt.encode(header, claims, key, algorithms=[alg])


# The ID token cookie --------------------------------------------------------------------------------


def _cookie_cipher() -> Fernet:
    key = salted_hmac("members.oidc.id_token_cookie", "encryption", algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(key))


def set_id_token_cookie(response, id_token: str) -> None:
    response.set_cookie(
        ID_TOKEN_COOKIE,
        _cookie_cipher().encrypt(id_token.encode()).decode(),
        max_age=settings.SESSION_COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def id_token_from_cookie(request) -> str | None:
    value = request.COOKIES.get(ID_TOKEN_COOKIE)
    if not value:
        return None
    try:
        return _cookie_cipher().decrypt(value.encode(), ttl=settings.SESSION_COOKIE_AGE).decode()
    except InvalidToken:
        return None


# The authentication backend ---------------------------------------------------------------------------


class OIDCBackend(ProviderSettings, OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend for whichever provider the callback URL belongs to."""

    def __init__(self, *args, **kwargs):
        # The library reads one provider's settings here; they are read per login in authenticate().
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        self.provider = getattr(request, "oidc_provider", None)
        config = provider_config(self.provider)
        if config is None:
            return None
        try:
            self.OIDC_OP_TOKEN_ENDPOINT = self.get_settings("OIDC_OP_TOKEN_ENDPOINT")
            self.OIDC_OP_JWKS_ENDPOINT = self.get_settings("OIDC_OP_JWKS_ENDPOINT")
        except ProviderUnavailable:
            raise LoginRefused("unavailable") from None
        self.OIDC_OP_USER_ENDPOINT = self.get_settings("OIDC_OP_USER_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = config["client_id"]
        self.OIDC_RP_CLIENT_SECRET = config["client_secret"]
        self.OIDC_RP_SIGN_ALGO = None  # set from the ID token's header once its algorithm is accepted
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.pid_hash = None
        self.claims = {}
        user = super().authenticate(request, **kwargs)
        if user is not None:
            user.oidc_provider = self.provider  # for the login audit entry (portal.signals)
        return user

    def get_token(self, payload):
        """The token call: client authentication built anew per attempt, and a DPoP proof where used."""
        config = self.config
        try:
            signer = oidc_protocol.DPoPSigner() if uses_dpop(config) else None
        except ProviderUnavailable:
            raise LoginRefused("unavailable") from None

        def body():
            data = {key: value for key, value in payload.items() if key != "client_secret"}
            return {**data, **client_authentication(config)}

        try:
            response = oidc_protocol.post_with_dpop(
                self.OIDC_OP_TOKEN_ENDPOINT,
                body,
                signer=signer,
                timeout=settings.OIDC_TIMEOUT,
                verify=settings.OIDC_VERIFY_SSL,
            )
            self.raise_token_response_error(response)
            return response.json()
        except oidc_protocol.ProtocolRefusal as refusal:
            LOGGER.warning("Token request to %s refused: %s (%s)", self.provider, refusal.code, refusal.detail[:200])
            raise LoginRefused(refusal.code) from None
        except (requests.RequestException, ValueError) as error:
            # The message may quote the provider's answer; it holds no identity number, but keep it short.
            LOGGER.warning("Token request to %s failed: %s", self.provider, type(error).__name__)
            raise LoginRefused("token") from None

    def retrieve_matching_jwk(self, token):
        """The library's key lookup, with the key bound to the algorithm accepted for this token."""
        key = super().retrieve_matching_jwk(token)
        return jwt.PyJWK(key._jwk_data, algorithm=self.OIDC_RP_SIGN_ALGO)

    def store_tokens(self, access_token, id_token):
        # Neither token goes into the session (the database); the callback puts the ID token in an
        # encrypted cookie for the logout at the provider.
        self.request.oidc_id_token = id_token

    def verify_token(self, token, **kwargs):
        """The library's JWKS lookup and signature check, then what the library leaves out."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            accepted = accepted_id_token_algorithms(self.config)
        except jwt.InvalidTokenError:
            raise LoginRefused("signature") from None
        except ProviderUnavailable:
            raise LoginRefused("unavailable") from None
        if algorithm not in accepted:
            LOGGER.warning("ID token from %s signed with %s, not one of %s", self.provider, algorithm, accepted)
            raise LoginRefused("algorithm")
        self.OIDC_RP_SIGN_ALGO = algorithm
        try:
            key = self.retrieve_matching_jwk(token)
            payload = self.get_payload_data(token, key)
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise LoginRefused("expired") from None
        except (jwt.InvalidTokenError, SuspiciousOperation):
            raise LoginRefused("signature") from None
        except requests.RequestException:
            raise LoginRefused("unavailable") from None
        if "nonce" in kwargs and payload.get("nonce") != kwargs["nonce"]:
            raise LoginRefused("nonce")
        if "exp" not in payload:
            raise LoginRefused("expired")
        client_id = self.config["client_id"]
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if payload.get("iss") != self.config["issuer"] or client_id not in audiences:
            raise LoginRefused("claims")
        if len(audiences) > 1 and payload.get("azp") != client_id:
            raise LoginRefused("claims")
        # For back-channel logout: which provider session and subject this login is (hashed when stored).
        self.request.oidc_session_ids = {"sid": str(payload.get("sid") or ""), "sub": str(payload.get("sub") or "")}
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, with the userinfo endpoint's added where the provider has one."""
        if not self.OIDC_OP_USER_ENDPOINT:
            return dict(payload)
        try:
            userinfo = super().get_userinfo(access_token, id_token, payload)
        except requests.RequestException:
            raise LoginRefused("unavailable") from None
        if userinfo.get("sub") != payload.get("sub"):
            raise LoginRefused("claims")
        return {**userinfo, **payload}

    def verify_claims(self, claims):
        config = self.config
        pid = claims.get(config["pid_claim"])
        if not pid or not str(pid).strip():
            raise LoginRefused("missing_pid")
        accepted = [value.strip() for value in config["accepted_assurance"].split(",") if value.strip()]
        if accepted and str(claims.get(config["assurance_claim"], "")) not in accepted:
            raise LoginRefused("assurance")
        self.pid_hash = pid_hash(str(pid))
        self.request.oidc_verified_person = verified_person_from_claims(self.provider, claims, str(pid), self.pid_hash)
        self.claims = {
            "first_name": str(claims.get("given_name", "") or ""),
            "last_name": str(claims.get("family_name", "") or ""),
            "email": str(claims.get("email", "") or "") if claims.get("email_verified") is True else "",
        }
        return True

    def describe_user_by_claims(self, claims):
        return "a person"  # the library logs this; claims stay out of logs

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(federated_identities__pid_hash=self.pid_hash).distinct()

    def _link_user(self):
        link_user_id = getattr(self.request, "oidc_link_user_id", None)
        if link_user_id and self.request.user.is_authenticated and self.request.user.pk == link_user_id:
            return self.request.user
        return None

    def update_user(self, user, claims):
        from . import services

        link_user = self._link_user()
        if link_user is not None and link_user.pk != user.pk:
            raise LoginRefused("identity_conflict")
        try:
            services.federated_identity_link(
                user=user, provider=self.provider, pid_hash=self.pid_hash, request=self.request
            )
        except services.IdentityConflict:
            raise LoginRefused("identity_conflict") from None
        services.federated_login_recorded(
            user=user, provider=self.provider, first_name=self.claims["first_name"], last_name=self.claims["last_name"]
        )
        return user

    def create_user(self, claims):
        """A person the portal has not seen: link, create from an invitation, or ask for an e-mail address."""
        from . import invitations, services

        link_user = self._link_user()
        if link_user is not None:
            return self.update_user(link_user, claims)
        invitation = invitations.pending_invitation(self.request)
        if invitation is not None and not self.UserModel.objects.filter(email__iexact=invitation.email).exists():
            # The invitation link came by e-mail to this address: it counts as a verified address.
            return services.federated_user_create(
                email=invitation.email,
                first_name=self.claims["first_name"],
                last_name=self.claims["last_name"],
                provider=self.provider,
                pid_hash=self.pid_hash,
                email_verified=True,
                request=self.request,
            )
        ids = getattr(self.request, "oidc_session_ids", None) or {"sid": "", "sub": ""}
        self.request.session[PENDING_IDENTITY_KEY] = {
            "provider": self.provider,
            "pid_hash": self.pid_hash,
            # For back-channel logout once the account exists (members.views.oidc_complete); hashes only.
            "session_ids": services.federated_session_ids(provider=self.provider, **ids) if ids["sub"] else None,
            # The ID-porten person (name, birth date, level; never the number), so the login that creates
            # the account counts as proof of authority like any later one (members.views.oidc_complete).
            "verified_person": authority.person_to_json(person)
            if (person := getattr(self.request, "oidc_verified_person", None))
            else None,
            **self.claims,
            "until": time.time() + PENDING_IDENTITY_SECONDS,
        }
        return None


# Proof of authority (members.authority) ---------------------------------------------------------------


def verified_person_from_claims(provider, claims, pid: str, hashed: str):
    """The ID-porten person for the session; the number only yields a birth date and is not kept."""
    if provider != authority.PROVIDER:
        return None
    return authority.person_from_claims(provider=provider, claims=claims, pid=pid, pid_hash=hashed)


def remember_verified_person(request, person=None) -> None:
    """Each login replaces the session's verified person: an ID-porten login sets it, others clear it.

    Delegations (fullmakt) to one of the person's verified addresses bind to this identity now.
    """
    from . import services

    if person is None:
        person = getattr(request, "oidc_verified_person", None)
    authority.remember(request, person, user_id=request.user.pk)
    if person is not None:
        services.delegations_bind(user=request.user, person=person, request=request)


def stepup_params(request, provider) -> dict:
    """A step-up (``?stepup=1``, from members.authority.stepup_url) logs in afresh at level high."""
    if provider != authority.PROVIDER or request.GET.get("stepup") != "1":
        return {}
    return {"acr_values": authority.LEVEL_HIGH, "prompt": "login"}


# Views ------------------------------------------------------------------------------------------------


def record_federated_session(request, user, provider: str, hashes: dict | None) -> None:
    """Which provider session and subject (keyed hashes) this Django session belongs to."""
    from . import services

    if not hashes:
        return
    request.session.save()  # the key the session cookie will carry
    services.federated_session_record(session_key=request.session.session_key, user=user, provider=provider, **hashes)


def refusal_response(request, code: str, provider: str | None, status: int = 400):
    """The one error page for a refused federated login; audited, and logged without any claim."""
    config = provider_config(provider) or {}
    LOGGER.warning("Federated login through %s refused: %s", provider or "-", code)
    # Whoever is at the keyboard now is not the person ID-porten identified before: signing asks again.
    authority.forget(request)
    audit(action="login.refused", after={"provider": provider or "", "reason": code}, request=request)
    context = {
        "message": REFUSALS.get(code, REFUSALS["provider_error"]),
        "code": code,
        "provider_label": config.get("label", ""),
        "retry_url": reverse(f"oidc_login_{provider}") if config else "",
    }
    return render(request, "members/login_refused.html", context, status=status)


class AuthenticationRequestView(ProviderSettings, OIDCAuthenticationRequestView):
    """Sends the browser to the provider, with state, nonce and a PKCE challenge kept in the session.

    The library builds the whole authorization request (``get_extra_params`` adds this portal's
    parameters: the one place for more of them). Where the provider takes pushed authorization
    requests, that request is POSTed to it with the client's authentication and the browser
    carries only ``client_id`` and ``request_uri``; otherwise the browser carries the request.
    """

    def __init__(self, **kwargs):
        # The library reads the endpoint here; it comes from discovery, so per request in get().
        View.__init__(self, **kwargs)

    def get(self, request):
        config = self.config
        try:
            self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
            par_endpoint = pushed_authorization_endpoint(config)
        except ProviderUnavailable:
            return refusal_response(request, "unavailable", self.provider, status=503)
        except LoginRefused as refusal:
            return refusal_response(request, refusal.code, self.provider)
        self.OIDC_RP_CLIENT_ID = config["client_id"]
        response = super().get(request)
        params = {key: values[0] for key, values in parse_qs(urlparse(response["Location"]).query).items()}
        # Bind the state to this provider (and to a link request), so an answer is only taken at
        # the callback of the provider it was sent to.
        entry = request.session["oidc_states"][params["state"]]
        entry["provider"] = self.provider
        if request.GET.get("koble") == "1" and request.user.is_authenticated:
            entry["link_user_id"] = request.user.pk
        request.session.modified = True
        if par_endpoint:
            return self.pushed_authorization_redirect(request, par_endpoint, params)
        return response

    def pushed_authorization_redirect(self, request, par_endpoint: str, params: dict):
        """Pushes the authorization request (RFC 9126); the browser goes with ``client_id`` and ``request_uri``."""
        config = self.config
        try:
            request_uri = oidc_protocol.push_authorization_request(
                par_endpoint,
                params,
                client_authentication=client_authentication(config),
                timeout=settings.OIDC_TIMEOUT,
                verify=settings.OIDC_VERIFY_SSL,
            )
        except oidc_protocol.ProtocolRefusal as refusal:
            LOGGER.warning("Pushed authorization request to %s refused: %s", self.provider, refusal.detail[:200])
            return refusal_response(request, "par", self.provider)
        except requests.RequestException as error:
            LOGGER.warning("Pushed authorization request to %s failed: %s", self.provider, type(error).__name__)
            return refusal_response(request, "unavailable", self.provider, status=503)
        query = urlencode({"client_id": config["client_id"], "request_uri": request_uri})
        return HttpResponseRedirect(f"{self.OIDC_OP_AUTH_ENDPOINT}?{query}")

    def get_extra_params(self, request):
        config = self.config
        params = {"ui_locales": translation.get_language() or settings.LANGUAGE_CODE}
        if config["acr_values"]:
            params["acr_values"] = config["acr_values"]
        if request.GET.get("prompt") == "none":  # the silent re-check of SessionRefresh
            params["prompt"] = "none"
        params.update(stepup_params(request, self.provider))
        return params


class AuthenticationCallbackView(ProviderSettings, OIDCAuthenticationCallbackView):
    """Takes the provider's answer: the library checks state, nonce, PKCE and signature; refusals get a page."""

    def get(self, request):
        self.config  # noqa: B018  (404 for a provider that is not configured)
        request.oidc_provider = self.provider
        state = request.GET.get("state", "")
        entry = request.session.get("oidc_states", {}).get(state) if state else None
        if request.GET.get("error"):
            return self._provider_error(request, state, entry)
        if entry is not None and entry.get("provider") != self.provider:
            return refusal_response(request, "state", self.provider)
        request.oidc_link_user_id = (entry or {}).get("link_user_id")
        try:
            return super().get(request)
        except LoginRefused as refusal:
            return refusal_response(request, refusal.code, self.provider)
        except SuspiciousOperation:  # the library's own state check
            return refusal_response(request, "state", self.provider)

    def _provider_error(self, request, state, entry):
        if entry is not None:
            del request.session["oidc_states"][state]
            request.session.modified = True
        was_logged_in = request.user.is_authenticated
        if was_logged_in:
            auth.logout(request)
        error = request.GET.get("error")
        description = request.GET.get("error_description", "").lower()
        if error in {"login_required", "interaction_required", "consent_required"}:
            code = "session_ended" if was_logged_in else "provider_error"
        elif error == "invalid_request" and "pushed authorization request" in description:
            code = "par"  # the provider requires PAR and the portal was set not to use it
        else:
            code = "cancelled" if error == "access_denied" else "provider_error"
        response = refusal_response(request, code, self.provider)
        response.delete_cookie(ID_TOKEN_COOKIE)
        return response

    def login_success(self):
        response = super().login_success()
        self.request.session[PROVIDER_SESSION_KEY] = self.provider
        remember_verified_person(self.request)
        self.request.session.pop(PENDING_IDENTITY_KEY, None)
        self.record_federated_session()
        if getattr(self.request, "oidc_id_token", None):
            set_id_token_cookie(response, self.request.oidc_id_token)
        return response

    def record_federated_session(self):
        """Which provider session and subject this Django session belongs to, for back-channel logout."""
        from . import services

        ids = getattr(self.request, "oidc_session_ids", None)
        if ids and ids["sub"]:
            hashes = services.federated_session_ids(provider=self.provider, sid=ids["sid"], sub=ids["sub"])
            record_federated_session(self.request, self.user, self.provider, hashes)

    def login_failure(self):
        if self.request.session.get(PENDING_IDENTITY_KEY):
            response = HttpResponseRedirect(reverse("oidc_complete"))
            if getattr(self.request, "oidc_id_token", None):
                set_id_token_cookie(response, self.request.oidc_id_token)
            return response
        user = getattr(self, "user", None)
        return refusal_response(self.request, "inactive" if user is not None else "state", self.provider)


def provider_logout_url(request) -> str:
    """Where logging out sends the browser: the provider's end-session endpoint for a federated session."""
    local = resolve_url(settings.LOGOUT_REDIRECT_URL)
    config = provider_config(request.session.get(PROVIDER_SESSION_KEY))
    if config is None:
        return local
    try:
        end_session = provider_endpoint(config, "end_session_endpoint")
    except ProviderUnavailable:
        end_session = ""
    if not end_session:
        return local
    params = {
        "client_id": config["client_id"],
        "post_logout_redirect_uri": request.build_absolute_uri(reverse("oidc_logged_out")),
    }
    id_token = id_token_from_cookie(request)
    if id_token:
        params["id_token_hint"] = id_token
    return f"{end_session}?{urlencode(params)}"


class LogoutView(OIDCLogoutView):
    """Logs out here, then at the provider the session came from; forgets the ID token cookie."""

    def post(self, request):
        response = super().post(request)
        response.delete_cookie(ID_TOKEN_COOKIE)
        return response


def logged_out(request):
    """Where the provider sends the browser back after its logout."""
    messages.info(request, _("You are logged out."))
    return HttpResponseRedirect(resolve_url(settings.LOGOUT_REDIRECT_URL))


@receiver(user_logged_out)
def forget_federated_session(sender, request, user, **kwargs):
    """A session that ends here needs no back-channel logout any more."""
    from . import services

    if request is not None and hasattr(request, "session"):
        services.federated_session_forget(session_key=request.session.session_key)


# Back-channel logout ----------------------------------------------------------------------------------


def _logout_token_refused(request, provider: str, code: str, detail: str = "", status: int = 400):
    LOGGER.warning("Back-channel logout from %s refused: %s %s", provider, code, detail[:200])
    audit(action="logout.refused", after={"provider": provider, "reason": code}, request=request)
    description = {"replay": "logout token already used"}.get(code, f"logout token refused: {code}")
    response = JsonResponse({"error": "invalid_request", "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def backchannel_logout(request, provider: str):
    """OpenID Connect Back-Channel Logout 1.0: the provider says a person's session there has ended.

    The logout token is checked (signature against the provider's JWKS, algorithm, ``iss``, ``aud``,
    ``iat``, ``events``, ``sid``/``sub``, no ``nonce``); a ``jti`` seen before is refused. Then every
    session of that person from that provider ends.
    """
    from . import services

    config = provider_config(provider)
    if config is None:
        raise Http404("No such identity provider.")
    token = request.POST.get("logout_token", "")
    if not token:
        return _logout_token_refused(request, provider, "missing")
    try:
        algorithms = accepted_id_token_algorithms(config)
        response = requests.get(
            provider_endpoint(config, "jwks_uri"), timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL
        )
        response.raise_for_status()
        jwks = response.json()
    except (ProviderUnavailable, requests.RequestException, ValueError) as error:
        return _logout_token_refused(request, provider, "unavailable", type(error).__name__, status=503)
    try:
        claims = oidc_protocol.verify_logout_token(
            token, jwks=jwks, issuer=config["issuer"], client_id=config["client_id"], algorithms=algorithms
        )
    except oidc_protocol.ProtocolRefusal as refusal:
        return _logout_token_refused(request, provider, refusal.code, refusal.detail)
    keep = oidc_protocol.LOGOUT_TOKEN_MAX_AGE_SECONDS + 2 * oidc_protocol.CLOCK_SKEW_SECONDS
    if not services.logout_token_use(provider=provider, jti=claims["jti"], keep_seconds=keep):
        return _logout_token_refused(request, provider, "replay")
    ended = services.federated_sessions_end(provider=provider, sid=claims.get("sid"), sub=claims.get("sub"))
    LOGGER.info("Back-channel logout from %s ended %d session(s)", provider, ended)
    response = HttpResponse(status=200)
    response["Cache-Control"] = "no-store"
    return response


# Session expiry ---------------------------------------------------------------------------------------


class SessionRefresh(LibrarySessionRefresh):
    """When a federated session's ID token has expired, ask its provider again silently (prompt=none).

    If the provider's session has ended, the callback logs the person out with a clear message.
    htmx fragment requests are left alone; the next full page does the re-check.
    """

    def __init__(self, get_response):
        # MiddlewareMixin's constructor only: the library's reads one provider's settings.
        MiddlewareMixin.__init__(self, get_response)

    def is_refreshable_url(self, request):
        provider = request.session.get(PROVIDER_SESSION_KEY)
        return (
            provider_config(provider) is not None
            and request.method == "GET"
            and request.user.is_authenticated
            and not getattr(request, "htmx", False)
            and not request.path.startswith(("/innlogging/", "/static/", "/healthz", "/i18n/"))
        )

    def process_request(self, request):
        if not self.is_refreshable_url(request):
            return None
        if request.session.get("oidc_id_token_expiration", 0) > time.time():
            return None
        provider = request.session[PROVIDER_SESSION_KEY]
        try:
            url = reverse(f"oidc_login_{provider}")
        except NoReverseMatch:
            return None
        return HttpResponseRedirect(f"{url}?{urlencode({'next': request.get_full_path(), 'prompt': 'none'})}")
