"""ID-porten for view tests: the loopback OpenID Connect provider, driven over HTTP like a browser would.

Django's test client plays the browser on the portal's side; httpx plays it on the provider's side
(its login page, where a test person and a security level are chosen). The portal's token call and
the ID token's checks are the real ones, against the real provider.
"""

import json
import time
from datetime import date
from urllib.parse import urlparse

import httpx
import pytest
from django.urls import reverse
from stdnum.no import fodselsnummer

from members import authority
from members.identity import pid_hash
from tests.oidc_provider.server import LoopbackProviders


def synthetic_pid(day: int, month: int, year: int, individual: int) -> str:
    """A Tenor-style synthetic number (80 added to the month) with right check digits."""
    for bump in range(10):
        nine = f"{day:02d}{month + 80:02d}{year % 100:02d}{(individual + bump) % 1000:03d}"
        first = fodselsnummer.calc_check_digit1(nine)
        if len(first) != 1:
            continue
        second = fodselsnummer.calc_check_digit2(nine + first)
        if len(second) == 1:
            return nine + first + second
    raise AssertionError("no check digits")


# Synthetic persons; the register fixtures of the tests give them roles.
PERSONS = {
    "dagny": {"pid": synthetic_pid(3, 4, 1971, 123), "given_name": "Dagny", "family_name": "Leder"},
    "siv": {"pid": synthetic_pid(5, 6, 1972, 234), "given_name": "Siv", "family_name": "Hver"},
    "per": {"pid": synthetic_pid(7, 8, 1973, 345), "given_name": "Per", "family_name": "Prokurist"},
    "fie": {"pid": synthetic_pid(9, 10, 1974, 456), "given_name": "Fie", "family_name": "Fellesskap"},
    "felix": {"pid": synthetic_pid(11, 12, 1975, 167), "given_name": "Felix", "family_name": "Fellesskap"},
    "frode": {"pid": synthetic_pid(13, 1, 1976, 278), "given_name": "Frode", "family_name": "Fratraadt"},
    "ada": {"pid": synthetic_pid(15, 2, 1977, 389), "given_name": "Ada", "family_name": "Avregistrert"},
    "dorte": {"pid": synthetic_pid(17, 3, 1978, 412), "given_name": "Dorte", "family_name": "Doed"},
    # The same name as Dagny, another person (another birth date).
    "dagny2": {"pid": synthetic_pid(4, 4, 1971, 123), "given_name": "Dagny", "family_name": "Leder"},
    "dina": {"pid": synthetic_pid(19, 5, 1980, 111), "given_name": "Dina", "family_name": "Delegat"},
}


def birth_date(account: str) -> date:
    return authority.birth_date_from_pid(PERSONS[account]["pid"])


def full_name(account: str) -> str:
    return f"{PERSONS[account]['given_name']} {PERSONS[account]['family_name']}"


def hashed(account: str) -> str:
    return pid_hash(PERSONS[account]["pid"])


@pytest.fixture(scope="session")
def loopback_idporten(tmp_path_factory):
    providers = LoopbackProviders("http://testserver", tmp_path_factory.mktemp("idporten"), accounts=PERSONS).start()
    yield providers
    providers.stop()


@pytest.fixture
def idporten(settings, loopback_idporten):
    """The portal with ID-porten (and HelseID) played by the loopback provider."""
    from members import oidc

    settings.OIDC_PROVIDERS = loopback_idporten.portal_settings()
    oidc._discovery.clear()
    return loopback_idporten


def log_in_with_idporten(
    client, account: str, *, acr: str = "idporten-loa-high", next_url: str = "/", first_login: bool = False
):
    """The step-up the signing page offers: portal → ID-porten (person, level) → portal. Returns the last answer.

    With ``first_login`` the browser starts at the login page's ID-porten button instead, as a person
    the portal does not know yet would."""
    if not first_login:
        response = client.get(authority.stepup_url(None, next_url))
        assert response.status_code == 302, response.content[:300]
        response = client.get(response["Location"])  # the portal's /innlogging/idporten/ → the provider
    else:
        response = client.get(reverse("oidc_login_idporten"))
    assert response.status_code == 302
    location = response["Location"]
    with httpx.Client(timeout=10) as browser:
        for _ in range(10):
            if location.startswith("http://testserver"):
                break
            answer = browser.get(location)
            if answer.status_code == 200 and "/interaction/" in str(answer.url):
                answer = browser.post(str(answer.url), data={"account": account, "acr": acr})
            assert answer.status_code in (302, 303), answer.text[:300]
            location = httpx.URL(str(answer.url)).join(answer.headers["location"]).__str__()
        else:
            raise AssertionError("the provider never sent the browser back")
    callback = urlparse(location)
    return client.get(f"{callback.path}?{callback.query}")


def verified_in_session(client, user, *, name: str, born: date, acr: str = authority.LEVEL_HIGH, age: int = 0):
    """Put an ID-porten person in a test client's session, as a login would (for tests about other rules)."""
    person = authority.VerifiedPerson(
        provider="idporten",
        name=name,
        birth_date=born,
        acr=acr,
        auth_time=int(time.time()) - age,
        pid_hash=pid_hash(f"test-{name}-{born}"),
    )
    session = client.session
    data = {**person.__dict__, "birth_date": born.isoformat(), "user_id": str(user.pk)}
    session[authority.SESSION_KEY] = json.dumps(data)
    session.save()
    return person


def identified(name: str, born: date, *, acr: str = authority.LEVEL_HIGH, age: int = 0) -> authority.VerifiedPerson:
    """A person as a fresh ID-porten login identifies them, for service tests that pass ``person=``."""
    return authority.VerifiedPerson(
        provider="idporten",
        name=name,
        birth_date=born,
        acr=acr,
        auth_time=int(time.time()) - age,
        pid_hash=pid_hash(f"test-{name}-{born}"),
    )


def registered_person(org_number: str, name: str) -> authority.VerifiedPerson:
    """The person Enhetsregisteret lists under this name in the organisation, as ID-porten identifies them."""
    from members import enhetsregisteret

    born = next(role.birth_date for role in enhetsregisteret.roles(org_number) if role.person_name == name)
    return identified(name, born)


def register_persons(data_file=None) -> dict:
    """A test ID-porten account for every person the register fixture gives a signing role.

    Keyed by the person's name in lower case without spaces (``beritordfører``); the synthetic
    number encodes the birth date the register gives, so the person matches exactly there.
    """
    from pathlib import Path

    path = Path(data_file or Path(__file__).resolve().parents[2] / "members" / "data" / "enhetsregisteret.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    accounts = {}
    for document in data.get("roller", {}).values():
        for group in document.get("rollegrupper") or []:
            for role in group.get("roller") or []:
                person = role.get("person") or {}
                navn = person.get("navn") or {}
                if role.get("type", {}).get("kode") not in authority.SIGNING_ROLE_CODES or not person.get(
                    "fodselsdato"
                ):
                    continue
                given = " ".join(navn[part] for part in ("fornavn", "mellomnavn") if navn.get(part))
                key = f"{given}{navn.get('etternavn', '')}".replace(" ", "").lower()
                if key in accounts:
                    continue
                born = date.fromisoformat(person["fodselsdato"])
                individual = 100 + 7 * len(accounts)
                accounts[key] = {
                    "pid": synthetic_pid(born.day, born.month, born.year, individual),
                    "given_name": given,
                    "family_name": navn.get("etternavn", ""),
                }
    return accounts
