"""Operations of the self-service API. Thin: the same services, selectors and permission rules as the pages."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query, Router, Status, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from pydantic import Field

from members.models import Membership, Organisation, TermsDocument, User, VendorAssignment, VendorSystem
from members.selectors import vendor_tenant_organisations, vendor_tenants
from members.services.vendors import vendor_system_create, vendor_system_set_services
from orders import helseid, selectors
from orders.models import ClientKey, HelseIdClient, Order, ProvisioningTask, Service
from portal.text import find_unsafe

from . import schemas as s
from .auth import SCOPE_MEMBER_READ, SCOPE_VENDOR_READ, SCOPE_VENDOR_WRITE, Caller, DPoPAuth
from .problems import PROBLEMS, ApiProblem, problem_body, problem_response

ERRORS = {400: s.Problem, 401: s.Problem, 403: s.Problem, 404: s.Problem, 422: s.Problem, 429: s.Problem}
BROWSER_ONLY = [
    "Signing membership, usage and vendor terms (ID-porten at level high, a person)",
    "NHN's decisions: approving, rejecting, suspending memberships and orders",
    "Ordering services (an administrator in the browser)",
]


def api_language(request) -> str:
    """English when the caller's Accept-Language prefers it, else bokmål (the portal's default)."""
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith(("nb", "no", "nn")) or tag == "*":
            return "nb"
    return "nb"


class UnsafeText(ValueError):
    """A JSON body with a NUL character or a lone surrogate in a name or value (PostgreSQL stores neither)."""


def _refuse_unsafe(value) -> None:
    if isinstance(value, str):
        if find_unsafe(value):
            raise UnsafeText
    elif isinstance(value, dict):
        for name, item in value.items():
            _refuse_unsafe(name)
            _refuse_unsafe(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_unsafe(item)


class TextCheckingParser(Parser):
    """JSON bodies, refused (400, bad-request) when any string in them carries NUL or a lone surrogate.

    The API's counterpart of portal.middleware.RefuseUnsafeTextMiddleware, which sees only form bodies.
    """

    def parse_body(self, request):
        data = super().parse_body(request)
        _refuse_unsafe(data)
        return data


class PortalApi(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """Error answers are problem details: say application/problem+json for them, as they are sent."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(status) >= "400" and "application/json" in content:
                        content["application/problem+json"] = content.pop("application/json")
        return schema

    def create_response(self, request, data, *args, **kwargs):
        response = super().create_response(request, data, *args, **kwargs)
        response["Content-Language"] = translation.get_language()
        return response


api = PortalApi(
    title="Helsenett Selvbetjening API",
    version="1",
    description=(
        "The vendor's and the municipality's self-service, for their own automation. Every call carries a "
        "HelseID access token (audience `API_AUDIENCE`, default `nhn:selvbetjening`) as `Authorization: DPoP …` "
        "with a DPoP proof (RFC 9449); Bearer tokens are refused. The organisation acting is the token's "
        "(`orgnr_supplier`/`orgnr_parent`). Errors are RFC 9457 problem details in the language of "
        "Accept-Language (bokmål by default, English). Signing terms and NHN's decisions are done in the browser."
    ),
    urls_namespace="api-v1",
    docs=Swagger(settings={"persistAuthorization": False}),
    parser=TextCheckingParser(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(ApiProblem)
def _problem(request, exc: ApiProblem):
    return problem_response(request, exc)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return problem_response(request, ApiProblem("unauthenticated"))


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc):
    errors = [
        {"loc": [str(part) for part in error.get("loc", [])], "msg": str(error.get("msg", ""))} for error in exc.errors
    ]
    return problem_response(request, ApiProblem("validation-error", errors=errors))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem_response(request, ApiProblem("not-found", str(exc) if str(exc) else ""))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    slug = {400: "bad-request", 404: "not-found", 429: "rate-limited"}.get(exc.status_code, "bad-request")
    detail = ""
    if isinstance(exc.__cause__, UnsafeText):  # ninja wraps what the parser raises
        detail = _("The request contains characters that cannot be used.")  # as portal.middleware says
    return problem_response(request, ApiProblem(slug, detail))


def with_language(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        with translation.override(api_language(request)):
            request.LANGUAGE_CODE = translation.get_language()
            response = view(request, *args, **kwargs)
        # Answers carry organisations' clients, keys and orders: no cache keeps them (the pages' rule).
        response["Cache-Control"] = "no-store"
        return response

    return wrapper


def urls():
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = with_language(pattern.callback)
    return patterns, app_name, namespace


# The acting organisation and the audit actor -----------------------------------------------------


def acting_vendor(caller: Caller) -> Organisation:
    organisation = Organisation.objects.filter(
        org_number=caller.vendor_orgnr, kind__in=Organisation.VENDOR_KINDS
    ).first()
    if organisation is None:
        raise Http404(_("No such organisation."))
    return organisation


def acting_member(caller: Caller) -> Organisation:
    organisation = Organisation.objects.filter(
        org_number=caller.orgnr_parent, kind__in=Organisation.MEMBER_KINDS
    ).first()
    if organisation is None:
        raise Http404(_("No such organisation."))
    return organisation


def api_actor(caller: Caller) -> User:
    """The account the audit log and `created_by` name for an API client: one per HelseID client, never
    able to log in (no password, inactive). Its address says which client it is."""
    email = f"api-client+{hashlib.sha256(caller.client_id.encode()).hexdigest()[:24]}@api.invalid"
    user = User.objects.filter(email=email).first()
    if user is None:
        try:
            with transaction.atomic():
                user = User(email=email, first_name="API", last_name=caller.client_id[:150], is_active=False)
                user.set_unusable_password()
                user.save()
        except IntegrityError:
            user = User.objects.get(email=email)
    return user


def refused(exc: ValidationError) -> ApiProblem:
    return ApiProblem("refused", exc.messages[0] if exc.messages else "")


# Cursor pagination --------------------------------------------------------------------------------


class PageParams(s.Schema):
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the page before.")
    limit: int = Field(50, ge=1, le=200)


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise ApiProblem("bad-request", _("The cursor is not valid.")) from None


def paginate(items: list, key, page: PageParams) -> tuple[list, str | None]:
    """Items ordered by a unique string key; the cursor is the last key of the page (opaque to callers)."""
    after = _decode_cursor(page.cursor)
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    chunk = ordered[: page.limit]
    more = len(ordered) > page.limit
    next_cursor = base64.urlsafe_b64encode(key(chunk[-1]).encode()).rstrip(b"=").decode() if more and chunk else None
    return chunk, next_cursor


def paginate_queryset(queryset, page: PageParams) -> tuple[list, str | None]:
    after = _decode_cursor(page.cursor)
    if after is not None:
        if not after.isdigit() or len(after) > 18:
            raise ApiProblem("bad-request", _("The cursor is not valid."))
        queryset = queryset.filter(pk__gt=int(after))
    rows = list(queryset.order_by("pk")[: page.limit + 1])
    chunk = rows[: page.limit]
    next_cursor = (
        base64.urlsafe_b64encode(str(chunk[-1].pk).encode()).rstrip(b"=").decode() if len(rows) > page.limit else None
    )
    return chunk, next_cursor


# Idempotency --------------------------------------------------------------------------------------


def idempotent(view):
    """Idempotency-Key on a POST: the same key and request gets the first answer again; the same key
    with another request is refused (422). Without the header the call simply runs."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        from portal.models import ApiIdempotencyRecord

        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return view(request, *args, **kwargs)
        if len(key) > 255 or not key.isprintable():
            raise ApiProblem("bad-request", _("The Idempotency-Key must be 1–255 printable characters."))
        caller = request.auth
        digest = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"\n" + request.body
        ).hexdigest()
        record = ApiIdempotencyRecord.objects.filter(client_id=caller.client_id, key=key).first()
        if record is not None:
            if record.request_digest != digest:
                raise ApiProblem("idempotency-key-reused", _("This Idempotency-Key was used for another request."))
            return Status(record.status, record.body)
        with transaction.atomic():
            result = view(request, *args, **kwargs)
            status, body = result.status_code, result.value
            data = json.loads(api.renderer.render(request, body, response_status=status))
            try:
                with transaction.atomic():
                    ApiIdempotencyRecord.objects.create(
                        client_id=caller.client_id, key=key, request_digest=digest, status=status, body=data
                    )
                ApiIdempotencyRecord.objects.filter(
                    created_at__lt=timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_KEEP_HOURS)
                ).delete()
            except IntegrityError:  # the same key at the same moment: the first one's answer stands
                transaction.set_rollback(True)
                raise ApiProblem("idempotency-key-reused", _("This Idempotency-Key is being used right now.")) from None
        return Status(status, data)

    return wrapper


# Shapes -------------------------------------------------------------------------------------------


def system_out(system: VendorSystem) -> dict:
    return {
        "id": system.public_id,
        "name": system.name,
        "kind": system.kind,
        "product": system.product,
        "supported_services": [
            {"service": supported.service.code, "environment": supported.environment}
            for supported in system.supported_services.all()
        ],
    }


def order_out(order: Order) -> dict:
    return {
        "id": order.public_id,
        "organisation": order.organisation.org_number,
        "service": order.service.code,
        "environment": order.environment,
        "state": order.state,
        "submitted_at": order.submitted_at,
        "activated_at": order.activated_at,
    }


def step_out(step: ProvisioningTask) -> dict:
    return {
        "id": step.public_id,
        "kind": step.kind,
        "reason": step.reason,
        "state": step.state,
        "attempts": step.attempts,
        "created_at": step.created_at,
        "completed_at": step.completed_at,
        "order": step.order.public_id if step.order_id else None,
        "client": step.client.public_id if step.client_id else None,
        "superseded_by": step.superseded_by.public_id if step.superseded_by_id else None,
    }


def client_out(client: HelseIdClient) -> dict:
    return {
        "id": client.public_id,
        "client_id": client.client_id,
        "system": client.system.public_id,
        "environment": client.environment,
        "tenancy": client.tenancy,
        "tenant": client.tenant.org_number if client.tenant_id else None,
        "state": client.state,
        "created_at": client.created_at,
    }


def key_out(key: ClientKey) -> dict:
    return {
        "id": key.public_id,
        "kid": key.kid,
        "alg": key.alg,
        "kty": key.kty,
        "size": key.size,
        "thumbprint": key.thumbprint,
        "expires_on": key.expires_on,
        "retired_at": key.retired_at,
        "created_at": key.created_at,
    }


def client_detail_out(client: HelseIdClient) -> dict:
    return {
        **client_out(client),
        "keys": [key_out(key) for key in client.keys.order_by("created_at", "pk")],
        "tenants": [
            {"org_number": t.organisation.org_number, "name": t.organisation.name, "scopes": list(t.scopes)}
            for t in helseid.client_tenants(client)
        ],
    }


def vendor_client(vendor: Organisation, client_id) -> HelseIdClient:
    """One of the vendor's own clients; any other is 404, as orders.permissions.get_client_for_user answers."""
    client = (
        HelseIdClient.objects.select_related("system", "system__vendor", "tenant")
        .filter(public_id=client_id, system__vendor=vendor)
        .first()
    )
    if client is None:
        raise Http404(_("No such client."))
    return client


# Index --------------------------------------------------------------------------------------------


@api.get("/", response=s.Index, summary="What this API is and what stays in the browser", auth=None)
def index(request):
    return {
        "version": "1",
        "openapi": request.build_absolute_uri("/api/v1/openapi.json"),
        "docs": request.build_absolute_uri("/api/v1/docs"),
        "browser_only": [str(item) for item in BROWSER_ONLY],
    }


@api.get("/problems/{slug}", response={200: s.Problem, 404: s.Problem}, summary="A problem type", auth=None)
def problem_type(request, slug: str):
    if slug not in PROBLEMS:
        raise ApiProblem("not-found")
    return Status(200, problem_body(slug))


# Vendor operations --------------------------------------------------------------------------------

vendor_router = Router(tags=["vendor"])
read = DPoPAuth(SCOPE_VENDOR_READ)
write = DPoPAuth(SCOPE_VENDOR_WRITE)


@vendor_router.get(
    "/tenants", response={200: s.TenantPage, **ERRORS}, auth=read, summary="The municipalities using our systems"
)
def tenants(request, page: Query[PageParams]):
    vendor = acting_vendor(request.auth)
    # One page cut by the database (by organisation number), then only that page's rows built.
    after = _decode_cursor(page.cursor)
    organisations = vendor_tenant_organisations(vendor).order_by("org_number")
    if after is not None:
        if not (after.isascii() and after.isdigit() and len(after) <= 9):
            raise ApiProblem("bad-request", _("The cursor is not valid."))
        organisations = organisations.filter(org_number__gt=after)
    rows = list(organisations[: page.limit + 1])
    chunk = rows[: page.limit]
    items = [
        {
            "org_number": tenant["organisation"].org_number,
            "name": tenant["organisation"].name,
            "membership_state": tenant["membership"].state if tenant["membership"] else None,
            "assignments": [
                {
                    "system": a.system.public_id,
                    "system_name": a.system.name,
                    "vendor": vendor.org_number,
                    "environment": a.environment,
                    "starts_on": a.starts_on,
                }
                for a in tenant["assignments"]
            ],
            "orders": [order_out(order) for order in tenant["orders"]],
            "production_blockers": tenant["production_blockers"],
        }
        for tenant in vendor_tenants(vendor, organisations=chunk)
    ]
    items.sort(key=lambda item: item["org_number"])
    more = len(rows) > page.limit
    cursor = base64.urlsafe_b64encode(chunk[-1].org_number.encode()).rstrip(b"=").decode() if more else None
    return {"items": items, "next_cursor": cursor}


@vendor_router.get(
    "/tenants/{org_number}/provisioning",
    response={200: s.TenantProvisioning, **ERRORS},
    auth=read,
    summary="A tenant's orders and our provisioning steps for it",
)
def tenant_provisioning(request, org_number: str):
    vendor = acting_vendor(request.auth)
    # This tenant only, not the vendor's whole tenant set filtered afterwards.
    wanted = Organisation.objects.filter(org_number=org_number) if org_number.isascii() and org_number.isdigit() else []
    tenant = vendor_tenants(vendor, organisations=wanted)
    if not tenant:
        raise Http404(_("No such organisation."))
    under_way = selectors.attach_vendor_steps(tenant, vendor)
    return Status(
        200,
        {
            "org_number": org_number,
            "under_way": under_way,
            "orders": [{**order_out(o), "steps": [step_out(t) for t in o.vendor_steps]} for o in tenant[0]["orders"]],
        },
    )


@vendor_router.get("/systems", response={200: s.SystemPage, **ERRORS}, auth=read, summary="Our vendor systems")
def systems(request, page: Query[PageParams]):
    vendor = acting_vendor(request.auth)
    queryset = VendorSystem.objects.filter(vendor=vendor).prefetch_related("supported_services__service")
    chunk, cursor = paginate_queryset(queryset, page)
    return {"items": [system_out(system) for system in chunk], "next_cursor": cursor}


@vendor_router.post("/systems", response={201: s.SystemOut, **ERRORS}, auth=write, summary="Register a system")
@idempotent
def system_create(request, payload: s.SystemIn):
    vendor = acting_vendor(request.auth)
    by = api_actor(request.auth)
    services = {service.code: service for service in Service.objects.filter(is_listed=True)}
    supported = set()
    for item in payload.supported_services:
        if item.service not in services:
            raise ApiProblem("refused", _("There is no service %(code)s.") % {"code": item.service})
        supported.add((services[item.service].pk, item.environment))
    try:
        with transaction.atomic():
            system = vendor_system_create(
                vendor=vendor, name=payload.name, kind=payload.kind, product=payload.product, by=by, request=request
            )
            if supported:
                vendor_system_set_services(system=system, supported=supported, by=by, request=request)
    except ValidationError as exc:
        raise refused(exc) from None
    return Status(201, system_out(system))


@vendor_router.get("/clients", response={200: s.ClientPage, **ERRORS}, auth=read, summary="Our HelseID clients")
def clients(request, page: Query[PageParams]):
    vendor = acting_vendor(request.auth)
    queryset = HelseIdClient.objects.filter(system__vendor=vendor).select_related("system", "tenant")
    chunk, cursor = paginate_queryset(queryset, page)
    return {"items": [client_out(client) for client in chunk], "next_cursor": cursor}


@vendor_router.post("/clients", response={201: s.ClientDetail, **ERRORS}, auth=write, summary="Create a HelseID client")
@idempotent
def client_create(request, payload: s.ClientIn):
    vendor = acting_vendor(request.auth)
    system = VendorSystem.objects.filter(vendor=vendor, public_id=payload.system).first()
    if system is None:
        raise Http404(_("No such system."))
    tenant = None
    if payload.tenancy == HelseIdClient.Tenancy.SINGLE and payload.tenant:
        # As the page's form: only a municipality that registered one of our systems can be chosen.
        tenant = Organisation.objects.filter(
            org_number=payload.tenant,
            pk__in=VendorAssignment.objects.active().filter(system__vendor=vendor).values("organisation_id"),
        ).first()
        if tenant is None:
            raise Http404(_("No such organisation."))
    try:
        client = helseid.client_create(
            system=system,
            environment=payload.environment,
            tenancy=payload.tenancy,
            tenant=tenant,
            by=api_actor(request.auth),
            request=request,
        )
    except ValidationError as exc:
        raise refused(exc) from None
    return Status(201, client_detail_out(client))


@vendor_router.get(
    "/clients/{client_id}",
    response={200: s.ClientDetail, **ERRORS},
    auth=read,
    summary="A client, its keys and tenants",
)
def client_detail(request, client_id: s.UUID):
    return Status(200, client_detail_out(vendor_client(acting_vendor(request.auth), client_id)))


@vendor_router.post(
    "/clients/{client_id}/keys",
    response={201: list[s.KeyOut], **ERRORS},
    auth=write,
    summary="Add public keys (a JWK, a JWKS, or a JWKS address)",
)
@idempotent
def client_keys_add(request, client_id: s.UUID, payload: s.KeysIn):
    client = vendor_client(acting_vendor(request.auth), client_id)
    if (payload.jwk is None) == (not payload.jwks_url):
        raise ApiProblem("refused", _("Paste a public key or give a JWKS address (one of them)."))
    try:
        added = helseid.client_keys_add(
            client=client,
            keys_text=json.dumps(payload.jwk) if payload.jwk is not None else "",
            jwks_url=payload.jwks_url or "",
            expires_on=payload.expires_on,
            by=api_actor(request.auth),
            request=request,
        )
    except ValidationError as exc:
        raise refused(exc) from None
    return Status(201, [key_out(key) for key in added])


@vendor_router.post(
    "/clients/{client_id}/keys/{key_id}/retire",
    response={200: s.KeyOut, **ERRORS},
    auth=write,
    summary="Retire a key",
)
@idempotent
def client_key_retire(request, client_id: s.UUID, key_id: s.UUID):
    client = vendor_client(acting_vendor(request.auth), client_id)
    key = ClientKey.objects.filter(client=client, public_id=key_id).first()
    if key is None:
        raise Http404(_("No such key."))
    try:
        key = helseid.client_key_retire(key=key, by=api_actor(request.auth), request=request)
    except ValidationError as exc:
        raise refused(exc) from None
    return Status(200, key_out(key))


@vendor_router.get(
    "/clients/{client_id}/configuration",
    response={200: dict, **ERRORS},
    auth=read,
    summary="The client's configuration (the same JSON as the page's download)",
)
def client_configuration(request, client_id: s.UUID):
    return Status(200, helseid.configuration(vendor_client(acting_vendor(request.auth), client_id)))


@vendor_router.get(
    "/clients/{client_id}/provisioning",
    response={200: s.StepPage, **ERRORS},
    auth=read,
    summary="The client's provisioning steps, newest first",
)
def client_provisioning(request, client_id: s.UUID, page: Query[PageParams]):
    client = vendor_client(acting_vendor(request.auth), client_id)
    steps = list(client.provisioning_tasks.select_related("order", "client", "superseded_by"))
    chunk, cursor = paginate(steps, lambda step: f"{step.pk:020d}", page)
    return Status(200, {"items": [step_out(step) for step in chunk], "next_cursor": cursor})


@vendor_router.post(
    "/terms/sign", response={403: s.Problem, **ERRORS}, auth=read, summary="Signing vendor terms: in the browser only"
)
def vendor_sign(request):
    raise ApiProblem("browser-only", _("Terms are signed in the browser by a person identified with ID-porten."))


# Member operations (read) -------------------------------------------------------------------------

member_router = Router(tags=["member"])
member_read = DPoPAuth(SCOPE_MEMBER_READ)


@member_router.get(
    "/membership", response={200: s.MembershipOut, **ERRORS}, auth=member_read, summary="Membership and terms"
)
def membership(request):
    organisation = acting_member(request.auth)
    membership = (
        Membership.objects.live().filter(organisation=organisation).select_related("acceptance__document").first()
    )
    current = TermsDocument.objects.in_force(TermsDocument.Kind.MEMBERSHIP)
    acceptances = organisation.acceptances.select_related("document").order_by("signed_at", "pk")
    return Status(
        200,
        {
            "org_number": organisation.org_number,
            "name": organisation.name,
            "membership_state": membership.state if membership else None,
            "terms_version": membership.acceptance.document.version
            if membership and membership.acceptance_id
            else None,
            "new_terms_to_accept": bool(membership and membership.needs_new_terms(current)),
            "acceptances": [
                {
                    "document": a.document.title,
                    "kind": a.document.kind,
                    "version": a.document.version,
                    "accepted_at": a.signed_at,
                }
                for a in acceptances
            ],
        },
    )


def member_order_rows(organisation, orders: list[Order]) -> list[dict]:
    steps: dict[int, list] = {}
    for task in ProvisioningTask.objects.filter(order__in=[o.pk for o in orders]).select_related(
        "order", "client", "superseded_by"
    ):
        steps.setdefault(task.order_id, []).append(task)
    return [{**order_out(o), "steps": [step_out(t) for t in steps.get(o.pk, [])]} for o in orders]


@member_router.get(
    "/orders", response={200: s.OrderPage, **ERRORS}, auth=member_read, summary="Our orders and their steps"
)
def member_orders(request, page: Query[PageParams]):
    organisation = acting_member(request.auth)
    queryset = Order.objects.filter(organisation=organisation).select_related("organisation", "service")
    chunk, cursor = paginate_queryset(queryset, page)
    return Status(200, {"items": member_order_rows(organisation, chunk), "next_cursor": cursor})


@member_router.get(
    "/orders/{order_id}", response={200: s.OrderWithSteps, **ERRORS}, auth=member_read, summary="One order"
)
def member_order(request, order_id: s.UUID):
    organisation = acting_member(request.auth)
    order = (
        Order.objects.filter(organisation=organisation, public_id=order_id)
        .select_related("organisation", "service")
        .first()
    )
    if order is None:
        raise Http404(_("No such order."))
    return Status(200, member_order_rows(organisation, [order])[0])


@member_router.get(
    "/systems", response={200: list[s.AssignmentOut], **ERRORS}, auth=member_read, summary="Vendor systems in use"
)
def member_systems(request):
    organisation = acting_member(request.auth)
    assignments = VendorAssignment.objects.active().filter(organisation=organisation).select_related("system__vendor")
    return Status(
        200,
        [
            {
                "system": a.system.public_id,
                "system_name": a.system.name,
                "vendor": a.system.vendor.org_number,
                "environment": a.environment,
                "starts_on": a.starts_on,
            }
            for a in assignments.order_by("pk")
        ],
    )


@member_router.get(
    "/clients", response={200: list[s.ActingClientOut], **ERRORS}, auth=member_read, summary="Clients acting for us"
)
def member_clients(request):
    organisation = acting_member(request.auth)
    return Status(
        200,
        [
            {
                "client_id": client.client_id,
                "vendor": client.system.vendor.org_number,
                "vendor_name": client.system.vendor.name,
                "system_name": client.system.name,
                "environment": client.environment,
                "tenancy": client.tenancy,
                "scopes": list(scopes),
            }
            for client, scopes in helseid.clients_acting_for(organisation)
        ],
    )


@member_router.post(
    "/terms/sign", response={403: s.Problem, **ERRORS}, auth=member_read, summary="Signing terms: in the browser only"
)
def member_sign(request):
    raise ApiProblem("browser-only", _("Terms are signed in the browser by a person identified with ID-porten."))


api.add_router("/vendor", vendor_router)
api.add_router("/member", member_router)
