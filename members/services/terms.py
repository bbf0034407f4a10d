"""Terms documents as NHN staff draft and publish them, and telling the affected organisations.

Publishing a new version (issue 16): it can be signed at once, and takes effect on the date staff choose
(by default ``TERMS_NOTICE_DAYS`` ahead, never in the past). Until then the signature on the version it
replaces still counts; after it, production orders wait for a new signature (``TermsDocument.objects``
explains "current" and "valid"). On commit a Celery task mails every administrator and signatory (vendor
users, for the vendor terms) of the organisations that signed an older version: one mail per person per
publication, naming each of their affected organisations, in their own language, never twice.
"""

import datetime
import difflib
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.audit import audit
from portal.email import queue_email
from portal.queueing import enqueue

from ..models import (
    Acceptance,
    Affiliation,
    Organisation,
    TermsDocument,
    TermsNotification,
    User,
)

# People told per transaction: a national publication (thousands of organisations) commits in slices.
NOTIFY_BATCH = 200


def default_effective_date() -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=settings.TERMS_NOTICE_DAYS)


def effective_from_date(day: datetime.date) -> datetime.datetime:
    """A chosen effective date takes effect at the start of that day, Norwegian time."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@transaction.atomic
def terms_draft_create(
    *, kind: str, service_code: str, version: str, title: str, body: str, effective_from=None, by: User, request=None
) -> TermsDocument:
    document = TermsDocument(
        kind=kind,
        service_code=service_code,
        version=version,
        title=title,
        body=body,
        effective_from=effective_from or timezone.now(),
    )
    document.full_clean()
    document.save()
    audit(action="terms.drafted", obj=document, actor=by, after={"version": version}, request=request)
    return document


@transaction.atomic
def terms_publish(
    *,
    document: TermsDocument,
    by: User,
    effective_on: datetime.date | None = None,
    change_note: str = "",
    request=None,
) -> TermsDocument:
    """Publish a draft. ``effective_on`` is the day it takes effect (without it: the draft's own date).

    Refused (nothing published) when that day is in the past. The affected organisations are told after
    commit (``terms_notify``)."""
    effective_from = effective_from_date(effective_on) if effective_on else document.effective_from
    if timezone.localtime(effective_from).date() < timezone.localdate():
        raise ValidationError(
            _("The effective date cannot be in the past. Choose today or a later date."), code="effective_in_past"
        )
    document.publish(by=by, effective_from=effective_from, change_note=(change_note or "").strip())
    audit(
        action="terms.published",
        obj=document,
        actor=by,
        after={
            "version": document.version,
            "sha256": document.sha256,
            "effective_from": document.effective_from.isoformat(),
            "replaces": str(document.replaces) if document.replaces_id else "",
        },
        request=request,
    )
    if document.replaces_id:
        from ..tasks import notify_terms_published

        pk = document.pk
        # With the broker down the fan-out runs here, after commit: its outbox rows wait for the broker like
        # any mail. A message the broker took and lost is picked up by the beat's terms_notify_stale.
        transaction.on_commit(lambda: enqueue(notify_terms_published, pk) or terms_notify(pk))
    return document


# Who is told ---------------------------------------------------------------------------------------


def affected_organisation_ids(document: TermsDocument):
    """Organisations that signed an older version of the same terms and not this one."""
    return (
        Acceptance.objects.filter(
            document__kind=document.kind,
            document__service_code=document.service_code,
            document__published_at__lt=document.published_at,
        )
        .exclude(organisation__acceptances__document=document)
        .values("organisation_id")
        .distinct()
    )


def _recipient_rows(document: TermsDocument):
    """(user id, e-mail, language, organisation name, organisation number) per person and affected organisation.

    Members' administrators and signatories; for the vendor terms the vendors' users (vendors have no other
    role). Nobody in an organisation that never signed the older version of these terms."""
    roles = (
        Affiliation.VENDOR_ROLES
        if document.kind == TermsDocument.Kind.VENDOR
        else (Affiliation.Role.ADMIN, Affiliation.Role.SIGNATORY)
    )
    return (
        Affiliation.objects.filter(
            organisation_id__in=affected_organisation_ids(document), role__in=roles, user__is_active=True
        )
        .order_by("user_id", "organisation__name")
        .values_list(
            "user_id", "user__email", "user__preferred_language", "organisation__name", "organisation__org_number"
        )
        .distinct()
    )


def terms_notify(document_id: int) -> int:
    """Mail every affected person about a publication once; return how many were told now.

    Safe to run again (a retry, a duplicate delivery, a second worker): a ``TermsNotification`` row per
    person and publication, checked and written under a lock on the document, means nobody gets it twice.
    """
    document = TermsDocument.objects.filter(pk=document_id, published_at__isnull=False).first()
    if document is None:
        return 0
    people: dict[int, dict] = {}
    for user_id, email, language, name, org_number in _recipient_rows(document):
        person = people.setdefault(user_id, {"email": email, "language": language or "nb", "organisations": []})
        if org_number not in {o["org_number"] for o in person["organisations"]}:
            person["organisations"].append(
                {
                    "name": name,
                    "org_number": org_number,
                    "url": reverse("terms_sign", args=[org_number, document.public_id]),
                }
            )
    user_ids = sorted(people)
    base_context = _mail_context(document)
    told = 0
    for start in range(0, len(user_ids), NOTIFY_BATCH):
        with transaction.atomic():
            TermsDocument.objects.select_for_update().filter(pk=document.pk).first()
            batch = user_ids[start : start + NOTIFY_BATCH]
            already = set(
                TermsNotification.objects.filter(document=document, user_id__in=batch).values_list("user_id", flat=True)
            )
            for user_id in batch:
                if user_id in already:
                    continue
                person = people[user_id]
                TermsNotification.objects.create(
                    document=document, user_id=user_id, organisations=[o["org_number"] for o in person["organisations"]]
                )
                queue_email("members/email/terms_published", {**base_context, "organisations": person["organisations"]},
                            [person["email"]],
                            language=person["language"])  # fmt: skip
                told += 1
    with transaction.atomic():
        if told or document.notified_at is None:
            TermsDocument.objects.filter(pk=document.pk).update(notified_at=timezone.now())
            audit(
                action="terms.notified",
                obj=document,
                after={"version": document.version, "people": told, "total": len(user_ids)},
            )
    return told


def _mail_context(document: TermsDocument) -> dict:
    return {
        "document": document.title_with_version,
        "replaces": document.replaces.title_with_version if document.replaces_id else "",
        "kind": document.kind,
        "change_note": document.change_note,
        # ISO in the outbox (JSON); portal_tags.local_date formats it in the reader's language.
        "effective_on": timezone.localtime(document.effective_from).date().isoformat(),
    }


def terms_notify_stale() -> int:
    """Beat: publications whose fan-out never finished (its task lost) are told now; returns how many ran."""
    stale_before = timezone.now() - datetime.timedelta(seconds=settings.TERMS_NOTIFY_REQUEUE_AFTER)
    pending = TermsDocument.objects.filter(
        published_at__lte=stale_before, replaces__isnull=False, notified_at__isnull=True
    ).values_list("pk", flat=True)
    ran = 0
    for pk in list(pending[:20]):
        terms_notify(pk)
        ran += 1
    return ran


# What staff see ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "added", "removed"
    text: str


def terms_diff(document: TermsDocument) -> list[DiffLine] | None:
    """The text's changes against the version it replaces (or would replace, for a draft); None for a first version."""
    previous = (
        document.replaces
        if document.is_published
        else TermsDocument.objects.current(document.kind, document.service_code)
    )
    if previous is None or previous.pk == document.pk:
        return None
    old, new = previous.body.replace("\r\n", "\n").splitlines(), document.body.replace("\r\n", "\n").splitlines()
    lines = []
    for line in difflib.ndiff(old, new):
        tag, text = line[:2], line[2:]
        if tag == "  ":
            lines.append(DiffLine("same", text))
        elif tag == "- ":
            lines.append(DiffLine("removed", text))
        elif tag == "+ ":
            lines.append(DiffLine("added", text))
    return lines


def terms_diff_base(document: TermsDocument) -> TermsDocument | None:
    if document.is_published:
        return document.replaces
    current = TermsDocument.objects.current(document.kind, document.service_code)
    return current if current is not None and current.pk != document.pk else None


def not_resigned(document: TermsDocument):
    """Organisations that signed an older version of these terms and not this one (staff's follow-up list)."""
    return Organisation.objects.filter(pk__in=affected_organisation_ids(document)).order_by("name")
