"""Templates hold nothing the Content-Security-Policy refuses: no inline script, handler, style or eval.

The policy (settings.CONTENT_SECURITY_POLICY) allows scripts and styles only from our static files,
and base.html tells htmx ``allowEval: false``, so an ``hx-on`` attribute is silently never run
(the registry card's focus after a lookup was lost that way). PDF templates are rendered by
WeasyPrint on the server, never by a browser, and may carry a <style> element.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import UserFactory

TEMPLATES = Path(settings.BASE_DIR) / "templates"
FORBIDDEN = {
    "inline event handler": re.compile(r"(?<![\w-])on[a-z]+\s*=", re.IGNORECASE),
    "htmx hx-on (needs eval)": re.compile(r"(?<![\w-])(?:data-)?hx-on", re.IGNORECASE),
    "hx-vals/hx-vars with js:": re.compile(r"hx-va(?:ls|rs)\s*=\s*['\"]\s*(?:js|javascript):", re.IGNORECASE),
    "style attribute": re.compile(r"(?<![\w-])style\s*=", re.IGNORECASE),
    "style element": re.compile(r"<style\b", re.IGNORECASE),
    "inline script": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def page_templates():
    return sorted(path for path in TEMPLATES.rglob("*.html") if "pdf" not in path.relative_to(TEMPLATES).parts)


@pytest.mark.parametrize("path", page_templates(), ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_no_template_holds_what_the_policy_refuses(path):
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", "", text, flags=re.DOTALL)  # Django comments
    found = [name for name, pattern in FORBIDDEN.items() if pattern.search(text)]
    assert not found, f"{path.relative_to(TEMPLATES)}: {', '.join(found)}"


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
