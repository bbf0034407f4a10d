"""The provisioning engine: make approved orders and client changes real in the backing services.

How it never loses a change:
- `ProvisioningTask` rows (the outbox) are written in the transaction that changes the order,
  assignment or client, and sent to Celery only after that commit.
- A task names a target and, when it runs, brings that target to what the database says it
  should be (`desired_grants`, `desired_client`). Running it twice, late, or out of order gives
  the same result; every request carries an idempotency key, so the service sees a replay.
- `task_run` holds a row lock (SELECT … FOR UPDATE SKIP LOCKED) while it calls the service: a
  second delivery of the same message skips, and a worker that dies releases the lock with its
  connection, so the redelivered message (acks_late) runs the task again.
- Client updates are coalesced: a new task for a client replaces the ones still waiting for it
  (state "superseded", `superseded_by`), and its one run serves every order they stood for. The
  first of their messages to arrive runs it, so an order does not wait for the last update queued. One
  approval no longer means one more full update of a client with thousands of tenants.
- VKP grants run in batches: the worker that takes one also takes the other due grants nobody
  holds (up to PROVISIONING_VKP_BATCH, SKIP LOCKED) and runs them in one transaction, each with its
  own outcome and idempotency key; their own messages then find them done.
- Timeouts, dropped connections and 5xx are retried with exponential backoff and jitter; 4xx
  fails at once. A failed task waits for NHN staff, who retry or cancel it.
- `requeue_stale` (celery beat) re-sends tasks whose message was lost (broker down at commit);
  `reconcile` (celery beat) compares the services with the database and queues repairs.
"""

import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Organisation, SupportedService, User, VendorAssignment, VendorSystem
from portal.audit import audit, audit_many
from portal.choices import Environment
from portal.clients import BackingServiceError, backoff_delay
from portal.queueing import enqueue_outbox_rows

from .clients import AccessGrant, RegisteredClient, helseid_registry, vkp_registry
from .models import HelseIdClient, Order, ProvisioningTask, ReconciliationFinding, ReconciliationRun, Service

logger = logging.getLogger(__name__)

# Orders whose access should exist in the services: being set up, in force, or stuck on a failure.
ORDER_STATES_WITH_ACCESS = (Order.State.PROVISIONING, Order.State.ACTIVE, Order.State.FAILED)
# A message may arrive a little before next_attempt_at (clocks, countdown rounding).
EARLY_TOLERANCE = timedelta(seconds=1)

Kind, Reason, TaskState = ProvisioningTask.Kind, ProvisioningTask.Reason, ProvisioningTask.State
Finding, FindingState = ReconciliationFinding, ReconciliationFinding.State
# Only client updates are coalesced: a newer task replaces the waiting ones (`superseded_by`).
SUPERSEDABLE_KINDS = (Kind.HELSEID_CLIENT,)
VKP_PAYLOAD_KEYS = (
    "environment",
    "org_number",
    "organisation_name",
    "service",
    "service_name",
    "system",
    "system_name",
)


# What the services should hold -------------------------------------------------------------------


def access_for(system: VendorSystem, service: Service) -> tuple[str, ...]:
    """Read and/or write, from the side the system is on (catalogue data)."""
    access = []
    if system.kind in service.sides("read_by"):
        access.append("read")
    if system.kind in service.sides("written_by"):
        access.append("write")
    return tuple(access)


def desired_grants(environment: str, *, org_numbers=None) -> dict[tuple, AccessGrant]:
    """Every grant the VKP access registry should hold: an order with access, and a system in use that supports it.

    `org_numbers` narrows it to some organisations (a batch of grants) in the same three queries;
    one target's grant is `desired_grant`.
    """
    orders = Order.objects.filter(environment=environment, state__in=ORDER_STATES_WITH_ACCESS)
    assignments = VendorAssignment.objects.active().filter(environment=environment)
    if org_numbers is not None:
        orders = orders.filter(organisation__org_number__in=org_numbers)
        assignments = assignments.filter(organisation__org_number__in=org_numbers)
    ordered: dict[int, list[Service]] = {}
    for order in orders.select_related("service"):
        ordered.setdefault(order.organisation_id, []).append(order.service)
    if not ordered:
        return {}  # no order with access: nothing to grant, whatever the assignments
    assignments = list(assignments.select_related("organisation", "system"))
    # Only the pairs of the systems in use here: the whole environment's list grows with every vendor.
    supported = set(
        SupportedService.objects.filter(
            environment=environment, system_id__in={assignment.system_id for assignment in assignments}
        ).values_list("system_id", "service_id")
    )
    grants = {}
    for assignment in assignments:
        for service in ordered.get(assignment.organisation_id, []):
            access = access_for(assignment.system, service)
            if (assignment.system_id, service.pk) in supported and access:
                grant = AccessGrant(
                    environment,
                    assignment.organisation.org_number,
                    service.code,
                    str(assignment.system.public_id),
                    access,
                )
                grants[grant.target] = grant
    return grants


def desired_grant(environment: str, org_number: str, service_code: str, system_public_id: str) -> AccessGrant | None:
    """`desired_grants(…)` narrowed to one target, in one query: the grant it should hold, or None.

    The system's support for the service in the environment, provided the organisation uses the
    system there (an active assignment) and has an order with access for the service: what one VKP
    task brings its target to. One statement instead of three (orders, assignments, supported pairs).
    """
    assignments = VendorAssignment.objects.active().filter(
        environment=environment, organisation__org_number=org_number, system=OuterRef("system")
    )
    orders = Order.objects.filter(
        environment=environment,
        state__in=ORDER_STATES_WITH_ACCESS,
        organisation__org_number=org_number,
        service=OuterRef("service"),
    )
    supported = (
        SupportedService.objects.filter(
            environment=environment, service__code=service_code, system__public_id=system_public_id
        )
        .filter(Exists(assignments), Exists(orders))
        .select_related("system", "service")
        .only("system__kind", "system__public_id", "service__code", "service__read_by", "service__written_by")
        .first()
    )
    if supported is None:
        return None
    access = access_for(supported.system, supported.service)
    grant = AccessGrant(environment, org_number, service_code, str(supported.system.public_id), access)
    # As `desired_grants(…).get(target)`: the target exactly as the portal names it, with some access.
    target = (environment, org_number, service_code, system_public_id)
    return grant if access and grant.target == target else None


def client_name(client: HelseIdClient) -> str:
    name = f"{client.system.name} ({client.system.vendor.name})"
    return f"{name} – {client.tenant.name}" if client.tenant_id else name


def desired_client(client: HelseIdClient) -> RegisteredClient:
    from .helseid import client_tenant_scopes

    return RegisteredClient(
        client_id=str(client.client_id),
        name=client_name(client),
        environment=client.environment,
        tenancy=client.tenancy,
        keys=[key.public_jwk for key in client.keys.order_by("created_at", "pk") if key.is_active],
        tenants=client_tenant_scopes(client, order_states=ORDER_STATES_WITH_ACCESS),
        enabled=client.state != HelseIdClient.State.DISABLED,
    )


# Writing the outbox -------------------------------------------------------------------------------


def _vkp_target(environment: str, org_number: str, service_code: str, system_public_id: str) -> str:
    return f"vkp:{environment}:{org_number}:{service_code}:{system_public_id}"


def _queue(tasks: list[ProvisioningTask]) -> list[ProvisioningTask]:
    created = ProvisioningTask.objects.bulk_create(tasks)
    _supersede_waiting_client_tasks(created)
    rows = [(task.pk, task.kind) for task in created]
    if rows:
        transaction.on_commit(lambda: dispatch_by_kind(rows))
    return created


def _supersede_waiting_client_tasks(created: list[ProvisioningTask]) -> None:
    """Older client tasks still waiting for a worker are replaced by the new one for the same client.

    A task brings its client to what the database says when it runs, so the new task does all the
    older ones would have done. A task a worker is running holds its row lock (`task_run`) and is
    skipped here: it may have read the database before this change, so the new one must run too.
    Holding the older rows' locks until commit makes a worker that picks one up meanwhile skip it.
    """
    newest = {task.target: task for task in created if task.kind in SUPERSEDABLE_KINDS}
    if not newest:
        return
    waiting = list(
        ProvisioningTask.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(kind__in=SUPERSEDABLE_KINDS, target__in=newest, state=TaskState.PENDING)
        .exclude(pk__in=[task.pk for task in newest.values()])
        .select_related("order__organisation", "client__system__vendor")
        .order_by("pk")
    )
    by_target: dict[str, list[ProvisioningTask]] = {}
    for task in waiting:
        by_target.setdefault(task.target, []).append(task)
    for target, older in by_target.items():
        replacement = newest[target]
        older_ids = [task.pk for task in older]
        # The tasks the older ones stood for now wait on the newest: one step from any task to its run.
        ProvisioningTask.objects.filter(superseded_by__in=older_ids).update(superseded_by=replacement)
        ProvisioningTask.objects.filter(pk__in=older_ids).update(state=TaskState.SUPERSEDED, superseded_by=replacement)
        for task in older:
            audit(
                action="provisioning.task_superseded",
                obj=task.order or task.client or task,
                organisation=_organisation_of(task),
                after={
                    "task": str(task.public_id),
                    "step": task.describe(),
                    "superseded_by": str(replacement.public_id),
                    "reason": replacement.reason,
                },
            )


def _vkp_task(*, organisation, service, system, environment, reason, intent, order=None) -> ProvisioningTask:
    return ProvisioningTask(
        kind=Kind.VKP_ACCESS,
        reason=reason,
        target=_vkp_target(environment, organisation.org_number, service.code, str(system.public_id)),
        payload={
            "environment": environment,
            "org_number": organisation.org_number,
            "organisation_name": organisation.name,
            "service": service.code,
            "service_name": service.name_nb,
            "system": str(system.public_id),
            "system_name": system.name,
            "intent": intent,
        },
        order=order,
    )


def _client_task(client: HelseIdClient, *, reason: str, order=None) -> ProvisioningTask:
    return ProvisioningTask(
        kind=Kind.HELSEID_CLIENT,
        reason=reason,
        target=f"helseid:{client.client_id}",
        payload={
            "client_id": str(client.client_id),
            "client_name": client_name(client),
            "intent": "disable" if client.state == HelseIdClient.State.DISABLED else "update",
        },
        client=client,
        order=order,
    )


def _clients_acting_for(systems, organisation: Organisation, environment: str):
    return (
        HelseIdClient.objects.exclude(state=HelseIdClient.State.DISABLED)
        .filter(system__in=systems, environment=environment)
        .filter(Q(tenancy=HelseIdClient.Tenancy.MULTI) | Q(tenant=organisation))
        .select_related("system", "system__vendor", "tenant")
    )


def queue_for_order(order: Order, *, reason: str) -> list[ProvisioningTask]:
    """Grant (or, once ended, revoke) the order's access for every system the organisation uses for it."""
    intent = "revoke" if reason == Reason.ORDER_ENDED else "grant"
    systems = VendorSystem.objects.filter(
        assignments__in=VendorAssignment.objects.active().filter(
            organisation=order.organisation, environment=order.environment
        ),
        supported_services__service=order.service,
        supported_services__environment=order.environment,
    ).distinct()
    tasks = [
        _vkp_task(
            organisation=order.organisation,
            service=order.service,
            system=system,
            environment=order.environment,
            reason=reason,
            intent=intent,
            order=order,
        )
        for system in systems
        if access_for(system, order.service)
    ]
    tasks += [
        _client_task(client, reason=reason, order=order)
        for client in _clients_acting_for(systems, order.organisation, order.environment)
    ]
    return _queue(tasks)


def queue_for_assignment(assignment: VendorAssignment, *, reason: str) -> list[ProvisioningTask]:
    """A municipality started or stopped using a system: its orders' access for that system follows."""
    intent = "revoke" if reason == Reason.ASSIGNMENT_ENDED else "grant"
    system, organisation, environment = assignment.system, assignment.organisation, assignment.environment
    supported = system.supported_services.filter(environment=environment).values("service_id")
    orders = Order.objects.filter(
        organisation=organisation, environment=environment, state__in=ORDER_STATES_WITH_ACCESS, service__in=supported
    ).select_related("service")
    tasks = [
        _vkp_task(
            organisation=organisation,
            service=order.service,
            system=system,
            environment=environment,
            reason=reason,
            intent=intent,
            order=order if order.state == Order.State.PROVISIONING else None,
        )
        for order in orders
        if access_for(system, order.service)
    ]
    tasks += [
        _client_task(client, reason=reason) for client in _clients_acting_for([system], organisation, environment)
    ]
    return _queue(tasks)


def queue_for_supported_services(system: VendorSystem, changed: set[tuple[int, str]]) -> list[ProvisioningTask]:
    """The vendor changed which services the system supports: grants for its tenants follow."""
    supported_now = set(system.supported_services.values_list("service_id", "environment"))
    assignments = {
        (assignment.organisation_id, assignment.environment): assignment
        for assignment in VendorAssignment.objects.active().filter(system=system).select_related("organisation")
    }
    # One query for every tenant's orders whose service changed; filtered to the assigned environments below.
    orders = Order.objects.filter(
        organisation_id__in={organisation_id for organisation_id, _environment in assignments},
        state__in=ORDER_STATES_WITH_ACCESS,
        service_id__in={service_id for service_id, _environment in changed},
    ).select_related("service")
    tasks = [
        _vkp_task(
            organisation=assignments[(order.organisation_id, order.environment)].organisation,
            service=order.service,
            system=system,
            environment=order.environment,
            reason=Reason.SERVICES_CHANGED,
            intent="grant" if (order.service_id, order.environment) in supported_now else "revoke",
        )
        for order in orders
        if (order.organisation_id, order.environment) in assignments
        and (order.service_id, order.environment) in changed
        and access_for(system, order.service)
    ]
    environments = {environment for _service_id, environment in changed}
    clients = system.helseid_clients.exclude(state=HelseIdClient.State.DISABLED).filter(environment__in=environments)
    tasks += [_client_task(client, reason=Reason.SERVICES_CHANGED) for client in clients]
    return _queue(tasks)


def queue_for_client(client: HelseIdClient, *, reason: str) -> list[ProvisioningTask]:
    return _queue([_client_task(client, reason=reason)])


# Outbox rows per message: those of one kind one change queues go together; the sweeper's in slices.
TASKS_PER_MESSAGE = 20


def dispatch_by_kind(rows: list[tuple[int, str]]) -> None:
    """`dispatch` the (id, kind) rows, one message per kind.

    Grants go together (a worker runs the due ones as a batch anyway). A client update, which takes
    a second for a client with a thousand tenants, is not in the grants' message: there it held the
    grants of the approvals that followed behind it (bench/provisioning.py, one client, one at a time).
    """
    by_kind: dict[str, list[int]] = {}
    for task_id, kind in rows:
        by_kind.setdefault(kind, []).append(task_id)
    for task_ids in by_kind.values():
        if not dispatch(task_ids):
            break  # the broker is down: the sweeper sends the rest too


def dispatch(task_ids: list[int], *, countdown: float | None = None) -> bool:
    """Hand tasks to the broker; False if it is down: they stay in the outbox and `requeue_stale` sends them later."""
    from .tasks import run_provisioning_tasks

    return enqueue_outbox_rows(
        ProvisioningTask.objects, task_ids, run_provisioning_tasks, per_message=TASKS_PER_MESSAGE, countdown=countdown
    )


# Running a task ----------------------------------------------------------------------------------


def _vkp_target_of(task: ProvisioningTask) -> tuple[str, str, str, str]:
    payload = task.payload
    return (payload["environment"], payload["org_number"], payload["service"], payload["system"])


def _perform_vkp(task: ProvisioningTask) -> dict:
    target = _vkp_target_of(task)
    # An organisation, service or system the portal does not know (a grant made outside it, removed by
    # NHN staff) matches no order or assignment, so it should hold nothing.
    grant = desired_grant(*target) if _is_uuid(target[3]) else None
    return _send_vkp(task, target, grant)


def _send_vkp(task: ProvisioningTask, target: tuple, grant: AccessGrant | None) -> dict:
    registry = vkp_registry()
    key_base = str(task.idempotency_key)
    if grant is None:
        registry.revoke(AccessGrant(*target, access=()), key_base=key_base)
        return {"action": "revoked"}
    registry.grant(grant, key_base=key_base)
    return {"action": "granted", "access": list(grant.access)}


def _perform_helseid(task: ProvisioningTask) -> dict:
    client = HelseIdClient.objects.select_related("system", "system__vendor", "tenant").get(pk=task.client_id)
    task.client = client  # kept for what follows the run: the registration, the failure's audit event
    desired = desired_client(client)
    registry = helseid_registry()
    key_base = str(task.idempotency_key)
    if not desired.enabled:
        registry.disable(desired.client_id, key_base=key_base)
        return {"action": "disabled"}
    registry.put_client(desired, key_base=key_base)
    registry.set_keys(desired.client_id, desired.keys, key_base=key_base)
    registry.set_tenants(desired.client_id, desired.tenants, key_base=key_base)
    return {
        "action": "updated",
        "kids": [key.get("kid") for key in desired.keys],
        "tenants": desired.tenants,
    }


PERFORMERS = {Kind.VKP_ACCESS: _perform_vkp, Kind.HELSEID_CLIENT: _perform_helseid}


def task_run(task_id: int, *, allow_early: bool = False, batch: int = 1) -> str | None:
    """Run one task if it is due and nobody else is running it; return its new state, or None if skipped.

    With `batch` above one, a VKP task also takes up to `batch - 1` more VKP tasks that are due and
    that nobody holds, and runs them all in its transaction (`_run_vkp_batch`): their messages then
    find them done, and one that finds its own done or held by another worker runs the next batch of
    due grants instead (`_run_due_vkp_tasks`). A backlog of grants costs one transaction and a few
    statements per batch instead of per grant; a worker that dies mid-batch rolls it all back, and
    the tasks whose own messages were consumed meanwhile are sent again by the sweeper (`requeue_stale`).
    """
    # Most messages that find their task done were served by another run (a batch, a newer client
    # update): a read answers them, without a transaction and a row lock.
    found = ProvisioningTask.objects.filter(pk=task_id).values_list("state", "superseded_by", "kind").first()
    if found is None:
        return None
    state, replacement, kind = found
    batching = kind == Kind.VKP_ACCESS and batch > 1
    if state == TaskState.SUPERSEDED:
        # The replacement's run serves this one: the message that comes first runs it, so an order waits
        # for the client update its approval queued, not for the last one queued after it.
        task_id = replacement
    elif state != TaskState.PENDING:
        if batching:
            _run_due_vkp_tasks(limit=batch)
        return None
    with transaction.atomic():
        task = (
            ProvisioningTask.objects.select_for_update(skip_locked=True)
            .filter(pk=task_id, state=TaskState.PENDING)
            .first()
        )
        if task is None:
            # Done meanwhile, or another worker holds it right now (in a batch, most likely).
            if batching:
                _run_due_vkp_tasks(limit=batch)
            return None
        now = timezone.now()
        if not allow_early and task.next_attempt_at > now + EARLY_TOLERANCE:
            return None  # a stray early copy; the retry's own message comes at the right time
        if batching:
            _run_vkp_batch([task, *_claim_due_vkp_tasks(now=now, limit=batch - 1, besides=task)], now=now, own=task)
            return task.state
        task.attempts += 1
        try:
            result = PERFORMERS[task.kind](task)
        except BackingServiceError as error:
            _record_outcome(task, now=now, error=error)
        else:
            _record_outcome(task, now=now, result=result)
        _save_outcomes([task])
        if task.state == TaskState.PENDING:
            return task.state  # a retry later: nothing to settle yet
        if task.state == TaskState.FAILED:
            audit(**_failure_event(task))
        # In the same transaction: the orders' outcome commits with the task's, so an order never sits
        # waiting on a task already done (a settle that failed after the task committed left it so), and
        # one BEGIN/COMMIT less per task. The task's lock is taken before the orders' locks here and
        # nowhere after them, so this adds no deadlock (approvals skip locked tasks).
        _settle(task)
    return task.state


def _due_vkp_tasks(now):
    return ProvisioningTask.objects.filter(
        kind=Kind.VKP_ACCESS, state=TaskState.PENDING, next_attempt_at__lte=now + EARLY_TOLERANCE
    )


def _claim_due_vkp_tasks(*, now, limit: int, besides: ProvisioningTask | None = None) -> list[ProvisioningTask]:
    """Due VKP tasks but `besides`, oldest first, locked for this run; those another worker holds are skipped."""
    due = _due_vkp_tasks(now).select_for_update(skip_locked=True)
    if besides is not None:
        due = due.exclude(pk=besides.pk)
    return list(due.order_by("next_attempt_at", "pk")[:limit])


def _run_due_vkp_tasks(*, limit: int) -> None:
    """A grant's message whose grant is done runs a batch of the grants still due, if there are any.

    In a backlog the grants' messages come one after another behind the first one's batch, and
    would each find their grant done; taking the next batch at once, each worker runs batches side
    by side instead of waiting for the queue to reach a grant no batch has taken yet. One read when
    nothing is due (no transaction, no lock). Inside the caller's transaction it runs in that one (no
    savepoint: an error ends the run either way).
    """
    now = timezone.now()
    if not _due_vkp_tasks(now).exists():
        return
    with transaction.atomic(savepoint=False):
        _run_vkp_batch(_claim_due_vkp_tasks(now=now, limit=limit), now=now)


def _run_vkp_batch(tasks: list[ProvisioningTask], *, now, own: ProvisioningTask | None = None) -> None:
    """Run VKP tasks together: their grants in three queries per environment, one call each, one UPDATE, one settle.

    Each task keeps its own outcome (done, a retry later, failed) and its own idempotency key. An
    unexpected error in `own`, the task whose message this is, fails the run, as a single task's
    would; one in another task leaves that task as it was, for its own message to run alone.
    """
    if not tasks:
        return
    desired: dict[tuple, AccessGrant] = {}
    for environment in {task.payload["environment"] for task in tasks}:
        org_numbers = {task.payload["org_number"] for task in tasks if task.payload["environment"] == environment}
        desired.update(desired_grants(environment, org_numbers=org_numbers))
    ran = []
    for task in tasks:
        target = _vkp_target_of(task)
        task.attempts += 1
        try:
            result = _send_vkp(task, target, desired.get(target) if _is_uuid(target[3]) else None)
        except BackingServiceError as error:
            _record_outcome(task, now=now, error=error)
        except Exception:
            if task is own:
                raise
            task.attempts -= 1
            logger.exception("Provisioning task %s failed unexpectedly in a batch; left for its own message", task.pk)
            continue
        else:
            _record_outcome(task, now=now, result=result)
        ran.append(task)
    _save_outcomes(ran)
    audit_many([_failure_event(task) for task in ran if task.state == TaskState.FAILED])
    # A VKP task serves its own order alone (nothing replaces one): the orders of those that are done.
    settle_orders([task.order_id for task in ran if task.order_id and task.state != TaskState.PENDING])


def _save_outcomes(tasks: list[ProvisioningTask]) -> None:
    """Write the outcomes of one task or a batch: one UPDATE for each group of tasks whose run fields are alike.

    The tasks of a batch mostly end alike (granted the same access), so this is one or two UPDATEs;
    `bulk_update` builds a CASE per field and row, and compiling it cost more than the grants' calls.
    Every task ran once more, so attempts is one more for all (the rows are locked: nobody else adds).
    """
    groups: dict[str, tuple[dict, list[int]]] = {}
    for task in tasks:
        fields = _outcome_fields(task)
        groups.setdefault(json.dumps(fields, sort_keys=True, default=str), (fields, []))[1].append(task.pk)
    for fields, task_ids in groups.values():
        ProvisioningTask.objects.filter(pk__in=task_ids).update(attempts=F("attempts") + 1, **fields)


def _outcome_fields(task: ProvisioningTask) -> dict:
    """What a run changes on its task row besides attempts; the rest was written when it was queued.

    A retry's time is its own; a task that ended keeps the time it was due.
    """
    if task.state == TaskState.PENDING:
        return {"last_error": task.last_error, "next_attempt_at": task.next_attempt_at}
    if task.state == TaskState.FAILED:
        return {"state": task.state, "last_error": task.last_error}
    return {"state": task.state, "completed_at": task.completed_at, "last_error": "", "result": task.result}


def _record_outcome(task: ProvisioningTask, *, now, result: dict | None = None, error=None) -> None:
    """Set what the run did on the task: done; failed; or pending with a retry queued for after commit."""
    if error is None:
        task.state, task.completed_at, task.last_error, task.result = TaskState.SUCCEEDED, now, "", result
        return
    task.last_error = str(error)
    if error.retryable and task.attempts < settings.PROVISIONING_MAX_ATTEMPTS:
        delay = backoff_delay(
            task.attempts, base=settings.PROVISIONING_BACKOFF_BASE, cap=settings.PROVISIONING_BACKOFF_CAP
        )
        task.next_attempt_at = now + timedelta(seconds=delay)
        task_id = task.pk
        transaction.on_commit(lambda: dispatch([task_id], countdown=delay))
        return
    task.state = TaskState.FAILED


def _failure_event(task: ProvisioningTask) -> dict:
    return {
        "action": "provisioning.task_failed",
        "obj": task.order or task.client or task,
        "organisation": _organisation_of(task),
        "after": {"task": str(task.public_id), "step": task.step_params(), "error": task.last_error},
    }


def _organisation_of(task: ProvisioningTask):
    if task.order_id:
        return task.order.organisation
    if task.client_id:
        return task.client.system.vendor
    return Organisation.objects.filter(org_number=task.payload.get("org_number", "")).first()


def orders_waiting_on(task: ProvisioningTask) -> list[int]:
    """The orders whose set-up this task's run serves: its own, and those of the tasks it replaced."""
    if task.kind not in SUPERSEDABLE_KINDS:
        # Nothing ever replaces a task of this kind (`_supersede_waiting_client_tasks`): its own order alone.
        return [task.order_id] if task.order_id else []
    return sorted(
        set(
            ProvisioningTask.objects.filter(Q(pk=task.pk) | Q(superseded_by=task.pk))
            .exclude(order=None)
            .values_list("order_id", flat=True)
        )
    )


def failed_steps(order: Order) -> list[ProvisioningTask]:
    """The failed tasks the order waits on: its own, or the newer ones that replaced its own."""
    serving = (task.serving for task in order.provisioning_tasks.select_related("superseded_by"))
    return list({task.pk: task for task in serving if task.state == TaskState.FAILED}.values())


def _settle(task: ProvisioningTask) -> None:
    settle_orders(orders_waiting_on(task))
    # Only a client still pending becomes active (registered); `_perform_helseid` loaded it in this
    # transaction, and no client ever goes back to pending, so one that was not needs no UPDATE.
    if task.client_id and task.state == TaskState.SUCCEEDED and task.client.state == HelseIdClient.State.PENDING:
        registered = HelseIdClient.objects.filter(pk=task.client_id, state=HelseIdClient.State.PENDING).update(
            state=HelseIdClient.State.ACTIVE
        )
        if registered:
            client = task.client
            client.state = HelseIdClient.State.ACTIVE
            audit(
                action="helseid_client.registered",
                obj=client,
                organisation=client.system.vendor,
                after={"state": client.state},
            )


SETTLE_ORDER_FIELDS = (
    *(field.name for field in Order._meta.concrete_fields),
    "organisation__name",
    "organisation__org_number",
    "service__code",
    "service__name_nb",
    "service__name_en",
)
SETTLE_TASK_FIELDS = (
    "order",
    "state",
    "last_error",
    "superseded_by",
    "superseded_by__state",
    "superseded_by__last_error",
)


def settle_order(order_id: int) -> Order:
    """`settle_orders` for one order; returns the order as it is now."""
    settled = settle_orders([order_id])
    return settled[0] if settled else Order.objects.get(pk=order_id)


def settle_orders(order_ids) -> list[Order]:
    """Move provisioning orders on once their tasks say so: all done → active; one failed → failed.

    All the orders one task serves (a client update serves every order whose waiting update it
    replaced) in one transaction and a fixed number of statements, whatever their number: their row
    locks, their tasks, one guarded UPDATE per outcome, one INSERT of the audit events, the notices
    in one INSERT. Returns the orders that were provisioning (now moved on, or still waiting);
    orders in any other state are left alone.

    The order row locks make two tasks finishing at once agree: the second sees the first's commit.
    Taken in primary-key order, so two batches that share orders never deadlock. Only the orders'
    rows: locking the joined organisation and service rows too made every settle in the country
    wait for one another on the service's row, and deadlock with an approval whose replaced steps'
    audit events reference (key-share lock) another order's organisation.
    """
    from .services import notify_organisations, notify_staff_of_failures

    order_ids = sorted(set(order_ids))
    if not order_ids:
        return []
    # Inside a task's run or an approval, their transaction (no savepoint: an error here fails them too).
    with transaction.atomic(savepoint=False):
        orders = list(
            Order.objects.select_for_update(of=("self",))
            .filter(pk__in=order_ids, state=Order.State.PROVISIONING)
            .select_related("organisation", "service")
            # Of the organisation and service only what the audit event and the notice show (the
            # service's descriptions are long texts, read for every order of a batch otherwise).
            .only(*SETTLE_ORDER_FIELDS)
            .order_by("pk")
        )
        if not orders:
            return []
        tasks_of: dict[int, list[ProvisioningTask]] = {order.pk: [] for order in orders}
        # A replaced task waits on its replacement: that one's outcome is this one's.
        tasks = ProvisioningTask.objects.filter(order__in=orders).select_related("superseded_by")
        # Only the outcome: a client update's result lists every tenant of the client, and each
        # order's row would carry (and decode) it again through its replacement.
        for task in tasks.only(*SETTLE_TASK_FIELDS):
            tasks_of[task.order_id].append(task.serving)
        failing: dict[str, list[Order]] = {}  # by error: one UPDATE for the orders that share it
        activating: list[Order] = []
        for order in orders:
            tasks = tasks_of[order.pk]
            failed = [task for task in tasks if task.state == TaskState.FAILED]
            if failed:
                failing.setdefault(failed[0].last_error, []).append(order)
            elif all(task.state in ProvisioningTask.DONE for task in tasks):
                activating.append(order)
        for error, group in failing.items():
            Order.fail_many(group, error=error)
        Order.activate_many(activating)
        events = []
        for order in orders:
            if order.state == Order.State.FAILED:
                events.append(
                    {"action": "order.failed", "obj": order, "after": {"state": order.state, "error": order.last_error}}
                )
            elif order.state == Order.State.ACTIVE:
                steps = len(tasks_of[order.pk])
                events.append(
                    {"action": "order.activated", "obj": order, "after": {"state": order.state, "steps": steps}}
                )
        audit_many(events)
        notify_staff_of_failures([order for order in orders if order.state == Order.State.FAILED])
        notify_organisations(activating)
    return orders


# NHN staff: retry or cancel a failed task ----------------------------------------------------------


@transaction.atomic
def task_retry(*, task: ProvisioningTask, by: User, request=None) -> ProvisioningTask:
    updated = ProvisioningTask.objects.filter(pk=task.pk, state=TaskState.FAILED).update(
        state=TaskState.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    if not updated:
        raise ValidationError(_("Only failed steps can be retried."))
    task.refresh_from_db()
    audit(
        action="provisioning.task_retried",
        obj=task.order or task.client or task,
        actor=by,
        organisation=_organisation_of(task),
        after={"task": str(task.public_id), "step": task.step_params(), "last_error": task.last_error},
        request=request,
    )
    for order_id in orders_waiting_on(task):
        _resume_order(order_id, by=by, request=request)
    transaction.on_commit(lambda: dispatch([task.pk]))
    return task


@transaction.atomic
def task_cancel(*, task: ProvisioningTask, by: User, reason: str, request=None) -> ProvisioningTask:
    """NHN gives up on a step (done by hand, or no longer needed); the order no longer waits for it."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason; it is kept in the log."), code="reason_required")
    updated = ProvisioningTask.objects.filter(pk=task.pk, state__in=ProvisioningTask.OPEN).update(
        state=TaskState.CANCELLED, cancelled_by=by, completed_at=timezone.now()
    )
    if not updated:
        raise ValidationError(_("This step is already done."))
    task.refresh_from_db()
    audit(
        action="provisioning.task_cancelled",
        obj=task.order or task.client or task,
        actor=by,
        organisation=_organisation_of(task),
        after={"task": str(task.public_id), "step": task.step_params(), "reason": reason},
        request=request,
    )
    waiting = orders_waiting_on(task)
    for order_id in waiting:
        _resume_order(order_id, by=by, request=request)
    settle_orders(waiting)
    return task


def _resume_order(order_id: int, *, by: User, request=None) -> None:
    """A failed order is set up again once none of its steps is failed any more."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.state == Order.State.FAILED and not failed_steps(order):
        order.start_provisioning()
        audit(action="order.provisioning", obj=order, actor=by, after={"state": order.state}, request=request)


# Periodic safety nets ----------------------------------------------------------------------------


def requeue_stale() -> int:
    """Re-send due tasks whose message never arrived (broker down at commit, message lost)."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.PROVISIONING_REQUEUE_AFTER)
    rows = list(
        ProvisioningTask.objects.filter(state=TaskState.PENDING, next_attempt_at__lte=now)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale_before))
        .order_by("next_attempt_at")
        .values_list("pk", "kind")[:1000]
    )
    dispatch_by_kind(rows)
    return len(rows)


def reconcile(run: ReconciliationRun | None = None) -> list[dict]:
    """Compare each backing service with the database, record what differs, and queue the repairs.

    Every difference becomes a finding of the run (the staff's reconciliation report). Missing and
    changed access is repaired by a queued task, as is a stale grant the portal once made itself. A
    grant the portal never made is not revoked: someone gave it outside the portal, maybe on purpose,
    so it waits for NHN staff to remove or keep it (a target kept once is not asked about again).
    Targets with work already under way are left alone: their own task brings them right. Returns
    the differences repaired (also written to the audit log); an error fails the run and is raised.
    """
    if run is None:
        run = ReconciliationRun.objects.create(trigger=ReconciliationRun.Trigger.SCHEDULE)
    run.begin()
    try:
        return _reconcile(run)
    except Exception as error:
        run.fail(error=str(error) or type(error).__name__)
        raise


def _reconcile(run: ReconciliationRun) -> list[dict]:
    busy = set(ProvisioningTask.objects.open().values_list("target", flat=True))
    kept = set(
        ReconciliationFinding.objects.filter(state=FindingState.KEPT).values_list("target", flat=True).distinct()
    )
    drift: list[dict] = []
    found: list[tuple[ReconciliationFinding, ProvisioningTask | None]] = []
    registry = vkp_registry()
    for environment in Environment.values:
        desired = desired_grants(environment)
        actual = {grant.target: grant for grant in registry.list_grants(environment)}
        for target in sorted(set(desired) | set(actual)):
            want, have = desired.get(target), actual.get(target)
            if want is not None and have is not None and set(want.access) == set(have.access):
                continue
            target_key = _vkp_target(*target)
            if target_key in busy:
                continue
            kind = (
                Finding.Kind.MISSING
                if have is None
                else Finding.Kind.UNEXPECTED
                if want is None
                else Finding.Kind.CHANGED
            )
            finding = Finding(
                kind=kind,
                target=target_key,
                expected={"access": sorted(want.access)} if want else {},
                found={"access": sorted(have.access)} if have else {},
            )
            task = None
            if kind != Finding.Kind.UNEXPECTED or _portal_granted(target_key):
                task = _reconciliation_vkp_task(target, intent="grant" if want else "revoke")
            if task is None:
                logger.warning(
                    "VKP registry holds an unknown grant %s (not made by the portal); left for NHN staff", target
                )
                finding.subject = _vkp_subject(target)
                if target_key in kept:
                    finding.handling = Finding.Handling.KEPT_EARLIER
                else:
                    finding.handling, finding.state = Finding.Handling.LEFT_FOR_PERSON, FindingState.WAITING
            else:
                finding.handling = Finding.Handling.REPAIR_QUEUED
                finding.subject = {key: value for key, value in task.payload.items() if key != "intent"}
                drift.append(
                    {
                        "target": task.target,
                        "expected": finding.expected.get("access", []),
                        "found": finding.found.get("access", []),
                    }
                )
            found.append((finding, task))
    helseid = helseid_registry()
    clients = HelseIdClient.objects.exclude(state=HelseIdClient.State.PENDING).select_related(
        "system", "system__vendor", "tenant"
    )
    for client in clients:
        if f"helseid:{client.client_id}" in busy:
            continue
        want, have = desired_client(client), helseid.get_client(str(client.client_id))
        difference = _client_difference(want, have)
        if difference:
            task = _client_task(client, reason=Reason.RECONCILIATION)
            drift.append({"target": task.target, **difference})
            finding = Finding(
                kind=Finding.Kind.MISSING if have is None else Finding.Kind.CHANGED,
                handling=Finding.Handling.REPAIR_QUEUED,
                target=task.target,
                subject={"client_id": str(client.client_id), "client_name": client_name(client)},
                **_client_sides(difference),
            )
            found.append((finding, task))
    _record(run, found, drift)
    return drift


def _record(run: ReconciliationRun, found: list, drift: list[dict]) -> None:
    """Queue the repairs, write the findings and finish the run, all in one transaction."""
    with transaction.atomic():
        _queue([task for _finding, task in found if task is not None])  # bulk_create gives them their ids
        findings = []
        for finding, task in found:
            finding.run, finding.task = run, task
            findings.append(finding)
        ReconciliationFinding.objects.bulk_create(findings, batch_size=500)
        # Each run lists every difference there is now, so it alone speaks for what still waits.
        ReconciliationFinding.objects.filter(state=FindingState.WAITING).exclude(run=run).update(
            state=FindingState.NONE
        )
        kinds = [finding.kind for finding in findings]
        handlings = [finding.handling for finding in findings]
        run.finish(
            missing=kinds.count(Finding.Kind.MISSING),
            unexpected=kinds.count(Finding.Kind.UNEXPECTED),
            changed=kinds.count(Finding.Kind.CHANGED),
            repaired=handlings.count(Finding.Handling.REPAIR_QUEUED),
            left_for_person=handlings.count(Finding.Handling.LEFT_FOR_PERSON),
        )
        if drift:
            audit(action="provisioning.drift_repaired", obj=run, after={"differences": drift})


def _portal_granted(target_key: str) -> bool:
    """Whether the portal ever asked for this grant (a stale grant of its own is cleaned up without asking)."""
    return ProvisioningTask.objects.filter(kind=Kind.VKP_ACCESS, target=target_key, payload__intent="grant").exists()


def _vkp_subject(target: tuple) -> dict:
    """The target as the registry names it, with the portal's names where it knows them."""
    environment, org_number, service_code, system_public_id = target
    organisation = Organisation.objects.filter(org_number=org_number).first()
    service = Service.objects.filter(code=service_code).first()
    system = VendorSystem.objects.filter(public_id=system_public_id).first() if _is_uuid(system_public_id) else None
    return {
        "environment": environment,
        "org_number": org_number,
        "organisation_name": organisation.name if organisation else "",
        "service": service_code,
        "service_name": service.name_nb if service else "",
        "system": system_public_id,
        "system_name": system.name if system else "",
    }


def _client_sides(difference: dict) -> dict:
    """A client difference as what was expected and what was found, side by side."""
    if "expected" in difference:
        return {"expected": {"state": difference["expected"]}, "found": {"state": difference["found"]}}
    return {
        "expected": {part: values["expected"] for part, values in difference.items()},
        "found": {part: values["found"] for part, values in difference.items()},
    }


def revoke_task_for(finding: ReconciliationFinding) -> ProvisioningTask:
    """The task that removes a grant NHN staff decided should go; it runs like any other revocation."""
    subject = finding.subject
    payload = {key: subject.get(key, "") for key in VKP_PAYLOAD_KEYS}
    payload["organisation_name"] = payload["organisation_name"] or payload["org_number"]
    payload["service_name"] = payload["service_name"] or payload["service"]
    payload["system_name"] = payload["system_name"] or payload["system"]
    payload["intent"] = "revoke"
    task = ProvisioningTask(kind=Kind.VKP_ACCESS, reason=Reason.RECONCILIATION, target=finding.target, payload=payload)
    return _queue([task])[0]


def _reconciliation_vkp_task(target: tuple, *, intent: str) -> ProvisioningTask | None:
    environment, org_number, service_code, system_public_id = target
    organisation = Organisation.objects.filter(org_number=org_number).first()
    service = Service.objects.filter(code=service_code).first()
    system = VendorSystem.objects.filter(public_id=system_public_id).first() if _is_uuid(system_public_id) else None
    if organisation is None or service is None or system is None:
        return None  # the portal never knew what it is for; only a person can judge it
    return _vkp_task(
        organisation=organisation,
        service=service,
        system=system,
        environment=environment,
        reason=Reason.RECONCILIATION,
        intent=intent,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _client_difference(want: RegisteredClient, have: RegisteredClient | None) -> dict:
    if have is None:
        return {"expected": "registered", "found": "missing"} if want.enabled else {}
    if want.enabled != have.enabled:
        return {
            "expected": "enabled" if want.enabled else "disabled",
            "found": "enabled" if have.enabled else "disabled",
        }
    if not want.enabled:
        return {}
    difference = {}
    want_kids = sorted(key.get("kid") for key in want.keys)
    have_kids = sorted(key.get("kid") for key in have.keys)
    if want_kids != have_kids:
        difference["keys"] = {"expected": want_kids, "found": have_kids}
    if _sorted_scopes(want.tenants) != _sorted_scopes(have.tenants):
        difference["tenants"] = {"expected": _sorted_scopes(want.tenants), "found": _sorted_scopes(have.tenants)}
    return difference


def _sorted_scopes(tenants: dict[str, list[str]]) -> dict[str, list[str]]:
    return {org_number: sorted(scopes) for org_number, scopes in tenants.items()}
