import shutil
import socket
import subprocess

import pytest
from django.conf import settings
from hypothesis import settings as hypothesis_settings

from members.models import Affiliation
from tests.factories import AffiliationFactory, OrganisationFactory, UserFactory, VendorFactory, with_totp

# Property tests check rules, not speed: on a busy two-core CI machine Hypothesis's default
# 200 ms per-example deadline fails runs for timing alone.
hypothesis_settings.register_profile("portal", deadline=None)
hypothesis_settings.load_profile("portal")


@pytest.fixture(scope="session", autouse=True)
def _runs_on_postgresql():
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit(
            f"The tests run on PostgreSQL; DATABASE_URL gives {engine}. Run them with `make test`.", returncode=2
        )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for attackers, not for factories creating hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _tasks_in_process(request):
    """Unit tests run Celery tasks in-process; tests marked `integration` use the real broker and worker."""
    from portal.celery import app

    if request.node.get_closest_marker("integration"):
        yield
        return
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


# Personas, as in the style guide: each test says who is acting.
@pytest.fixture
def municipality(db):
    return OrganisationFactory(name="Testkommune Nordvik")


@pytest.fixture
def other_municipality(db):
    return OrganisationFactory(name="Annenby kommune")


@pytest.fixture
def vendor(db):
    return VendorFactory(name="Journalhuset AS")


def _person_with_role(organisation, role):
    return AffiliationFactory(organisation=organisation, role=role).user


@pytest.fixture
def municipal_admin(municipality):
    return _person_with_role(municipality, Affiliation.Role.ADMIN)


@pytest.fixture
def signatory(municipality):
    return _person_with_role(municipality, Affiliation.Role.SIGNATORY)


@pytest.fixture
def viewer(municipality):
    return _person_with_role(municipality, Affiliation.Role.VIEWER)


@pytest.fixture
def vendor_user(vendor):
    return _person_with_role(vendor, Affiliation.Role.VENDOR_USER)


@pytest.fixture
def outsider(other_municipality):
    """An administrator, but of another municipality."""
    return _person_with_role(other_municipality, Affiliation.Role.ADMIN)


@pytest.fixture
def nhn_staff(db):
    # NHN staff cannot use the portal without a second factor (members.middleware.StaffMfaMiddleware).
    return with_totp(UserFactory(is_nhn_staff=True, email="kundesenter@nhn.example"))


# Backing services ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _empty_sandboxes():
    from orders.clients import SandboxHelseIdRegistry, SandboxVkpRegistry

    SandboxVkpRegistry.grants.clear()
    SandboxHelseIdRegistry.clients.clear()


class SimulatorControl:
    """Talks to the simulator over HTTP, as an operator would: faults, state, journal."""

    def __init__(self, server):
        import httpx

        self.server = server
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=5)

    def fault(self, **spec):
        self.http.post("/_sim/faults", json=spec).raise_for_status()

    def state(self) -> dict:
        return self.http.get("/_sim/state").json()

    def journal(self) -> list[dict]:
        return self.http.get("/_sim/journal").json()["journal"]

    def grants(self) -> list[dict]:
        return self.state()["grants"]

    def client(self, client_id) -> dict | None:
        return next((c for c in self.state()["clients"] if c["clientId"] == str(client_id)), None)


@pytest.fixture(scope="session")
def simulator_server():
    from portal.simulator import start_in_thread

    server = start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def simulator(simulator_server, settings):
    """The portal's HTTP backends pointed at the backing-services simulator, a real HTTP server on loopback."""
    simulator_server.state.reset()
    settings.HELSEID_REGISTRY_BACKEND = "orders.clients.HttpHelseIdRegistry"
    settings.VKP_REGISTRY_BACKEND = "orders.clients.HttpVkpRegistry"
    settings.HELSEID_REGISTRY_URL = settings.VKP_REGISTRY_URL = settings.MAIL_API_URL = simulator_server.url
    settings.BACKING_SERVICES_TIMEOUT = 2
    settings.PROVISIONING_BACKOFF_BASE = 0.05
    settings.PROVISIONING_BACKOFF_CAP = 0.2
    return SimulatorControl(simulator_server)


class CeleryWorker:
    """A real `celery worker` process (optionally with beat) against the test database and a Redis broker."""

    def __init__(self, *, database: dict, broker_url: str, env: dict | None = None):
        self.database, self.broker_url, self.extra_env = database, broker_url, env or {}
        self.process = None
        self.output = ""

    def start(self, *, concurrency: int = 1, pool: str = "prefork", beat: bool = False, hostname: str = ""):
        import os
        import subprocess
        import sys
        import tempfile
        from pathlib import Path

        db = self.database
        env = dict(
            os.environ,
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            CELERY_BROKER_URL=self.broker_url,
            **self.extra_env,
        )
        self.hostname = hostname or f"worker-{os.getpid()}-{id(self)}@testhost"
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-n", self.hostname,
                   "--pool", pool, "--concurrency", str(concurrency),
                   "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "warning"]  # fmt: skip
        if beat:
            schedule = Path(tempfile.mkdtemp()) / "celerybeat-schedule"
            command += ["-B", "-s", str(schedule)]
        self.process = subprocess.Popen(
            command, cwd=Path(__file__).resolve().parents[1], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        return self

    def children(self) -> list[int]:
        """The pool's child processes (prefork), which run the tasks."""
        from pathlib import Path

        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def stop(self):
        import os
        import subprocess

        if self.process is None:
            return
        self.process.terminate()
        try:
            self.output, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output, _ = self.process.communicate()
        if os.environ.get("CELERY_TEST_VERBOSE"):
            print(self.output)


@pytest.fixture
def celery_worker_factory(transactional_db, settings):
    """Start workers for a test; they are stopped before the test database is emptied."""
    from django.db import connection

    from portal.celery import app

    app.control.purge()  # nothing left over from an earlier test
    workers = []

    def start(*, broker_url: str | None = None, env: dict | None = None, **options) -> CeleryWorker:
        worker = CeleryWorker(
            database=connection.settings_dict, broker_url=broker_url or settings.CELERY_BROKER_URL, env=env
        )
        workers.append(worker)
        return worker.start(**options)

    yield start
    for worker in workers:
        worker.stop()


def wait_for(condition, *, timeout: float = 30, interval: float = 0.1, message: str = ""):
    """Poll until `condition()` is truthy; return its value or fail with `message`."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(message or f"condition not met within {timeout} s")


# A broker of the test's own ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnRedis:
    """A redis-server of the test's own, so the broker can be stopped and started without touching others."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, timeout=10, message="redis-server did not start")

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def own_redis(settings):
    """Point this process's Celery at a redis-server of the test's own, and back afterwards."""
    redis = OwnRedis()
    redis.start()
    point_celery_at(redis.url)
    yield redis
    if redis.process.poll() is None:
        redis.stop()
    point_celery_at(settings.CELERY_BROKER_URL)


def point_celery_at(url: str) -> None:
    """Send this process's Celery messages to `url` from now on (its cached connections are dropped)."""
    from portal.celery import app

    app.conf.broker_url = app.conf.broker_write_url = app.conf.broker_read_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def unreachable_broker(settings):
    """Celery pointed at a port where no broker listens, as when Redis is down."""
    from portal.celery import app

    app.conf.task_always_eager = False  # _tasks_in_process turns it off again afterwards
    point_celery_at(f"redis://127.0.0.1:{_free_port()}/0")
    yield
    point_celery_at(settings.CELERY_BROKER_URL)
