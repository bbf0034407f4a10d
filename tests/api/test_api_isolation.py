"""The isolation matrix for the self-service API, with real DPoP tokens.

Every API operation whose URL names an object is filled with the *foreign* side's objects
(tests/portal/world.py) and called, with GET and POST, by the own vendor's client and by the own
municipality's client, each holding every scope of its kind: 403/404/405 only, never a foreign
name in the answer, never a changed row. Operations without an object in the URL answer for the
token's own organisation only, so they may answer 200, but still never with foreign data.
"""

import json

import pytest

from tests.portal.routes import all_routes, changed, fill, snapshot, snapshot_query
from tests.portal.url_registry import entry_for
from tests.portal.world import FOREIGN_MARKERS, build_world

from .conftest import MEMBER_SCOPES, VENDOR_SCOPES, Caller

pytestmark = pytest.mark.django_db

DENIED = {403, 404, 405}
# POSTed to every operation: enough for any of them to act, if one forgot whose object it touches.
BODY = {
    "name": "Matrisesystem",
    "kind": "vft",
    "supported_services": [{"service": "vkp-journaling", "environment": "test"}],
    "jwk": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "kid": "matrise", "alg": "ES256"},
    "environment": "test",
    "tenancy": "multi-tenant",
}


def api_routes():
    return [route for route in all_routes() if (entry := entry_for(route.name)) is not None and entry.access == "api"]


@pytest.mark.parametrize("who", ["vendor", "municipality"])
def test_no_api_client_reaches_another_organisations_objects(client, register, who):
    world = build_world()
    own = world.own
    if who == "vendor":
        caller = Caller(
            client,
            register(own.vendor.org_number, VENDOR_SCOPES, supplier=own.vendor.org_number).token(VENDOR_SCOPES),
        )
    else:
        caller = Caller(client, register(own.organisation.org_number, MEMBER_SCOPES).token(MEMBER_SCOPES))
    query = snapshot_query()
    failures, tried = [], 0
    for route in api_routes():
        entry = entry_for(route.name)
        url = fill(route, entry, world, objects=world.foreign)
        names_an_object = bool(route.params)
        for method in ("GET", "POST"):
            before = snapshot(query)
            response = caller.call(method, url, json.dumps(BODY) if method == "POST" else None)
            after = snapshot(query)
            tried += 1
            where = f"{method} {url} ({route.name}) as the own {who}"
            status = response.status_code
            text = response.content.decode("utf-8", errors="replace")
            if status >= 500:
                failures.append(f"{where}: {status}")
            elif names_an_object and status not in DENIED:
                failures.append(f"{where}: {status}, expected 403/404/405")
            leaked = [marker for marker in FOREIGN_MARKERS if marker in text]
            if leaked:
                failures.append(f"{where}: shows {', '.join(leaked)}")
            # The API's own bookkeeping (proof ids, idempotency records, the client's audit actor) may
            # change; an organisation's objects may not, unless the operation made the caller's own.
            tables = [
                t
                for t in changed(before, after)
                if t not in ("portal_apiproofjti", "portal_apiidempotencyrecord", "members_user", "portal_auditevent")
            ]
            if tables and names_an_object:
                failures.append(f"{where}: changed {', '.join(tables)}")
    assert tried >= 2 * len(api_routes()) > 20
    assert not failures, f"{len(failures)} of {tried} API calls broke isolation:\n" + "\n".join(failures)
