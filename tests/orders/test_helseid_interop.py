"""The proof that a vendor's HelseID configuration works: against a real token service.

npm's oidc-provider plays HelseID's token service (tests/helseid_sts/sts.mjs: client_credentials,
private_key_jwt, DPoP with a server nonce, PS256 tokens, one audience per token, assertion_details
naming the tenant). It is given exactly the clients the portal provisioned in the backing-services
simulator, read back from the simulator over HTTP. Then the vendor, with only the configuration
file it downloaded from the portal and its private key, uses requests-oauth2client to get a
DPoP-bound token per API and calls a loopback API that checks the token and the DPoP proof.
"""

import json

import pytest
import requests
from django.urls import reverse
from django.utils import translation
from joserfc.jwk import ECKey, RSAKey
from requests_oauth2client import DPoPKey, InvalidClient, InvalidScope, InvalidTarget, UnauthorizedClient

from members.models import SupportedService, VendorAssignment, VendorSystem
from orders import helseid, provisioning, services
from orders.models import Order, ProvisioningTask, Service
from tests.factories import OrganisationFactory, UserFactory
from tests.helseid_sts.api import LoopbackApi
from tests.helseid_sts.server import LoopbackSts
from tests.helseid_sts.vendor import VendorClient

pytestmark = pytest.mark.django_db

ORGNR = "helseid://claims/client/claims/orgnr_parent"
TENANCY = "helseid://claims/client/claims/client_tenancy"


@pytest.fixture(scope="module")
def sts(tmp_path_factory):
    server = LoopbackSts(tmp_path_factory.mktemp("helseid-sts")).start()
    yield server
    server.stop()


@pytest.fixture
def api(sts):
    server = LoopbackApi(sts.issuer, sts.jwks_uri).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _helseid_is_the_loopback_sts(settings, sts, simulator):
    """The portal's configurations name the loopback token service; provisioning goes to the simulator."""
    settings.HELSEID_CLIENT_AUTHORITIES = {"test": sts.issuer}
    with translation.override("en"):
        yield


def run_outbox(limit=50):
    """What the workers do: run every pending task until none is left."""
    for _ in range(limit):
        pending = list(ProvisioningTask.objects.filter(state="pending").values_list("pk", flat=True))
        if not pending:
            return
        for task_id in pending:
            provisioning.task_run(task_id, allow_early=True)
    raise AssertionError("the outbox never emptied")


def sync_sts(sts, simulator):
    """HelseID's token service knows the clients its registry holds: read them from the simulator's
    client registry API over HTTP (keys, tenants, scopes, enabled), exactly as provisioned."""
    run_outbox()
    sts.register(simulator.http.get("/helseid/clients").raise_for_status().json()["clients"])


def private_key(kind="EC", kid="vendor-key-1"):
    if kind == "EC":
        key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})
    else:
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "PS256", "use": "sig"})
    return key.as_dict(private=True)


def public_half(private_jwk):
    return {k: v for k, v in private_jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}


@pytest.fixture
def vendor_web(client, vendor_user):
    client.force_login(vendor_user)
    return client


def upload_key(web, helseid_client, private_jwk):
    response = web.post(
        reverse("client_detail", args=[helseid_client.public_id]), {"keys": json.dumps(public_half(private_jwk))}
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def download_configuration(web, helseid_client) -> dict:
    response = web.get(reverse("client_configuration", args=[helseid_client.public_id]))
    assert response.status_code == 200
    assert str(helseid_client.client_id) in response["Content-Disposition"]
    return json.loads(response.content)


@pytest.fixture
def system(vendor):
    system = VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm", kind="vft")
    for code in ("vkp-journaling", "vkp-patient"):
        SupportedService.objects.create(system=system, service=Service.objects.get(code=code), environment="test")
    return system


def municipality_using(system, name, org_number):
    organisation = OrganisationFactory(name=name, org_number=org_number)
    VendorAssignment.objects.create(
        organisation=organisation, system=system, environment="test", created_by=UserFactory()
    )
    return organisation


def approved(organisation, code, staff):
    order = Order.objects.create(
        organisation=organisation,
        service=Service.objects.get(code=code),
        environment="test",
        state="submitted",
        created_by=UserFactory(),
    )
    services.order_approve(order=order, by=staff)
    return order


def calls_each_api(vendor, api, tokens) -> dict:
    """Call each API with its own token; the claims the API saw, per audience."""
    seen = {}
    for audience, token in tokens.items():
        response = vendor.call(api.url(audience, "/v1/Bundle"), token)
        assert response.status_code == 200, (response.text, api.refusals)
        seen[audience] = response.json()["claims"]
    return seen


def test_a_single_tenant_client_gets_a_dpop_bound_token_per_api(
    sts, api, simulator, system, vendor_web, vendor_user, nhn_staff
):
    nordvik = municipality_using(system, "Testkommune Nordvik", "313231593")
    approved(nordvik, "vkp-journaling", nhn_staff)
    approved(nordvik, "vkp-patient", nhn_staff)
    client = helseid.client_create(
        system=system, environment="test", tenancy="single-tenant", tenant=nordvik, by=vendor_user
    )
    key = private_key()
    upload_key(vendor_web, client, key)
    sync_sts(sts, simulator)
    configuration = download_configuration(vendor_web, client)
    assert [api["audience"] for api in configuration["apis"]] == ["nhn:jft", "nhn:pit"]

    vendor = VendorClient(configuration, key)
    tokens = vendor.tokens_for(nordvik.org_number)
    seen = calls_each_api(vendor, api, tokens)

    assert seen["nhn:jft"]["aud"] == "nhn:jft" and seen["nhn:jft"]["scope"] == "nhn:jft/api"
    assert seen["nhn:pit"]["aud"] == "nhn:pit" and seen["nhn:pit"]["scope"] == "nhn:pit/api.read"
    for claims in seen.values():
        assert claims[ORGNR] == "313231593"
        assert claims[TENANCY] == "single-tenant"
        assert claims["client_id"] == configuration["clientId"]


JOURNALING = [{"audience": "nhn:jft", "scopes": ["nhn:jft/api"]}]


@pytest.fixture
def multi_tenant(system, vendor_user, nhn_staff):
    """Nordvik and Fjordheim use the system with Journaling active; Vidda uses it but its order waits."""
    nordvik = municipality_using(system, "Testkommune Nordvik", "313231593")
    fjordheim = municipality_using(system, "Fjordheim kommune", "320000017")
    vidda = municipality_using(system, "Vidda kommune", "320000033")
    approved(nordvik, "vkp-journaling", nhn_staff)
    approved(nordvik, "vkp-patient", nhn_staff)
    approved(fjordheim, "vkp-journaling", nhn_staff)
    Order.objects.create(
        organisation=vidda,
        service=Service.objects.get(code="vkp-journaling"),
        environment="test",
        state="submitted",
        created_by=UserFactory(),
    )
    client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    return client, nordvik, fjordheim, vidda


def test_a_multi_tenant_client_acts_for_each_municipality_with_its_own_token(
    sts, api, simulator, multi_tenant, vendor_web
):
    client, nordvik, fjordheim, vidda = multi_tenant
    key = private_key("RSA")
    upload_key(vendor_web, client, key)
    sync_sts(sts, simulator)
    configuration = download_configuration(vendor_web, client)
    vendor = VendorClient(configuration, key)

    nordvik_seen = calls_each_api(vendor, api, vendor.tokens_for(nordvik.org_number))
    fjordheim_seen = calls_each_api(vendor, api, vendor.tokens_for(fjordheim.org_number))

    assert {aud: claims[ORGNR] for aud, claims in nordvik_seen.items()} == {
        "nhn:jft": "313231593",
        "nhn:pit": "313231593",
    }
    assert {aud: claims[ORGNR] for aud, claims in fjordheim_seen.items()} == {"nhn:jft": "320000017"}
    assert all(claims[TENANCY] == "multi-tenant" for claims in [*nordvik_seen.values(), *fjordheim_seen.values()])

    # Vidda registered the system, but its Journaling order is not active: no scope, refused.
    assert vendor.tenant(vidda.org_number)["apis"] == []
    with pytest.raises(InvalidScope):
        vendor.tokens_for(vidda.org_number, scopes_of=JOURNALING)


def test_the_token_service_refuses_what_the_configuration_warns_of(sts, api, simulator, multi_tenant, vendor_web):
    client, nordvik, _fjordheim, _vidda = multi_tenant
    key = private_key()
    upload_key(vendor_web, client, key)
    sync_sts(sts, simulator)
    configuration = download_configuration(vendor_web, client)
    vendor = VendorClient(configuration, key)

    # Without assertion_details a multi-tenant client does not say whom the token is for.
    with pytest.raises(Exception, match="assertion_details"):
        vendor.oauth_client(None).client_credentials(scope="nhn:jft/api")
    # An organisation that is not a tenant.
    stranger = VendorClient(
        {
            **configuration,
            "tenants": [{**configuration["tenants"][0], "assertionDetails": helseid.assertion_details("320000041")}],
        },
        key,
    )
    with pytest.raises(UnauthorizedClient):
        stranger.tokens_for(configuration["tenants"][0]["organizationNumber"], scopes_of=JOURNALING)
    # Two APIs in one token call.
    with pytest.raises(InvalidTarget):
        vendor.tokens_for(
            nordvik.org_number, scopes_of=[{"audience": "both", "scopes": ["nhn:jft/api", "nhn:pit/api.read"]}]
        )
    # A client assertion's jti is used once. With a nonce already known, one call goes through in
    # one attempt; the same jti again is refused (so the nonce retry must carry a new assertion).
    details = vendor.tenant(nordvik.org_number)["assertionDetails"]
    dpop_key = DPoPKey.generate(alg="ES256")
    vendor.oauth_client(details).client_credentials(scope="nhn:jft/api", dpop_key=dpop_key)
    assert dpop_key.as_nonce
    reused = vendor.oauth_client(details)
    object.__setattr__(reused.auth, "jti_gen", lambda: "the-same-jti-every-time")
    assert reused.client_credentials(scope="nhn:jft/api", dpop_key=dpop_key).access_token
    with pytest.raises(InvalidClient):
        reused.client_credentials(scope="nhn:jft/api", dpop_key=dpop_key)


def test_after_an_order_ends_the_token_service_refuses_that_tenant(
    sts, api, simulator, multi_tenant, vendor_web, nhn_staff
):
    client, _nordvik, fjordheim, _vidda = multi_tenant
    key = private_key()
    upload_key(vendor_web, client, key)
    sync_sts(sts, simulator)
    vendor = VendorClient(download_configuration(vendor_web, client), key)
    assert calls_each_api(vendor, api, vendor.tokens_for(fjordheim.org_number))["nhn:jft"][ORGNR] == "320000017"

    order = Order.objects.get(organisation=fjordheim, state="active")
    services.order_end(order=order, by=nhn_staff, reason="The municipality stopped using the service.")
    sync_sts(sts, simulator)
    with pytest.raises(InvalidScope):
        vendor.tokens_for(fjordheim.org_number, scopes_of=JOURNALING)


def test_key_rotation_the_old_key_works_until_retired(sts, api, simulator, multi_tenant, vendor_web):
    client, nordvik, _fjordheim, _vidda = multi_tenant
    old_key, new_key = private_key(kid="2026-old"), private_key("RSA", kid="2027-new")
    upload_key(vendor_web, client, old_key)
    sync_sts(sts, simulator)
    old_vendor = VendorClient(download_configuration(vendor_web, client), old_key)
    calls_each_api(old_vendor, api, old_old := old_vendor.tokens_for(nordvik.org_number))
    assert set(old_old) == {"nhn:jft", "nhn:pit"}

    # The new key is added: both work while the vendor's system switches over.
    upload_key(vendor_web, client, new_key)
    sync_sts(sts, simulator)
    configuration = download_configuration(vendor_web, client)
    assert configuration["publicKeyIds"] == ["2026-old", "2027-new"]
    new_vendor = VendorClient(configuration, new_key)
    calls_each_api(new_vendor, api, new_vendor.tokens_for(nordvik.org_number))
    calls_each_api(old_vendor, api, old_vendor.tokens_for(nordvik.org_number))

    # The old key is retired: it is refused, the new one still works.
    old = client.keys.get(kid="2026-old")
    response = vendor_web.post(reverse("client_key_retire", args=[client.public_id, old.public_id]))
    assert response.status_code == 302
    sync_sts(sts, simulator)
    assert [key["kid"] for key in simulator.client(client.client_id)["keys"]] == ["2027-new"]
    with pytest.raises(InvalidClient):
        old_vendor.tokens_for(nordvik.org_number)
    calls_each_api(new_vendor, api, new_vendor.tokens_for(nordvik.org_number))

    # And the last key of an active client cannot be retired: the vendor would be locked out.
    new = client.keys.get(kid="2027-new")
    vendor_web.post(reverse("client_key_retire", args=[client.public_id, new.public_id]))
    new.refresh_from_db()
    assert new.retired_at is None
    calls_each_api(new_vendor, api, new_vendor.tokens_for(nordvik.org_number))


def test_a_token_for_one_api_is_refused_by_another_and_a_proof_is_bound_to_its_request(
    sts, api, simulator, multi_tenant, vendor_web
):
    client, nordvik, _fjordheim, _vidda = multi_tenant
    key = private_key()
    upload_key(vendor_web, client, key)
    sync_sts(sts, simulator)
    vendor = VendorClient(download_configuration(vendor_web, client), key)
    tokens = vendor.tokens_for(nordvik.org_number)

    assert vendor.call(api.url("nhn:pit", "/v1/Patient"), tokens["nhn:jft"]).status_code == 401
    assert "audience" in api.refusals[-1]
    # The token without its DPoP proof is refused.
    bare = requests.get(
        api.url("nhn:jft", "/v1/Bundle"), headers={"Authorization": f"DPoP {tokens['nhn:jft'].access_token}"}, timeout=5
    )
    assert bare.status_code == 401
    assert vendor.call(api.url("nhn:jft", "/v1/Bundle"), tokens["nhn:jft"]).status_code == 200
