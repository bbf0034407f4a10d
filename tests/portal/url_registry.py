"""Every URL the portal serves, and how the isolation and hostile-input suites treat it.

One line per URL name. A URL without a line fails `test_every_url_has_an_entry`, so a new page is
proven isolated (and its form fuzzed) from the day it is added. The kinds:

- `public(...)`: anyone, no object of an organisation (landing page, login, provider callbacks);
- `own(...)`: any logged-in person about themselves (register an organisation, login methods);
- `member(...)`: a member organisation's page or object: only its own people (NHN staff may look
  with `staff_reads=True`); everybody else gets 404/403 (anonymous: the login page);
- `vendor(...)`: the same for a vendor organisation's page or object (`org_number` is the vendor's);
- `staff(...)`: NHN customer-centre pages: 403 for everybody else;
- `third_party(...)`: allauth's and Django's own pages (no object of ours in them);
- `api(...)`: the self-service API (`/api/v1/`): a session is no credential there, so every persona
  gets 401; tests/api/test_api_isolation.py tries the same URLs with real DPoP tokens.

Object parameters are filled from the *foreign* side of `tests/portal/world.py` by their name
(`PARAMETERS`); `params={"name": value}` overrides one (a value, or a callable taking the side).
`form=` names the form class the page posts (its fields are fuzzed), or `fields=("name", ...)` the raw
POST fields the view reads; `actor=` is who may use the form on their own objects; `get_form=True` says
the form is a GET filter (query string); `search_forms=(Form, ...)` names GET filters a page shows beside
the form it posts. Example, for a new vendor page with a form:

    "vendor_widget_create": vendor(form=WidgetForm, actor="vendor_user"),
"""

from dataclasses import dataclass, field

from members.forms import (
    ClaimConfirmationRequestForm,
    ClaimDecisionForm,
    CompleteAccountForm,
    DelegationForm,
    InvitationForm,
    MembershipQueueFilterForm,
    OrganisationDirectoryFilterForm,
    OrgNumberForm,
    PersonNameForm,
    SignatureRequestForm,
    SignForm,
    TenantSearchForm,
    TermsDocumentForm,
    TermsPublishForm,
    VendorAssignmentForm,
    VendorRegisterForm,
    VendorSystemForm,
)
from orders.forms import ClientCreateForm, ClientTenantSearchForm, KeyUploadForm
from orders.views import OrderQueueFilterForm, ServiceForm
from portal.forms import AuditFeedFilterForm


@dataclass(frozen=True)
class Entry:
    access: str  # public | own | member | vendor | staff | third_party
    params: dict = field(default_factory=dict)
    staff_reads: bool = False  # NHN staff may GET it for any organisation
    form: type | None = None
    fields: tuple = ()
    actor: str = ""  # who may use the form on their own objects (hostile-input suite)
    get_form: bool = False
    # GET filter forms the page shows beside the form it posts (a search over a list on a detail page).
    search_forms: tuple = ()
    decision: str = ""
    logs_out: bool = False  # a POST ends the session, which the audit log records
    designed_5xx: tuple = ()  # a 5xx that is the page's own answer (503: a service not configured here)

    @property
    def form_fields(self) -> tuple:
        return tuple(self.form.base_fields) if self.form else self.fields


def public(**kw):
    return Entry("public", **kw)


def own(**kw):
    return Entry("own", **kw)


def member(**kw):
    return Entry("member", **kw)


def vendor(**kw):
    return Entry("vendor", **kw)


def staff(**kw):
    return Entry("staff", actor=kw.pop("actor", "nhn_staff"), **kw)


def third_party(**kw):
    return Entry("third_party", **kw)


def api(**kw):
    return Entry("api", **kw)


# Which object of a side fills a URL parameter of this name. Values that are no organisation's object
# (the published terms, a service code, an environment) are `global`: the same for everyone.
PARAMETERS = {
    "org_number": lambda side, entry: (side.vendor if entry.access == "vendor" else side.organisation).org_number,
    "invitation_id": lambda side, entry: side.invitation.public_id,
    "token": lambda side, entry: side.invitation_token,
    "acceptance_id": lambda side, entry: side.acceptance.public_id,
    "assignment_id": lambda side, entry: side.assignment.public_id,
    "system_id": lambda side, entry: side.system.public_id,
    "membership_id": lambda side, entry: side.membership.public_id,
    "order_id": lambda side, entry: side.submitted_order.public_id,
    "client_id": lambda side, entry: side.client.public_id,
    "kid": lambda side, entry: side.kid,
    "key_id": lambda side, entry: side.client.keys.get(kid=side.kid).public_id,
    "task_id": lambda side, entry: side.task.public_id,
    "claim_id": lambda side, entry: side.claim.public_id,
}
GLOBAL_PARAMETERS = {
    "document_id": lambda world: world.terms.public_id,
    "environment": lambda world: "test",
    "code": lambda world: "vkp-journaling",
    "decision": lambda world: "godkjenn",
    "pk": lambda world: 1,
    "key": lambda world: "nokkel",
    "uidb36": lambda world: "1",
    "object_id": lambda world: "1",
    "app_label": lambda world: "members",
    "content_type_id": lambda world: "1",
    "url": lambda world: "x",
    "slug": lambda world: "browser-only",
    # Outgoing mail is NHN's to follow, not an organisation's object: any message will do.
    "message_id": lambda world: _any_message_id(),
    # A bulk approval is NHN's own job, not an organisation's object.
    "job_id": lambda world: _any_bulk_approval_id(),
    # Reconciliation compares NHN's backing services with the portal: no organisation owns a run.
    "run_id": lambda world: _any_reconciliation_run_id(),
    "finding_id": lambda world: _any_reconciliation_finding_id(),
}


def _any_message_id():
    import uuid

    from portal.models import OutgoingMessage

    message = OutgoingMessage.objects.order_by("pk").first()
    return message.public_id if message is not None else uuid.uuid4()


def _any_reconciliation_run_id():
    import uuid

    from orders.models import ReconciliationRun

    run = ReconciliationRun.objects.order_by("pk").first()
    return run.public_id if run is not None else uuid.uuid4()


def _any_reconciliation_finding_id():
    import uuid

    from orders.models import ReconciliationFinding

    finding = ReconciliationFinding.objects.order_by("pk").first()
    return finding.public_id if finding is not None else uuid.uuid4()


def _any_bulk_approval_id():
    import uuid

    from orders.models import BulkApprovalJob

    job = BulkApprovalJob.objects.order_by("pk").first()
    return job.public_id if job is not None else uuid.uuid4()


REGISTRY = {
    # the self-service API (portal/api): its description is public, every operation needs a DPoP token
    "api-v1:api-root": public(),
    "api-v1:index": public(),
    "api-v1:openapi-json": public(),
    "api-v1:openapi-view": public(),
    "api-v1:problem_type": public(),
    "api-v1:tenants": api(),
    "api-v1:tenant_provisioning": api(),
    "api-v1:systems": api(),
    "api-v1:system_create": api(),
    "api-v1:clients": api(),
    "api-v1:client_create": api(),
    "api-v1:client_detail": api(),
    "api-v1:client_keys_add": api(),
    "api-v1:client_key_retire": api(),
    "api-v1:client_configuration": api(),
    "api-v1:client_provisioning": api(),
    "api-v1:vendor_sign": api(),
    "api-v1:membership": api(),
    "api-v1:member_orders": api(),
    "api-v1:member_order": api(),
    "api-v1:member_systems": api(),
    "api-v1:member_clients": api(),
    "api-v1:member_sign": api(),
    # portal
    "home": public(),
    "healthz": public(),
    "member_dashboard": member(staff_reads=True),  # staff land on the lifecycle page
    # its tenant search; staff land on the lifecycle page
    "vendor_dashboard": vendor(form=TenantSearchForm, actor="vendor_user", get_form=True, staff_reads=True),
    "vendor_tenant_status": vendor(fields=("org",), get_form=True, actor="vendor_user"),  # the tenant poll: ?org=…
    "staff_dashboard": staff(),
    "staff_outgoing_mail": staff(),
    "staff_audit_feed": staff(form=AuditFeedFilterForm, get_form=True),
    "staff_mail_decide": staff(fields=("reason", "from"), decision="avbryt"),
    # sign-in (members.urls): the providers are not configured in the tests, so these answer 404
    "oidc_login_helseid": public(),
    "oidc_callback_helseid": public(),
    "oidc_login_idporten": public(),
    "oidc_callback_idporten": public(),
    "oidc_backchannel_logout_helseid": public(),  # the provider POSTs a signed logout token here
    "oidc_backchannel_logout_idporten": public(),
    "oidc_complete": own(form=CompleteAccountForm, actor="anonymous"),
    "login_methods": own(),
    "authority_stepup": own(designed_5xx=(503,)),  # ID-porten is not configured in the tests
    "account_profile": own(form=PersonNameForm, actor="administrator"),
    "oidc_logout": own(logs_out=True),
    "oidc_logged_out": public(),
    # an invitation's token is its own key: without it (a made-up one here) nothing is shown
    "invitation_landing": public(params={"token": "ukjent-invitasjon"}),
    # claims (issue 11): an application is its claimant's (and NHN's) only
    "claim_ask_admins": own(form=OrgNumberForm, actor="outsider"),
    "claim_detail": member(staff_reads=True, form=ClaimConfirmationRequestForm, actor="outsider"),
    "claim_confirm_self": member(staff_reads=True),  # NHN may open any application; a POST changes nothing
    "claim_confirm": public(params={"token": "ukjent-soknad"}),
    "staff_claim_queue": staff(),
    "staff_claim_decide": staff(form=ClaimDecisionForm, decision="avvis"),
    # the quick start's bundled test ID-porten (dev and test only)
    **{
        name: public()
        for name in (
            "testidporten_authorize",
            "testidporten_discovery",
            "testidporten_endsession",
            "testidporten_jwks",
            "testidporten_root",
            "testidporten_token",
        )
    },
    # members
    "organisation_people": member(form=InvitationForm, actor="administrator"),
    "invitation_revoke": member(),
    "membership_register": own(form=OrgNumberForm, actor="outsider"),
    "vendor_register": own(form=VendorRegisterForm, actor="outsider"),
    "acceptance_receipt": member(staff_reads=True),
    "membership_detail": member(staff_reads=True),  # staff land on the lifecycle page
    "organisation_history": member(),
    # the lifecycle page (issue 16): its own people and NHN staff; a vendor only for a tenant (never the foreign one)
    "organisation_lifecycle": member(staff_reads=True, fields=("type", "side"), get_form=True, actor="viewer"),
    "delegation_create": member(form=DelegationForm, actor="signatory"),
    "terms_sign": member(form=SignForm, actor="signatory"),
    "signature_request": member(form=SignatureRequestForm, actor="administrator"),
    "assignment_create": member(form=VendorAssignmentForm, actor="administrator"),
    "assignment_end": member(),
    "vendor_system_create": vendor(form=VendorSystemForm, actor="vendor_user"),
    "vendor_system_services": vendor(fields=("support",), actor="vendor_user"),
    "staff_membership_queue": staff(form=MembershipQueueFilterForm, get_form=True),
    "staff_organisation_directory": staff(form=OrganisationDirectoryFilterForm, get_form=True),
    "staff_membership_detail": staff(),
    "staff_membership_decide": staff(fields=("reason", "from"), decision="avvis"),
    "staff_terms_list": staff(),
    "staff_terms_create": staff(form=TermsDocumentForm),
    "staff_terms_detail": staff(form=TermsPublishForm),
    # orders
    "order_detail": member(staff_reads=True),
    "order_cancel": member(),
    "catalogue": member(fields=("miljo",), get_form=True, actor="administrator"),
    "basket_add": member(fields=("service", "miljo"), actor="administrator"),
    "basket_remove": member(),
    "basket_submit": member(fields=("miljo",), actor="administrator"),
    "order_confirmation": member(),
    "client_create": vendor(form=ClientCreateForm, actor="vendor_user"),
    "client_detail": vendor(
        staff_reads=True, form=KeyUploadForm, actor="vendor_user", search_forms=(ClientTenantSearchForm,)
    ),
    "client_configuration": vendor(staff_reads=True),
    "client_sheet": vendor(staff_reads=True),
    "client_key_retire": vendor(),
    "staff_order_queue": staff(form=OrderQueueFilterForm, get_form=True),
    "client_disable": vendor(),
    "staff_provisioning_failures": staff(),
    "staff_task_decide": staff(fields=("reason", "from"), decision="avbryt"),
    "staff_service_list": staff(),
    "staff_service_edit": staff(form=ServiceForm),
    "staff_orders_bulk_approve": staff(fields=("orders",)),
    "staff_bulk_approval_start": staff(form=OrderQueueFilterForm),
    "staff_bulk_approval_job": staff(),
    "staff_reconciliation": staff(),
    "staff_reconciliation_request": staff(),
    "staff_reconciliation_run": staff(),
    "staff_finding_decide": staff(fields=("reason", "from"), decision="behold"),
    "staff_order_decide": staff(fields=("reason", "from"), decision="avvis"),
    # allauth (konto/) and Django's language switch
    "account_login": third_party(),
    "account_logout": third_party(logs_out=True),
    "account_inactive": third_party(),
    "account_signup": third_party(),
    "account_reauthenticate": third_party(),
    "account_email": third_party(),
    "account_email_verification_sent": third_party(),
    "account_change_password": third_party(),
    "account_set_password": third_party(),
    "account_reset_password": third_party(),
    "account_confirm_login_code": third_party(),
    "account_confirm_email": third_party(),
    "account_reset_password_from_key_done": third_party(),
    "account_reset_password_from_key": third_party(),
    "account_reset_password_done": third_party(),
    "mfa_index": third_party(),
    "mfa_authenticate": third_party(),
    "mfa_reauthenticate": third_party(),
    "mfa_activate_totp": third_party(),
    "mfa_deactivate_totp": third_party(),
    "mfa_view_recovery_codes": third_party(),
    "mfa_generate_recovery_codes": third_party(),
    "mfa_download_recovery_codes": third_party(),
    "mfa_list_webauthn": third_party(),
    "mfa_add_webauthn": third_party(),
    "mfa_reauthenticate_webauthn": third_party(),
    "mfa_remove_webauthn": third_party(),
    "mfa_edit_webauthn": third_party(),
    "set_language": third_party(),
}

# Django's admin registers a URL per model; the whole namespace is one entry (NHN staff do not use it).
PREFIXES = {"admin:": third_party(), "admin/": third_party()}


def entry_for(name: str) -> Entry | None:
    if name in REGISTRY:
        return REGISTRY[name]
    return next((entry for prefix, entry in PREFIXES.items() if name.startswith(prefix)), None)
