"""Every form of every page, posted with hostile text by the person who may use it: no 5xx, no partial write.

The forms come from tests/portal/url_registry.py (`form=` a form class, whose fields are read, or
`fields=` the raw POST fields a view reads), posted to the page filled with the acting persona's own
objects, so the input gets past the access checks to the form and the service behind it. Hypothesis
draws each field either a plausible value or a hostile one: NUL, lone surrogates (sent in a UTF-7
multipart body, the way they reach Django), right-to-left overrides, 1 MB, HTML and script, template
and SQL syntax, full-width and superscript digits, arbitrary Unicode. An answer that refuses (4xx, a
form with errors, an error message) must leave every table as it was.
"""

import json
from dataclasses import replace

import pytest
from django.contrib.messages import constants
from django.forms import BaseForm
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.portal.routes import all_routes, changed, fill, snapshot, snapshot_query
from tests.portal.url_registry import REGISTRY
from tests.portal.world import build_world, public_jwk

pytestmark = pytest.mark.django_db

MEGABYTE = "A" * 1_000_000
HOSTILE = st.one_of(
    st.sampled_from(
        [
            "\x00",
            "Nord\x00vik",
            "\ud800",
            "a\udfffb",
            "\u202egnp.exe\u202c",
            "\u200f\u202dkommune",
            MEGABYTE,
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(1)>',
            "{{ request.user.password }}{% debug %}",
            "' OR 1=1; DROP TABLE members_organisation; --",
            "３１３２３１５９３",
            "31323159²",
            "313\u0663231593",
            "../../../etc/passwd",
            "x\r\nSet-Cookie: sessionid=stjålet",
            "😀" * 2000,
            "",
            " ",
            "-1",
            "99999999999999999999999999",
            "2026-02-30",
        ]
    ),
    st.text(st.characters(blacklist_categories=()), max_size=40),  # every category, surrogates included
)


def plausible(world) -> dict:
    own = world.own
    return {
        "org_number": "320000009",
        "email": "ny.kollega@nordvik.example",
        "role": "viewer",
        "delegate": str(own.admin.pk),
        "sha256": world.terms.sha256,
        "confirm": "on",
        "recipient": str(own.signatory.pk),
        "system": str(own.system.pk),
        "environment": "test",
        "starts_on": "2026-12-01",
        "name": "Nytt system",
        "kind": "vft",
        "product": "",
        "support": f"{world.service.pk}:test",
        "reason": "Ikke aktuelt nå",
        "from": "queue",
        "service": "vkp-journaling",
        "miljo": "test",
        "tenancy": "multi-tenant",
        "keys": json.dumps(public_jwk("ny-nokkel")),
        "orders": str(own.submitted_order.public_id),
        "state": "",
        "q": "Nordvik",
        "title": "Vilkår",
        "version": "9.9",
        "body": "Tekst",
    }


def multipart_utf7(data: dict) -> tuple[bytes, str]:
    boundary = "hostileboundary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode("utf-7")
        + b"\r\n"
        for name, value in data.items()
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}; charset=utf-7"


def has_surrogate(data: dict) -> bool:
    return any(any("\ud800" <= ch <= "\udfff" for ch in value) for value in data.values())


def send(client, method: str, url: str, data: dict):
    if method == "GET":
        if has_surrogate(data):
            from urllib.parse import quote

            query = "&".join(f"{quote(k)}={quote(v.encode('utf-7'))}" for k, v in data.items())
            return client.get(f"{url}?{query}", CONTENT_TYPE="text/plain; charset=utf-7")
        return client.get(url, data)
    if has_surrogate(data):
        body, content_type = multipart_utf7(data)
        return client.generic("POST", url, body, content_type=content_type)
    return client.post(url, data)


def refused(response) -> bool:
    """Did the portal say no (so nothing may have changed)?"""
    if response.status_code >= 400:
        return True
    storage = getattr(response.wsgi_request, "_messages", None)
    queued = storage._queued_messages if storage is not None else []  # this answer's, not earlier ones still unread
    if any(message.level == constants.ERROR for message in queued):
        return True
    contexts = response.context if isinstance(response.context, list) else [response.context]
    return any(
        isinstance(value, BaseForm) and value.is_bound and value.errors
        for context in contexts
        if context is not None
        for value in context.flatten().values()
    )


FORM_ENTRIES = sorted((name, entry) for name, entry in REGISTRY.items() if entry.form_fields and entry.actor)
# A page's GET filters beside the form it posts: fuzzed as GET forms of the same URL.
FORM_ENTRIES += [
    (name, replace(entry, form=form, get_form=True, search_forms=()))
    for name, entry in sorted(REGISTRY.items())
    if entry.actor
    for form in entry.search_forms
]
FORM_IDS = [name + (f"?{entry.form.__name__}" if entry.get_form and entry.form else "") for name, entry in FORM_ENTRIES]


def test_the_suite_has_forms_to_post():
    assert len(FORM_ENTRIES) >= 15


@pytest.mark.parametrize(("name", "entry"), FORM_ENTRIES, ids=FORM_IDS)
def test_hostile_text_in_every_form_gives_no_5xx_and_no_partial_write(name, entry):
    world = build_world()
    route = next(route for route in all_routes() if route.name == name)
    url = fill(route, entry, world, objects=world.own)
    user = world.persona(entry.actor)
    client = Client(raise_request_exception=False)
    query = snapshot_query()
    values = plausible(world)
    method = "GET" if entry.get_form else "POST"
    fields = {
        # Hostile first: Hypothesis's simplest example, tried early, is then NUL in every field.
        field: st.one_of(HOSTILE, st.just(values[field])) if field in values else HOSTILE
        for field in entry.form_fields
    }

    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(st.fixed_dictionaries(fields))
    def post(data):
        if user is not None:
            client.force_login(user)
        before = snapshot(query)
        response = send(client, method, url, data)
        after = snapshot(query)
        shown = {k: (v[:40] + "…") if len(v) > 40 else v for k, v in data.items()}
        assert response.status_code < 500, f"{method} {url} as {entry.actor} with {shown!r}: {response.status_code}"
        if method == "GET" or refused(response):
            assert not changed(before, after), (
                f"{method} {url} as {entry.actor} with {shown!r} was refused ({response.status_code}) "
                f"but changed {changed(before, after)}"
            )

    post()


def test_every_form_a_page_shows_is_fuzzed():
    """A form class the portal renders anywhere must be named (`form=`) by some entry of the registry."""
    world = build_world()
    registered = {entry.form for entry in REGISTRY.values() if entry.form}
    registered |= {form for entry in REGISTRY.values() for form in entry.search_forms}
    shown: dict[type, str] = {}
    client = Client(raise_request_exception=False)
    for persona in ("anonymous", "outsider", "viewer", "signatory", "administrator", "vendor_user", "nhn_staff"):
        user = world.persona(persona)
        if user is not None:
            client.force_login(user)
        for route in all_routes():
            entry = REGISTRY.get(route.name)
            if entry is None or entry.access == "third_party":
                continue
            response = client.get(fill(route, entry, world, objects=world.own))
            contexts = response.context if isinstance(response.context, list) else [response.context]
            for context in contexts:
                for value in context.flatten().values() if context is not None else ():
                    if isinstance(value, BaseForm) and type(value).__module__.split(".")[0] in {
                        "members", "orders", "portal",
                    }:  # fmt: skip
                        shown.setdefault(type(value), route.name)
    missing = sorted(
        f"{form.__module__}.{form.__name__} (on {name})" for form, name in shown.items() if form not in registered
    )
    assert shown, "no page showed a form: the suite is not looking"
    assert not missing, (
        f"Forms shown on a page but not fuzzed: {', '.join(missing)}. Name each with "
        "`form=TheForm, actor=...` on the entry of the URL it posts to, in tests/portal/url_registry.py."
    )
