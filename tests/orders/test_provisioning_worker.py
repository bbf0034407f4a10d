"""The provisioning engine under real conditions: a real Celery worker process, real Redis, real
PostgreSQL and the backing-services simulator as a real HTTP server on loopback."""

import os
import shutil
import signal
import time

import pytest

from members.models import SupportedService, TermsDocument, VendorAssignment, VendorSystem
from orders import helseid, services
from orders.catalogue import load_catalogue
from orders.models import HelseIdClient, Order, ProvisioningTask, Service
from orders.tasks import reconcile_backing_services, run_provisioning_task
from portal.models import AuditEvent
from tests.conftest import wait_for
from tests.factories import OrganisationFactory, UserFactory, VendorFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PUBLIC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "kid": "drift-key",
    "alg": "ES256",
    "use": "sig",
}


def worker_env(simulator, **extra) -> dict:
    return {
        "BACKING_SERVICES_URL": simulator.url,
        "BACKING_SERVICES_TIMEOUT": "2",
        "PROVISIONING_BACKOFF_BASE": "0.2",
        "PROVISIONING_BACKOFF_CAP": "1",
        "PROVISIONING_MAX_ATTEMPTS": "5",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        **extra,
    }


@pytest.fixture
def scene(simulator, celery_worker_factory):  # after the factory's purge, so the client's own tasks survive
    """A synthetic municipality using a welfare-technology system with a multi-tenant client; Journaling submitted."""
    if not Service.objects.exists():  # an earlier transactional test's flush dropped the catalogue
        load_catalogue(Service, TermsDocument)
    admin, vendor_user = UserFactory(), UserFactory()
    municipality = OrganisationFactory(org_number="313231593", name="Testkommune Nordvik")
    vendor = VendorFactory(name="Alarmhuset AS")
    system = VendorSystem.objects.create(vendor=vendor, name="Trygghetsalarm", kind="vft")
    journaling = Service.objects.get(code="vkp-journaling")
    SupportedService.objects.create(system=system, service=journaling, environment="test")
    VendorAssignment.objects.create(organisation=municipality, system=system, environment="test", created_by=admin)
    client = helseid.client_create(
        system=system, environment="test", tenancy="multi-tenant", tenant=None, by=vendor_user
    )
    helseid.client_keys_add(client=client, keys_text=str(PUBLIC_JWK).replace("'", '"'), by=vendor_user)
    order = Order.objects.create(
        organisation=municipality, service=journaling, environment="test", state="submitted", created_by=admin
    )
    return {"order": order, "system": system, "client": client, "municipality": municipality, "staff": UserFactory()}


def state_of(order) -> str:
    return Order.objects.values_list("state", flat=True).get(pk=order.pk)


def wait_until_state(order, state, timeout=30):
    wait_for(lambda: state_of(order) == state, timeout=timeout, message=f"order is {state_of(order)}, not {state}")


def client_set_up(scene) -> bool:
    """The client's creation and first key reached HelseID (as one task: the second replaced the first)."""
    return (
        HelseIdClient.objects.filter(pk=scene["client"].pk, state="active").exists()
        and not ProvisioningTask.objects.filter(state="pending").exists()
    )


def grant_path(scene) -> str:
    return f"/vkp/grants/test/313231593/vkp-journaling/{scene['system'].public_id}"


def test_approval_becomes_active_within_seconds_and_the_simulator_holds_the_access(
    scene, simulator, celery_worker_factory
):
    celery_worker_factory(env=worker_env(simulator))
    started = time.monotonic()
    services.order_approve(order=scene["order"], by=scene["staff"])
    wait_until_state(scene["order"], "active", timeout=20)
    elapsed = time.monotonic() - started

    assert elapsed < 20
    assert simulator.grants() == [
        {
            "environment": "test",
            "organizationNumber": "313231593",
            "service": "vkp-journaling",
            "system": str(scene["system"].public_id),
            "access": ["write"],
        }
    ]
    registered = simulator.client(scene["client"].client_id)
    assert registered["tenants"] == [{"organizationNumber": "313231593", "scopes": ["nhn:jft/api"]}]
    assert [key["kid"] for key in registered["keys"]] == ["drift-key"]
    assert "d" not in registered["keys"][0]
    scene["client"].refresh_from_db()
    assert scene["client"].state == "active"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server program")
def test_broker_down_at_approval_still_approves_and_the_task_arrives_when_it_returns(
    own_redis, scene, simulator, celery_worker_factory
):
    celery_worker_factory(
        broker_url=own_redis.url,
        beat=True,
        env=worker_env(simulator, PROVISIONING_REQUEUE_EVERY="1", PROVISIONING_REQUEUE_AFTER="2"),
    )
    wait_for(lambda: client_set_up(scene), message="client not set up")
    own_redis.stop()

    services.order_approve(order=scene["order"], by=scene["staff"])  # must not raise

    assert state_of(scene["order"]) == "provisioning"
    waiting = ProvisioningTask.objects.filter(order=scene["order"])
    assert waiting.count() == 2 and all(task.dispatched_at is None for task in waiting)

    own_redis.start()
    wait_until_state(scene["order"], "active", timeout=40)
    assert len(simulator.grants()) == 1


def test_a_worker_killed_mid_task_runs_it_again_without_a_second_grant(scene, simulator, celery_worker_factory):
    worker = celery_worker_factory(env=worker_env(simulator), concurrency=1)
    wait_for(lambda: client_set_up(scene), message="client not set up")
    simulator.fault(match="PUT /vkp/grants", delay=3, times=1)
    requests_before = simulator.server.state.requests

    services.order_approve(order=scene["order"], by=scene["staff"])
    wait_for(lambda: simulator.server.state.requests > requests_before, message="the grant was never sent")
    (child,) = worker.children()
    os.kill(child, signal.SIGKILL)  # mid-call: the grant request is still waiting in the simulator

    wait_until_state(scene["order"], "active", timeout=40)
    grant_calls = [entry for entry in simulator.journal() if entry["path"] == grant_path(scene)]
    assert len(grant_calls) == 1, grant_calls
    assert len(simulator.grants()) == 1
    assert worker.children() and worker.children() != [child]  # the pool replaced the killed process


def test_503_twice_then_success_is_active_after_retries(scene, simulator, celery_worker_factory):
    celery_worker_factory(env=worker_env(simulator))
    simulator.fault(match="PUT /vkp/grants", status=503, times=2)

    services.order_approve(order=scene["order"], by=scene["staff"])

    wait_until_state(scene["order"], "active")
    grant_task = ProvisioningTask.objects.get(order=scene["order"], kind="vkp.access")
    assert grant_task.attempts == 3
    assert grant_task.state == "succeeded"


def test_400_fails_at_once_with_the_message_and_staff_can_retry(scene, simulator, celery_worker_factory):
    celery_worker_factory(env=worker_env(simulator))
    simulator.fault(match="PUT /vkp/grants", status=400, code="unknown_system", message="System not known", times=1)

    services.order_approve(order=scene["order"], by=scene["staff"])

    wait_until_state(scene["order"], "failed")
    grant_task = ProvisioningTask.objects.get(order=scene["order"], kind="vkp.access")
    assert (grant_task.state, grant_task.attempts) == ("failed", 1)
    assert "400 unknown_system" in grant_task.last_error and "System not known" in grant_task.last_error
    assert "System not known" in Order.objects.get(pk=scene["order"].pk).last_error

    services.order_retry(order=Order.objects.get(pk=scene["order"].pk), by=scene["staff"])
    wait_until_state(scene["order"], "active")


def test_duplicate_delivery_of_a_task_has_one_effect(scene, simulator, celery_worker_factory):
    celery_worker_factory(env=worker_env(simulator), concurrency=2)
    wait_for(lambda: client_set_up(scene), message="client not set up")
    simulator.fault(match="PUT /vkp/grants", delay=1, times=1)

    services.order_approve(order=scene["order"], by=scene["staff"])
    grant_task = ProvisioningTask.objects.get(order=scene["order"], kind="vkp.access")
    run_provisioning_task.delay(grant_task.pk)  # the same message again, as a broker may deliver it
    run_provisioning_task.delay(grant_task.pk)

    wait_until_state(scene["order"], "active")
    time.sleep(1.5)  # let the copies finish
    grant_task.refresh_from_db()
    assert grant_task.attempts == 1
    assert len([entry for entry in simulator.journal() if entry["path"] == grant_path(scene)]) == 1


def test_reconciliation_restores_a_grant_removed_behind_the_portals_back(scene, simulator, celery_worker_factory):
    celery_worker_factory(env=worker_env(simulator))
    services.order_approve(order=scene["order"], by=scene["staff"])
    wait_until_state(scene["order"], "active")
    simulator.http.delete(grant_path(scene), headers={"Idempotency-Key": "operator-removed-it"})
    assert simulator.grants() == []

    reconcile_backing_services.delay()

    wait_for(lambda: len(simulator.grants()) == 1, message="reconciliation did not restore the grant")
    event = AuditEvent.objects.get(action="provisioning.drift_repaired")
    assert event.after["differences"][0]["expected"] == ["write"]
    assert event.after["differences"][0]["found"] == []
    repair = ProvisioningTask.objects.get(reason="reconciliation")
    wait_for(lambda: ProvisioningTask.objects.get(pk=repair.pk).state == "succeeded")
    assert ProvisioningTask.objects.get(pk=repair.pk).result == {"action": "granted", "access": ["write"]}


def worker_connections() -> set[tuple]:
    """(pid, start) of the connections to the test database other than this test's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return set(cursor.fetchall())


@pytest.mark.parametrize(("max_age", "kept"), [("60", True), ("0", False)])
def test_a_worker_keeps_its_database_connection_between_tasks_as_conn_max_age_says(
    max_age, kept, scene, simulator, celery_worker_factory
):
    # Celery alone would open a new PostgreSQL connection for every task, whatever CONN_MAX_AGE says.
    celery_worker_factory(env=worker_env(simulator, DB_CONN_MAX_AGE=max_age))
    wait_for(lambda: client_set_up(scene), message="the client's set-up never ran")
    after_first_task = worker_connections()

    services.order_approve(order=scene["order"], by=scene["staff"])
    wait_until_state(scene["order"], "active")
    after_later_tasks = worker_connections()

    if kept:
        assert after_first_task & after_later_tasks  # the same backend served them all
    else:
        assert not after_first_task & after_later_tasks
