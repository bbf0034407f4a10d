"""Provisioning benchmark: approve N orders with two Celery workers against the simulator on loopback.

    .venv/bin/python bench/provisioning.py [--orders 1000] [--systems 10] [--failure-rate 0.1]
                                           [--approve stream|backlog|both]

Needs PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379), like `make test`. Uses its own
database (`portal_bench`, dropped and made anew) and Redis database 13. Prints orders per second
and the median and p95 time from approval to active, once with every call succeeding and once with
the simulator failing the given share of calls with 503. Not a test: nothing is asserted.

First it measures the floor: how many no-op tasks per second the same workers run through the same
Redis (`bench/floor.py`), and prints provisioning tasks per second as a share of it.
`--systems 1` gives every order the same vendor system, so one multi-tenant client has as many
tenants as there are orders (the case where coalescing client updates matters most).

Two ways of approving (`--approve`, both by default):
- `stream`: one approval after another from one process while the workers consume: the latency an
  order sees when approvals arrive one at a time. Tasks per second are capped by how fast this one
  process approves (about 11 orders/s), so they say little about the workers.
- `backlog`: the workers stop consuming (Celery `cancel_consumer`), all N orders are approved, then
  the workers consume again and drain the queue: tasks per second from that moment to the last
  order active is the workers' capacity. Approval → active is measured from that moment too.
Ends with one table of every run.
"""

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASE = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--systems", type=int, default=10, help="vendor systems (one multi-tenant client each)")
    parser.add_argument("--failure-rate", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--floor-tasks", type=int, default=5000, help="no-op tasks for the floor")
    parser.add_argument("--approve", choices=["stream", "backlog", "both"], default="both")
    args = parser.parse_args()

    port = free_port()
    simulator_url = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        PORTAL_ENV="test",
        DATABASE_URL=DATABASE,
        CELERY_BROKER_URL=BROKER,
        BACKING_SERVICES_URL=simulator_url,
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        # The workers keep their database connection as production's do (PORTAL_ENV=test says 0).
        DB_CONN_MAX_AGE=os.environ.get("DB_CONN_MAX_AGE", "60"),
        PROVISIONING_BACKOFF_BASE="0.5",
        PROVISIONING_BACKOFF_CAP="5",
        PROVISIONING_MAX_ATTEMPTS="12",
    )
    os.environ.update(env)
    recreate_database()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from portal.celery import app

    app.control.purge()
    simulator = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_backing_services", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    worker_command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--concurrency", "1",
                      "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "error",
                      "--include", "bench.floor"]  # fmt: skip
    workers = [
        subprocess.Popen([*worker_command, "-n", f"bench{i}@%h"], cwd=ROOT, env=env) for i in range(args.workers)
    ]
    try:
        wait_for_port(port)
        print(f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"{args.orders} orders, {args.systems} vendor systems, {args.workers} workers, simulator {simulator_url}")
        floor = measure_floor(args.floor_tasks)
        print(f"\nfloor: {args.floor_tasks} no-op tasks through the same Redis, {floor:.0f} tasks/s")
        modes = ["stream", "backlog"] if args.approve == "both" else [args.approve]
        results = []
        for mode in modes:
            for failure_rate in (0.0, args.failure_rate):
                results.append(run(args, simulator_url, mode=mode, failure_rate=failure_rate, floor=floor))
        print_summary(results, floor)
    finally:
        for process in [*workers, simulator]:
            process.send_signal(signal.SIGTERM)
        for process in [*workers, simulator]:
            process.wait(30)


def recreate_database() -> None:
    import psycopg

    name = DATABASE.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the simulator did not start")


def measure_floor(count: int) -> float:
    """No-op tasks per second, from the first sent to the last done, on the workers that run provisioning."""
    import redis

    from portal.celery import app

    counter = f"bench:floor:{time.time_ns()}"
    connection = redis.Redis.from_url(BROKER)
    noop = app.signature("bench.floor.noop", args=(counter,))
    for _ in range(4):  # warm up: a pool process's first task is slower
        noop.delay()
    deadline = time.monotonic() + 60
    while int(connection.get(counter) or 0) < 4:
        if time.monotonic() > deadline:
            raise SystemExit("the workers ran no no-op task within 60 s (do they --include bench.floor?)")
        time.sleep(0.05)
    connection.delete(counter)
    started = time.monotonic()
    for _ in range(count):
        noop.delay()
    while int(connection.get(counter) or 0) < count:
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    connection.delete(counter)
    return count / elapsed


def run(args, simulator_url: str, *, mode: str, failure_rate: float, floor: float) -> dict:
    import httpx
    from django.utils import timezone

    from orders import services
    from orders.models import Order, ProvisioningTask
    from portal.celery import app

    label = f"{mode}, " + (f"{failure_rate:.0%} of calls answer 503" if failure_rate else "all calls succeed")
    control = httpx.Client(base_url=simulator_url)
    control.post("/_sim/reset")
    orders = make_orders(args.orders, args.systems)
    settle_outbox()  # the clients' own set-up is not part of the measurement
    if mode == "backlog":
        set_consuming(app, consuming=False, workers=args.workers)
    if failure_rate:
        control.post("/_sim/faults", json={"match": "", "rate": failure_rate, "status": 503})

    staff = staff_user()
    started = time.monotonic()
    for order in orders:
        services.order_approve(order=order, by=staff)
    approving = time.monotonic() - started
    drain_started = None
    if mode == "backlog":
        drain_started = timezone.now()
        set_consuming(app, consuming=True, workers=args.workers)
    ids = [order.pk for order in orders]
    while Order.objects.filter(pk__in=ids, state=Order.State.ACTIVE).count() < len(ids):
        failed = Order.objects.filter(pk__in=ids, state=Order.State.FAILED).count()
        if failed:
            raise SystemExit(f"{failed} orders failed; raise PROVISIONING_MAX_ATTEMPTS")
        time.sleep(0.5)
    control.delete("/_sim/faults")

    rows = list(Order.objects.filter(pk__in=ids).values_list("decided_at", "activated_at"))
    if drain_started is None:
        latencies = sorted((active - approved).total_seconds() for approved, active in rows)
        first = min(approved for approved, _ in rows)
    else:
        latencies = sorted((active - drain_started).total_seconds() for _, active in rows)
        first = drain_started
    last = max(active for _, active in rows)
    tasks = ProvisioningTask.objects.filter(order__in=ids)
    retries = sum(max(attempts - 1, 0) for attempts in tasks.values_list("attempts", flat=True))
    replaced = tasks.filter(state=ProvisioningTask.State.SUPERSEDED).count()
    client_runs = tasks.filter(
        kind=ProvisioningTask.Kind.HELSEID_CLIENT, state=ProvisioningTask.State.SUCCEEDED
    ).count()
    task_count = tasks.count()
    duration = (last - first).total_seconds()
    # Every outbox row a worker brought to its end, a replaced one too (its replacement's run serves it),
    # and every retry one more: the work, whatever number of messages carried it (the rows of one approval
    # go in one message, and a worker runs the due grants in batches). "calls" counts only the runs that
    # went to a backing service.
    rows_per_second = (task_count + retries) / duration
    result = {
        "label": label,
        "orders": len(ids),
        "tasks": task_count,
        "replaced": replaced,
        "client_runs": client_runs,
        "retries": retries,
        "approving": approving,
        "orders_per_second": len(ids) / duration,
        "tasks_per_second": rows_per_second,
        "calls_per_second": (task_count - replaced + retries) / duration,
        "median": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "max": latencies[-1],
    }
    since = "approval" if mode == "stream" else "the moment the workers start consuming"
    start_point = "first approval" if mode == "stream" else "workers start"
    share = rows_per_second / floor
    print(
        f"\n{label}:\n"
        f"  {len(ids)} orders, {task_count} tasks ({replaced} replaced by a newer one, {client_runs} client updates "
        f"run), {retries} retries; approving took {approving:.1f} s"
        + (", with the workers not consuming" if mode == "backlog" else "")
        + f"\n  throughput {result['orders_per_second']:.1f} orders/s ({start_point} to last active)\n"
        f"  provisioning {rows_per_second:.0f} tasks/s incl. replaced and retries = {share:.1%} of the floor "
        f"({floor:.0f} tasks/s); {result['calls_per_second']:.0f}/s that called a backing service\n"
        f"  {since} → active: median {result['median']:.2f} s, p95 {result['p95']:.2f} s, max {result['max']:.2f} s"
    )
    return result


def set_consuming(app, *, consuming: bool, workers: int) -> None:
    """Stop or resume every worker's consuming from the portal queue, and wait until each one says it did."""
    from django.conf import settings

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    command = app.control.add_consumer if consuming else app.control.cancel_consumer
    replies = command(queue, reply=True, timeout=10)
    if len(replies) < workers:
        raise SystemExit(f"only {len(replies)} of {workers} workers answered {command.__name__}: {replies}")


def print_summary(results: list[dict], floor: float) -> None:
    print(
        "\nstream: approval → active, approvals one at a time while the workers consume; backlog: all approved first,"
        "\ntimes and tasks/s from the moment the workers start consuming. tasks/s counts every outbox row a worker"
        f"\nended (replaced tasks and retries too); floor {floor:.0f} no-op tasks/s.\n"
    )
    header = ("run", "orders/s", "tasks/s", "of floor", "calls/s", "median", "p95", "max", "retries", "replaced")
    lines = [
        (
            result["label"],
            f"{result['orders_per_second']:.1f}",
            f"{result['tasks_per_second']:.0f}",
            f"{result['tasks_per_second'] / floor:.1%}",
            f"{result['calls_per_second']:.0f}",
            f"{result['median']:.2f} s",
            f"{result['p95']:.2f} s",
            f"{result['max']:.2f} s",
            str(result["retries"]),
            f"{result['replaced']}/{result['tasks']}",
        )
        for result in results
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for line in lines:
        print("| " + " | ".join(line) + " |")


def staff_user():
    from members.models import User

    user, _ = User.objects.get_or_create(email="bench@nhn.example", defaults={"is_nhn_staff": True})
    return user


def make_orders(count: int, systems: int) -> list:
    from members.models import Organisation, SupportedService, VendorAssignment, VendorSystem
    from orders import helseid
    from orders.models import Order, Service

    staff = staff_user()
    journaling = Service.objects.get(code="vkp-journaling")
    run_id = Organisation.objects.count()
    vendor_systems = []
    for index in range(systems):
        vendor = Organisation.objects.create(
            org_number=next_org_number(), name=f"Benkleverandør {run_id}-{index} AS", kind="vendor"
        )
        system = VendorSystem.objects.create(vendor=vendor, name=f"Alarm {index}", kind="vft")
        SupportedService.objects.create(system=system, service=journaling, environment="test")
        helseid.client_create(system=system, environment="test", tenancy="multi-tenant", tenant=None, by=staff)
        vendor_systems.append(system)
    orders = []
    for index in range(count):
        municipality = Organisation.objects.create(
            org_number=next_org_number(), name=f"Benkkommune {run_id}-{index}", kind="municipality", is_public=True
        )
        VendorAssignment.objects.create(
            organisation=municipality, system=vendor_systems[index % systems], environment="test", created_by=staff
        )
        orders.append(
            Order.objects.create(
                organisation=municipality, service=journaling, environment="test", state="submitted", created_by=staff
            )
        )
    return orders


_counter = iter(range(10_000_000))


def next_org_number() -> str:
    from members import orgnr

    while True:
        number = orgnr.with_check_digit(f"3{next(_counter):07d}")  # synthetic: starts with 3
        if number:
            return number


def settle_outbox() -> None:
    """Wait until the workers are idle: no provisioning row waiting, and no e-mail (the previous case's
    notices) left to send, which would otherwise share the workers with the next measurement."""
    from orders.models import ProvisioningTask
    from portal.models import OutgoingMessage

    while (
        ProvisioningTask.objects.filter(state="pending").exists()
        or OutgoingMessage.objects.filter(state="pending").exists()
    ):
        time.sleep(0.2)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
