"""HelseID client configurations for vendor systems: creation, keys, tenants and their scopes.

Scopes are never chosen by the vendor: each tenant's scopes follow from that tenant's active
orders and the side the system is on (catalogue data). Every change is audited and queues a
provisioning task that brings the client in HelseID's registry up to date.
"""

import functools
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import Membership, Organisation, SupportedService, User, VendorAssignment, VendorSystem
from members.selectors import vendor_user_emails
from portal.audit import audit
from portal.email import queue_email

from . import jwks
from .models import ClientKey, Environment, HelseIdClient, Order, ProvisioningTask, Service
from .provisioning import client_name, queue_for_client

TOKEN_ENDPOINT_PATH = "/connect/token"  # noqa: S105  (a URL path, not a secret)

# The configuration's notes; the PDF sheet says the same in the same words.
PRIVATE_JWK_PLACEHOLDER = "<your private JWK as a JSON string: fill in on your own system only>"
PRIVATE_JWK_NOTE = gettext_lazy(
    "Put your private key (the JWK whose public half you uploaded) into privateJwk on your own system; "
    "the portal never holds a private key."
)
ONE_TOKEN_PER_API_NOTE = gettext_lazy(
    "One token per API: HelseID issues a token for one audience, so ask for one API's scopes per token call "
    "(the groups under apis); asking for several APIs at once is refused (invalid_target)."
)
DPOP_NONCE_NOTE = gettext_lazy(
    "Every token call carries a DPoP proof. HelseID answers the first call with use_dpop_nonce and a DPoP-Nonce "
    "header: retry with that nonce in a new DPoP proof and a new client assertion (new jti), since a reused "
    "assertion is refused."
)
MULTI_TENANT_NOTE = gettext_lazy(
    "Multi-tenant: name the municipality a token is for with its assertionDetails, as the assertion_details "
    "claim of the client assertion. A municipality that is not a tenant, or a scope it has not ordered, is refused."
)
SINGLE_TENANT_NOTE = gettext_lazy(
    "Single-tenant: the municipality is fixed in HelseID. For one of its units, put the unit's assertionDetails "
    "into the assertion_details claim of the client assertion."
)


@dataclass(frozen=True)
class Tenant:
    organisation: Organisation
    scopes: list[str]


def _tenant_assignments(client: HelseIdClient):
    assignments = VendorAssignment.objects.active().filter(system_id=client.system_id, environment=client.environment)
    if client.tenancy == HelseIdClient.Tenancy.SINGLE:
        assignments = assignments.filter(organisation_id=client.tenant_id)
    return assignments


def _scoped_orders(client: HelseIdClient, assignments, order_states):
    """The tenants' orders that give the client scopes, as one query whatever the number of tenants.

    A scope needs both: the tenant's order and the system's declared support for the service.
    """
    supported = client.system.supported_services.filter(environment=client.environment).values("service_id")
    return Order.objects.filter(
        organisation_id__in=assignments.values("organisation_id"),
        environment=client.environment,
        state__in=order_states,
        service_id__in=supported,
    )


def client_tenant_scopes(client: HelseIdClient, *, order_states=(Order.State.ACTIVE,)) -> dict[str, list[str]]:
    """Organisation number → scopes for each tenant: three set-based queries and no model per tenant or order.

    What provisioning sends to HelseID; a client may have thousands of tenants (issue 15).
    """
    assignments = _tenant_assignments(client)
    org_numbers = dict(assignments.values_list("organisation_id", "organisation__org_number"))
    orders = _scoped_orders(client, assignments, order_states)
    pairs = set(orders.values_list("organisation_id", "service_id").distinct())
    service_scopes = {
        service.pk: service.scopes_for(client.system.kind)
        for service in Service.objects.filter(pk__in={service_id for _organisation_id, service_id in pairs})
    }
    scopes: dict[int, set[str]] = {organisation_id: set() for organisation_id in org_numbers}
    for organisation_id, service_id in pairs:
        if organisation_id in scopes:  # an assignment made between the two reads waits for its own task
            scopes[organisation_id].update(service_scopes[service_id])
    return {org_numbers[organisation_id]: sorted(scopes[organisation_id]) for organisation_id in scopes}


def client_tenants(client: HelseIdClient, *, order_states=(Order.State.ACTIVE,)) -> list[Tenant]:
    """The municipalities the client acts for, each with the scopes its active orders give."""
    assignments = _tenant_assignments(client)
    organisations = {a.organisation_id: a.organisation for a in assignments.select_related("organisation")}
    scopes: dict[int, set[str]] = {organisation_id: set() for organisation_id in organisations}
    for order in _scoped_orders(client, assignments, order_states).select_related("service"):
        if order.organisation_id in scopes:
            scopes[order.organisation_id].update(order.service.scopes_for(client.system.kind))
    return [
        Tenant(organisations[organisation_id], sorted(scopes[organisation_id]))
        for organisation_id in sorted(organisations, key=lambda pk: organisations[pk].name)
    ]


ORGANIZATION_IDENTIFIER_SYSTEM = "urn:oid:1.0.6523"  # ISO 6523: the Norwegian organisation number register


def assertion_details(parent: str, child: str | None = None) -> list[dict]:
    """The client assertion's ``assertion_details`` naming the organisation a token is for (HELSEID.md, "Tenancy")."""
    value = f"NO:ORGNR:{parent}" + (f":{child}" if child else "")
    return [
        {
            "type": "helseid_authorization",
            "practitioner_role": {
                "organization": {
                    "identifier": {"system": ORGANIZATION_IDENTIFIER_SYSTEM, "type": "ENH", "value": value}
                }
            },
        }
    ]


def audience_of(scope: str) -> str:
    """An API scope's audience: the part before the first ``/`` (``nhn:jft/api`` → ``nhn:jft``)."""
    return scope.split("/", 1)[0]


def scopes_by_api(scopes) -> list[dict]:
    """Scopes grouped per API audience: HelseID issues a token for one audience, so one token call per group."""
    return [{"audience": audience, "scopes": list(group)} for audience, group in _grouped_scopes(frozenset(scopes))]


@functools.lru_cache(maxsize=256)
def _grouped_scopes(scopes: frozenset[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    # Thousands of tenants share a handful of scope sets: group each set once (fresh lists for each caller).
    groups: dict[str, list[str]] = {}
    for scope in sorted(scopes):
        groups.setdefault(audience_of(scope), []).append(scope)
    return tuple((audience, tuple(group)) for audience, group in sorted(groups.items()))


def client_tenant_organisations(client: HelseIdClient) -> QuerySet[Organisation]:
    """The municipalities the client acts for: those using its system in its environment (a single-tenant
    client: its own tenant only). One query, usable as a subquery, so callers never list ids."""
    assignments = VendorAssignment.objects.active().filter(system=client.system_id, environment=client.environment)
    if client.tenancy == HelseIdClient.Tenancy.SINGLE:
        assignments = assignments.filter(organisation=client.tenant_id)
    return Organisation.objects.filter(pk__in=assignments.values("organisation_id")).order_by("name", "pk")


def tenant_scopes(client: HelseIdClient, organisations, *, order_states=(Order.State.ACTIVE,)) -> dict[int, list[str]]:
    """The scopes each of ``organisations`` (ids, or a queryset of organisations) gives the client.

    Set-based: one query for the services the system supports, one for the (organisation, service)
    pairs of the orders; a scope needs both the tenant's order and the system's declared support.
    """
    supported = Service.objects.filter(
        pk__in=client.system.supported_services.filter(environment=client.environment).values("service_id")
    )
    scopes_of_service = {service.pk: service.scopes_for(client.system.kind) for service in supported}
    pairs = Order.objects.filter(
        organisation_id__in=organisations,
        environment=client.environment,
        state__in=order_states,
        service_id__in=list(scopes_of_service),
    ).values_list("organisation_id", "service_id")
    scopes: dict[int, set[str]] = {}
    for organisation_id, service_id in pairs:
        scopes.setdefault(organisation_id, set()).update(scopes_of_service[service_id])
    return {organisation_id: sorted(found) for organisation_id, found in scopes.items()}


def token_endpoint(client: HelseIdClient) -> str:
    return client.authority + TOKEN_ENDPOINT_PATH


def configuration_notes(client: HelseIdClient) -> dict[str, str]:
    """What the configuration file, the client's page and the sheet explain, in the same words."""
    multi = client.tenancy == HelseIdClient.Tenancy.MULTI
    return {
        "privateJwk": str(PRIVATE_JWK_NOTE),
        "apis": str(ONE_TOKEN_PER_API_NOTE),
        "dpop": str(DPOP_NONCE_NOTE),
        "tenancy": str(MULTI_TENANT_NOTE if multi else SINGLE_TENANT_NOTE),
    }


def _tenant_entry(organisation: Organisation, scopes: list[str], units: list[Organisation], *, multi: bool) -> dict:
    """One tenant in the configuration file: its scopes per API and how a token names it and its units."""
    parent = organisation.org_number
    entry = {
        "organizationNumber": parent,
        "name": organisation.name,
        "scopes": scopes,
        "apis": scopes_by_api(scopes),
    }
    if multi:
        entry["assertionDetails"] = assertion_details(parent)
    entry["childOrganizations"] = [
        {
            "organizationNumber": unit.org_number,
            "name": unit.name,
            "assertionDetails": assertion_details(parent, unit.org_number),
        }
        for unit in units
    ]
    return entry


def _configuration(client: HelseIdClient, *, scopes: list[str], tenants: list[dict] | None) -> dict:
    keys = [key for key in client.keys.order_by("created_at") if key.is_active]
    config = {
        # HelseID self-service's own file: the same names for the same things.
        "clientName": client_name(client),
        "authority": client.authority,
        "clientId": str(client.client_id),
        "grantTypes": ["client_credentials"],
        "scopes": scopes,
        "redirectUris": [],
        "postLogoutRedirectUris": [],
        "secretType": "private_key_jwt",
        "privateJwk": PRIVATE_JWK_PLACEHOLDER,
        "pkceRequired": True,
        # What the portal adds.
        "notes": configuration_notes(client),
        "tokenEndpoint": token_endpoint(client),
        "tokenEndpointAuthMethod": "private_key_jwt",
        "signingAlgorithms": sorted({key.alg for key in keys}),
        "publicKeyIds": [key.kid for key in keys],
        "dpopRequired": True,
        "clientAssertion": {
            "typ": "client-authentication+jwt",
            "aud": client.authority,
            "maxLifetimeSeconds": 60,
            "uniqueJti": True,
        },
        "apis": scopes_by_api(scopes),
        "tenancy": client.tenancy,
        "tenants": tenants,
        "environment": client.environment,
        "state": client.state,
    }
    if tenants is None:
        del config["tenants"]
    return config


def configuration(client: HelseIdClient) -> dict:
    """The configuration file, shaped like HelseID self-service's, plus what this portal knows.

    It never holds a private key: the portal has none. ``privateJwk`` is where HelseID's own file
    carries it; here it is a placeholder the vendor fills in on its own system.

    Every tenant is in it, read with a fixed number of queries (tenants, their orders, their units):
    the file grows with the tenants, its cost in queries does not.
    """
    organisations = client_tenant_organisations(client)
    scopes = tenant_scopes(client, organisations)
    units: dict[int, list[Organisation]] = {}
    for unit in Organisation.objects.filter(parent_id__in=organisations.values("pk")).order_by("name", "pk"):
        units.setdefault(unit.parent_id, []).append(unit)
    multi = client.tenancy == HelseIdClient.Tenancy.MULTI
    entries = [
        _tenant_entry(organisation, scopes.get(organisation.pk, []), units.get(organisation.pk, []), multi=multi)
        for organisation in organisations
    ]
    every_scope = sorted({scope for found in scopes.values() for scope in found})
    return _configuration(client, scopes=every_scope, tenants=entries)


def client_scopes(client: HelseIdClient) -> list[str]:
    """Every scope the client holds for any tenant: the union over its tenants, without listing them."""
    supported = client.system.supported_services.filter(environment=client.environment).values("service_id")
    ordered = Order.objects.filter(
        organisation_id__in=client_tenant_organisations(client).values("pk"),
        environment=client.environment,
        state=Order.State.ACTIVE,
        service_id__in=supported,
    ).values("service_id")
    services = Service.objects.filter(pk__in=ordered)
    return sorted({scope for service in services for scope in service.scopes_for(client.system.kind)})


@dataclass(frozen=True)
class ConfigurationSummary:
    """The configuration without its tenant list, for paper: what stays the same size at any number of tenants."""

    configuration: dict
    tenant_count: int
    example: dict | None  # the first tenant's entry (with at most one unit), to show how a token names it


def configuration_summary(client: HelseIdClient) -> ConfigurationSummary:
    organisations = client_tenant_organisations(client)
    first = organisations.first()
    example = None
    if first is not None:
        unit = Organisation.objects.filter(parent=first).order_by("name", "pk").first()
        scopes = tenant_scopes(client, [first.pk]).get(first.pk, [])
        multi = client.tenancy == HelseIdClient.Tenancy.MULTI
        example = _tenant_entry(first, scopes, [unit] if unit else [], multi=multi)
    return ConfigurationSummary(
        configuration=_configuration(client, scopes=client_scopes(client), tenants=None),
        tenant_count=organisations.count(),
        example=example,
    )


def configuration_filename(client: HelseIdClient, extension: str) -> str:
    """Download name: system, environment, tenant (single-tenant) and the client id, so two never clash."""
    parts = ["helseid", slugify(client.system.name) or "system", client.environment]
    if client.tenant_id:
        parts.append(client.tenant.org_number)
    parts.append(str(client.client_id))
    return "-".join(parts) + "." + extension


@transaction.atomic
def client_create(
    *, system: VendorSystem, environment: str, tenancy: str, tenant: Organisation | None, by: User, request=None
) -> HelseIdClient:
    if (
        environment == Environment.PRODUCTION
        and not Membership.objects.filter(organisation=system.vendor, state=Membership.State.ACTIVE).exists()
    ):
        # HelseID production needs an approved NHN supplier that has accepted the vendor terms.
        raise ValidationError(_("Production clients need the vendor to be approved by NHN (vendor terms accepted)."))
    if tenancy == HelseIdClient.Tenancy.SINGLE:
        if tenant is None:
            raise ValidationError(_("Choose the municipality a single-tenant client is for."))
        if (
            not VendorAssignment.objects.active()
            .filter(system=system, environment=environment, organisation=tenant)
            .exists()
        ):
            raise ValidationError(
                _("%(name)s has not registered this system for this environment.") % {"name": tenant.name}
            )
    else:
        tenant = None
    try:
        with transaction.atomic():
            client = HelseIdClient.objects.create(
                system=system, environment=environment, tenancy=tenancy, tenant=tenant, created_by=by
            )
    except IntegrityError:
        raise ValidationError(_("This system already has such a client for this environment.")) from None
    audit(
        action="helseid_client.created",
        obj=client,
        actor=by,
        organisation=system.vendor,
        after={"client_id": str(client.client_id), "environment": environment, "tenancy": tenancy},
        request=request,
    )
    queue_for_client(client, reason=ProvisioningTask.Reason.CLIENT_CREATED)
    return client


@transaction.atomic
def client_keys_add(
    *, client: HelseIdClient, keys_text: str = "", jwks_url: str = "", expires_on=None, by: User, request=None
) -> list[ClientKey]:
    """Add public keys (pasted, or fetched from a JWKS URL). Several may be active, so rotation overlaps.

    A key already on the client (same material, whatever its kid; retired ones too) is refused.
    """
    # One upload at a time per client, so two at once cannot both add the same key.
    list(HelseIdClient.objects.select_for_update().filter(pk=client.pk).order_by().values_list("pk", flat=True))
    existing = list(client.keys.values_list("kid", flat=True))
    existing_keys = dict(client.keys.values_list("thumbprint", "kid"))
    if jwks_url:
        public_keys = jwks.fetch_jwks(jwks_url, existing_kids=existing, existing_keys=existing_keys)
    else:
        public_keys = jwks.parse_keys(keys_text, existing_kids=existing, existing_keys=existing_keys)
    added = [
        ClientKey.objects.create(
            client=client,
            kid=key.kid,
            alg=key.alg,
            kty=key.kty,
            size=key.size,
            thumbprint=key.thumbprint,
            public_jwk=key.jwk,
            expires_on=expires_on,
            created_by=by,
        )
        for key in public_keys
    ]
    audit(
        action="helseid_client.keys_added",
        obj=client,
        actor=by,
        organisation=client.system.vendor,
        after={"kids": [key.kid for key in added], "source": "jwks_url" if jwks_url else "upload"},
        request=request,
    )
    queue_for_client(client, reason=ProvisioningTask.Reason.KEYS_CHANGED)
    return added


@transaction.atomic
def client_key_retire(*, key: ClientKey, by: User, request=None) -> ClientKey:
    """Retire a key. The last key in use of an active client is kept: retiring it would stop the vendor's system."""
    client = HelseIdClient.objects.select_for_update(of=("self",)).order_by().get(pk=key.client_id)  # one at a time
    if key.retired_at is None and client.state == HelseIdClient.State.ACTIVE:
        others = [k for k in client.keys.filter(retired_at__isnull=True).exclude(pk=key.pk) if k.is_active]
        if not others:
            raise ValidationError(
                _(
                    "This is the client's only key in use. Retiring it would stop your system from getting "
                    "tokens from HelseID. Add the new key first, switch your system to it, then retire this one."
                ),
                code="last_key",
            )
    updated = ClientKey.objects.filter(pk=key.pk, retired_at__isnull=True).update(retired_at=timezone.now())
    if not updated:
        raise ValidationError(_("This key is already retired."))
    key.refresh_from_db()
    audit(
        action="helseid_client.key_retired",
        obj=key.client,
        actor=by,
        organisation=key.client.system.vendor,
        after={"kid": key.kid},
        request=request,
    )
    queue_for_client(key.client, reason=ProvisioningTask.Reason.KEYS_CHANGED)
    return key


@transaction.atomic
def client_disable(*, client: HelseIdClient, by: User, request=None) -> HelseIdClient:
    """Stop a client for good (e.g. the system is retired); HelseID disables it too. A new one can be made."""
    before = client.state
    if (
        not HelseIdClient.objects.filter(pk=client.pk)
        .exclude(state=HelseIdClient.State.DISABLED)
        .update(state=HelseIdClient.State.DISABLED)
    ):
        raise ValidationError(_("This client is already disabled."))
    client.refresh_from_db()
    audit(
        action="helseid_client.disabled",
        obj=client,
        actor=by,
        organisation=client.system.vendor,
        before={"state": before},
        after={"state": client.state},
        request=request,
    )
    queue_for_client(client, reason=ProvisioningTask.Reason.CLIENT_DISABLED)
    return client


def clients_acting_for(
    organisation: Organisation, *, assignments: list | None = None, live_orders: list | None = None
) -> list[tuple[HelseIdClient, list[str]]]:
    """The vendor clients whose tenants include the organisation, with the scopes they hold for it.

    The rules of `client_tenants`, worked out for this one organisation only: three queries, whatever the
    number of clients or of the vendors' other tenants; one when the caller has read the organisation's
    active `assignments` and its `live_orders` (with their services) already. Each client brings the
    services its system supports in its environment (an array subquery), not a query of their own.
    """
    if assignments is None:
        assigned = set(
            VendorAssignment.objects.active().filter(organisation=organisation).values_list("system_id", "environment")
        )
    else:
        assigned = {(assignment.system_id, assignment.environment) for assignment in assignments}
    supported = SupportedService.objects.filter(
        system_id=OuterRef("system_id"), environment=OuterRef("environment")
    ).values("service_id")
    clients = [
        client
        for client in HelseIdClient.objects.exclude(state=HelseIdClient.State.DISABLED)
        .filter(system_id__in={system_id for system_id, _environment in assigned})
        .filter(Q(tenancy=HelseIdClient.Tenancy.MULTI) | Q(tenant=organisation))
        .select_related("system", "system__vendor")
        .annotate(supported_service_ids=ArraySubquery(supported))
        .order_by("system__name", "environment", "pk")
        # A tenant is one that uses the client's system in the client's environment.
        if (client.system_id, client.environment) in assigned
    ]
    if not clients:
        return []
    if live_orders is None:
        active_orders = list(
            Order.objects.filter(organisation=organisation, state=Order.State.ACTIVE).select_related("service")
        )
    else:
        active_orders = [order for order in live_orders if order.state == Order.State.ACTIVE]
    result = []
    for client in clients:
        scopes: set[str] = set()
        for order in active_orders:
            # A scope needs both: the organisation's active order and the system's declared support for the service.
            if order.environment == client.environment and order.service_id in client.supported_service_ids:
                scopes.update(order.service.scopes_for(client.system.kind))
        result.append((client, sorted(scopes)))
    return result


def keys_to_remind():
    """Active keys that expire soon and whose vendor has not been reminded yet."""
    horizon = timezone.localdate() + timedelta(days=settings.KEY_EXPIRY_REMINDER_DAYS)
    return ClientKey.objects.filter(
        retired_at__isnull=True, expiry_reminded_at__isnull=True, expires_on__isnull=False, expires_on__lte=horizon
    ).select_related("client", "client__system", "client__system__vendor")


@transaction.atomic
def send_expiry_reminder(key: ClientKey) -> None:
    # Mark first, in the same transaction as queueing the mail: a second run finds nothing to send.
    if not ClientKey.objects.filter(pk=key.pk, expiry_reminded_at__isnull=True).update(
        expiry_reminded_at=timezone.now()
    ):
        return
    vendor = key.client.system.vendor
    queue_email(
        "orders/email/key_expiring",
        {
            "client": str(key.client),
            "kid": key.kid,
            "expires_on": key.expires_on.isoformat(),
            "url": reverse("client_detail", args=[key.client.public_id]),
        },
        vendor_user_emails(vendor),
    )
    audit(action="helseid_client.key_expiry_reminded", obj=key.client, organisation=vendor, after={"kid": key.kid})
