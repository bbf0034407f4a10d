"""Refuse to run production on quick-start settings.

The same rules serve two doors: a system check (``manage.py check``, ``migrate``, ``runserver``)
and the WSGI/ASGI entry points, which raise before serving a single request.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def production_settings_problems() -> list[str]:
    if not settings.IS_PRODUCTION:
        return []
    problems = []
    if settings.DEBUG:
        problems.append("DEBUG must be off in production.")
    if not settings.SECRET_KEY or settings.SECRET_KEY == settings.INSECURE_DEFAULT_SECRET_KEY:
        problems.append("SECRET_KEY must be set to a secret value in production.")
    if len(settings.SECRET_KEY) < 50:
        problems.append("SECRET_KEY must be at least 50 characters in production.")
    if "sqlite" in settings.DATABASES["default"]["ENGINE"]:
        problems.append("SQLite is not allowed in production: set DATABASE_URL to PostgreSQL.")
    if settings.CELERY_TASK_ALWAYS_EAGER:
        problems.append("Tasks must go through a broker in production: set CELERY_BROKER_URL.")
    for name in ("HELSEID_REGISTRY_BACKEND", "VKP_REGISTRY_BACKEND"):
        if ".Sandbox" in getattr(settings, name):
            problems.append(f"{name} is an in-process sandbox: set BACKING_SERVICES_URL in production.")
    if not settings.ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must name the portal's host names in production.")
    key = settings.IDENTITY_HASH_KEY
    if not key or key == settings.INSECURE_DEFAULT_IDENTITY_HASH_KEY or len(key) < 32:
        problems.append("IDENTITY_HASH_KEY must be set to a secret of at least 32 characters in production.")
    if getattr(settings, "JWKS_FETCH_ALLOWED_ADDRESSES", None):
        problems.append("JWKS_FETCH_ALLOWED_ADDRESSES lets vendors' JWKS URLs reach internal addresses: tests only.")
    if settings.TEST_IDPORTEN_ENABLED:
        problems.append("The bundled test ID-porten is for development and tests only: unset TEST_IDPORTEN.")
    for name, provider in settings.OIDC_PROVIDERS.items():
        if provider["issuer"].rstrip("/").endswith("/test-idporten"):
            problems.append(f"The {name} OpenID Connect issuer is the bundled test ID-porten: not in production.")
        if not provider["issuer"].startswith("https://"):
            problems.append(f"The {name} OpenID Connect issuer must be an https URL in production.")
        if not (provider["private_key"] or provider["client_secret"]):
            problems.append(f"The {name} OpenID Connect client needs a private key (or a client secret).")
        if name == "helseid" and not provider["private_key"]:
            problems.append("HelseID accepts only private_key_jwt: set OIDC_HELSEID_PRIVATE_KEY(_FILE).")
        key = provider["private_key"]
        if key and _client_key_algorithm(key) not in CLIENT_ASSERTION_ALGORITHMS:
            problems.append(f"The {name} private key must be a JWK with alg PS256/384/512 or ES256/384/512.")
    return problems


# HelseID refuses RS256/384/512 client assertions (test 1 Nov 2026, production 11 Jan 2027).
CLIENT_ASSERTION_ALGORITHMS = {"PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}


def _client_key_algorithm(private_key: str) -> str:
    import json

    try:
        return str(json.loads(private_key).get("alg", ""))
    except (ValueError, AttributeError):
        return ""


@checks.register(checks.Tags.security)
def check_production_settings(app_configs, **kwargs):
    return [checks.Error(problem, id="portal.E001") for problem in production_settings_problems()]


def refuse_unsafe_production() -> None:
    problems = production_settings_problems()
    if problems:
        raise ImproperlyConfigured("Refusing to start: " + " ".join(problems))
