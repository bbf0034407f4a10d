"""Page benchmark at national scale: every main page of every role against a bare view (issue 15).

    .venv/bin/python bench/pages.py [--scales 1,0.1] [--rounds 25] [--workers 2]

Builds the data set of ten times Norway (at scale 1: 60,000 organisations of which 3,570
municipalities, 200,000 orders, 200,000 audit events, two vendors with 3,000 municipalities each)
on top of the demo data, with the portal's own services where a row needs its history and
`bulk_create` for the bulk. Serves it with gunicorn and asks each page, interleaved with a bare
login-required view on the same server (bench/pages_urls.py), `--rounds` times. Prints per page
the median and p95 in milliseconds, the median as a multiple of the bare view's, the bytes, and
the number of SQL queries (counted in-process with the same database), for each scale.

Needs PostgreSQL (127.0.0.1:5432). Uses its own database (`portal_bench_pages`, dropped and made
anew for each scale). Not a test: nothing is asserted; the goal (issue 15) is every page at most 3 times the
bare view at full size and equal query counts at both sizes.
"""

import argparse
import itertools
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
DATABASE = os.environ.get("BENCH_PAGES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_pages")

FULL = {"organisations": 60_000, "municipalities": 3_570, "orders": 200_000, "events": 200_000, "tenants": 3_000}
NORDVIK = "313231593"
BATCH = 5_000

# The municipality pages are measured for Testkommune Nordvik: it uses both big vendors' systems.
PERSONAS = {
    "municipal admin": "admin@nordvik.example",
    "vendor (3,000 tenants)": "utvikler@journalhuset.example",
    "NHN staff": "kundesenter@nhn.example",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment() -> dict:
    # Development settings (tasks in-process, sandboxed backing services) with DEBUG off, as served.
    return dict(
        os.environ,
        PORTAL_ENV="development",
        DEBUG="0",
        DATABASE_URL=DATABASE,
        CELERY_BROKER_URL="",
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        DJANGO_SETTINGS_MODULE="pages_site",
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
    )


def recreate_database() -> None:
    import psycopg

    name = DATABASE.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


# The data set ----------------------------------------------------------------------------------------

PREFIXES = ["Nord", "Sør", "Øst", "Vest", "Stor", "Lille", "Øvre", "Nedre", "Indre", "Ytre", "Lang", "Bratt"]
SUFFIXES = ["vik", "dal", "fjord", "heim", "berg", "nes", "øy", "land", "sund", "stad", "våg", "li", "mo", "haug"]
OTHER_KINDS = ["health_enterprise", "private_practice", "partner", "health_registry"]


def org_numbers():
    from members.orgnr import with_check_digit

    for n in itertools.count(1):
        number = with_check_digit(f"2{n:07d}")
        if number:
            yield number


def build(scale: float) -> dict:
    """The national-scale data set at ``scale``; returns what the pages are asked about."""
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from joserfc.jwk import ECKey

    from members.models import Acceptance, Membership, Organisation, TermsDocument, User, VendorAssignment, VendorSystem
    from orders import helseid
    from orders.models import HelseIdClient, Order, ProvisioningTask, Service
    from portal.models import AuditEvent

    size = {key: max(1, round(value * scale)) for key, value in FULL.items()}
    rng = random.Random(15)
    now = timezone.now()
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115

    admin = User.objects.get(email=PERSONAS["municipal admin"])
    staff = User.objects.get(email=PERSONAS["NHN staff"])
    nordvik = Organisation.objects.get(org_number=NORDVIK)
    big_systems = [
        (VendorSystem.objects.get(name="Journalhuset EPJ"), User.objects.get(email="utvikler@journalhuset.example")),
        (
            VendorSystem.objects.get(name="Trygghetsvakta Responssenter"),
            User.objects.get(email="utvikler@trygghetsvakta.example"),
        ),
    ]
    clients = []
    for system, user in big_systems:
        client = helseid.client_create(
            system=system, environment="test", tenancy=HelseIdClient.Tenancy.MULTI, tenant=None, by=user
        )
        key = {**ECKey.generate_key("P-256").as_dict(private=False), "kid": f"bench-{system.pk}", "alg": "ES256"}
        helseid.client_keys_add(client=client, keys_text=json.dumps(key), by=user)
        clients.append(client)

    numbers = org_numbers()
    taken = set(Organisation.objects.values_list("org_number", flat=True))
    existing_municipalities = Organisation.objects.filter(kind="municipality").count()
    with transaction.atomic():
        organisations = []
        for i in range(size["municipalities"] - existing_municipalities):
            name = f"{PREFIXES[i % len(PREFIXES)]}{SUFFIXES[(i // len(PREFIXES)) % len(SUFFIXES)]} kommune {i}"
            organisations.append(Organisation(org_number=next(numbers), name=name, kind="municipality", is_public=True))
        existing_others = Organisation.objects.count() - existing_municipalities
        for i in range(size["organisations"] - size["municipalities"] - existing_others):
            kind = OTHER_KINDS[i % len(OTHER_KINDS)]
            organisations.append(Organisation(org_number=next(numbers), name=f"Virksomhet {i} AS", kind=kind))
        organisations = [o for o in organisations if o.org_number not in taken]
        Organisation.objects.bulk_create(organisations, batch_size=BATCH)
        # The demo's own municipalities keep their demo history; the bulk ones (numbers from 2…) get the rest.
        municipalities = list(
            Organisation.objects.filter(kind="municipality", org_number__startswith="2").order_by("pk")
        )

        # Memberships: most municipalities are members on signed terms; some wait for NHN.
        terms = TermsDocument.objects.current("membership")
        acceptances = [
            Acceptance(
                organisation=m,
                document=terms,
                document_sha256=terms.sha256,
                signed_by=admin,
                signer_name="Benk Signatar",
                authority=Acceptance.Authority.REGISTER_ROLE,
                authority_detail="Daglig leder (benchmark)",
            )
            for m in municipalities
        ]
        Acceptance.objects.bulk_create(acceptances, batch_size=BATCH)
        memberships = []
        for n, acceptance in enumerate(acceptances):
            state = Membership.State.PENDING_APPROVAL if n % 20 == 0 else Membership.State.ACTIVE
            memberships.append(
                Membership(
                    organisation_id=acceptance.organisation_id,
                    state=state,
                    acceptance=acceptance,
                    applied_by=admin,
                    submitted_at=now - timedelta(days=40),
                    decided_by=staff if state == Membership.State.ACTIVE else None,
                    decided_at=now - timedelta(days=30) if state == Membership.State.ACTIVE else None,
                )
            )
        Membership.objects.bulk_create(memberships, batch_size=BATCH)

        # Two vendors with 3,000 municipalities each (test), so their clients act for 3,000 tenants.
        tenants = municipalities[: size["tenants"]]
        VendorAssignment.objects.bulk_create(
            [
                VendorAssignment(organisation=m, system=system, kind=system.kind, environment="test", created_by=admin)
                for system, _ in big_systems
                for m in tenants
            ],
            batch_size=BATCH,
        )

        # Orders: one live order per municipality, service and environment, the rest ended or cancelled.
        services = list(Service.objects.filter(is_listed=True).order_by("sort_order"))
        live_states = [Order.State.ACTIVE] * 16 + [Order.State.SUBMITTED, Order.State.FAILED, Order.State.APPROVED]
        orders = []
        for m in municipalities:
            for service in services:
                for environment in ("test", "prod"):
                    if environment == "prod" and rng.random() < 0.6:
                        continue
                    state = rng.choice(live_states)
                    submitted = now - timedelta(days=rng.randint(1, 400))
                    orders.append(
                        Order(
                            organisation=m,
                            service=service,
                            environment=environment,
                            state=state,
                            created_by=admin,
                            created_at=submitted,
                            submitted_by=admin,
                            submitted_at=submitted,
                            decided_by=None if state == Order.State.SUBMITTED else staff,
                            decided_at=None if state == Order.State.SUBMITTED else submitted + timedelta(days=1),
                            activated_at=submitted + timedelta(days=1) if state == Order.State.ACTIVE else None,
                            last_error="HTTP 503 fra tilgangsregisteret" if state == Order.State.FAILED else "",
                        )
                    )
        while len(orders) < size["orders"]:
            m = rng.choice(municipalities)
            submitted = now - timedelta(days=rng.randint(1, 800))
            orders.append(
                Order(
                    organisation=m,
                    service=rng.choice(services),
                    environment=rng.choice(("test", "prod")),
                    state=rng.choice((Order.State.CANCELLED, Order.State.REJECTED, Order.State.ENDED)),
                    created_by=admin,
                    created_at=submitted,
                    submitted_by=admin,
                    submitted_at=submitted,
                    decided_by=staff,
                    decided_at=submitted + timedelta(days=2),
                )
            )
        Order.objects.bulk_create(orders[: size["orders"]], batch_size=BATCH)

        # Each failed order has its failed step, shaped as provisioning writes it (orders.provisioning._vkp_task).
        system = big_systems[0][0]
        failed = Order.objects.filter(state=Order.State.FAILED).select_related("organisation", "service")[:200]
        ProvisioningTask.objects.bulk_create(
            [
                ProvisioningTask(
                    kind=ProvisioningTask.Kind.VKP_ACCESS,
                    reason=ProvisioningTask.Reason.ORDER_APPROVED,
                    target=f"vkp:{o.environment}:{o.organisation.org_number}:{o.service.code}:{system.public_id}",
                    payload={
                        "environment": o.environment,
                        "org_number": o.organisation.org_number,
                        "organisation_name": o.organisation.name,
                        "service": o.service.code,
                        "service_name": o.service.name_nb,
                        "system": str(system.public_id),
                        "system_name": system.name,
                        "intent": "grant",
                    },
                    order=o,
                    state=ProvisioningTask.State.FAILED,
                    attempts=5,
                    last_error="HTTP 503 Service Unavailable",
                )
                for o in failed
            ]
        )

        # Audit events: spread over the municipalities' orders, Nordvik with its share of them.
        order_rows = list(Order.objects.values_list("pk", "organisation_id")[: size["orders"]])
        actions = ["order.submitted", "order.approved", "order.activated", "terms.signed", "user.logged_in"]
        events = []
        for n in range(size["events"]):
            pk, organisation_id = order_rows[n % len(order_rows)]
            if n % 50 == 0:
                organisation_id = nordvik.pk
            events.append(
                AuditEvent(
                    created_at=now - timedelta(minutes=n),
                    actor=admin,
                    actor_label=admin.email,
                    organisation_id=organisation_id,
                    action=actions[n % len(actions)],
                    object_type="orders.order",
                    object_id=str(pk),
                    object_repr="Bestilling (benchmark)",
                )
            )
        AuditEvent.objects.bulk_create(events, batch_size=BATCH)
    _analyze()
    return {
        "client": clients[0],
        "order": Order.objects.filter(organisation=nordvik).order_by("-pk").first(),
        "sizes": {
            "organisations": Organisation.objects.count(),
            "municipalities": Organisation.objects.filter(kind="municipality").count(),
            "orders": Order.objects.count(),
            "events": AuditEvent.objects.count(),
            "tenants of the measured client": VendorAssignment.objects.filter(system=clients[0].system).count(),
        },
    }


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum gives a live database: fresh statistics, index-only scans


# The pages ---------------------------------------------------------------------------------------


def pages(world: dict) -> list[tuple[str, str, str]]:
    """(persona, label, URL) for every main page of every role; pages this build lacks are left out."""
    from django.urls import NoReverseMatch, reverse

    client, order = world["client"], world["order"]
    vendor = client.system.vendor.org_number
    wanted = [
        ("municipal admin", "member dashboard", "member_dashboard", [NORDVIK], ""),
        ("municipal admin", "catalogue", "catalogue", [NORDVIK], ""),
        ("municipal admin", "membership", "membership_detail", [NORDVIK], ""),
        ("municipal admin", "history", "organisation_history", [NORDVIK], ""),
        ("municipal admin", "people", "organisation_people", [NORDVIK], ""),
        ("municipal admin", "lifecycle", "organisation_lifecycle", [NORDVIK], ""),
        ("municipal admin", "order detail", "order_detail", [order.public_id], ""),
        ("vendor (3,000 tenants)", "vendor dashboard", "vendor_dashboard", [vendor], ""),
        ("vendor (3,000 tenants)", "client detail", "client_detail", [client.public_id], ""),
        ("vendor (3,000 tenants)", "client configuration JSON", "client_configuration", [client.public_id], ""),
        ("vendor (3,000 tenants)", "client sheet PDF", "client_sheet", [client.public_id], ""),
        ("vendor (3,000 tenants)", "tenant lifecycle", "organisation_lifecycle", [NORDVIK], ""),
        ("NHN staff", "customer centre", "staff_dashboard", [], ""),
        ("NHN staff", "order queue", "staff_order_queue", [], ""),
        ("NHN staff", "order queue, name search", "staff_order_queue", [], "?state=&q=vik"),
        ("NHN staff", "order detail", "order_detail", [order.public_id], ""),
        ("NHN staff", "membership queue", "staff_membership_queue", [], ""),
        ("NHN staff", "provisioning failures", "staff_provisioning_failures", [], ""),
        ("NHN staff", "claims", "staff_claim_queue", [], ""),
        ("NHN staff", "terms", "staff_terms_list", [], ""),
        ("NHN staff", "services", "staff_service_list", [], ""),
        ("NHN staff", "outgoing e-mail", "staff_outgoing_mail", [], ""),
        ("NHN staff", "directory", "staff_organisation_directory", [], ""),
        ("NHN staff", "directory, name search", "staff_organisation_directory", [], "?q=vik"),
        ("NHN staff", "lifecycle", "organisation_lifecycle", [NORDVIK], ""),
        ("NHN staff", "audit feed", "staff_audit_feed", [], ""),
        ("NHN staff", "reconciliation", "staff_reconciliation", [], ""),
    ]
    found = []
    for persona, label, name, args, query in wanted:
        try:
            found.append((persona, label, reverse(name, args=args) + query))
        except NoReverseMatch:
            print(f"  (not on this build: {name})")
    return found


def sessions() -> dict[str, str]:
    """A logged-in session cookie per persona (the same database the server reads)."""
    from django.test import Client

    from members.models import User

    cookies = {}
    for persona, email in PERSONAS.items():
        browser = Client()
        browser.force_login(User.objects.get(email=email))
        cookies[persona] = browser.cookies["sessionid"].value
    return cookies


def query_count(cookie: str, url: str) -> tuple[int, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    browser = Client(HTTP_HOST="127.0.0.1")
    browser.cookies["sessionid"] = cookie
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(url)
    return len(queries), response.status_code


def measure(base: str, cookie: str, url: str, rounds: int) -> dict:
    import httpx

    with httpx.Client(base_url=base, cookies={"sessionid": cookie}, timeout=60) as http:
        http.get("/bench/bare/")
        http.get(url)  # warm both
        bare, page, size, status = [], [], 0, 0
        for _ in range(rounds):
            started = time.perf_counter()
            http.get("/bench/bare/")
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            response = http.get(url)
            page.append(time.perf_counter() - started)
            size, status = len(response.content), response.status_code
    return {
        "median": statistics.median(page),
        "p95": sorted(page)[max(0, int(len(page) * 0.95) - 1)],
        "bare": statistics.median(bare),
        "bytes": size,
        "status": status,
    }


def serve(port: int, workers: int, env: dict) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--timeout", "60", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def run_scale(scale: float, args) -> list[dict]:
    env = environment()
    os.environ.update(env)
    recreate_database()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from django.db import connection

    started = time.monotonic()
    world = build(scale)
    print(f"\nScale {scale:g}: {world['sizes']} (built in {time.monotonic() - started:.0f} s)")
    cookies = sessions()
    connection.close()
    port = free_port()
    server = serve(port, args.workers, env)
    results = []
    try:
        for persona, label, url in pages(world):
            try:
                queries, _ = query_count(cookies[persona], url)
            except Exception as error:  # a page that fails is a finding, not the end of the run
                print(f"  {persona:24} {label:28} FAILED in process: {error!r}", flush=True)
                continue
            figures = measure(f"http://127.0.0.1:{port}", cookies[persona], url, args.rounds)
            results.append({"scale": scale, "persona": persona, "page": label, "queries": queries, **figures})
            print(
                f"  {persona:24} {label:28} {figures['status']}  median {figures['median'] * 1000:7.1f} ms"
                f"  p95 {figures['p95'] * 1000:7.1f} ms  {figures['median'] / figures['bare']:6.1f}× bare"
                f"  {figures['bytes'] / 1024:8.1f} KB  {queries:3} queries",
                flush=True,
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        connection.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,0.1", help="comma-separated sizes, 1 = ten times Norway")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--build-only", action="store_true", help="build the data set of the first scale and stop")
    args = parser.parse_args()
    if args.build_only:
        os.environ.update(environment())
        recreate_database()
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=environment(), check=True)
        import django

        django.setup()
        print(build(float(args.scales.split(",")[0]))["sizes"])
        return
    print(f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"gunicorn with {args.workers} workers; each page interleaved with the bare view, {args.rounds} rounds")
    results = [row for scale in args.scales.split(",") for row in run_scale(float(scale), args)]
    summary(results)


def summary(results: list[dict]) -> None:
    """Side by side: the multiple at full size against the goal, and whether query counts match."""
    by_page: dict[tuple, dict] = {}
    for row in results:
        by_page.setdefault((row["persona"], row["page"]), {})[row["scale"]] = row
    scales = sorted({row["scale"] for row in results}, reverse=True)
    print("\n| role | page | " + " | ".join(f"× bare at {s:g}" for s in scales) + " | queries | goal met |")
    print("|---|---|" + "---|" * len(scales) + "---|---|")
    for (persona, page), rows in by_page.items():
        multiples = [rows[s]["median"] / rows[s]["bare"] if s in rows else float("nan") for s in scales]
        queries = sorted({rows[s]["queries"] for s in rows})
        met = multiples[0] <= 3 and len(queries) == 1
        print(
            f"| {persona} | {page} | "
            + " | ".join(f"{m:.1f}×" for m in multiples)
            + f" | {'/'.join(map(str, queries))} | {'yes' if met else 'no'} |"
        )


if __name__ == "__main__":
    main()
