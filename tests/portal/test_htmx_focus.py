"""Focus after an htmx swap without eval: base.html tells htmx ``allowEval: false`` (the CSP refuses eval),
so ``hx-on`` is silently never run; htmx focuses an ``[autofocus]`` element of swapped content instead.
(The template scan for what the policy refuses is in test_security_headers.)"""

import re

import pytest
from django.urls import reverse

from tests.factories import UserFactory


@pytest.mark.django_db
def test_the_registry_card_takes_focus_after_an_htmx_lookup_without_eval(client):
    client.force_login(UserFactory())
    response = client.post(
        reverse("membership_register"), {"org_number": "320000009", "action": "check"}, HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert re.search(r'<section[^>]*id="registry-card"[^>]*\sautofocus[\s>]', page)  # htmx focuses [autofocus]
    assert "hx-on" not in page
    full = client.post(reverse("membership_register"), {"org_number": "320000009", "action": "check"})
    assert "autofocus" not in re.search(r'<section[^>]*id="registry-card"[^>]*>', full.content.decode()).group()
