"""Terms documents as NHN staff draft and publish them."""

from django.db import transaction

from portal.audit import audit

from ..models import (
    TermsDocument,
    User,
)


@transaction.atomic
def terms_draft_create(
    *, kind: str, service_code: str, version: str, title: str, body: str, effective_from, by: User, request=None
) -> TermsDocument:
    document = TermsDocument(
        kind=kind, service_code=service_code, version=version, title=title, body=body, effective_from=effective_from
    )
    document.full_clean()
    document.save()
    audit(action="terms.drafted", obj=document, actor=by, after={"version": version}, request=request)
    return document


@transaction.atomic
def terms_publish(*, document: TermsDocument, by: User, request=None) -> TermsDocument:
    document.publish(by=by)
    audit(
        action="terms.published",
        obj=document,
        actor=by,
        after={"version": document.version, "sha256": document.sha256},
        request=request,
    )
    return document
