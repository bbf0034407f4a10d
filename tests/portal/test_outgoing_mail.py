"""E-mail through the outbox: a row written with the change, sent after commit, once, retried, visible when it fails."""

import ast
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from members.models import Affiliation, Invitation
from portal import email
from portal.models import AuditEvent, OutgoingMessage

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = {"organisation": "Nordvik", "system": "Trygghetsalarm", "environment": "test", "ended": False}
TEMPLATE = "members/email/assignment_changed"


def queue(recipients=("drift@alarmhuset.example",)) -> OutgoingMessage:
    with transaction.atomic():
        return email.queue_email(TEMPLATE, CONTEXT, list(recipients))


@pytest.fixture
def mail_api(simulator, settings):
    settings.EMAIL_BACKEND = "portal.clients.HttpEmailBackend"
    return simulator


def delivered(simulator) -> list[dict]:
    return simulator.http.get("/mail/messages").json()["messages"]


# The outbox row -------------------------------------------------------------------------------------


def test_queued_mail_is_a_row_sent_after_commit_and_its_content_is_not_kept(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = queue()
        assert OutgoingMessage.objects.get().state == "pending"
        assert mail.outbox == []  # nothing leaves before the change is committed

    message.refresh_from_db()
    assert (message.state, message.attempts) == ("sent", 1)
    assert message.sent_at is not None and message.dispatched_at is not None
    assert message.context == {}  # an invitation's link is in there; delivered, it is gone
    assert message.subject == mail.outbox[0].subject
    assert [m.to for m in mail.outbox] == [["drift@alarmhuset.example"]]
    assert mail.outbox[0].extra_headers["Message-ID"] == f"<{message.message_key}@selvbetjening.nhn.no>"


def test_mail_about_a_change_that_rolled_back_is_never_written(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        email.queue_email(TEMPLATE, CONTEXT, ["drift@alarmhuset.example"])
        raise RuntimeError
    assert not OutgoingMessage.objects.exists()
    assert mail.outbox == []


def test_a_message_sent_once_is_never_sent_again(mail_api):
    message = queue()
    assert email.message_send(message.pk) == "sent"
    assert email.message_send(message.pk) is None  # a duplicate delivery skips
    assert email.requeue_stale() == 0  # and the sweeper leaves it alone
    assert len(delivered(mail_api)) == 1


def test_the_same_message_id_twice_reaches_the_mail_api_once(mail_api):
    """If the row's commit is lost after the mail API took the message, the resend is a replay."""
    message = queue()
    email.message_send(message.pk)
    OutgoingMessage.objects.filter(pk=message.pk).update(state="pending", context=CONTEXT)
    email.message_send(message.pk)
    assert len(delivered(mail_api)) == 1


def test_a_503_is_retried_with_backoff(mail_api, settings):
    settings.EMAIL_BACKOFF_BASE, settings.EMAIL_BACKOFF_CAP = 60, 600
    mail_api.fault(match="POST /mail/messages", status=503, times=1)
    message = queue()

    before = timezone.now()
    assert email.message_send(message.pk) == "pending"

    message.refresh_from_db()
    assert message.attempts == 1 and "503" in message.last_error
    assert before + timedelta(seconds=29) <= message.next_attempt_at <= before + timedelta(seconds=61)
    assert message.context == CONTEXT  # kept for the next attempt
    assert email.message_send(message.pk) is None  # not due yet: an early copy skips
    assert email.requeue_stale() == 0  # nor does the sweeper send it before its time

    OutgoingMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert email.message_send(message.pk) == "sent"
    assert len(delivered(mail_api)) == 1


def test_a_refused_message_fails_at_once_is_audited_and_staff_send_it_again(
    mail_api, client, nhn_staff, django_capture_on_commit_callbacks
):
    mail_api.fault(match="POST /mail/messages", status=400, code="bad_address", message="No such domain", times=1)
    message = queue()
    assert email.message_send(message.pk) == "failed"

    message.refresh_from_db()
    assert message.attempts == 1 and "No such domain" in message.last_error
    event = AuditEvent.objects.get(action="email.failed")
    assert "No such domain" in event.after["error"]

    client.force_login(nhn_staff)
    assert "1 e-post kunne ikke sendes" in client.get(reverse("staff_dashboard")).content.decode()
    page = client.get(reverse("staff_outgoing_mail")).content.decode()
    assert message.subject in page and "No such domain" in page and "drift@alarmhuset.example" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("staff_mail_decide", args=[message.public_id, "send-igjen"]))
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.state == "sent"
    assert len(delivered(mail_api)) == 1
    assert AuditEvent.objects.filter(action="email.retried", actor=nhn_staff).exists()


def test_the_last_attempt_leaves_the_message_failed(mail_api, settings):
    settings.EMAIL_MAX_ATTEMPTS = 2
    mail_api.fault(match="POST /mail/messages", status=503)
    message = queue()
    assert email.message_send(message.pk) == "pending"
    OutgoingMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert email.message_send(message.pk) == "failed"
    assert OutgoingMessage.objects.get(pk=message.pk).attempts == 2


def test_staff_cancel_a_message_with_a_reason(client, nhn_staff, mail_api):
    mail_api.fault(match="POST /mail/messages", status=400, times=1)
    message = queue()
    email.message_send(message.pk)
    client.force_login(nhn_staff)
    url = reverse("staff_mail_decide", args=[message.public_id, "avbryt"])

    client.post(url, {"reason": ""})
    assert OutgoingMessage.objects.get(pk=message.pk).state == "failed"
    client.post(url, {"reason": "Ringt opp i stedet"})
    message.refresh_from_db()
    assert (message.state, message.context) == ("cancelled", {})
    assert AuditEvent.objects.get(action="email.cancelled").after["reason"] == "Ringt opp i stedet"
    assert "Ringt opp" not in client.get(reverse("staff_outgoing_mail")).content.decode()


@pytest.mark.parametrize("who", ["municipal_admin", "vendor_user", "outsider"])
def test_only_nhn_staff_see_the_mail_page(client, who, request):
    message = queue()
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("staff_outgoing_mail")).status_code == 403
    assert client.post(reverse("staff_mail_decide", args=[message.public_id, "send-igjen"])).status_code == 403


@pytest.mark.parametrize("rows", [5, 500])
def test_the_mail_page_queries_are_bounded(client, nhn_staff, rows, django_assert_max_num_queries):
    OutgoingMessage.objects.bulk_create(
        OutgoingMessage(template=TEMPLATE, recipients=[f"p{i}@kommune.example"], state="failed", attempts=8)
        for i in range(rows)
    )
    client.force_login(nhn_staff)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("staff_outgoing_mail"))
    assert response.status_code == 200 and len(response.context["page"].object_list) == min(rows, 50)


# The broker is down ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_an_invitation_with_the_broker_down_succeeds_and_its_mail_waits(
    client, municipal_admin, municipality, unreachable_broker, django_capture_on_commit_callbacks, caplog
):
    client.force_login(municipal_admin)
    with caplog.at_level(logging.WARNING, logger="portal.queueing"), django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("organisation_people", args=[municipality.org_number]),
            {"email": "ny.kollega@kommune.example", "role": Affiliation.Role.VIEWER},
        )
    assert response.status_code == 302
    assert Invitation.objects.filter(email="ny.kollega@kommune.example").exists()
    message = OutgoingMessage.objects.get(template="members/email/invitation")
    assert (message.state, message.dispatched_at) == ("pending", None)
    assert "/invitasjon/" in message.context["url"]  # the link lives on until the mail is sent
    assert "Broker unreachable" in caplog.text


@pytest.mark.integration
def test_the_sweeper_sends_what_the_broker_never_got(settings, django_capture_on_commit_callbacks):
    from portal.celery import app

    message = queue()  # no commit hook ran: the message never reached a broker
    OutgoingMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert email.requeue_stale() == 1
    finally:
        app.conf.task_always_eager = False
    assert OutgoingMessage.objects.get(pk=message.pk).state == "sent"
    assert len(mail.outbox) == 1


def test_no_task_is_published_anywhere_but_through_the_guarded_helper():
    """`.delay()` / `.apply_async()` raise when the broker is down; only portal.queueing.enqueue may call them."""
    offenders = []
    for path in [*ROOT.glob("portal/**/*.py"), *ROOT.glob("members/**/*.py"), *ROOT.glob("orders/**/*.py")]:
        if path.relative_to(ROOT).as_posix() == "portal/queueing.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in {"delay", "apply_async", "send_task"}:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_a_person_without_an_address_gets_no_row():
    assert email.queue_email(TEMPLATE, CONTEXT, ["", None]) is None
    assert not OutgoingMessage.objects.exists()


# allauth's own mails --------------------------------------------------------------------------------


def test_a_password_reset_with_the_mail_service_down_succeeds_and_the_mail_is_retried(
    client, municipal_admin, mail_api, settings
):
    mail_api.fault(match="POST /mail/messages", status=503, times=1)
    response = client.post("/konto/password/reset/", {"email": municipal_admin.email})
    assert response.status_code == 302
    assert delivered(mail_api) == []

    message = OutgoingMessage.objects.get()
    assert (message.state, message.attempts, message.rendered) == ("pending", 1, True)
    assert message.recipients == [municipal_admin.email] and "503" in message.last_error
    OutgoingMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert email.message_send(message.pk) == "sent"

    (sent,) = delivered(mail_api)
    assert sent["to"] == [municipal_admin.email] and "/konto/password/reset/key/" in sent["text"]
    message.refresh_from_db()
    assert message.text == "" and message.html == ""  # the reset link is not kept


def test_allauth_mails_still_go_out_at_once_when_the_mail_service_answers(client, municipal_admin):
    client.post("/konto/password/reset/", {"email": municipal_admin.email})
    assert [m.to for m in mail.outbox] == [[municipal_admin.email]]
    assert not OutgoingMessage.objects.exists()


def test_a_message_of_the_old_task_still_in_the_broker_at_upgrade_goes_through_the_outbox(
    django_capture_on_commit_callbacks,
):
    from portal.tasks import send_email

    with django_capture_on_commit_callbacks(execute=True):
        send_email.delay(TEMPLATE, CONTEXT, ["drift@alarmhuset.example"], message_key="old-key")
    assert OutgoingMessage.objects.get().state == "sent"
    assert [m.to for m in mail.outbox] == [["drift@alarmhuset.example"]]
