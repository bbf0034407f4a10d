# ruff: noqa: F811  (pytest fixtures imported from tests.jwks_server are used as arguments)
"""Keys and JWKS URLs: each defect found in issue 13, tried through the services and the pages.

Keys are addressed by the portal's own id; a kid is 1 to 200 printable ASCII characters without
"/" or whitespace; the same key material is not added twice; a byte-order mark is ignored; the
last key of an active client stays; keys that expire soon are flagged. JWKS URLs never reach
internal addresses (tests use loopback only), are looked up once and connected to as checked.
"""

import datetime
import json
import socket

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone, translation
from joserfc.jwk import ECKey

from members.models import VendorAssignment, VendorSystem
from orders import helseid, jwks
from orders.jwks import KeyRejected, fetch_jwks, parse_keys
from orders.models import ClientKey, HelseIdClient
from tests.jwks_server import JwksServer, jwks_fetch_allowed, jwks_server  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def ec_jwk(kid="key-1", key=None):
    key = key or ECKey.generate_key("P-256")
    return {**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}


@pytest.fixture
def system(vendor):
    return VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm", kind="vft")


@pytest.fixture
def helseid_client(system, vendor_user, municipality, municipal_admin):
    VendorAssignment.objects.create(
        organisation=municipality, system=system, environment="test", created_by=municipal_admin
    )
    return helseid.client_create(system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user)


@pytest.fixture
def web(client, vendor_user, settings):
    client.force_login(vendor_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the pages' messages in English, like the services'
    return client


def upload(web, helseid_client, **data):
    return web.post(reverse("client_detail", args=[helseid_client.public_id]), data)


def rejection(text, **kwargs) -> KeyRejected:
    with pytest.raises(KeyRejected) as caught:
        parse_keys(text, **kwargs)
    return caught.value


# --- kid ------------------------------------------------------------------------------------------

BAD_KIDS = [
    pytest.param("a/b", id="slash"),
    pytest.param("../../etc", id="path"),
    pytest.param("k" * 201, id="over-200"),
    pytest.param("with space", id="space"),
    pytest.param("tab\there", id="tab"),
    pytest.param("nul\u0000kid", id="nul"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("nøkkel", id="non-ascii"),
    pytest.param("line\nbreak", id="newline"),
]


@pytest.mark.parametrize("kid", BAD_KIDS)
def test_a_kid_that_urls_and_pages_cannot_carry_is_refused_with_a_clear_message(kid):
    error = rejection(json.dumps(ec_jwk(kid)))
    assert error.code == "kid_invalid"
    assert "1 to 200 printable ASCII characters" in error.messages[0]


@pytest.mark.parametrize("kid", BAD_KIDS)
def test_a_bad_kid_through_the_page_is_a_message_not_a_500(web, helseid_client, kid):
    response = upload(web, helseid_client, keys=json.dumps(ec_jwk(kid)))
    assert response.status_code == 200
    assert not helseid_client.keys.exists()
    # The client page keeps working for everyone.
    assert web.get(reverse("client_detail", args=[helseid_client.public_id])).status_code == 200


@pytest.mark.parametrize(
    "kid", ["k", "k" * 200, "2026-11-01:PS256.a_b~c", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"]
)
def test_good_kids_are_kept(kid):
    [key] = parse_keys(json.dumps(ec_jwk(kid)))
    assert key.kid == kid


def test_a_lone_surrogate_elsewhere_in_the_key_is_no_500(web, helseid_client):
    for member in ("alg", "use", "crv"):
        response = upload(web, helseid_client, keys=json.dumps({**ec_jwk(), member: "\ud800"}))
        assert response.status_code == 200, member
        response.content.decode("utf-8")
    assert not helseid_client.keys.exists()


def test_keys_are_retired_by_the_portals_id_whatever_their_kid(web, helseid_client):
    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("one")), by=helseid_client.created_by)
    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("two")), by=helseid_client.created_by)
    one = helseid_client.keys.get(kid="one")
    page = web.get(reverse("client_detail", args=[helseid_client.public_id])).content.decode()
    assert f"/nokler/{one.public_id}/pensjoner/" in page
    assert "/nokler/one/" not in page
    assert web.post(f"/klienter/{helseid_client.public_id}/nokler/one/pensjoner/").status_code == 404
    response = web.post(reverse("client_key_retire", args=[helseid_client.public_id, one.public_id]))
    assert response.status_code == 302
    one.refresh_from_db()
    assert one.retired_at is not None


def test_a_key_of_another_client_cannot_be_retired_through_this_one(web, helseid_client, system, vendor_user):
    other = (
        helseid.client_create(system=system, environment="prod", tenancy="multi-tenant", tenant=None, by=vendor_user)
        if False
        else None
    )
    assert other is None
    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("mine")), by=vendor_user)
    key = helseid_client.keys.get()
    assert web.post(reverse("client_key_retire", args=[HelseIdClient().public_id, key.public_id])).status_code == 404


# --- same key material, BOM ---------------------------------------------------------------------


def test_the_same_key_under_another_kid_is_refused(helseid_client, vendor_user):
    material = ECKey.generate_key("P-256")
    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("first", material)), by=vendor_user)
    with pytest.raises(KeyRejected) as caught:
        helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("second", material)), by=vendor_user)
    assert caught.value.code == "key_duplicate"
    assert "first" in caught.value.messages[0]
    assert list(helseid_client.keys.values_list("kid", flat=True)) == ["first"]


def test_the_same_key_twice_in_one_upload_is_refused():
    material = ECKey.generate_key("P-256")
    error = rejection(json.dumps({"keys": [ec_jwk("a", material), ec_jwk("b", material)]}))
    assert error.code == "key_duplicate"


def test_a_retired_key_cannot_come_back_under_a_new_kid(helseid_client, vendor_user):
    material = ECKey.generate_key("P-256")
    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("old", material)), by=vendor_user)
    ClientKey.objects.update(retired_at=timezone.now())
    with pytest.raises(KeyRejected):
        helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("new", material)), by=vendor_user)


def test_a_paste_starting_with_a_byte_order_mark_is_accepted(web, helseid_client):
    response = upload(web, helseid_client, keys="\ufeff" + json.dumps(ec_jwk("bom")))
    assert response.status_code == 302
    assert helseid_client.keys.get().kid == "bom"
    [key] = parse_keys(b"\xef\xbb\xbf" + json.dumps(ec_jwk("bytes")).encode())
    assert key.kid == "bytes"


# --- the last key --------------------------------------------------------------------------------


def test_the_last_key_in_use_of_an_active_client_is_not_retired(web, helseid_client, vendor_user):
    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("only")), by=vendor_user)
    HelseIdClient.objects.filter(pk=helseid_client.pk).update(state="active")
    key = helseid_client.keys.get()
    response = web.post(reverse("client_key_retire", args=[helseid_client.public_id, key.public_id]), follow=True)
    key.refresh_from_db()
    assert key.retired_at is None
    assert "Add the new key first" in response.content.decode()

    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("next")), by=vendor_user)
    web.post(reverse("client_key_retire", args=[helseid_client.public_id, key.public_id]))
    key.refresh_from_db()
    assert key.retired_at is not None


def test_an_expired_key_does_not_count_as_the_one_in_use(helseid_client, vendor_user):
    helseid.client_keys_add(
        client=helseid_client,
        keys_text=json.dumps(ec_jwk("expired")),
        expires_on=timezone.localdate() - datetime.timedelta(days=1),
        by=vendor_user,
    )
    helseid.client_keys_add(client=helseid_client, keys_text=json.dumps(ec_jwk("live")), by=vendor_user)
    HelseIdClient.objects.filter(pk=helseid_client.pk).update(state="active")
    with pytest.raises(Exception, match="only key in use"):
        helseid.client_key_retire(key=helseid_client.keys.get(kid="live"), by=vendor_user)
    # The expired one may go.
    helseid.client_key_retire(key=helseid_client.keys.get(kid="expired"), by=vendor_user)


# --- expiry flags ------------------------------------------------------------------------------


def test_keys_expiring_soon_are_flagged_on_the_client_page_and_the_dashboard(
    web, helseid_client, vendor_user, vendor, settings
):
    settings.KEY_EXPIRY_REMINDER_DAYS = 30
    soon = timezone.localdate() + datetime.timedelta(days=10)
    later = timezone.localdate() + datetime.timedelta(days=90)
    helseid.client_keys_add(
        client=helseid_client, keys_text=json.dumps(ec_jwk("later")), expires_on=later, by=vendor_user
    )
    dashboard = reverse("vendor_dashboard", args=[vendor.org_number])
    assert "A key expires soon" not in web.get(dashboard).content.decode()
    assert "Expires soon" not in web.get(reverse("client_detail", args=[helseid_client.public_id])).content.decode()

    helseid.client_keys_add(
        client=helseid_client, keys_text=json.dumps(ec_jwk("soon")), expires_on=soon, by=vendor_user
    )
    page = web.get(reverse("client_detail", args=[helseid_client.public_id])).content.decode()
    assert "Expires soon" in page and "Keys expire within 30 days" in page
    assert "A key expires soon" in web.get(dashboard).content.decode()


# --- configuration ---------------------------------------------------------------------------


def test_the_download_names_carry_the_client_id(web, helseid_client):
    for name in ("client_configuration", "client_sheet"):
        response = web.get(reverse(name, args=[helseid_client.public_id]))
        assert str(helseid_client.client_id) in response["Content-Disposition"]


# --- JWKS URLs ---------------------------------------------------------------------------------


@pytest.fixture
def no_connection(monkeypatch):
    """Any attempt to connect fails the test (name lookups are allowed)."""

    def refuse(*args, **kwargs):
        raise AssertionError("no connection was expected")

    monkeypatch.setattr(httpx, "Client", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


INTERNAL = [
    "127.0.0.1",
    "127.1.2.3",
    "localhost",
    "LOCALHOST.",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[::]",
    "0.0.0.0",  # noqa: S104  (an address the portal must refuse, not one it binds to)
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "100.64.0.1",
    "100.127.255.254",
    "224.0.0.1",
    "[ff02::1]",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.0.8",
    "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[2002:7f00:1::]",
    "[64:ff9b::a00:1]",
    "2130706433",
    "0x7f.1",
    # Added by the review of issues 12-14: more spellings of loopback and link-local.
    "0177.0.0.1",
    "127.1",
    "0",
    "[fe80::1%25eth0]",
    "[::ffff:a9fe:a9fe]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "１２７.０.０.１",
    "127。0。0。1",
]
LEGACY_SPELLINGS = {"2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0"}  # resolved by the C library's inet_aton


@pytest.mark.parametrize("host", INTERNAL)
def test_jwks_urls_on_internal_addresses_are_refused_without_a_connection(host, no_connection):
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks(f"https://{host}/jwks", timeout=1)
    assert caught.value.code in {"url_address", "url_host", "url_unreachable"}
    assert caught.value.code != "url_unreachable" or host in LEGACY_SPELLINGS


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "10.0.0.1", "169.254.169.254", "100.64.0.1"]
)
def test_the_issues_internal_addresses_say_what_was_wrong(host, no_connection):
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks(f"https://{host}:8443/.well-known/jwks.json", timeout=1)
    assert caught.value.code == "url_address"
    assert "internal address" in caught.value.messages[0]


def test_a_loopback_server_is_not_fetched_from_unless_the_setting_lists_it(jwks_server, settings):
    from tests.jwks_server import test_ca_file

    settings.JWKS_FETCH_CA_FILE = test_ca_file()
    url = jwks_server.set("/jwks", body=json.dumps({"keys": [ec_jwk()]}))
    settings.JWKS_FETCH_ALLOWED_ADDRESSES = []
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks(url, timeout=2)
    assert caught.value.code == "url_address"
    assert jwks_server.requests == []
    settings.JWKS_FETCH_ALLOWED_ADDRESSES = ["127.0.0.0/8"]
    assert [key.kid for key in fetch_jwks(url, timeout=2)] == ["key-1"]


def test_an_internal_jwks_url_through_the_page_stores_nothing(web, helseid_client, jwks_server, settings):
    url = jwks_server.set("/jwks", body=json.dumps({"keys": [ec_jwk()]}))
    for address in (url, url.replace("127.0.0.1", "localhost"), f"https://[::1]:{jwks_server.port}/jwks"):
        response = upload(web, helseid_client, jwks_url=address)
        assert response.status_code == 200
        assert "internal address" in response.content.decode()
    assert not helseid_client.keys.exists() and jwks_server.requests == []


def test_http_is_refused_even_for_an_allowed_address(jwks_fetch_allowed, no_connection):
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks("http://127.0.0.1:8000/jwks", timeout=1)
    assert caught.value.code == "url_scheme"


@pytest.mark.parametrize("host", ["xn--a.example", "xn--zz-zz.example", "-bad-.example", "a..b.example", "☃.example"])
def test_an_invalid_idna_host_is_a_clear_error(host, no_connection):
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks(f"https://{host}/jwks", timeout=1)
    assert caught.value.code == "url_host"
    assert "not a valid domain name" in caught.value.messages[0]


def test_an_invalid_idna_host_through_the_page_is_no_500(web, helseid_client, no_connection):
    response = upload(web, helseid_client, jwks_url="https://xn--a.example/jwks")
    assert response.status_code == 200
    assert not helseid_client.keys.exists()


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """Name lookups answer from ``answers``; each name is looked up at most once."""
    lookups = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        if lookups.count(host) > 1:
            raise AssertionError(f"{host} was looked up twice")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_name_with_one_internal_address_among_public_ones_is_refused(monkeypatch, no_connection):
    fake_dns(monkeypatch, {"jwks.vendor.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks("https://jwks.vendor.example/jwks", timeout=1)
    assert caught.value.code == "url_address"


def test_the_host_is_looked_up_once_and_the_checked_address_is_connected_to(monkeypatch, jwks_fetch_allowed):
    server = JwksServer(names=("jwks.vendor.example",)).start()
    try:
        server.set("/jwks", body=json.dumps({"keys": [ec_jwk("vendor")]}))
        lookups = fake_dns(monkeypatch, {"jwks.vendor.example": ["127.0.0.1"]})
        [key] = fetch_jwks(f"https://jwks.vendor.example:{server.port}/jwks", timeout=2)
        assert key.kid == "vendor"
        assert lookups == ["jwks.vendor.example"]
        # TLS was for the name (SNI and certificate), the request for the name (Host).
        assert server.server_names == ["jwks.vendor.example"]
        assert server.hosts == [f"jwks.vendor.example:{server.port}"]
    finally:
        server.stop()


def test_a_certificate_for_another_name_is_refused(monkeypatch, jwks_fetch_allowed):
    server = JwksServer(names=("someone-else.example",)).start()
    try:
        server.set("/jwks", body=json.dumps({"keys": [ec_jwk()]}))
        fake_dns(monkeypatch, {"jwks.vendor.example": ["127.0.0.1"]})
        with pytest.raises(KeyRejected) as caught:
            fetch_jwks(f"https://jwks.vendor.example:{server.port}/jwks", timeout=2)
        assert caught.value.code == "url_unreachable"
        assert "valid certificate" in caught.value.messages[0]
        assert server.requests == []
    finally:
        server.stop()


def test_localhost_with_both_addresses_allowed_reaches_the_server(jwks_server, settings):
    from tests.jwks_server import test_ca_file

    settings.JWKS_FETCH_CA_FILE = test_ca_file()
    settings.JWKS_FETCH_ALLOWED_ADDRESSES = ["127.0.0.1", "::1"]
    jwks_server.set("/jwks", body=json.dumps({"keys": [ec_jwk("local")]}))
    [key] = fetch_jwks(f"https://localhost:{jwks_server.port}/jwks", timeout=2)
    assert key.kid == "local"


def test_address_refused_covers_the_mapped_forms():
    import ipaddress

    for text in ("::ffff:127.0.0.1", "::ffff:192.168.0.1", "::ffff:100.64.0.1", "::ffff:169.254.0.1"):
        assert jwks.address_refused(ipaddress.ip_address(text)), text
    for text in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert not jwks.address_refused(ipaddress.ip_address(text)), text


@pytest.mark.parametrize("value", ["\u0000", "\ud800", "\u202e", "<b>x</b>\n"])
def test_odd_characters_in_a_refused_value_are_shown_escaped(value):
    error = rejection(json.dumps({**ec_jwk(), "alg": value}))
    assert error.code == "alg_unsupported"
    message = error.messages[0]
    assert message.isprintable() and all(ord(c) < 0x2000 or c in "“”" for c in message)


def test_a_jwks_urls_answer_is_described_without_its_content_type_or_status(jwks_server, jwks_fetch_allowed):
    url = jwks_server.set("/jwks", status=200, content_type="text/x-internal-admin-panel", body="secret")
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks(url, timeout=2)
    assert caught.value.code == "url_not_json"
    assert "x-internal-admin-panel" not in caught.value.messages[0] and "secret" not in caught.value.messages[0]
    url = jwks_server.set("/teapot", status=418, content_type="text/plain", body="I'm a teapot")
    with pytest.raises(KeyRejected) as caught:
        fetch_jwks(url, timeout=2)
    assert "418" not in caught.value.messages[0] and "teapot" not in caught.value.messages[0]


@pytest.mark.django_db(transaction=True)
def test_two_retirements_at_once_leave_one_key_in_use(system, vendor_user, municipality, municipal_admin):
    import threading

    from django.db import connection

    VendorAssignment.objects.create(
        organisation=municipality, system=system, environment="test", created_by=municipal_admin
    )
    client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    for kid in ("a", "b"):
        helseid.client_keys_add(client=client, keys_text=json.dumps(ec_jwk(kid)), by=vendor_user)
    HelseIdClient.objects.filter(pk=client.pk).update(state="active")
    keys = list(client.keys.all())
    barrier = threading.Barrier(2)
    outcomes = []

    def retire(key):
        try:
            barrier.wait(timeout=5)
            helseid.client_key_retire(key=key, by=vendor_user)
            outcomes.append("retired")
        except Exception as error:  # the refusal, a ValidationError
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=retire, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(outcomes) == ["ValidationError", "retired"]
    assert client.keys.filter(retired_at__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_key_uploaded_twice_at_once_is_stored_once(system, vendor_user, municipality, municipal_admin):
    import threading

    from django.db import connection

    VendorAssignment.objects.create(
        organisation=municipality, system=system, environment="test", created_by=municipal_admin
    )
    client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    material = ECKey.generate_key("P-256")
    barrier = threading.Barrier(2)
    outcomes = []

    def add(kid):
        try:
            barrier.wait(timeout=5)
            helseid.client_keys_add(client=client, keys_text=json.dumps(ec_jwk(kid, material)), by=vendor_user)
            outcomes.append("added")
        except KeyRejected as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(kid,)) for kid in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(outcomes) == ["added", "key_duplicate"]
    assert client.keys.count() == 1
