import re
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from portal.confirm import confirm_page
from portal.decisions import staff_decide
from portal.models import AuditEvent
from portal.pagination import CappedCountPaginator
from portal.pdf import render_pdf
from portal.transitions import InvalidTransition

from . import authority, enhetsregisteret, invitations, lifecycle, oidc, selectors, services
from .forms import (
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
    TermsDocumentForm,
    TermsPublishForm,
    VendorAssignmentForm,
    VendorRegisterForm,
    VendorSystemForm,
)
from .models import (
    Acceptance,
    Affiliation,
    Invitation,
    Membership,
    Organisation,
    OrganisationClaim,
    TermsDocument,
    VendorAssignment,
    VendorSystem,
)
from .permissions import (
    get_acceptance_for_user,
    get_agreement_organisation_for_user,
    get_claim_for_user,
    get_lifecycle_organisation_for_user,
    get_member_organisation_for_user,
    get_membership_for_staff,
    get_vendor_organisation_for_user,
    nhn_staff_required,
    require_role,
    staff_landing,
)

Role = Affiliation.Role


def _first_error(error: ValidationError) -> str:
    return error.messages[0]


# Registration ----------------------------------------------------------------------------------


def _register(request, *, number: str, vendor_kind: str = ""):
    """The person registers an organisation: an applicant until a signatory or NHN confirms them.

    An administrator of an organisation already in the portal applies again for its membership.
    """
    organisation = Organisation.objects.filter(org_number=number).first()
    role = Role.VENDOR_USER if vendor_kind else Role.ADMIN
    if organisation and organisation.affiliations.filter(user=request.user, role=role).exists():
        membership = services.membership_apply(
            org_number=number, user=request.user, vendor_kind=vendor_kind, request=request
        )
        messages.success(request, _("The application is registered. Next: an authorised signatory signs."))
        return redirect("membership_detail", membership.organisation.org_number)
    claim = services.claim_submit(
        org_number=number,
        user=request.user,
        vendor_kind=vendor_kind,
        person=authority.verified_person(request),
        request=request,
    )
    if claim.state == OrganisationClaim.State.CONFIRMED:
        messages.success(
            request,
            _("You are a signatory for %(name)s in Enhetsregisteret, so you administer it now. Next: sign the terms.")
            % {"name": claim.organisation.name},
        )
        return redirect("membership_detail", claim.organisation.org_number)
    messages.success(
        request,
        _(
            "Your application is registered. You get access to %(name)s when a signatory in Enhetsregisteret "
            "or NHN's customer centre confirms it."
        )
        % {"name": claim.organisation.name},
    )
    return redirect("claim_detail", claim.public_id)


def _registration_page(request, *, form, vendor_kind_of, vendor: bool):
    check = None
    ask_admins = None
    if request.method == "POST" and form.is_valid():
        number = form.cleaned_data["org_number"]
        kind = vendor_kind_of(form)
        if request.POST.get("action") == "apply":
            try:
                response = _register(request, number=number, vendor_kind=kind)
            except ValidationError as error:
                form.add_error("org_number", _first_error(error))
                if error.code == "already_administered":
                    ask_admins = Organisation.objects.filter(org_number=number).first()
            else:
                return HttpResponseClientRedirect(response.url) if request.htmx else response
        else:
            try:
                check = services.registry_check(number, vendor_kind=kind)
            except ValidationError as error:
                form.add_error("org_number", _first_error(error))
    context = {"form": form, "check": check, "vendor": vendor, "ask_admins": ask_admins}
    template = "members/_registry_result.html" if request.htmx else "members/register.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def membership_register(request):
    """Enter an organisation number, see what Enhetsregisteret says, then apply."""
    form = OrgNumberForm(request.POST or None, initial={"org_number": request.GET.get("org_number", "")})
    return _registration_page(request, form=form, vendor_kind_of=lambda form: "", vendor=False)


@login_required
@require_http_methods(["GET", "POST"])
def vendor_register(request):
    """A vendor or partner registers, then accepts the vendor terms; NHN approves it."""
    form = VendorRegisterForm(request.POST or None, initial={"org_number": request.GET.get("org_number", "")})

    def kind(form):
        return Organisation.Kind.PARTNER if form.cleaned_data["as_partner"] else Organisation.Kind.VENDOR

    return _registration_page(request, form=form, vendor_kind_of=kind, vendor=True)


# Applications to administer (claims) -----------------------------------------------------------


def _idporten_login_url(request, next_url: str) -> str:
    """Where to prove who one is: a step-up for a logged-in person, else a first ID-porten login."""
    if request.user.is_authenticated:
        return authority.stepup_url(request, next_url)
    if oidc.provider_config("idporten") is None:
        return ""
    return f"{reverse('oidc_login_idporten')}?{urlencode({'next': next_url})}"


@login_required
@require_POST
def claim_ask_admins(request):
    """Someone who found the organisation administered asks its administrators for an invitation."""
    form = OrgNumberForm(request.POST)
    organisation = (
        Organisation.objects.filter(org_number=form.cleaned_data["org_number"]).first() if form.is_valid() else None
    )
    if organisation is None or not services.is_administered(organisation):
        messages.error(request, _("Enter the number of an organisation that is administered in the portal."))
        return redirect("membership_register")
    try:
        services.claim_ask_administrators(organisation=organisation, user=request.user, request=request)
    except ValidationError as error:
        messages.error(request, _first_error(error))
    else:
        messages.success(
            request, _("Your request is sent to the administrators of %(name)s.") % {"name": organisation.name}
        )
    return redirect("home")


@login_required
@require_http_methods(["GET", "POST"])
def claim_detail(request, claim_id):
    """The applicant's own application: its state, who can confirm it, and asking a signatory."""
    claim = get_claim_for_user(request, claim_id)
    form = ClaimConfirmationRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.claim_request_confirmation(
                claim=claim, email=form.cleaned_data["email"], by=request.user, request=request
            )
        except ValidationError as error:
            form.add_error("email", _first_error(error))
        else:
            messages.success(request, _("The request is sent to %(email)s.") % {"email": form.cleaned_data["email"]})
            return redirect("claim_detail", claim.public_id)
    try:
        signatories = authority.registered_signatories(claim.organisation) if claim.is_pending else []
        registry_error = False
    except enhetsregisteret.RegistryUnavailable:
        signatories, registry_error = [], True
    here = reverse("claim_detail", args=[claim.public_id])
    context = {
        "claim": claim,
        "organisation": claim.organisation,
        "form": form,
        "signatories": signatories,
        "registry_error": registry_error,
        "verified": authority.verified_person(request),
        "stepup_url": _idporten_login_url(request, here),
    }
    return render(request, "members/claim_detail.html", context)


@login_required
@require_POST
def claim_confirm_self(request, claim_id):
    """The applicant proves with a fresh ID-porten login that they are a signatory themselves."""
    claim = get_claim_for_user(request, claim_id)
    person = authority.verified_person(request)
    if person is None:
        return redirect(authority.stepup_url(request, reverse("claim_detail", args=[claim.public_id])))
    try:
        services.claim_confirm_self(claim=claim, user=request.user, person=person, request=request)
    except ValidationError as error:
        messages.error(request, _first_error(error))
        return redirect("claim_detail", claim.public_id)
    messages.success(request, _("Confirmed: you administer %(name)s now.") % {"name": claim.organisation.name})
    return redirect("membership_detail", claim.organisation.org_number)


@require_http_methods(["GET", "POST"])
def claim_confirm(request, token):
    """Where the signatory's e-mailed link leads: log in with ID-porten, see who asks, confirm or refuse."""
    claim = services.claim_for_token(token)
    if claim is None:
        problem = _("This link is not valid. Check that the whole link was copied.")
        return render(request, "members/claim_confirm.html", {"problem": problem}, status=404)
    problem = services.claim_link_problem(claim)
    if problem:
        return render(request, "members/claim_confirm.html", {"claim": claim, "problem": problem}, status=410)
    person = authority.verified_person(request) if request.user.is_authenticated else None
    context = {
        "claim": claim,
        "claimant_email_verified": services.email_verified(claim.claimant),
        "person": person,
        "form": ClaimDecisionForm(request.POST or None),
    }
    if person is None:
        if request.method == "POST":
            return redirect("claim_confirm", token)
        context["login_url"] = _idporten_login_url(request, request.path)
        return render(request, "members/claim_confirm.html", context)
    if request.method == "POST" and context["form"].is_valid():
        confirm = request.POST.get("decision") == "confirm"
        try:
            services.claim_decide_by_link(
                token=token,
                confirm=confirm,
                user=request.user,
                person=person,
                reason=context["form"].cleaned_data["reason"],
                request=request,
            )
        except ValidationError as error:
            status = 410 if error.code == "used" else 403
            return render(
                request, "members/claim_confirm.html", {**context, "problem": _first_error(error)}, status=status
            )
        if confirm:
            messages.success(
                request,
                _("Confirmed: %(person)s administers %(name)s now. You can sign for it as well.")
                % {"person": claim.claimant, "name": claim.organisation.name},
            )
            return redirect("membership_detail", claim.organisation.org_number)
        messages.success(request, _("Refused. %(person)s gets no access.") % {"person": claim.claimant})
        return redirect("home")
    try:
        context["authority"] = services.claim_signatory_authority(person, claim.organisation)
    except ValidationError as error:
        return render(request, "members/claim_confirm.html", {**context, "problem": _first_error(error)}, status=503)
    if not context["authority"]:
        problem = _(
            "You are logged in as %(person)s, who is not a signatory for %(name)s in Enhetsregisteret. "
            "Nothing was decided. The link is meant for one of the organisation's signatories."
        ) % {"person": person.name, "name": claim.organisation.name}
        return render(request, "members/claim_confirm.html", {**context, "problem": problem}, status=403)
    if claim.claimant_id == request.user.pk:
        problem = _("You cannot confirm your own application through this link; a signatory must.")
        return render(request, "members/claim_confirm.html", {**context, "problem": problem}, status=403)
    return render(request, "members/claim_confirm.html", context)


# The organisation's membership page ------------------------------------------------------------


def _signing_context(request, organisation, roles, *, next_url=None):
    """Who can sign, who ID-porten says this person is, whether they can sign, and the forms to ask or delegate."""
    try:
        registered = services.registered_signatories(organisation)
        registry_error = False
    except enhetsregisteret.RegistryUnavailable:
        registered, registry_error = [], True
    person = authority.verified_person(request)
    # The one register lookup above serves the match too. With the register down nothing can be proven,
    # a delegation neither (whether the one who gave it still signs is the register's to say).
    matched = sorted(
        (role for role in registered if person is not None and authority.role_matches(role, person)),
        key=lambda role: role.joint,
    )
    try:
        signing = (
            None
            if registry_error
            else services.signing_authority_for(
                user=request.user, organisation=organisation, person=person, roles=matched
            )
        )
    except enhetsregisteret.RegistryUnavailable:
        signing, registry_error = None, True
    signatories = [u for u in selectors.portal_signatories(organisation) if u.pk != request.user.pk]
    return {
        "registered_signatories": registered,
        "registry_error": registry_error,
        "authority": signing,
        "verified_person": person,
        "stepup_reason": authority.why_not_verified(request) if person is None else "",
        "stepup_url": authority.stepup_url(request, next_url or request.get_full_path()),
        "max_age_minutes": max(1, authority.max_age_seconds() // 60),
        "portal_signatories": signatories,
        "request_form": SignatureRequestForm(signatories=signatories) if signatories else None,
        # Only someone who may sign alone on a registered role may pass that authority on.
        "delegation_form": (
            DelegationForm()
            if signing and signing.kind == Acceptance.Authority.REGISTER_ROLE and not signing.joint
            else None
        ),
        "delegations": selectors.active_delegations(organisation),
    }


@login_required
def membership_detail(request, org_number):
    if landing := staff_landing(request, org_number):
        return redirect(landing)
    organisation, roles = get_agreement_organisation_for_user(request, org_number)
    membership = selectors.current_membership(organisation)
    current_terms = TermsDocument.objects.current(Membership.terms_kind_for(organisation))
    context = {
        "organisation": organisation,
        "roles": roles,
        "is_vendor": organisation.is_vendor_kind,
        "is_admin": bool(roles & {Role.ADMIN, Role.VENDOR_USER}),
        "membership": membership,
        "current_terms": current_terms,
        "needs_new_terms": membership is not None
        and membership.needs_new_terms(TermsDocument.objects.in_force(Membership.terms_kind_for(organisation))),
        "joint_signature": services.open_joint_signature(organisation, current_terms) if current_terms else None,
        "acceptances": selectors.organisation_acceptances(organisation),
        **_signing_context(request, organisation, roles),
    }
    return render(request, "members/membership_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def terms_sign(request, org_number, document_id):
    organisation, roles = get_agreement_organisation_for_user(request, org_number)
    document = get_object_or_404(TermsDocument.objects.published(), public_id=document_id)
    form = SignForm(request.POST or None, initial={"sha256": document.sha256})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            result = services.terms_sign(
                organisation=organisation,
                document=document,
                shown_sha256=form.cleaned_data["sha256"],
                user=request.user,
                person=authority.verified_person(request),
                request=request,
            )
        except services.StaleTerms as error:
            messages.error(request, _first_error(error))
            current = TermsDocument.objects.current(document.kind, document.service_code)
            if current is not None:
                return redirect("terms_sign", organisation.org_number, current.public_id)
            return redirect("membership_detail", organisation.org_number)
        except PermissionDenied as refusal:
            form.add_error(None, str(refusal))
            status = 403
        except ValidationError as error:
            form.add_error(None, _first_error(error))
        else:
            if isinstance(result, Acceptance):
                messages.success(request, _("Signed. The receipt is ready to download."))
                return redirect("membership_detail", result.organisation.org_number)
            messages.info(
                request,
                _(
                    "Your signature is recorded, but your role signs jointly: the terms count as accepted when a "
                    "second holder of a joint signature or procuration co-signs this version."
                ),
            )
            return redirect("terms_sign", organisation.org_number, document.public_id)
    already = organisation.acceptances.filter(document=document).select_related("signed_by", "cosigned_by").first()
    context = {
        "organisation": organisation,
        "roles": roles,
        "document": document,
        "form": form,
        "already_signed": already,
        "joint_signature": None if already else services.open_joint_signature(organisation, document),
        **_signing_context(request, organisation, roles),
    }
    return render(request, "members/terms_sign.html", context, status=status)


@login_required
@require_POST
def signature_request(request, org_number, document_id):
    organisation, _roles = get_agreement_organisation_for_user(request, org_number)
    document = get_object_or_404(TermsDocument.objects.published(), public_id=document_id)
    signatories = list(selectors.portal_signatories(organisation))
    form = SignatureRequestForm(request.POST, signatories=signatories)
    if form.is_valid():
        recipient = next(u for u in signatories if str(u.pk) == form.cleaned_data["recipient"])
        services.signature_request_send(
            organisation=organisation,
            document=document,
            requested_by=request.user,
            recipient=recipient,
            request=request,
        )
        messages.success(request, _("The request is sent to %(email)s.") % {"email": recipient.email})
    else:
        messages.error(request, _("Choose one of the organisation's signatories."))
    return redirect("terms_sign", organisation.org_number, document.public_id)


@login_required
@require_POST
def delegation_create(request, org_number):
    organisation, _roles = get_agreement_organisation_for_user(request, org_number)
    form = DelegationForm(request.POST)
    if form.is_valid():
        try:
            services.delegation_grant(
                organisation=organisation,
                email=form.cleaned_data["email"],
                by=request.user,
                person=authority.verified_person(request),
                request=request,
            )
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, _first_error(error) if isinstance(error, ValidationError) else str(error))
        else:
            messages.success(
                request,
                _(
                    "%(email)s may sign for the organisation once they have logged in with ID-porten. "
                    "They get an e-mail."
                )
                % {"email": form.cleaned_data["email"]},
            )
    else:
        messages.error(request, _("Give the e-mail address of the person who may sign."))
    return redirect("membership_detail", organisation.org_number)


@login_required
def acceptance_receipt(request, acceptance_id):
    acceptance = get_acceptance_for_user(request, acceptance_id)
    pdf = render_pdf("members/pdf/acceptance_receipt.html", {"acceptance": acceptance})
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = f"kvittering-{acceptance.organisation.org_number}-{acceptance.signed_at:%Y%m%d}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def organisation_history(request, org_number):
    organisation, roles = get_agreement_organisation_for_user(request, org_number)
    events = AuditEvent.objects.for_organisation(organisation).select_related("actor", "organisation")
    page = Paginator(events, 50).get_page(request.GET.get("side"))
    return render(request, "members/history.html", {"organisation": organisation, "roles": roles, "page": page})


@login_required
def organisation_lifecycle(request, org_number):
    """One page per organisation: where it stands, what comes next, and its timeline (filterable by kind).

    The same for its own people and NHN staff (who see internal errors and reasons); a vendor whose
    system the organisation uses sees it limited to its own systems and clients.
    """
    organisation, viewer = get_lifecycle_organisation_for_user(request, org_number)
    kind = lifecycle.clean_kind(request.GET.get("type", ""), viewer)
    page = lifecycle.timeline_page(organisation, viewer, kind, request.GET.get("side"))
    context = {
        "organisation": organisation,
        "viewer": viewer,
        "kind": kind,
        "kinds": lifecycle.kinds_for(viewer),
        "page": page,
        "entries": lifecycle.timeline_entries(page.object_list, viewer),
    }
    if request.htmx:
        return render(request, "members/_lifecycle_timeline.html", context)
    context["summary"] = lifecycle.lifecycle_summary(organisation, viewer)
    return render(request, "members/lifecycle.html", context)


# NHN staff -------------------------------------------------------------------------------------


@nhn_staff_required
def staff_membership_queue(request):
    form = MembershipQueueFilterForm(request.GET or None)
    state, search = "", ""
    if form.is_valid():
        state, search = form.cleaned_data["state"], form.cleaned_data["q"].strip()
    elif not request.GET:
        state = Membership.State.PENDING_APPROVAL
        form = MembershipQueueFilterForm(initial={"state": state})
    page = CappedCountPaginator(selectors.membership_queue(state=state, search=search), 50).get_page(
        request.GET.get("side")
    )
    template = "members/staff/_queue_table.html" if request.htmx else "members/staff/membership_queue.html"
    return render(request, template, {"form": form, "page": page})


@nhn_staff_required
def staff_organisation_directory(request):
    """Every organisation in the portal, filtered, with its membership, its orders and what waits for NHN."""
    form = OrganisationDirectoryFilterForm(request.GET or None)
    # A filter that does not validate filters nothing; the form says what was wrong.
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    organisations = selectors.organisation_directory(
        search=filters.get("q", ""),
        kind=filters.get("kind", ""),
        membership=filters.get("membership", ""),
        environment=filters.get("environment", ""),
        needs_nhn=filters.get("needs_nhn", False),
    )
    # Counted up to the cap: 60,000 organisations at national scale are "more than 10 000", not a full count.
    page = CappedCountPaginator(organisations, 50).get_page(request.GET.get("side"))
    template = "members/staff/_organisation_table.html" if request.htmx else "members/staff/organisation_directory.html"
    return render(request, template, {"form": form, "page": page})


@nhn_staff_required
def staff_membership_detail(request, membership_id):
    membership = get_membership_for_staff(request, membership_id)
    context = {
        "membership": membership,
        "organisation": membership.organisation,
        "events": AuditEvent.objects.for_organisation(membership.organisation).select_related("actor")[:20],
    }
    return render(request, "members/staff/membership_detail.html", context)


STAFF_DECISIONS = {
    "godkjenn": (services.membership_approve, False, gettext_lazy("Membership approved.")),
    "avvis": (services.membership_reject, True, gettext_lazy("Membership rejected.")),
    "suspender": (services.membership_suspend, True, gettext_lazy("Membership suspended.")),
    "gjenopprett": (services.membership_reinstate, False, gettext_lazy("Membership reinstated.")),
    "avslutt": (services.membership_end, True, gettext_lazy("Membership ended.")),
}


@nhn_staff_required
@require_POST
def staff_membership_decide(request, membership_id, decision):
    membership = get_membership_for_staff(request, membership_id)
    response = staff_decide(
        request,
        obj=membership,
        obj_name="membership",
        decision=decision,
        decisions=STAFF_DECISIONS,
        row_template="members/staff/_queue_row.html",
        detail_url=reverse("staff_membership_detail", args=[membership.public_id]),
    )
    # A decision taken from an htmx form outside the queue reloads the detail page.
    if request.htmx and request.POST.get("from") != "queue":
        return HttpResponseClientRedirect(response.url)
    return response


@nhn_staff_required
def staff_claim_queue(request):
    """Applications to administer an organisation, waiting first; staff confirm or refuse with a reason."""
    state = request.GET.get("state", OrganisationClaim.State.PENDING)
    if state not in OrganisationClaim.State.values:
        state = OrganisationClaim.State.PENDING
    page = Paginator(selectors.claim_queue(state=state), 50).get_page(request.GET.get("side"))
    context = {"page": page, "state": state, "states": OrganisationClaim.State.choices, "form": ClaimDecisionForm()}
    return render(request, "members/staff/claim_queue.html", context)


@nhn_staff_required
@require_POST
def staff_claim_decide(request, claim_id, decision):
    claim = get_object_or_404(OrganisationClaim.objects.select_related("organisation", "claimant"), public_id=claim_id)
    if decision not in ("godkjenn", "avvis"):
        raise Http404(_("No such decision."))
    form = ClaimDecisionForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.claim_decide_by_staff(
            claim=claim, confirm=decision == "godkjenn", by=request.user, reason=reason, request=request
        )
    except ValidationError as error:
        messages.error(request, _first_error(error))
    else:
        if decision == "godkjenn":
            messages.success(
                request,
                _("Confirmed: %(person)s administers %(name)s now.")
                % {"person": claim.claimant, "name": claim.organisation.name},
            )
        else:
            messages.success(request, _("Refused."))
    return redirect("staff_claim_queue")


@nhn_staff_required
def staff_terms_list(request):
    return render(request, "members/staff/terms_list.html", {"documents": selectors.terms_documents()})


@nhn_staff_required
@require_http_methods(["GET", "POST"])
def staff_terms_create(request):
    form = TermsDocumentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            document = services.terms_draft_create(**form.cleaned_data, by=request.user, request=request)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Draft saved. Check the preview, then publish."))
            return redirect("staff_terms_detail", document.public_id)
    return render(request, "members/staff/terms_form.html", {"form": form})


@nhn_staff_required
@require_http_methods(["GET", "POST"])
def staff_terms_detail(request, document_id):
    """A version of the terms: for a draft, the preview, the diff and the publish form; once published,
    the diff against the version it replaced and the organisations that have not signed it yet."""
    document = get_object_or_404(
        TermsDocument.objects.select_related("replaces", "published_by"), public_id=document_id
    )
    base = services.terms_diff_base(document)
    form = None
    if not document.is_published:
        form = TermsPublishForm(request.POST or None, replaces=base)
    if request.method == "POST":
        if form is None:
            messages.error(request, _("These terms are already published."))
            return redirect("staff_terms_detail", document.public_id)
        if form.is_valid():
            try:
                services.terms_publish(document=document, by=request.user, request=request, **form.cleaned_data)
            except InvalidTransition as error:  # published meanwhile (a double submit)
                messages.error(request, _first_error(error))
                return redirect("staff_terms_detail", document.public_id)
            except ValidationError as error:
                form.add_error("effective_on" if error.code == "effective_in_past" else None, error)
            else:
                messages.success(
                    request,
                    _(
                        "Published. The signatories and administrators of organisations on the older version "
                        "are e-mailed; their signature counts until the effective date."
                    ),
                )
                return redirect("staff_terms_detail", document.public_id)
    context = {"document": document, "form": form, "diff_base": base, "diff": services.terms_diff(document)}
    if document.is_published and document.replaces_id:
        pending = services.not_resigned(document)
        context["not_resigned"] = Paginator(pending, 50).get_page(request.GET.get("side"))
        context["days_left"] = max(0, (timezone.localtime(document.effective_from).date() - timezone.localdate()).days)
    return render(request, "members/staff/terms_detail.html", context)


# Vendor systems -----------------------------------------------------------------------------------


@login_required
@require_POST
def assignment_create(request, org_number):
    organisation, roles = get_member_organisation_for_user(request, org_number)
    require_role(roles, Role.ADMIN)
    form = VendorAssignmentForm(request.POST, systems=selectors.assignable_systems())
    if form.is_valid():
        try:
            services.vendor_assignment_create(
                organisation=organisation, by=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            messages.error(request, _first_error(error))
        else:
            messages.success(request, _("Registered. The vendor now sees your organisation."))
    else:
        messages.error(request, _("Choose a system, an environment and a date."))
    return redirect("member_dashboard", organisation.org_number)


@login_required
@require_http_methods(["GET", "POST"])
def assignment_end(request, org_number, assignment_id):
    """GET says what the vendor loses; POST ends the registration."""
    organisation, roles = get_member_organisation_for_user(request, org_number)
    require_role(roles, Role.ADMIN)
    assignment = get_object_or_404(
        VendorAssignment.objects.select_related("system__vendor"), public_id=assignment_id, organisation=organisation
    )
    if request.method == "GET":
        services_lost = selectors.assignment_services(assignment)
        names = {"vendor": assignment.system.vendor.name, "organisation": organisation.name}
        names["environment"] = assignment.get_environment_display().lower()
        if services_lost:
            names["services"] = ", ".join(services_lost)
            consequence = _("%(vendor)s loses access to %(services)s for %(organisation)s in %(environment)s.")
        else:
            consequence = _("%(vendor)s no longer sees %(organisation)s as a customer in %(environment)s.")
        return confirm_page(
            request,
            title=_("End the registration of %(system)s?") % {"system": assignment.system.name},
            consequence=consequence % names,
            details=[_("Access is revoked in HelseID at once. You can register the system again later.")],
            confirm_label=_("End the registration"),
            back_url=reverse("member_dashboard", args=[organisation.org_number]),
        )
    try:
        services.vendor_assignment_end(assignment=assignment, by=request.user, request=request)
    except ValidationError as error:
        messages.error(request, _first_error(error))
    else:
        messages.success(request, _("%(system)s is no longer registered.") % {"system": assignment.system.name})
    return redirect("member_dashboard", organisation.org_number)


@login_required
@require_POST
def vendor_system_create(request, org_number):
    vendor, _roles = get_vendor_organisation_for_user(request, org_number)
    form = VendorSystemForm(request.POST)
    if form.is_valid():
        try:
            services.vendor_system_create(vendor=vendor, by=request.user, request=request, **form.cleaned_data)
        except ValidationError as error:
            messages.error(request, _first_error(error))
        else:
            messages.success(request, _("The system is registered."))
    else:
        messages.error(request, _("Give the system a name and a type."))
    return redirect("vendor_dashboard", vendor.org_number)


@login_required
@require_POST
def vendor_system_services(request, org_number, system_id):
    vendor, _roles = get_vendor_organisation_for_user(request, org_number)
    system = get_object_or_404(VendorSystem, public_id=system_id, vendor=vendor)
    from orders.models import Environment, Service

    valid_services = set(Service.objects.values_list("pk", flat=True))
    supported = set()
    for value in request.POST.getlist("support"):
        service_id, _sep, environment = value.partition(":")
        # ASCII digits only: int() takes "²" and full-width digits too, and fails on "²" (a 500).
        number = int(service_id) if re.fullmatch(r"[0-9]{1,18}", service_id) else None
        if number in valid_services and environment in Environment.values:
            supported.add((number, environment))
    services.vendor_system_set_services(system=system, supported=supported, by=request.user, request=request)
    messages.success(request, _("Supported services for %(system)s are saved.") % {"system": system.name})
    return redirect("vendor_dashboard", vendor.org_number)


# People and invitations ---------------------------------------------------------------------------

ADMIN_ROLES = (Role.ADMIN, Role.VENDOR_USER)


@login_required
@require_http_methods(["GET", "POST"])
def organisation_people(request, org_number):
    """The organisation's people and open invitations; administrators invite colleagues here."""
    organisation, roles = get_agreement_organisation_for_user(request, org_number)
    require_role(roles, *ADMIN_ROLES)
    form = InvitationForm(request.POST or None, roles=services.invitation_roles(organisation))
    if request.method == "POST" and form.is_valid():
        try:
            invitation, _token = services.invitation_send(
                organisation=organisation, by=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error("email", _first_error(error))
        else:
            messages.success(request, _("The invitation is sent to %(email)s.") % {"email": invitation.email})
            return redirect("organisation_people", organisation.org_number)
    context = {
        "organisation": organisation,
        "roles": roles,
        "people": selectors.organisation_people(organisation),
        "invitations": selectors.open_invitations(organisation),
        "form": form,
    }
    return render(request, "members/people.html", context)


@login_required
@require_POST
def invitation_revoke(request, org_number, invitation_id):
    organisation, roles = get_agreement_organisation_for_user(request, org_number)
    require_role(roles, *ADMIN_ROLES)
    invitation = get_object_or_404(Invitation, public_id=invitation_id, organisation=organisation)
    try:
        services.invitation_revoke(invitation=invitation, by=request.user, request=request)
    except ValidationError as error:
        messages.error(request, _first_error(error))
    else:
        messages.success(request, _("The invitation to %(email)s is withdrawn.") % {"email": invitation.email})
    return redirect("organisation_people", organisation.org_number)


@require_http_methods(["GET", "POST"])
def invitation_landing(request, token):
    """Where the e-mailed link leads: log in (either way) and the role is bound at login."""
    invitation = services.invitation_for_token(token)
    if invitation is None:
        context = {"problem": _("This invitation link is not valid. Check that the whole link was copied.")}
        return render(request, "members/invitation.html", context, status=404)
    problem = services.invitation_problem(invitation)
    if problem:
        return render(request, "members/invitation.html", {"invitation": invitation, "problem": problem}, status=410)
    if request.user.is_authenticated:
        # Logged in already: accept with a button (a POST), so no page elsewhere can accept for them.
        if request.method != "POST":
            return render(request, "members/invitation.html", {"invitation": invitation, "confirm": True})
        try:
            affiliation = services.invitation_accept(invitation=invitation, user=request.user, request=request)
        except services.InvitationNotUsable as error:
            context = {"invitation": invitation, "problem": _first_error(error)}
            return render(request, "members/invitation.html", context, status=403)
        messages.success(request, invitations.accepted_message(affiliation))
        return redirect("home")
    if request.method == "POST":
        return redirect("invitation_landing", token)
    invitations.remember_invitation(request, invitation)
    return render(
        request,
        "members/invitation.html",
        {"invitation": invitation, "providers": oidc.configured_providers(), "next": reverse("home")},
    )


# Federated login: the first time, and linking to an existing account ----------------------------------


@require_http_methods(["GET", "POST"])
def oidc_complete(request):
    """A person's first login through HelseID or ID-porten: the portal needs a work e-mail address."""
    pending = request.session.get(oidc.PENDING_IDENTITY_KEY)
    config = oidc.provider_config(pending["provider"]) if pending else None
    if config is None or pending["until"] < time.time():
        request.session.pop(oidc.PENDING_IDENTITY_KEY, None)
        messages.error(request, _("The log-in took too long or was not started. Start again."))
        return redirect("account_login")
    form = CompleteAccountForm(request.POST or None, initial={"email": pending["email"]})
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        verified = bool(pending["email"]) and email.lower() == pending["email"].lower()
        try:
            user = services.federated_user_create(
                email=email,
                first_name=pending["first_name"],
                last_name=pending["last_name"],
                provider=pending["provider"],
                pid_hash=pending["pid_hash"],
                email_verified=verified,
                request=request,
            )
        except ValidationError as error:
            form.add_error("email", _first_error(error))
        else:
            del request.session[oidc.PENDING_IDENTITY_KEY]
            user.oidc_provider = pending["provider"]
            auth.login(request, user, backend="members.oidc.OIDCBackend")
            request.session[oidc.PROVIDER_SESSION_KEY] = pending["provider"]
            oidc.record_federated_session(request, user, pending["provider"], pending.get("session_ids"))
            parsed = authority.person_from_json(pending["verified_person"]) if pending.get("verified_person") else None
            oidc.remember_verified_person(request, parsed[0] if parsed else None)
            request.session["oidc_id_token_expiration"] = time.time() + settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS
            if not verified:
                from allauth.account.internal.flows.email_verification import send_verification_email_to_address
                from allauth.account.models import EmailAddress

                send_verification_email_to_address(request, EmailAddress.objects.get(user=user, email=user.email))
            messages.success(request, _("Your account is ready."))
            # Back to where the login started (e.g. a signatory's confirmation link), if it is ours.
            next_url = request.session.pop("oidc_login_next", "") or ""
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
                next_url = reverse("home")
            return redirect(next_url)
    name = f"{pending['first_name']} {pending['last_name']}".strip()
    context = {"form": form, "provider_label": config["label"], "name": name}
    return render(request, "members/oidc_complete.html", context)


@login_required
def login_methods(request):
    """How this person can log in, and buttons to link HelseID or ID-porten to the account."""
    linked = {identity.provider: identity for identity in request.user.federated_identities.all()}
    providers = [
        {"name": name, "label": label, "identity": linked.get(name)} for name, label in oidc.configured_providers()
    ]
    return render(
        request,
        "members/login_methods.html",
        {"providers": providers, "has_password": request.user.has_usable_password()},
    )


@login_required
def authority_stepup(request):
    """Log in again with ID-porten at level high (``prompt=login``), then back to where signing waits."""
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = reverse("home")
    if oidc.provider_config(authority.PROVIDER) is None:
        return render(request, "members/stepup_unavailable.html", {"next": next_url}, status=503)
    query = {"next": next_url, "stepup": "1", "koble": "1"}
    return redirect(f"{reverse(f'oidc_login_{authority.PROVIDER}')}?{urlencode(query)}")


@login_required
@require_http_methods(["GET", "POST"])
def account_profile(request):
    """Min konto → Profil: the name a local account is shown with."""
    user = request.user
    form = PersonNameForm(request.POST or None, initial={"first_name": user.first_name, "last_name": user.last_name})
    if request.method == "POST" and form.is_valid():
        services.profile_update(
            user=user,
            first_name=form.cleaned_data["first_name"],
            last_name=form.cleaned_data["last_name"],
            request=request,
        )
        messages.success(request, _("Your name is saved."))
        return redirect("account_profile")
    federated = [oidc.provider_config(i.provider) for i in user.federated_identities.all()]
    labels = [config["label"] for config in federated if config]
    return render(request, "members/profile.html", {"form": form, "federated_labels": labels})
