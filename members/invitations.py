"""The invitation a browser carries through login, whichever way the person logs in.

Following an invitation link remembers the invitation (its public id, never the token) in the
session; the first login after that binds the role (``bind_pending_invitation``, run on
``user_logged_in``), once.
"""

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils.translation import gettext as _

from .models import Invitation

SESSION_KEY = "portal_invitation"


def remember_invitation(request, invitation: Invitation) -> None:
    request.session[SESSION_KEY] = str(invitation.public_id)


def pending_invitation(request) -> Invitation | None:
    public_id = request.session.get(SESSION_KEY) if request is not None else None
    if not public_id:
        return None
    return Invitation.objects.pending().select_related("organisation").filter(public_id=public_id).first()


def accepted_message(affiliation) -> str:
    return _("You are now %(role)s in %(name)s.") % {
        "role": affiliation.get_role_display().lower(),
        "name": affiliation.organisation.name,
    }


@receiver(user_logged_in, dispatch_uid="members.bind_pending_invitation")
def bind_pending_invitation(sender, request, user, **kwargs):
    from . import services

    public_id = request.session.pop(SESSION_KEY, None) if request is not None else None
    if not public_id:
        return
    invitation = Invitation.objects.select_related("organisation").filter(public_id=public_id).first()
    if invitation is None:
        return
    try:
        affiliation = services.invitation_accept(invitation=invitation, user=user, request=request)
    except services.InvitationNotUsable as problem:
        messages.error(request, problem.messages[0])
    else:
        messages.success(request, accepted_message(affiliation))
