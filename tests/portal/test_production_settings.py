"""Production mode refuses unsafe settings. Each case starts a fresh Python with its own environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAFE = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "x7!k2-this-is-a-long-random-production-secret-key-for-tests-only-9q",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
    "ALLOWED_HOSTS": "selvbetjening.nhn.example",
    "BACKING_SERVICES_URL": "https://backing.nhn.example",
    "IDENTITY_HASH_KEY": "a-long-random-key-for-hashing-identity-numbers-in-tests",
}


def run(args, **overrides):
    # Only what a deployment would set: nothing from the test run's own environment leaks in.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(ROOT)), **SAFE}
    env.update(overrides)
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_check_deploy_is_clean_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"SECRET_KEY": None}, "SECRET_KEY must be set"),
        ({"DATABASE_URL": None}, "SQLite is not allowed"),
        ({"CELERY_BROKER_URL": None}, "set CELERY_BROKER_URL"),
        ({"BACKING_SERVICES_URL": None}, "VKP_REGISTRY_BACKEND is an in-process sandbox"),
        ({"IDENTITY_HASH_KEY": None}, "IDENTITY_HASH_KEY must be set"),
        ({"IDENTITY_HASH_KEY": "too-short"}, "IDENTITY_HASH_KEY must be set"),
        ({"JWKS_FETCH_ALLOWED_ADDRESSES": "127.0.0.1"}, "JWKS_FETCH_ALLOWED_ADDRESSES lets"),
        (
            {"OIDC_IDPORTEN_CLIENT_ID": "portal", "OIDC_IDPORTEN_ISSUER": "http://idporten.example"},
            "must be an https URL",
        ),
        ({"OIDC_HELSEID_CLIENT_ID": "portal", "OIDC_HELSEID_CLIENT_SECRET": "a-secret"}, "only private_key_jwt"),
        (
            {
                "OIDC_HELSEID_CLIENT_ID": "portal",
                "OIDC_HELSEID_PRIVATE_KEY": '{"kty": "RSA", "kid": "k", "alg": "RS256", "n": "AQAB", "e": "AQAB"}',
            },
            "alg PS256/384/512 or ES256/384/512",
        ),
        ({"TEST_IDPORTEN": "on"}, "bundled test ID-porten is for development and tests only"),
        (
            {
                "OIDC_IDPORTEN_CLIENT_ID": "portal",
                "OIDC_IDPORTEN_CLIENT_SECRET": "secret",
                "OIDC_IDPORTEN_ISSUER": "https://selvbetjening.nhn.example/test-idporten",
            },
            "issuer is the bundled test ID-porten",
        ),
    ],
)
def test_production_refuses_unsafe_settings(overrides, message):
    check = run(["manage.py", "check", "--deploy"], **overrides)
    assert check.returncode != 0
    assert message in check.stderr

    # The WSGI entry point refuses to serve, too.
    wsgi = run(["-c", "import portal.wsgi"], **overrides)
    assert wsgi.returncode != 0
    assert "ImproperlyConfigured" in wsgi.stderr and message in wsgi.stderr


@pytest.mark.parametrize(("environment", "expected"), [("production", "60"), ("development", "0")])
def test_production_keeps_its_database_connections_and_development_does_not(environment, expected):
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['CONN_MAX_AGE'])"
    )
    result = run(["-c", script], PORTAL_ENV=environment, DJANGO_SETTINGS_MODULE="portal.settings")
    assert result.stdout.strip().splitlines()[-1] == expected, result.stdout + result.stderr
    assert run(["-c", script], DB_CONN_MAX_AGE="0", DJANGO_SETTINGS_MODULE="portal.settings").stdout.strip() == "0"
