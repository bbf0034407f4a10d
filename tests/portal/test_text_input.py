"""Text the database cannot hold is refused in one place with a clear page, and never stored.

NUL arrives as `%00`; a lone surrogate arrives in a multipart form or a query string sent with a
charset such as UTF-7 that can carry half a character (`+2AA-` is U+D800). Each was a 500 before.
"""

import json

import pytest
from django.urls import reverse

from members.models import Organisation, VendorSystem
from orders.models import ClientKey, Order
from portal.models import AuditEvent
from tests.portal.world import build_world, public_jwk

pytestmark = pytest.mark.django_db

REFUSAL = "The text contains a character that cannot be used"
REFUSAL_NB = "Teksten inneholder et tegn som ikke kan brukes"


def utf7_form(data: dict) -> tuple[bytes, str]:
    """A multipart body in UTF-7, which Django decodes as the Content-Type says: surrogates survive.

    (Django refuses a urlencoded body in any charset but UTF-8; multipart and query strings follow it.)
    """
    boundary = "hostileboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v.encode("utf-7") + b"\r\n"
        for k, v in data.items()
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}; charset=utf-7"


def post_utf7(client, url, data, **extra):
    body, content_type = utf7_form(data)
    return client.generic("POST", url, body, content_type=content_type, **extra)


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def client(client):
    client.raise_request_exception = False  # a 500 is an answer to look at, not an exception in the test
    return client


def refused(response) -> bool:
    text = response.content.decode()
    return response.status_code == 400 and (REFUSAL_NB in text or REFUSAL in text)


def test_the_refusal_page_is_translated_and_says_what_is_wrong(client, world):
    client.force_login(world.staff)
    membership = world.own.membership
    url = reverse("staff_membership_decide", args=[membership.public_id, "avvis"])
    response = client.post(url, {"reason": "Mangler\x00 signatur"})
    assert refused(response)
    assert "U+0000" in response.content.decode()
    client.cookies["django_language"] = "en"
    assert REFUSAL in client.post(url, {"reason": "x\x00"}).content.decode()


@pytest.mark.parametrize("poison", ["\x00", "\ud800", "a\udfffb"])
def test_a_reject_reason_with_nul_or_a_lone_surrogate_is_refused_and_nothing_changes(client, world, poison):
    client.force_login(world.staff)
    order = world.own.submitted_order
    events = AuditEvent.objects.count()
    response = post_utf7(client, reverse("staff_order_decide", args=[order.public_id, "avvis"]), {"reason": poison})
    assert refused(response)
    order.refresh_from_db()
    assert order.state == Order.State.SUBMITTED and order.reason == ""
    assert AuditEvent.objects.count() == events


def test_a_service_code_with_nul_in_the_basket_is_refused(client, world):
    client.force_login(world.own.admin)
    url = reverse("basket_add", args=[world.own.organisation.org_number])
    orders = Order.objects.count()
    assert refused(client.post(url, {"service": "vkp-journaling\x00", "miljo": "test"}))
    assert Order.objects.count() == orders


def test_a_kid_with_nul_in_the_url_is_refused(client, world):
    client.force_login(world.own.vendor_user)
    client_id = world.own.client.public_id
    response = client.post(f"/klienter/{client_id}/nokler/egen%00nokkel/pensjoner/")
    assert refused(response)
    assert ClientKey.objects.get(kid="egen-nokkel").retired_at is None


@pytest.mark.parametrize(
    "kid",
    ["nul\u0000kid", "half\ud800kid", "a/b", "k" * 201],
    ids=["nul", "surrogate", "slash", "too-long"],
)
def test_a_pasted_key_whose_kid_cannot_be_stored_or_linked_is_refused_with_a_message(client, world, kid):
    client.force_login(world.own.vendor_user)
    keys = ClientKey.objects.count()
    text = json.dumps({**public_jwk("placeholder"), "kid": kid})  # JSON escapes: "\u0000", "\ud800"
    client.cookies["django_language"] = "en"
    response = client.post(reverse("client_detail", args=[world.own.client.public_id]), {"keys": text})
    assert response.status_code == 200
    assert "must be 1 to 200 printable ASCII characters" in response.content.decode()
    assert ClientKey.objects.count() == keys


def test_a_search_filter_with_a_lone_surrogate_is_refused(client, world):
    client.force_login(world.staff)
    # A GET's query string is decoded with the charset its Content-Type names.
    response = client.get(reverse("staff_order_queue") + "?q=%2B2AA-", CONTENT_TYPE="text/plain; charset=utf-7")
    assert refused(response)


def test_a_search_filter_with_nul_is_refused(client, world):
    client.force_login(world.staff)
    assert refused(client.get(reverse("staff_membership_queue") + "?q=Nord%00vik"))


def test_htmx_requests_get_the_refusal_as_the_whole_page(client, world):
    client.force_login(world.staff)
    order = world.own.submitted_order
    response = client.post(
        reverse("staff_order_decide", args=[order.public_id, "avvis"]),
        {"reason": "\x00", "from": "queue"},
        HTTP_HX_REQUEST="true",
    )
    assert refused(response)
    assert response["HX-Retarget"] == "body"


def test_ordinary_text_passes_untouched(client, world):
    client.force_login(world.staff)
    order = world.own.submitted_order
    reason = "Ikke aktuell nå – se e-post fra Kåre (\u202eRTL\u202c) <b>fet</b> ２０２６"
    client.post(reverse("staff_order_decide", args=[order.public_id, "avvis"]), {"reason": reason})
    order.refresh_from_db()
    assert order.state == Order.State.REJECTED and order.reason == reason


def test_only_nul_and_lone_surrogates_are_unsafe():
    from portal.text import find_unsafe

    assert find_unsafe("abc") is None and find_unsafe("a\x00") == "\x00" and find_unsafe("\udc80") == "\udc80"
    assert find_unsafe("ok ２ \u202e 😀 \x7f") is None


# Organisation numbers: ASCII digits only ----------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["31323159²", "３１３２３１５９３", "313２31593", "313\u0663231593", "313\u200b231593"],
    ids=["superscript", "full-width", "mixed", "arabic-indic", "zero-width-space"],
)
def test_an_org_number_with_other_digits_is_refused_with_a_message_that_says_so(client, world, typed):
    client.force_login(world.outsider)
    organisations = Organisation.objects.count()
    client.cookies["django_language"] = "en"
    response = client.post(reverse("membership_register"), {"org_number": typed})
    assert response.status_code == 200
    assert "written with the digits 0–9" in response.content.decode()
    assert Organisation.objects.count() == organisations


@pytest.mark.parametrize("typed", ["313 231 593", "313.231.593", "313-231-593", "313\u00a0231\u00a0593"])
def test_the_documented_separators_still_work(typed):
    from members.orgnr import normalise, validate_org_number

    validate_org_number(typed)
    assert normalise(typed) == "313231593"


def test_supported_services_with_other_digits_are_ignored_not_a_500(client, world):
    client.force_login(world.own.vendor_user)
    system = world.own.system
    url = reverse("vendor_system_services", args=[world.own.vendor.org_number, system.public_id])
    response = client.post(url, {"support": ["²:test", "１:test", "9" * 5000 + ":test"]})
    assert response.status_code == 302
    assert not VendorSystem.objects.get(pk=system.pk).supported_services.exists()


# Bulk approval --------------------------------------------------------------------------------------


@pytest.mark.parametrize("junk", ["not-a-uuid", "1", "", "'; drop table orders_order; --"])
def test_bulk_approval_with_something_not_an_order_approves_nothing_and_says_so(client, world, junk):
    client.force_login(world.staff)
    order = world.own.submitted_order
    client.cookies["django_language"] = "en"
    response = client.post(reverse("staff_orders_bulk_approve"), {"orders": [str(order.public_id), junk]}, follow=True)
    assert response.status_code == 200
    assert "not an order. Nothing was approved." in response.content.decode()
    order.refresh_from_db()
    assert order.state == Order.State.SUBMITTED


def test_a_user_agent_with_nul_is_refused_before_it_is_kept_with_a_signature(client, world):
    client.force_login(world.own.signatory)
    url = reverse("terms_sign", args=[world.own.organisation.org_number, world.terms.public_id])
    assert refused(client.get(url, HTTP_USER_AGENT="Mozilla/5.0\x00"))
