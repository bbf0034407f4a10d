"""The reconciliation report (*avstemming*): what each comparison of the backing services found, and
NHN staff's decisions on the grants nobody in the portal made.

`provisioning.reconcile` does the comparing (hourly, or when staff ask for it here) and writes a
`ReconciliationRun` with one `ReconciliationFinding` per difference. A grant in the VKP access registry
the portal never made waits for a person: removing it queues an ordinary revocation task; keeping it
needs a reason, and later runs then list it as kept instead of asking again.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils.translation import gettext as _

from members.models import Organisation, User
from portal.audit import audit
from portal.queueing import enqueue

from . import provisioning
from .models import ReconciliationFinding, ReconciliationRun

Kind, FindingState = ReconciliationFinding.Kind, ReconciliationFinding.State


# Reads --------------------------------------------------------------------------------------------


def recent_runs(limit: int = 10):
    return ReconciliationRun.objects.select_related("requested_by").order_by("-created_at", "-pk")[:limit]


def latest_finished_run() -> ReconciliationRun | None:
    return ReconciliationRun.objects.filter(state=ReconciliationRun.State.FINISHED).order_by("-finished_at").first()


def waiting_for_decision(limit: int = 200):
    """The grants nobody in the portal made, waiting for NHN staff to remove or keep them (oldest first)."""
    return (
        ReconciliationFinding.objects.filter(state=FindingState.WAITING)
        .select_related("run")
        .order_by("run__created_at", "pk")[:limit]
    )


def findings_waiting_count() -> int:
    return ReconciliationFinding.objects.filter(state=FindingState.WAITING).count()


def run_findings(run: ReconciliationRun):
    """One run's findings, missing first, then unexpected, then changed (a page groups them by kind)."""
    kind_order = Case(
        *(When(kind=kind, then=Value(n)) for n, kind in enumerate(Kind.values)), output_field=IntegerField()
    )
    return (
        run.findings.select_related("task", "decided_by")
        .annotate(kind_order=kind_order)
        .order_by("kind_order", "target", "pk")
    )


# Writes -------------------------------------------------------------------------------------------


@transaction.atomic
def run_request(*, by: User, request=None) -> ReconciliationRun:
    """NHN staff ask for a reconciliation now; it runs in the background once this commits."""
    run = ReconciliationRun.objects.create(trigger=ReconciliationRun.Trigger.PERSON, requested_by=by)
    audit(action="reconciliation.requested", obj=run, actor=by, after={"run": str(run.public_id)}, request=request)
    transaction.on_commit(lambda: dispatch(run.pk))
    return run


def dispatch(run_id: int) -> bool:
    from .tasks import reconcile_backing_services

    return enqueue(reconcile_backing_services, run_id)


@transaction.atomic
def finding_revoke(*, finding: ReconciliationFinding, by: User, request=None) -> ReconciliationFinding:
    """Remove a grant nobody in the portal made: a revocation task is queued for it."""
    finding.revoke(by=by)
    task = provisioning.revoke_task_for(finding)
    ReconciliationFinding.objects.filter(pk=finding.pk).update(task=task)
    finding.task = task
    _audit_decision(finding, by=by, request=request)
    return finding


@transaction.atomic
def finding_keep(*, finding: ReconciliationFinding, by: User, reason: str = "", request=None) -> ReconciliationFinding:
    """Keep a grant nobody in the portal made (given on purpose outside it); later runs do not ask again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason; it is kept in the log."), code="reason_required")
    finding.keep(by=by, reason=reason)
    _audit_decision(finding, by=by, request=request)
    return finding


def _audit_decision(finding: ReconciliationFinding, *, by: User, request=None) -> None:
    org_number = finding.subject.get("org_number", "")
    audit(
        action="reconciliation.decided",
        obj=finding,
        actor=by,
        organisation=Organisation.objects.filter(org_number=org_number).first() if org_number else None,
        after={
            "decision": finding.state,
            "target": finding.target,
            "found": finding.found,
            "reason": finding.reason,
            "task": str(finding.task.public_id) if finding.task else "",
        },
        request=request,
    )
