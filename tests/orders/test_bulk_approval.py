"""Bulk approval as a job: orders fixed at start, approved in batches each through the single-order
transition, finished by the sweeper when the broker was down, and resumed without double approvals."""

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from orders import bulk_approval, services
from orders.models import BulkApprovalItem, BulkApprovalJob, Order, Service
from orders.tasks import requeue_bulk_approvals, run_bulk_approval
from portal.models import AuditEvent
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_and_small_batches(settings):
    settings.BULK_APPROVAL_BATCH_SIZE = 100
    with translation.override("en"):
        yield


@pytest.fixture
def journaling():
    return Service.objects.get(code="vkp-journaling")


def waiting_orders(service, count: int, *, environment="test", state="submitted") -> list[Order]:
    """`count` orders waiting for NHN, each from its own synthetic municipality (one live order per service)."""
    from django.utils import timezone

    from members.models import Organisation

    organisations = Organisation.objects.bulk_create(OrganisationFactory.build_batch(count))
    creator = UserFactory()
    now = timezone.now()
    return Order.objects.bulk_create(
        Order(organisation=organisation, service=service, environment=environment, state=state,
              created_by=creator, submitted_by=creator, submitted_at=now)
        for organisation in organisations
    )  # fmt: skip


def approvals_per_order() -> dict[str, int]:
    counts: dict[str, int] = {}
    for object_id in AuditEvent.objects.filter(action="order.approved").values_list("object_id", flat=True):
        counts[object_id] = counts.get(object_id, 0) + 1
    return counts


def start_without_running(**kwargs) -> BulkApprovalJob:
    """Start a job whose message never arrives: the test's transaction never commits, so the dispatch never runs."""
    return bulk_approval.bulk_approval_start_from_filter(**kwargs)


# The service and the task ----------------------------------------------------------------------------


def test_the_filter_fixes_the_waiting_test_orders_at_start_and_each_is_approved_once(
    journaling, nhn_staff, django_capture_on_commit_callbacks
):
    orders = waiting_orders(journaling, 250)
    (production,) = waiting_orders(journaling, 1, environment="prod")
    (active,) = waiting_orders(journaling, 1, state="active")

    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_approval.bulk_approval_start_from_filter(filters={"state": "submitted"}, by=nhn_staff)

    job.refresh_from_db()
    assert (job.state, job.total, job.approved, job.skipped, job.failed) == ("finished", 250, 250, 0, 0)
    assert job.filter == {"state": "submitted"} and job.source == "filter"
    assert job.started_at and job.finished_at and job.started_by == nhn_staff
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("state", flat=True)) == {"active"}
    assert Order.objects.get(pk=production.pk).state == "submitted"  # production is looked at one by one
    assert Order.objects.get(pk=active.pk).state == "active"
    assert approvals_per_order() == {str(order.pk): 1 for order in orders}
    # The same audit trail as one approval by this person, and the job's own beginning and end.
    event = AuditEvent.objects.filter(action="order.approved").first()
    assert event.actor == nhn_staff and event.after["automatic"] is False
    assert AuditEvent.objects.filter(action="order.provisioning").count() == 250
    assert list(
        AuditEvent.objects.filter(object_type="orders.bulkapprovaljob").order_by("pk").values_list("action", flat=True)
    ) == [
        "bulk_approval.started",
        "bulk_approval.finished",
    ]


def test_orders_sent_after_the_start_are_not_part_of_the_job(journaling, nhn_staff):
    waiting_orders(journaling, 3)
    job = start_without_running(filters={}, by=nhn_staff)
    (late,) = waiting_orders(journaling, 1)

    run_bulk_approval(job.pk)

    job.refresh_from_db()
    assert (job.state, job.total, job.approved) == ("finished", 3, 3)
    assert Order.objects.get(pk=late.pk).state == "submitted"


def test_the_filter_narrows_the_job_like_the_queue(journaling, nhn_staff):
    patient = Service.objects.get(code="vkp-patient")
    waiting_orders(journaling, 2)
    wanted = waiting_orders(patient, 3)
    job = start_without_running(filters={"service": "vkp-patient", "q": "", "environment": None}, by=nhn_staff)
    assert job.filter == {"service": "vkp-patient"}
    assert set(job.items.values_list("order_id", flat=True)) == {order.pk for order in wanted}


def test_a_filter_matching_nothing_starts_no_job(journaling, nhn_staff):
    from django.core.exceptions import ValidationError

    waiting_orders(journaling, 2, environment="prod")
    with pytest.raises(ValidationError, match="No test orders"):
        bulk_approval.bulk_approval_start_from_filter(filters={"environment": "prod"}, by=nhn_staff)
    assert not BulkApprovalJob.objects.exists()


def test_chosen_orders_that_cannot_be_approved_are_skipped_with_their_reason(
    journaling, nhn_staff, django_capture_on_commit_callbacks
):
    nhn_staff.preferred_language = "en"
    nhn_staff.save()
    test_order, rejected = waiting_orders(journaling, 2)
    (production,) = waiting_orders(journaling, 1, environment="prod")
    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_approval.bulk_approval_start_for_orders(
            orders=[test_order, production, rejected, test_order], by=nhn_staff
        )
        services.order_reject(order=rejected, by=UserFactory(), reason="Ikke aktuelt")  # someone else, meanwhile

    job.refresh_from_db()
    assert (job.state, job.total, job.approved, job.skipped, job.failed) == ("finished", 3, 1, 2, 0)
    reasons = dict(job.items.values_list("order_id", "message"))
    assert reasons[production.pk] == "Production orders are approved one at a time."
    assert reasons[rejected.pk] == "No longer waiting for NHN: Rejected."
    assert reasons[test_order.pk] == ""
    assert Order.objects.get(pk=test_order.pk).state == "active"


def test_reasons_are_written_in_the_language_of_the_person_who_started(journaling, nhn_staff):
    nhn_staff.preferred_language = "nb"
    nhn_staff.save()
    waiting_orders(journaling, 1, environment="prod")
    (order,) = waiting_orders(journaling, 1)
    job = bulk_approval.bulk_approval_start_for_orders(orders=Order.objects.filter(state="submitted"), by=nhn_staff)
    run_bulk_approval(job.pk)
    skipped = job.items.get(outcome="skipped")
    assert skipped.message == "Bestillinger til produksjon godkjennes én om gangen."
    assert job.items.get(order=order).outcome == "approved"


# When the broker is down, or the worker dies ---------------------------------------------------------


def test_broker_down_at_start_the_job_waits_and_the_sweeper_finishes_it(
    journaling, nhn_staff, unreachable_broker, django_capture_on_commit_callbacks, caplog
):
    orders = waiting_orders(journaling, 120)
    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_approval.bulk_approval_start_from_filter(filters={}, by=nhn_staff)  # must not raise

    job.refresh_from_db()
    assert (job.state, job.dispatched_at, job.approved) == ("queued", None, 0)
    assert job.items.filter(outcome="pending").count() == 120
    assert "Broker unreachable" in caplog.text
    assert requeue_bulk_approvals() == 1  # still down: tried, and still waiting
    job.refresh_from_db()
    assert job.state == "queued" and job.dispatched_at is None

    from portal.celery import app

    app.conf.task_always_eager = True  # the broker is back (in-process)
    assert requeue_bulk_approvals() == 1

    job.refresh_from_db()
    assert (job.state, job.approved) == ("finished", 120)
    assert approvals_per_order() == {str(order.pk): 1 for order in orders}
    assert requeue_bulk_approvals() == 0  # nothing left to send


def test_the_sweeper_leaves_a_job_alone_while_it_makes_progress(journaling, nhn_staff, settings):
    from datetime import timedelta

    from django.utils import timezone

    waiting_orders(journaling, 150)
    job = start_without_running(filters={}, by=nhn_staff)
    BulkApprovalJob.objects.filter(pk=job.pk).update(dispatched_at=timezone.now())
    assert requeue_bulk_approvals() == 0  # sent a moment ago

    bulk_approval.run_batch(job.pk)  # one batch, then the worker died before queueing the next
    long_ago = timezone.now() - timedelta(seconds=settings.BULK_APPROVAL_REQUEUE_AFTER + 1)
    BulkApprovalJob.objects.filter(pk=job.pk).update(dispatched_at=long_ago)
    assert requeue_bulk_approvals() == 0  # the last batch was done a moment ago

    BulkApprovalJob.objects.filter(pk=job.pk).update(progressed_at=long_ago)
    assert requeue_bulk_approvals() == 1
    job.refresh_from_db()
    assert (job.state, job.approved) == ("finished", 150)


def test_a_worker_killed_mid_job_finishes_on_the_next_run_without_a_second_approval(journaling, nhn_staff):
    orders = waiting_orders(journaling, 350)
    job = start_without_running(filters={}, by=nhn_staff)

    assert bulk_approval.run_batch(job.pk) is True  # two of four batches, then the worker is killed
    assert bulk_approval.run_batch(job.pk) is True
    job.refresh_from_db()
    assert (job.state, job.approved) == ("running", 200)
    # Killed in the middle of an order: its approval and its item roll back together.
    next_item = job.items.filter(outcome="pending").order_by("pk").first()
    with pytest.raises(RuntimeError), transaction.atomic():
        bulk_approval._approve_item(next_item.pk, by=nhn_staff)
        raise RuntimeError("worker killed")
    next_item.refresh_from_db()
    assert next_item.outcome == "pending" and next_item.order.state == "submitted"

    run_bulk_approval(job.pk)  # the message delivered again (late ack) or sent by the sweeper
    run_bulk_approval(job.pk)  # and once more, as a duplicate: nothing left to do

    job.refresh_from_db()
    assert (job.state, job.total, job.approved, job.skipped, job.failed) == ("finished", 350, 350, 0, 0)
    assert approvals_per_order() == {str(order.pk): 1 for order in orders}
    assert not BulkApprovalItem.objects.filter(job=job).exclude(outcome="approved").exists()
    assert AuditEvent.objects.filter(action="bulk_approval.finished").count() == 1


# The staff pages --------------------------------------------------------------------------------------


def test_staff_start_a_job_from_the_queue_filter_and_follow_it_to_the_end(
    client, journaling, nhn_staff, django_capture_on_commit_callbacks
):
    orders = waiting_orders(journaling, 3)
    (production,) = waiting_orders(journaling, 1, environment="prod")
    client.force_login(nhn_staff)
    queue = client.get(reverse("staff_order_queue"), {"state": "submitted"})
    assert "Godkjenn alle ventende testbestillinger som passer filteret" in queue.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("staff_bulk_approval_start"), {"state": "submitted", "q": ""})

    job = BulkApprovalJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("staff_bulk_approval_job", args=[job.public_id])
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("state", flat=True)) == {"active"}
    assert Order.objects.get(pk=production.pk).state == "submitted"
    page = client.get(response.url).content.decode()
    assert "Massegodkjenning" in page and "3 av 3 bestillinger behandlet" in page
    assert "hx-trigger" not in page.split('id="bulk-approval-progress"')[1]  # finished: no more polling
    # The queue links the job, so a person who left its page finds it again.
    assert response.url in client.get(reverse("staff_order_queue")).content.decode()


def test_any_number_of_orders_fit_because_the_form_carries_the_filter_not_the_orders(
    client, journaling, nhn_staff, settings
):
    waiting_orders(journaling, settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 200)
    client.force_login(nhn_staff)
    response = client.post(reverse("staff_bulk_approval_start"), {"state": "submitted", "environment": "test"})
    job = BulkApprovalJob.objects.get()
    assert response.status_code == 302
    assert job.total == job.items.count() == settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 200
    assert job.state == "queued"  # approved by the worker, not in the request


def test_the_running_job_polls_for_its_progress_and_lists_what_was_not_approved(
    client, journaling, nhn_staff, django_assert_max_num_queries
):
    first, second = waiting_orders(journaling, 2)
    (production,) = waiting_orders(journaling, 1, environment="prod")
    job = bulk_approval.bulk_approval_start_for_orders(orders=[first, second, production], by=nhn_staff)
    client.force_login(nhn_staff)
    url = reverse("staff_bulk_approval_job", args=[job.public_id])

    running = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert f'hx-get="{url}"' in running and 'hx-trigger="every 2s"' in running
    assert "0 av 3 bestillinger behandlet" in running

    run_bulk_approval(job.pk)
    with django_assert_max_num_queries(8):
        finished = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in finished and "3 av 3 bestillinger behandlet" in finished
    assert "Ikke godkjent" in finished and "Hoppet over" in finished
    assert "Bestillinger til produksjon godkjennes én om gangen." in finished
    assert production.organisation.name in finished and first.organisation.name not in finished


def test_a_garbled_filter_or_one_matching_nothing_starts_nothing(client, journaling, nhn_staff):
    waiting_orders(journaling, 2, environment="prod")
    client.force_login(nhn_staff)
    garbled = client.post(reverse("staff_bulk_approval_start"), {"older_than_days": "mange"}, follow=True)
    assert "Filteret er ikke gyldig. Ingenting ble godkjent." in garbled.content.decode()
    nothing = client.post(reverse("staff_bulk_approval_start"), {"environment": "prod"}, follow=True)
    assert nothing.redirect_chain[-1][0] == reverse("staff_order_queue")
    assert not BulkApprovalJob.objects.exists()


def test_only_nhn_staff_see_or_start_bulk_approvals(client, journaling, nhn_staff, municipal_admin):
    waiting_orders(journaling, 1)
    job = bulk_approval.bulk_approval_start_from_filter(filters={}, by=nhn_staff)
    client.force_login(municipal_admin)
    assert client.get(reverse("staff_bulk_approval_job", args=[job.public_id])).status_code == 403
    assert client.post(reverse("staff_bulk_approval_start"), {"state": "submitted"}).status_code == 403
    assert BulkApprovalJob.objects.count() == 1
