"""Pydantic schemas of the self-service API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import Field

Environment = Literal["test", "prod"]


class Problem(Schema):
    """RFC 9457 problem details (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class SupportedServiceIn(Schema):
    service: str = Field(..., min_length=1, max_length=100, description="A service code from the catalogue.")
    environment: Environment


class SupportedServiceOut(Schema):
    service: str
    environment: str


class SystemIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    kind: Literal["epj", "vft", "dho"]
    product: str = Field("", max_length=100)
    supported_services: list[SupportedServiceIn] = Field(default_factory=list, max_length=100)


class SystemOut(Schema):
    id: UUID
    name: str
    kind: str
    product: str
    supported_services: list[SupportedServiceOut]


class SystemPage(Schema):
    items: list[SystemOut]
    next_cursor: str | None


class OrderOut(Schema):
    id: UUID
    organisation: str
    service: str
    environment: str
    state: str
    submitted_at: datetime | None
    activated_at: datetime | None


class StepOut(Schema):
    id: UUID
    kind: str
    reason: str
    state: str
    attempts: int
    created_at: datetime
    completed_at: datetime | None
    order: UUID | None
    client: UUID | None
    # State "superseded": the newer step whose run does this one's work.
    superseded_by: UUID | None = None


class OrderWithSteps(OrderOut):
    steps: list[StepOut]


class OrderPage(Schema):
    items: list[OrderWithSteps]
    next_cursor: str | None


class AssignmentOut(Schema):
    system: UUID
    system_name: str
    vendor: str
    environment: str
    starts_on: date


class TenantOut(Schema):
    org_number: str
    name: str
    membership_state: str | None
    assignments: list[AssignmentOut]
    orders: list[OrderOut]
    production_blockers: list[str]


class TenantPage(Schema):
    items: list[TenantOut]
    next_cursor: str | None


class TenantProvisioning(Schema):
    org_number: str
    under_way: bool
    orders: list[OrderWithSteps]


class KeyOut(Schema):
    id: UUID
    kid: str
    alg: str
    kty: str
    size: int | None
    thumbprint: str
    expires_on: date | None
    retired_at: datetime | None
    created_at: datetime


class ClientIn(Schema):
    system: UUID
    environment: Environment
    tenancy: Literal["multi-tenant", "single-tenant"]
    tenant: str | None = Field(None, pattern=r"^\d{9}$", description="Single-tenant only: the municipality.")


class ClientTenantOut(Schema):
    org_number: str
    name: str
    scopes: list[str]


class ClientOut(Schema):
    id: UUID
    client_id: UUID
    system: UUID
    environment: str
    tenancy: str
    tenant: str | None
    state: str
    created_at: datetime


class ClientDetail(ClientOut):
    keys: list[KeyOut]
    tenants: list[ClientTenantOut]


class ClientPage(Schema):
    items: list[ClientOut]
    next_cursor: str | None


class KeysIn(Schema):
    """One of: a public JWK or JWKS (as JSON), or the https address of the vendor's JWKS."""

    jwk: dict[str, Any] | None = Field(None, description='A public JWK, or a JWKS ({"keys": [...]}).')
    jwks_url: str | None = Field(None, max_length=2000)
    expires_on: date | None = None


class StepPage(Schema):
    items: list[StepOut]
    next_cursor: str | None


class AcceptanceOut(Schema):
    document: str
    kind: str
    version: str
    accepted_at: datetime


class MembershipOut(Schema):
    org_number: str
    name: str
    membership_state: str | None
    terms_version: str | None
    new_terms_to_accept: bool
    acceptances: list[AcceptanceOut]


class ActingClientOut(Schema):
    client_id: UUID
    vendor: str
    vendor_name: str
    system_name: str
    environment: str
    tenancy: str
    scopes: list[str]


class Index(Schema):
    version: str
    openapi: str
    docs: str
    browser_only: list[str]
