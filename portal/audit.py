"""The one helper every state change calls to write the audit log."""

import ipaddress

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import AuditEvent

# What the log shows people; the action code stays stable in the database.
ACTION_LABELS = {
    "user.logged_in": _("Logged in"),
    "user.logged_out": _("Logged out"),
    "user.created": _("Account created at first federated login"),
    "user.logged_out_by_provider": _("Logged out by the login service"),
    "user.profile_updated": _("Name changed"),
    "logout.refused": _("Logout from the login service refused"),
    "login.refused": _("Federated login refused"),
    "identity.linked": _("National identity linked"),
    "invitation.sent": _("Colleague invited"),
    "invitation.renewed": _("Invitation sent again"),
    "invitation.accepted": _("Invitation accepted"),
    "invitation.revoked": _("Invitation withdrawn"),
    "organisation.created": _("Organisation registered"),
    "affiliation.created": _("Role granted"),
    "claim.submitted": _("Applied to administer the organisation"),
    "claim.confirmation_requested": _("Confirmation asked of a signatory"),
    "claim.confirmed": _("Application to administer confirmed"),
    "claim.refused": _("Application to administer refused"),
    "claim.admins_asked": _("Administrators asked for an invitation"),
    "membership.applied": _("Applied for membership"),
    "membership.submitted": _("Membership sent for approval"),
    "membership.approved": _("Membership approved"),
    "membership.rejected": _("Membership rejected"),
    "membership.suspended": _("Membership suspended"),
    "membership.reinstated": _("Membership reinstated"),
    "membership.ended": _("Membership ended"),
    "terms.signed": _("Terms signed"),
    "terms.signed_jointly": _("Terms signed, waiting for a co-signer"),
    "terms.cosigned": _("Terms co-signed"),
    "terms.notified": _("Members told of new terms"),
    "terms.drafted": _("Terms drafted"),
    "terms.published": _("Terms published"),
    "signing.delegated": _("Signing delegated"),
    "signing.delegation_bound": _("Delegation linked to the person"),
    "signing.delegation_revoked": _("Delegation withdrawn"),
    "signature.requested": _("Signature requested"),
    "order.drafted": _("Service added to the basket"),
    "order.submitted": _("Order sent to NHN"),
    "order.cancelled": _("Order cancelled"),
    "order.approved": _("Order approved"),
    "order.rejected": _("Order rejected"),
    "order.provisioning": _("Set-up started"),
    "order.activated": _("Service active"),
    "order.failed": _("Set-up failed"),
    "order.retried": _("Set-up retried"),
    "order.ended": _("Service ended"),
    "bulk_approval.started": _("Bulk approval started"),
    "bulk_approval.finished": _("Bulk approval finished"),
    "service.updated": _("Catalogue entry changed"),
    "vendor_system.created": _("Vendor system registered"),
    "vendor_system.services_changed": _("Supported services changed"),
    "vendor_assignment.created": _("Vendor system chosen"),
    "vendor_assignment.ended": _("Vendor system no longer used"),
    "helseid_client.created": _("HelseID client created"),
    "helseid_client.keys_added": _("Public key added"),
    "helseid_client.key_retired": _("Public key retired"),
    "helseid_client.key_expiry_reminded": _("Reminder sent: key expires soon"),
    "helseid_client.disabled": _("HelseID client disabled"),
    "helseid_client.registered": _("HelseID client registered in HelseID"),
    "provisioning.task_failed": _("Set-up step failed"),
    "provisioning.task_retried": _("Set-up step retried"),
    "provisioning.task_cancelled": _("Set-up step cancelled"),
    "provisioning.task_superseded": _("Set-up step replaced by a newer one"),
    "provisioning.drift_repaired": _("Differences in the backing services repaired"),
    "reconciliation.requested": _("Reconciliation asked for"),
    "reconciliation.decided": _("Decision on access found by reconciliation"),
    "email.failed": _("E-mail could not be sent"),
    "email.retried": _("E-mail sent again"),
    "email.cancelled": _("E-mail cancelled"),
}

# The staff feed's "kind" filter: groups of actions by the prefix of their code.
ACTION_GROUPS = {
    "membership": (_("Membership"), ("membership.",)),
    "terms": (_("Terms and signatures"), ("terms.", "signing.", "signature.")),
    "orders": (_("Orders and the catalogue"), ("order.", "bulk_approval.", "service.")),
    "provisioning": (_("Set-up in the backing services"), ("provisioning.",)),
    "clients": (_("Vendor systems and HelseID clients"), ("helseid_client.", "vendor_system.", "vendor_assignment.")),
    "organisations": (
        _("Organisations, roles and invitations"),
        ("organisation.", "affiliation.", "claim.", "invitation."),
    ),
    "accounts": (_("Accounts and logins"), ("user.", "login.", "logout.", "identity.")),
    "email": (_("E-mail"), ("email.",)),
}

# What "hide logins" leaves out: every person's every login would bury the changes.
LOGIN_ACTIONS = ("user.logged_in", "user.logged_out", "user.logged_out_by_provider", "login.refused", "logout.refused")


def _valid_ip(value) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The address of the person, as far as the portal can vouch for it.

    `X-Forwarded-For` is written by whoever sends the request, so only the hops appended by our own
    proxies are believed: with `TRUSTED_PROXY_COUNT` = n, the n-th address from the right is the one
    the outermost of our proxies saw (fewer hops than proxies: `REMOTE_ADDR`). Without trusted
    proxies (the default) it is `REMOTE_ADDR`. Anything that is not an IP address is ignored, never
    stored: then no address is recorded.
    """
    remote = _valid_ip(request.META.get("REMOTE_ADDR", ""))
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= trusted:
            # What our outermost proxy wrote; if that is no address, there is none to vouch for.
            return _valid_ip(hops[-trusted])
    return remote


def audit(
    *,
    action: str,
    actor=None,
    obj: models.Model | None = None,
    organisation=None,
    before: dict | None = None,
    after: dict | None = None,
    request=None,
) -> AuditEvent:
    """Append one entry. Call it inside the transaction that makes the change."""
    event = _event(
        action=action, actor=actor, obj=obj, organisation=organisation, before=before, after=after, request=request
    )
    event.save(force_insert=True)
    return event


def audit_many(entries) -> list[AuditEvent]:
    """Append many entries in one INSERT; each entry holds `audit`'s keyword arguments.

    For a change made to many objects at once (a client update activating every order it serves):
    the same fields as one `audit` call each, in the given order. Call it inside the transaction
    that makes the change.
    """
    from django.utils import translation

    with translation.override("nb"):  # object_repr in bokmål, as `audit` writes it
        events = [_event(**entry) for entry in entries]
    return AuditEvent.objects.bulk_create(events) if events else []


def _event(
    *,
    action: str,
    actor=None,
    obj: models.Model | None = None,
    organisation=None,
    before: dict | None = None,
    after: dict | None = None,
    request=None,
) -> AuditEvent:
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if organisation is None and obj is not None:
        organisation = obj if obj._meta.label_lower == "members.organisation" else getattr(obj, "organisation", None)
    return AuditEvent(
        action=action,
        actor=actor,
        actor_label=getattr(actor, "email", "") or "",
        organisation=organisation,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=_object_repr(obj),
        before=before,
        after=after,
        ip_address=client_ip(request) if request is not None else None,
    )


def _object_repr(obj) -> str:
    """The object as it was, in bokmål whoever acted (pages in English show it marked lang="nb")."""
    from django.utils import translation

    if obj is None:
        return ""
    with translation.override("nb"):
        return str(obj)[:255]
