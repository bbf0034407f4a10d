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
