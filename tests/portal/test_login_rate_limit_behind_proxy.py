"""allauth's login rate limits count per client address, the same address the audit log records.

Behind a trusted proxy REMOTE_ADDR is the proxy: if the limits keyed on it, one person guessing
passwords would lock every other person out of the local login (all share the proxy's bucket).
"""

import pytest
from django.core.cache import cache

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()
    yield
    cache.clear()


def attempt(client, email, password, client_address):
    return client.post(
        "/konto/login/",
        {"login": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=f"198.51.100.77, {client_address}",  # first entry: whatever the client wrote
    )


def test_one_clients_failed_logins_do_not_lock_out_another_behind_the_same_proxy(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    person = UserFactory()
    for number in range(40):  # over allauth's per-address limits, on different accounts (keys)
        attempt(client, f"nobody{number}@example.com", "wrong", "203.0.113.66")
    assert attempt(client, "nobody@example.com", "wrong", "203.0.113.66").status_code == 429
    response = attempt(client, person.email, PASSWORD, "203.0.113.5")
    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(person.pk)


def test_without_trusted_proxies_the_forwarded_header_cannot_escape_the_limit(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for number in range(40):
        client.post(
            "/konto/login/",
            {"login": f"nobody{number}@example.com", "password": "wrong"},
            REMOTE_ADDR="203.0.113.66",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",  # a new made-up address every time
        )
    refused = client.post(
        "/konto/login/",
        {"login": "nobody@example.com", "password": "wrong"},
        REMOTE_ADDR="203.0.113.66",
        HTTP_X_FORWARDED_FOR="192.0.2.200",
    )
    assert refused.status_code == 429
