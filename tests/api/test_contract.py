"""Contract tests: schemathesis against the OpenAPI document the portal serves, for every operation.

Each generated request carries a real HelseID token from the loopback token service (a vendor's for
/vendor/, a municipality's for /member/) and a fresh DPoP proof, so the operations themselves run,
with positive and negative data. No answer may be a 5xx, and every answer must match the document
(status code, content type, headers, body schema).
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import MEMBER_SCOPES, VENDOR_SCOPES, proof

pytestmark = pytest.mark.django_db


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=8)


@pytest.fixture(autouse=True)
def _in_process(settings):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    # In process, inside the test's transaction: the WSGI handler must not close the connection after
    # each request (Django's test client does the same).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(register, vendor, municipality):
    return {
        "vendor": register(vendor.org_number, VENDOR_SCOPES, supplier=vendor.org_number).token(VENDOR_SCOPES),
        "member": register(municipality.org_number, MEMBER_SCOPES).token(MEMBER_SCOPES),
    }


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_keeps_its_contract(case, tokens):
    path = case.formatted_path
    token = tokens["member"] if path.startswith("/api/v1/member/") else tokens["vendor"]
    headers = {
        "Authorization": f"DPoP {token.access_token}",
        "DPoP": proof(token, case.method.upper(), "http://localhost" + path),
    }
    case.call_and_validate(
        headers=headers,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
