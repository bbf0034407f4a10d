"""Settings for Helsenett Selvbetjening.

Everything comes from environment variables. The defaults are the quick start: SQLite, Celery
tasks executed in-process, e-mail to the console. Setting ``PORTAL_ENV=production`` turns on
the deploy checks in ``portal.checks`` and refuses to start on unsafe settings.
"""

import hashlib
import hmac
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

# A key only for the quick start; production refuses to run with it (portal.checks).
INSECURE_DEFAULT_SECRET_KEY = "django-insecure-quick-start-only-never-in-production"  # noqa: S105
# Likewise for the key that hashes national identity numbers (members.identity).
INSECURE_DEFAULT_IDENTITY_HASH_KEY = "quick-start-identity-hash-key-never-in-production"


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PORTAL_ENV = env_str("PORTAL_ENV", "development")  # development | test | production
IS_PRODUCTION = PORTAL_ENV == "production"

SECRET_KEY = env_str("SECRET_KEY", INSECURE_DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", not IS_PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if IS_PRODUCTION else "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# A refused form (an expired page, cookies off) gets the portal's own 403 page in the person's language.
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"
# How many reverse proxies of our own stand in front of the portal, each appending to
# X-Forwarded-For. 0: the header is ignored and REMOTE_ADDR is the client (portal.audit.client_ip).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "csp",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "ninja",  # the self-service API's docs page uses ninja's bundled Swagger UI (no CDN)
    "portal",
    "members",
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    # Before anything reads the body: a request larger than any form needs gets a clear 413 page.
    "portal.middleware.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.PreferredLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # NUL characters and lone surrogates in a path, query string or form: a clear 400, never a 500.
    "portal.middleware.RefuseUnsafeTextMiddleware",
    # After a federated login: re-check silently at the identity provider when the ID token expires.
    "members.oidc.SessionRefresh",
    # NHN staff logged in locally must have a second factor before they see anything else.
    "members.middleware.StaffMfaMiddleware",
    # Pages for a logged-in person, and every PDF, are never kept by browsers or proxies.
    "portal.middleware.NoStoreMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]
# Forms render with Designsystemet markup everywhere, allauth's included.
FORM_RENDERER = "portal.forms.DesignsystemetFormRenderer"

# Quick start: a SQLite file. Tests and production: DATABASE_URL=postgres://… (psycopg 3).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Production keeps each worker's connection for a minute: a new PostgreSQL connection per request
        # cost a page of the staff queue ~18 ms of its ~57 (bench/pages.py, issue 15), the health check
        # replaces one that broke.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60 if IS_PRODUCTION else 0),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    # HelseID and ID-porten through mozilla-django-oidc, one provider per URL prefix (members.oidc).
    "members.oidc.OIDCBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: e-mail as the login, verified before first use, TOTP as second factor.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# Sign-up asks for first and last name: shown wherever the person is shown, never proof of authority.
ACCOUNT_SIGNUP_FORM_CLASS = "members.forms.SignupNamesForm"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Helsenett Selvbetjening] "
ACCOUNT_ADAPTER = "portal.accounts.AccountAdapter"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if IS_PRODUCTION else "http"
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = "Helsenett Selvbetjening"
# Security keys work on http://localhost in the quick start; browsers demand https everywhere else.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG

# Single sign-on with OpenID Connect (mozilla-django-oidc), next to the local accounts above. A
# provider is on when its client id is set; its endpoints come from the issuer's discovery
# document unless given one by one. HelseID authenticates the portal with private_key_jwt (a
# private JWK, never a secret); ID-porten takes either. See README, "Single sign-on".
OIDC_PROVIDER_DEFAULTS = {
    "helseid": {
        "label": "HelseID",
        "issuer": "https://helseid-sts.test.nhn.no",
        "scopes": "openid profile helseid://scopes/identity/pid helseid://scopes/identity/security_level",
        "pid_claim": "helseid://claims/identity/pid",
        "assurance_claim": "helseid://claims/identity/security_level",
        "accepted_assurance": "4",
        "acr_values": "",
        # HelseID signs with PS256 and requires PAR and DPoP (FAPI 2.0 profile, late 2026).
        "allow_rs256": "false",
        "par": "auto",
        "dpop": "on",
    },
    "idporten": {
        "label": "ID-porten",
        "issuer": "https://test.idporten.no",
        "scopes": "openid profile",
        "pid_claim": "pid",
        "assurance_claim": "acr",
        "accepted_assurance": "idporten-loa-high",
        "acr_values": "idporten-loa-high",
        # ID-porten still signs ID tokens with RS256.
        "allow_rs256": "true",
        "par": "auto",
        "dpop": "auto",
    },
}


def oidc_provider_from_env(name: str, defaults: dict) -> dict | None:
    prefix = f"OIDC_{name.upper()}_"
    client_id = env_str(prefix + "CLIENT_ID")
    if not client_id:
        return None
    private_key_file = env_str(prefix + "PRIVATE_KEY_FILE")
    private_key = Path(private_key_file).read_text() if private_key_file else env_str(prefix + "PRIVATE_KEY")
    config = {key: env_str(prefix + key.upper(), value) for key, value in defaults.items()}
    config.update(
        client_id=client_id,
        client_secret=env_str(prefix + "CLIENT_SECRET"),
        private_key=private_key,
        allow_rs256=config["allow_rs256"].strip().lower() in {"1", "true", "yes", "on"},
        **{
            endpoint: env_str(prefix + endpoint.upper())
            for endpoint in (
                "authorization_endpoint",
                "token_endpoint",
                "jwks_uri",
                "userinfo_endpoint",
                "pushed_authorization_request_endpoint",
            )
        },
        end_session_endpoint=env_str(prefix + "END_SESSION_ENDPOINT"),
    )
    return config


OIDC_PROVIDERS = {
    name: config
    for name, defaults in OIDC_PROVIDER_DEFAULTS.items()
    if (config := oidc_provider_from_env(name, defaults)) is not None
}
# The bundled test ID-porten (members/testidporten.py, synthetic persons only) for development and
# tests; production refuses it (portal.checks). The quick start (PORTAL_ENV=development) logs in
# with ID-porten against it unless OIDC_IDPORTEN_* names a real one.
TEST_IDPORTEN_ENABLED = env_bool("TEST_IDPORTEN", not IS_PRODUCTION)
TEST_IDPORTEN_CLIENT_ID = "selvbetjening-test-idporten"
TEST_IDPORTEN_CLIENT_SECRET = hmac.new(SECRET_KEY.encode(), b"test-idporten-client-secret", hashlib.sha256).hexdigest()
if TEST_IDPORTEN_ENABLED and PORTAL_ENV == "development" and "idporten" not in OIDC_PROVIDERS:
    OIDC_PROVIDERS["idporten"] = {
        **OIDC_PROVIDER_DEFAULTS["idporten"],
        "label": "ID-porten (test)",
        "issuer": SITE_URL.rstrip("/") + "/test-idporten",
        "client_id": TEST_IDPORTEN_CLIENT_ID,
        "client_secret": TEST_IDPORTEN_CLIENT_SECRET,
        "private_key": "",
        "sign_algo": "ES256",
        "authorization_endpoint": "",
        "token_endpoint": "",
        "jwks_uri": "",
        "userinfo_endpoint": "",
        "end_session_endpoint": "",
    }
# The library's own settings, the same for every provider.
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = float(env_str("OIDC_TIMEOUT", "5"))
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_SSL", True)
# Only the library's fallback: each ID token's algorithm is checked per provider (members.oidc_protocol).
OIDC_RP_SIGN_ALGO = "PS256"
OIDC_CREATE_USER = True
# How long a federated session lasts before the portal asks the provider again (prompt=none).
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 15 * 60)
OIDC_OP_LOGOUT_URL_METHOD = "members.oidc.provider_logout_url"
LOGOUT_REDIRECT_URL = "home"
# National identity numbers are kept only as HMAC-SHA256 under this key (members.identity).
IDENTITY_HASH_KEY = env_str("IDENTITY_HASH_KEY", INSECURE_DEFAULT_IDENTITY_HASH_KEY)
# How long an administrator's invitation to a colleague stays valid.
INVITATION_VALID_DAYS = env_int("INVITATION_VALID_DAYS", 14)
# Signing asks for an ID-porten login at level high no older than this (members.authority).
SIGNING_LOGIN_MAX_AGE_SECONDS = env_int("SIGNING_LOGIN_MAX_AGE_SECONDS", 10 * 60)
# How long a signatory's link to confirm someone's application to administer stays valid.
CLAIM_CONFIRMATION_VALID_DAYS = env_int("CLAIM_CONFIRMATION_VALID_DAYS", 7)

LANGUAGE_CODE = "nb"
LANGUAGES = [("nb", _("Norwegian Bokmål")), ("en", _("English"))]
FORMAT_MODULE_PATH = ["portal.formats"]
LOCALE_PATHS = [BASE_DIR / "portal" / "locale"]
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Production serves collected files (collectstatic into STATIC_ROOT); elsewhere WhiteNoise reads
# them straight from the apps and static/.
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")) if IS_PRODUCTION else None
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
# WhiteNoise sends Access-Control-Allow-Origin: * by default; nothing of ours is for other sites.
WHITENOISE_ALLOW_ALL_ORIGINS = False
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "portal.clients.HttpEmailBackend"
    if env_str("BACKING_SERVICES_URL")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Helsenett Selvbetjening <selvbetjening@nhn.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Enhetsregisteret (Brønnøysund). The quick start and most tests read a data file shipped in the
# repo; production talks to the open API over HTTP.
ENHETSREGISTERET_BACKEND = env_str("ENHETSREGISTERET_BACKEND", "members.enhetsregisteret.OfflineBackend")
ENHETSREGISTERET_URL = env_str("ENHETSREGISTERET_URL", "https://data.brreg.no")
ENHETSREGISTERET_TIMEOUT = float(env_str("ENHETSREGISTERET_TIMEOUT", "5"))
ENHETSREGISTERET_DATA_FILE = env_str(
    "ENHETSREGISTERET_DATA_FILE", str(BASE_DIR / "members" / "data" / "enhetsregisteret.json")
)

# Backing services (orders/clients.py, portal/clients.py). The quick start keeps them in process;
# with BACKING_SERVICES_URL set (e.g. the simulator: `manage.py simulate_backing_services`) all
# three talk HTTP unless a backend is chosen one by one.
BACKING_SERVICES_URL = env_str("BACKING_SERVICES_URL")
_http_by_default = bool(BACKING_SERVICES_URL)
HELSEID_REGISTRY_BACKEND = env_str(
    "HELSEID_REGISTRY_BACKEND",
    "orders.clients.HttpHelseIdRegistry" if _http_by_default else "orders.clients.SandboxHelseIdRegistry",
)
VKP_REGISTRY_BACKEND = env_str(
    "VKP_REGISTRY_BACKEND",
    "orders.clients.HttpVkpRegistry" if _http_by_default else "orders.clients.SandboxVkpRegistry",
)
HELSEID_REGISTRY_URL = env_str("HELSEID_REGISTRY_URL", BACKING_SERVICES_URL)
VKP_REGISTRY_URL = env_str("VKP_REGISTRY_URL", BACKING_SERVICES_URL)
MAIL_API_URL = env_str("MAIL_API_URL", BACKING_SERVICES_URL)
BACKING_SERVICES_TIMEOUT = float(env_str("BACKING_SERVICES_TIMEOUT", "10"))
# A task is tried this many times on timeouts and 5xx, waiting base·2ⁿ seconds (capped, with jitter).
PROVISIONING_MAX_ATTEMPTS = env_int("PROVISIONING_MAX_ATTEMPTS", 8)
PROVISIONING_BACKOFF_BASE = float(env_str("PROVISIONING_BACKOFF_BASE", "5"))
PROVISIONING_BACKOFF_CAP = float(env_str("PROVISIONING_BACKOFF_CAP", "900"))
# A worker that takes a VKP task runs up to this many due VKP tasks in one transaction (1: one at a time).
PROVISIONING_VKP_BATCH = env_int("PROVISIONING_VKP_BATCH", 50)
# The sweeper re-sends a due task whose message went out this long ago and never ran.
PROVISIONING_REQUEUE_AFTER = env_int("PROVISIONING_REQUEUE_AFTER", 300)
# Publishing to a broker that is down must not hold a request for long: the sweepers resend
# (portal.queueing.enqueue, for provisioning and e-mail alike).
BROKER_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
# E-mail goes through the outbox (portal.email): tried this many times on errors, waiting
# base·2ⁿ seconds (capped, with jitter); the sweeper re-sends a message whose broker message was lost.
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 12)
EMAIL_BACKOFF_BASE = float(env_str("EMAIL_BACKOFF_BASE", "30"))
EMAIL_BACKOFF_CAP = float(env_str("EMAIL_BACKOFF_CAP", "1800"))
EMAIL_REQUEUE_AFTER = env_int("EMAIL_REQUEUE_AFTER", 300)
# Vendors are reminded this many days before a public key expires.
KEY_EXPIRY_REMINDER_DAYS = env_int("KEY_EXPIRY_REMINDER_DAYS", 30)
# HelseID's authority that vendors' client configurations name, per environment (default: NHN's own).
HELSEID_CLIENT_AUTHORITIES = {
    "test": env_str("HELSEID_TEST_AUTHORITY", "https://helseid-sts.test.nhn.no"),
    "prod": env_str("HELSEID_PROD_AUTHORITY", "https://helseid-sts.nhn.no"),
}
# Fetching a vendor's JWKS URL never connects to internal addresses (loopback, private, link-local,
# CGNAT, reserved …). These addresses (IPs or networks) are the exceptions: the test suite's own server.
JWKS_FETCH_ALLOWED_ADDRESSES = env_list("JWKS_FETCH_ALLOWED_ADDRESSES")
JWKS_FETCH_CA_FILE = env_str("JWKS_FETCH_CA_FILE")  # empty: certifi's CA bundle
JWKS_FETCH_TIMEOUT = float(env_str("JWKS_FETCH_TIMEOUT", "5"))
# The self-service API (portal/api/): HelseID access tokens with DPoP. The issuer whose JWKS signs
# them, the audience they must name (the part of the API's scopes before "/"), how long the JWKS is
# kept, the DPoP proof's iat window and the calls one client may make per minute.
API_HELSEID_ISSUER = env_str("API_HELSEID_ISSUER", HELSEID_CLIENT_AUTHORITIES["prod" if IS_PRODUCTION else "test"])
API_HELSEID_JWKS_URI = env_str("API_HELSEID_JWKS_URI")  # empty: <issuer>/.well-known/openid-configuration/jwks
API_AUDIENCE = env_str("API_AUDIENCE", "nhn:selvbetjening")
API_JWKS_CACHE_SECONDS = env_int("API_JWKS_CACHE_SECONDS", 3600)
API_JWKS_REFETCH_MIN_SECONDS = env_int("API_JWKS_REFETCH_MIN_SECONDS", 30)  # unknown kid: at most once per this
API_DPOP_IAT_WINDOW_SECONDS = env_int("API_DPOP_IAT_WINDOW_SECONDS", 60)
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 120)
API_IDEMPOTENCY_KEEP_HOURS = env_int("API_IDEMPOTENCY_KEEP_HOURS", 24)  # an Idempotency-Key is honoured this long
# Test-environment orders from active members go through without a person approving them.
ORDERS_AUTO_APPROVE_TEST = env_bool("ORDERS_AUTO_APPROVE_TEST", False)
# Bulk approval (orders.bulk_approval): orders per task run, and how long an unfinished job may go without
# progress or a message before the beat sends it again.
BULK_APPROVAL_BATCH_SIZE = env_int("BULK_APPROVAL_BATCH_SIZE", 100)
BULK_APPROVAL_REQUEUE_AFTER = env_int("BULK_APPROVAL_REQUEUE_AFTER", 120)
# New versions of NHN's terms take effect after this notice period by default (staff may choose a later
# or an earlier date, never one in the past); until then the older signature still counts.
TERMS_NOTICE_DAYS = env_int("TERMS_NOTICE_DAYS", 30)
# A publication whose e-mails were not all queued this long after publishing is told by the beat.
TERMS_NOTIFY_REQUEUE_AFTER = env_int("TERMS_NOTIFY_REQUEUE_AFTER", 600)

# Celery. Without a broker URL, tasks run in-process (quick start); with one, over Redis.
CELERY_TASK_ALWAYS_EAGER = not env_str("CELERY_BROKER_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "portal")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
# Celery's own closing of the database connection after every task, off (in effect): portal.celery
# closes it by Django's rules instead (CONN_MAX_AGE, as for a request).
CELERY_DB_REUSE_MAX = 2**31
CELERY_BEAT_SCHEDULE = {
    "terms-notify-requeue": {"task": "members.tasks.notify_stale_terms_publications", "schedule": 300.0},
    "worker-heartbeat": {"task": "portal.tasks.worker_heartbeat", "schedule": 60.0},
    "key-expiry-reminders": {"task": "orders.tasks.remind_expiring_keys", "schedule": 6 * 3600.0},
    "provisioning-requeue": {
        "task": "orders.tasks.requeue_provisioning_tasks",
        "schedule": float(env_int("PROVISIONING_REQUEUE_EVERY", 60)),
    },
    "email-requeue": {
        "task": "portal.tasks.requeue_outgoing_messages",
        "schedule": float(env_int("EMAIL_REQUEUE_EVERY", 60)),
    },
    "bulk-approval-requeue": {
        "task": "orders.tasks.requeue_bulk_approvals",
        "schedule": float(env_int("BULK_APPROVAL_REQUEUE_EVERY", 60)),
    },
    "provisioning-reconcile": {
        "task": "orders.tasks.reconcile_backing_services",
        "schedule": float(env_int("PROVISIONING_RECONCILE_EVERY", 3600)),
    },
}
# How long /healthz waits for the broker before calling it unreachable.
HEALTHZ_BROKER_TIMEOUT = float(env_str("HEALTHZ_BROKER_TIMEOUT", "2"))

# Request sizes. The largest form is a terms document's text or a pasted JWKS (64 KiB, orders.jwks);
# nothing uploads files. Bodies over REQUEST_BODY_MAX_BYTES get a 413 page before anything reads them
# (portal.middleware.RequestBodyLimitMiddleware); Django's own limits match.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
# The staff queue's chosen test orders post one field each; a page lists at most 50.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000


# Content-Security-Policy (django-csp 4): exactly what the pages use. Scripts and styles only from
# our own static files (htmx from django-htmx, static/js/keygen.js, allauth's MFA scripts; htmx is
# told not to inject its indicator <style>, see base.html); images from static files and the TOTP
# QR code (a data: URI); no inline script, style attribute, plugin, frame or foreign base URL. Forms
# post to us; portal.middleware.ContentSecurityPolicyMiddleware adds the identity providers' origins
# (logout is a form whose answer sends the browser on to the provider) and CSP_FORM_ACTION_EXTRA.
CSP_FORM_ACTION_EXTRA = env_list("CSP_FORM_ACTION_EXTRA")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# Security headers. Production turns on HTTPS-only cookies and HSTS.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # celery.app.trace logs every in-process task at INFO; workers configure their own logging.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},  # it logs every rendering step at INFO
        "fontTools": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},  # one INFO line per request to the backing services
        # The library logs claims and token responses at DEBUG; those carry national identity numbers.
        "mozilla_django_oidc": {"level": "INFO"},
    },
}
