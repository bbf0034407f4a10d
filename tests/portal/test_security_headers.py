"""Hardened edges: Content-Security-Policy, no-store for people's pages and PDFs, no CORS on static
files, and request sizes refused with a clear page."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from members.models import VendorSystem
from orders import helseid
from orders.models import ClientKey, Order, Service

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TWENTY_MB = 20 * 1024 * 1024


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


# Content-Security-Policy --------------------------------------------------------------------------------


def test_every_page_has_a_policy_that_allows_only_our_own_scripts_and_styles(client, municipal_admin, municipality):
    for response in (
        client.get(reverse("home")),
        client.get(reverse("account_login")),
    ):
        csp = policy(response)
        assert csp["default-src"] == ["'none'"]
        assert csp["script-src"] == ["'self'"]
        assert csp["style-src"] == ["'self'"]
        assert csp["img-src"] == ["'self'", "data:"]  # the TOTP QR code is a data: URI
        assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
        assert csp["base-uri"] == ["'none'"] and csp["form-action"][0] == "'self'"
        assert "unsafe-inline" not in response["Content-Security-Policy"]
        assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_htmx_is_told_not_to_inject_styles_or_eval(client):
    page = client.get(reverse("home")).content.decode()
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>' in page


def test_form_action_allows_the_configured_identity_providers(client, settings):
    """Logout posts to us and is sent on to the provider; ID-porten answers on its login host."""
    settings.OIDC_PROVIDERS = {
        "idporten": {"issuer": "https://test.idporten.no", "authorization_endpoint": "", "end_session_endpoint": ""},
        "helseid": {
            "issuer": "https://helseid-sts.test.nhn.no",
            "authorization_endpoint": "",
            "end_session_endpoint": "https://logout.helseid.example/endsession",
        },
    }
    settings.CSP_FORM_ACTION_EXTRA = ["https://sso.nhn.example"]
    assert policy(client.get(reverse("home")))["form-action"] == [
        "'self'",
        "https://helseid-sts.test.nhn.no",
        "https://login.test.idporten.no",
        "https://logout.helseid.example",
        "https://sso.nhn.example",
        "https://test.idporten.no",
    ]


TEMPLATE_DIRS = [ROOT / "templates", ROOT / "members" / "templates", ROOT / "orders" / "templates"]


def test_no_template_has_inline_script_event_handlers_or_style_attributes():
    offenders = []
    for directory in TEMPLATE_DIRS:
        for path in directory.rglob("*.html"):
            if "/email/" in path.as_posix() or "/pdf/" in path.as_posix():
                continue  # mail clients and WeasyPrint are no browser under our policy
            text = path.read_text()
            for match in re.finditer(r"<script\b[^>]*>", text):
                if "src=" not in match.group(0) and 'type="application/json"' not in match.group(0):
                    offenders.append(f"{path}: inline {match.group(0)}")
            for match in re.finditer(r"<[a-z][^>]*\s(on[a-z]+|style)\s*=", text):
                offenders.append(f"{path}: {match.group(1)}= attribute")
            # htmx runs hx-on and js: values with eval, which allowEval:false and the policy refuse: they
            # would silently do nothing (the registry card lost its focus that way).
            for match in re.finditer(
                r"(?<![\w-])(?:data-)?hx-on\S*|hx-va(?:ls|rs)\s*=\s*['\"]\s*js:|javascript:", text
            ):
                offenders.append(f"{path}: {match.group(0)}")
    assert offenders == []


# Caching ---------------------------------------------------------------------------------------------


def test_pages_for_a_logged_in_person_are_never_stored(client, municipal_admin, municipality):
    client.force_login(municipal_admin)
    response = client.get(reverse("member_dashboard", args=[municipality.org_number]))
    assert response.status_code == 200
    cache_control = response["Cache-Control"]
    assert "no-store" in cache_control and "private" in cache_control


def test_htmx_fragments_and_redirects_for_a_logged_in_person_are_never_stored(client, municipal_admin, municipality):
    client.force_login(municipal_admin)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and "no-store" in response["Cache-Control"]


def test_the_public_landing_page_may_be_cached(client):
    assert "no-store" not in client.get(reverse("home")).get("Cache-Control", "")


def test_pdfs_are_never_stored(client, municipal_admin, municipality):
    Order.objects.create(
        organisation=municipality,
        service=Service.objects.get(code="vkp-journaling"),
        environment="test",
        state="submitted",
        created_by=municipal_admin,
    )
    client.force_login(municipal_admin)
    response = client.get(reverse("order_confirmation", args=[municipality.org_number, "test"]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/pdf")
    assert "no-store" in response["Cache-Control"]


# Static files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/static/css/portal.css", "/static/django_htmx/htmx-2.min.js"])
def test_static_files_carry_no_cors_header(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


# Request sizes ---------------------------------------------------------------------------------------


@pytest.fixture
def key_client(vendor, vendor_user):
    system = VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm", kind="vft")
    return helseid.client_create(system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user)


def test_a_20_mb_post_to_the_key_form_is_refused_with_a_clear_page(client, vendor_user, key_client):
    client.force_login(vendor_user)
    response = client.post(
        reverse("client_detail", args=[key_client.public_id]),
        data="keys=" + "A" * TWENTY_MB,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "Du sendte mer enn portalen tar imot" in page and "1024 KiB" in page
    assert not ClientKey.objects.exists()


def test_a_20_mb_file_upload_to_the_key_form_is_refused_too(client, vendor_user, key_client):
    """Django's own limit counts form fields only; a file part would be read to disk whatever its size."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(vendor_user)
    upload = SimpleUploadedFile("keys.json", b"{" + b" " * TWENTY_MB + b"}", content_type="application/json")
    response = client.post(reverse("client_detail", args=[key_client.public_id]), {"keys": "", "file": upload})
    assert response.status_code == 413
    assert not ClientKey.objects.exists()


def test_a_form_with_too_many_fields_gets_a_clear_400_page(client, nhn_staff):
    client.force_login(nhn_staff)
    body = "&".join(f"orders={i}" for i in range(5000))
    response = client.post(
        reverse("staff_orders_bulk_approve"), data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "Forespørselen kunne ikke leses" in response.content.decode()


def test_a_normal_key_form_post_still_works(client, vendor_user, key_client):
    client.force_login(vendor_user)
    response = client.post(reverse("client_detail", args=[key_client.public_id]), {"keys": "not json"})
    assert response.status_code == 200  # the form's own message, not a size refusal


def test_the_413_page_carries_the_policy_too(client):
    response = client.post(reverse("account_login"), data="x=" + "A" * TWENTY_MB, content_type="text/plain")
    assert response.status_code == 413
    assert policy(response)["script-src"] == ["'self'"]
