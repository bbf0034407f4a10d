"""Tenant isolation, proven for every URL the resolver knows (the NetBox way).

Each URL pattern is filled with the *foreign* side's objects (another municipality's organisation
number, order, signature, invitation, system registration; another vendor's system, client and key)
and tried with GET and POST as every persona of the *own* side: anonymous, an outsider, the viewer,
the signatory and the administrator of Testkommune Nordvik, a vendor user of Nordvik's vendor, and
NHN staff. URLs with an organisation number (or a client) and another object are tried a second time
with the persona's own organisation (or client) and the foreign object (the classic IDOR). Expected: the login page
for anonymous, 403/404/405 for everybody else (NHN staff may read what `staff_reads` allows and use
their own pages), never a foreign object's name or e-mail address in the answer, never a change in
any table (every row of every table of ours is digested before and after each request).

A URL name without an entry in tests/portal/url_registry.py fails `test_every_url_has_an_entry`.
"""

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client

from tests.portal.routes import CONTAINER_PARAMS, OBJECT_PARAMS, all_routes, changed, fill, snapshot, snapshot_query
from tests.portal.url_registry import entry_for
from tests.portal.world import FOREIGN_MARKERS, PERSONAS, build_world

pytestmark = pytest.mark.django_db

DENIED = {403, 404, 405}
# POSTed to every URL: enough for any of the portal's forms to act, if a view forgot to check who asks.


def payload(world) -> dict:
    foreign = world.foreign
    return {
        "reason": "matrise", "service": "vkp-journaling", "miljo": "test", "delegate": str(foreign.admin.pk),
        "email": "matrise@example.no", "role": "viewer", "system": str(foreign.system.pk), "environment": "test",
        "starts_on": "2026-12-01", "name": "Matrisesystem", "kind": "vft",
        "orders": [str(foreign.submitted_order.public_id)], "support": f"{world.service.pk}:test", "from": "queue",
        "document_sha256": world.terms.sha256, "tenancy": "multi-tenant",
    }  # fmt: skip


def test_every_url_has_an_entry():
    missing = sorted(route.name for route in all_routes() if entry_for(route.name) is None)
    assert not missing, (
        f"URL name(s) without an entry in the isolation matrix: {', '.join(missing)}. Add one line per name to "
        'REGISTRY in tests/portal/url_registry.py, e.g. `"my_page": member(),` for a member organisation\'s page, '
        "`vendor()` for a vendor's, `staff()` for NHN's, `own()` / `public()` for pages without an organisation's "
        'object; give `form=TheForm, actor="administrator"` if it posts a form (see README, Tests).'
    )


def variants(route, entry, world, persona_side):
    """(label, url) pairs: all foreign; and the persona's own organisation (or client) with a foreign object
    in it (the classic IDOR)."""
    yield "foreign", fill(route, entry, world, objects=world.foreign)
    has_container = set(CONTAINER_PARAMS) & set(route.params)
    if has_container and OBJECT_PARAMS & set(route.params) and entry.access in ("member", "vendor"):
        yield "own container, foreign object", fill(route, entry, world, objects=world.foreign, container=persona_side)


def expectation(entry, persona: str, method: str) -> str:
    """`denied`, `login`, `token`, `any` (anything but a 5xx) or `skip`."""
    if entry.access in ("public", "own", "third_party"):
        return "any"
    if entry.access == "api":
        return "token"  # everyone, NHN staff too: a session cookie is not a DPoP token
    if persona == "anonymous":
        return "login"
    if persona == "nhn_staff":
        if entry.access == "staff":
            return "any" if method == "GET" else "skip"  # their own work; the staff tests cover what it does
        if entry.staff_reads:
            return "any"  # a POST to a page staff may read is read like a GET (still: no change, below)
    return "denied"


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_persona_reaches_another_organisations_objects(persona):
    world = build_world()
    user = world.persona(persona)
    query = snapshot_query()
    data = payload(world)
    client = Client(raise_request_exception=False)
    login_url = resolve_url(settings.LOGIN_URL)
    failures = []
    tried = 0
    for route in all_routes():
        entry = entry_for(route.name)
        if entry is None:
            continue  # reported by test_every_url_has_an_entry
        for label, url in variants(route, entry, world, world.own):
            for method in ("GET", "POST"):
                expected = expectation(entry, persona, method)
                if expected == "skip":
                    continue
                if user is not None:
                    client.force_login(user)  # again each time: a logout URL may have ended the session
                before = snapshot(query)
                response = client.get(url) if method == "GET" else client.post(url, data)
                after = snapshot(query)
                tried += 1
                where = f"{method} {url} ({route.name}, {label}) as {persona}"
                status = response.status_code
                body = b"" if response.streaming else response.content
                if status >= 500 and status not in entry.designed_5xx:
                    failures.append(f"{where}: {status}")
                elif expected == "denied" and status not in DENIED:
                    failures.append(f"{where}: {status}, expected 403/404/405")
                elif expected == "token" and status not in (401, 405):
                    failures.append(f"{where}: {status}, expected 401 (no DPoP token)")
                elif expected == "login" and not (
                    status in DENIED or (status == 302 and response["Location"].startswith(login_url))
                ):
                    failures.append(f"{where}: {status} {response.get('Location', '')}, expected the login page")
                if not (persona == "nhn_staff" and expected == "any" and entry.access not in ("public", "own")):
                    text = body.decode("utf-8", errors="replace")
                    leaked = [marker for marker in FOREIGN_MARKERS if marker in text]
                    if leaked:
                        failures.append(f"{where}: shows {', '.join(leaked)}")
                tables = changed(before, after)
                if entry.logs_out and method == "POST" and tables == ["portal_auditevent"]:
                    tables = []  # the logout itself is audited
                if tables:
                    failures.append(f"{where}: changed {', '.join(tables)}")
    assert tried > 100
    assert not failures, f"{len(failures)} of {tried} requests broke isolation:\n" + "\n".join(failures)


def test_a_vendor_sees_nothing_of_another_vendor_or_anyones_e_mail_on_its_tenants_pages():
    """Nordvik also uses the foreign vendor's system, and both have steps on its order: every page the
    own vendor user can open (each URL filled with Nordvik's and its own objects) shows neither that
    vendor nor the e-mail address of anyone outside the vendor."""
    from members.models import SupportedService, VendorAssignment
    from orders import services
    from orders.models import Service

    world = build_world()
    own, foreign = world.own, world.foreign
    patient = Service.objects.get(code="vkp-patient")
    for system in (own.system, foreign.system):
        SupportedService.objects.get_or_create(system=system, service=patient, environment="test")
    VendorAssignment.objects.create(organisation=own.organisation, system=foreign.system, environment="test",
                                    created_by=own.admin)  # fmt: skip
    services.order_approve(order=own.submitted_order, by=world.staff)
    assert own.submitted_order.provisioning_tasks.count() >= 2  # a step for each vendor's system

    not_for_the_vendor = (
        "Fremmedsystem", "Fremmedleverandør AS", "fremmed-utvikler@fremmedleverandor.example",
        "admin@nordvik.example", "signatar@nordvik.example", "kundesenter@nhn.example",
    )  # fmt: skip
    client = Client(raise_request_exception=False)
    client.force_login(own.vendor_user)
    seen, failures = 0, []
    orders = (own.submitted_order, own.active_order)
    for route in all_routes():
        entry = entry_for(route.name)
        if entry is None or entry.access not in ("member", "vendor"):
            continue
        for order in orders:
            own.submitted_order = order  # fill() takes the side's submitted order for an order_id
            response = client.get(fill(route, entry, world, objects=own))
            if response.status_code != 200 or response.streaming:
                continue
            seen += 1
            text = response.content.decode("utf-8", errors="replace")
            failures += [f"{route.name}: shows {marker}" for marker in not_for_the_vendor if marker in text]
    assert seen >= 4  # the vendor dashboard, its client pages and the tenant's order pages at least
    assert not failures, "\n".join(sorted(set(failures)))
