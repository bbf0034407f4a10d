"""members.authority: the birth date in a national identity number, the verified person, the roles that count."""

import json
import time
from datetime import date

import pytest
from django.test import RequestFactory

from members import authority, enhetsregisteret
from members.authority import VerifiedPerson, birth_date_from_pid
from tests.factories import OrganisationFactory, UserFactory

# --- birth dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "born"),
    [
        ("15108695088", date(1986, 10, 15)),  # python-stdnum's own example
        ("151086 95088", date(1986, 10, 15)),  # as people write it
        ("01015000070", date(1950, 1, 1)),  # individual digits under 500: the 1900s
        ("01012060072", date(2020, 1, 1)),  # 500-999 and a year under 40: the 2000s
        ("15018550080", date(1885, 1, 15)),  # 500-749 and a year from 54: the 1800s
        ("01129990054", date(1999, 12, 1)),  # 900-999 and a year from 40: the 1900s
    ],
)
def test_fodselsnummer(pid, born):
    assert birth_date_from_pid(pid) == born


def test_d_number_adds_four_to_the_first_digit():
    assert birth_date_from_pid("55108695071") == date(1986, 10, 15)


def test_h_number_adds_forty_to_the_month():
    assert birth_date_from_pid("15508695060") == date(1986, 10, 15)


def test_tenor_synthetic_person_adds_eighty_to_the_month():
    assert birth_date_from_pid("15918695033") == date(1986, 11, 15)


def test_tenor_synthetic_d_number():
    assert birth_date_from_pid("55918695027") == date(1986, 11, 15)


def test_old_synthetic_person_adds_forty_to_the_month():
    # Older synthetic numbers (Testnorge before Tenor) shift the month like an H-number.
    assert birth_date_from_pid("15414512000") == date(1945, 1, 15)


@pytest.mark.parametrize(
    "pid",
    [
        "",
        "1510869508",  # ten digits
        "151086950888",  # twelve
        "15108695077",  # wrong check digits (stdnum's example)
        "15108695089",  # second check digit off by one
        "abcdefghijk",
        "15014550078",  # 500-749 with year 45 belongs to no century
        "81108695000",  # FH-number: no birth date by design
    ],
)
def test_anything_else_is_a_value_error(pid):
    with pytest.raises(ValueError):
        birth_date_from_pid(pid)


def _with_check_digits(eight: str) -> str:
    """A number with right check digits: the ninth digit is chosen so that both exist."""
    from stdnum.no import fodselsnummer

    for last in "0123456789":
        nine = eight + last
        c1 = fodselsnummer.calc_check_digit1(nine)
        c2 = fodselsnummer.calc_check_digit2(nine + c1) if len(c1) == 1 else "10"
        if len(c1) == 1 and len(c2) == 1:
            return nine + c1 + c2
    raise AssertionError(eight)


@pytest.mark.parametrize(
    "eight",
    ["31028695", "00108695", "15008695", "15138695", "15538695", "15938695"],
    ids=["31-february", "day-0", "month-0", "month-13", "h-month-13", "tenor-month-13"],
)
def test_impossible_dates_with_right_check_digits_are_refused(eight):
    with pytest.raises(ValueError):
        birth_date_from_pid(_with_check_digits(eight))


def test_a_birth_date_in_the_future_is_refused():
    # A year under 40 with individual digits 500-999 is in the 2000s: 2039 has not come yet.
    with pytest.raises(ValueError):
        birth_date_from_pid(_with_check_digits("01013950"))


# --- the verified person in the session ----------------------------------------------------------------


def _request(user):
    from django.contrib.sessions.backends.db import SessionStore

    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = user
    return request


def _person(**changes):
    values = {
        "provider": "idporten",
        "name": "Kari Nordmann",
        "birth_date": date(1986, 10, 15),
        "acr": "idporten-loa-high",
        "auth_time": int(time.time()),
        "pid_hash": "hash",
    }
    values.update(changes)
    return VerifiedPerson(**values)


@pytest.mark.django_db
def test_the_session_keeps_the_person_but_never_the_number():
    user = UserFactory()
    request = _request(user)
    person = authority.person_from_claims(
        provider="idporten",
        claims={
            "given_name": "Kari",
            "family_name": "Nordmann",
            "acr": "idporten-loa-high",
            "auth_time": 1_800_000_000,
        },
        pid="15108695088",
        pid_hash="the-keyed-hash",
    )
    authority.remember(request, person, user_id=user.pk)
    stored = request.session[authority.SESSION_KEY]
    assert "15108695088" not in json.dumps(dict(request.session.items()))
    assert json.loads(stored)["birth_date"] == "1986-10-15"
    assert authority.session_person(request) == person
    assert person.name == "Kari Nordmann"


@pytest.mark.django_db
def test_verified_person_needs_level_high_and_a_fresh_login(settings):
    settings.SIGNING_LOGIN_MAX_AGE_SECONDS = 600
    user = UserFactory()
    request = _request(user)
    authority.remember(request, _person(), user_id=user.pk)
    assert authority.verified_person(request) is not None

    authority.remember(request, _person(acr="idporten-loa-substantial"), user_id=user.pk)
    assert authority.verified_person(request) is None
    assert authority.why_not_verified(request) == "level"

    authority.remember(request, _person(auth_time=int(time.time()) - 601), user_id=user.pk)
    assert authority.verified_person(request) is None
    assert authority.why_not_verified(request) == "age"
    assert authority.verified_person(request, max_age=3600) is not None


@pytest.mark.django_db
def test_the_person_belongs_to_the_account_that_logged_in():
    kari, mallory = UserFactory(), UserFactory()
    request = _request(kari)
    authority.remember(request, _person(), user_id=kari.pk)
    request.user = mallory
    assert authority.verified_person(request) is None


@pytest.mark.django_db
def test_a_forged_session_value_is_no_person():
    user = UserFactory()
    request = _request(user)
    request.session[authority.SESSION_KEY] = "{not json"
    assert authority.verified_person(request) is None
    request.session[authority.SESSION_KEY] = json.dumps({"user_id": str(user.pk)})
    assert authority.verified_person(request) is None


def test_stepup_url_carries_where_to_come_back():
    assert authority.stepup_url(None, "/medlemskap/313231593/").endswith("?next=%2Fmedlemskap%2F313231593%2F")


# --- Enhetsregisteret's roles ---------------------------------------------------------------------------


def _role(code, fornavn, etternavn, fodselsdato, *, mellomnavn=None, fratraadt=False, avregistrert=False, dead=False):
    navn = {"fornavn": fornavn, "etternavn": etternavn}
    if mellomnavn:
        navn["mellomnavn"] = mellomnavn
    return {
        "type": {"kode": code, "beskrivelse": code},
        "person": {"fodselsdato": fodselsdato, "navn": navn, "erDoed": dead},
        "fratraadt": fratraadt,
        "avregistrert": avregistrert,
    }


@pytest.fixture
def register(settings, tmp_path):
    """An offline register for one organisation, with the roles a test gives it."""

    def write(org_number, roles, *, sub_units=None):
        data = {
            "enheter": {},
            "underenheter": sub_units or {},
            "roller": {org_number: {"rollegrupper": [{"type": {"kode": "X"}, "roller": roles}]}},
        }
        path = tmp_path / "register.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        settings.ENHETSREGISTERET_DATA_FILE = path
        settings.ENHETSREGISTERET_BACKEND = "members.enhetsregisteret.OfflineBackend"

    return write


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["DAGL", "SIGN", "SIHV", "PROK", "POHV"])
def test_sole_roles_count_alone(register, code):
    organisation = OrganisationFactory()
    register(organisation.org_number, [_role(code, "Kari", "Nordmann", "1986-10-15")])
    roles = authority.registry_roles_for(_person(), organisation)
    assert [(role.code, role.joint) for role in roles] == [(code, False)]
    assert authority.is_signatory(_person(), organisation)


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["SIFE", "POFE"])
def test_joint_roles_count_as_joint(register, code):
    organisation = OrganisationFactory()
    register(organisation.org_number, [_role(code, "Kari", "Nordmann", "1986-10-15")])
    roles = authority.registry_roles_for(_person(), organisation)
    assert [(role.code, role.joint) for role in roles] == [(code, True)]
    assert authority.is_signatory(_person(), organisation)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "role",
    [
        _role("DAGL", "Kari", "Nordmann", "1986-10-15", fratraadt=True),
        _role("SIGN", "Kari", "Nordmann", "1986-10-15", avregistrert=True),
        _role("PROK", "Kari", "Nordmann", "1986-10-15", dead=True),
        _role("DAGL", "Kari", "Nordmann", "1986-10-16"),  # same name, another birth date
        _role("DAGL", "Kari", "Nordmannsen", "1986-10-15"),  # same birth date, another name
        _role("LEDE", "Kari", "Nordmann", "1986-10-15"),  # chair of the board: no signature by that alone
        _role("REVI", "Kari", "Nordmann", "1986-10-15"),
    ],
    ids=["resigned", "deregistered", "deceased", "other-birth-date", "other-name", "board-chair", "auditor"],
)
def test_roles_that_never_count(register, role):
    organisation = OrganisationFactory()
    register(organisation.org_number, [role])
    assert authority.registry_roles_for(_person(), organisation) == []
    assert not authority.is_signatory(_person(), organisation)


@pytest.mark.django_db
def test_names_match_with_middle_name_case_and_spacing(register):
    organisation = OrganisationFactory()
    register(organisation.org_number, [_role("DAGL", "KARI", "NORDMANN", "1986-10-15", mellomnavn="Anne")])
    assert authority.is_signatory(_person(name="Kari  Anne nordmann"), organisation)
    assert not authority.is_signatory(_person(name="Kari Nordmann"), organisation)
    assert not authority.is_signatory(_person(name=""), organisation)


@pytest.mark.django_db
def test_role_holder_fields_are_parsed(register):
    organisation = OrganisationFactory()
    register(organisation.org_number, [_role("SIFE", "Ola", "Nordmann", "1970-01-02", avregistrert=True, dead=True)])
    (role,) = enhetsregisteret.roles(organisation.org_number)
    assert role.birth_date == date(1970, 1, 2)
    assert role.deregistered and role.deceased and role.joint and not role.in_office


def test_closed_sub_units_are_closed():
    record = {"organisasjonsnummer": "320000122", "navn": "Nedlagt avdeling", "nedleggelsesdato": "2024-05-01"}
    entity = enhetsregisteret.parse_entity(record, is_sub_unit=True)
    assert entity.deleted_on == date(2024, 5, 1)
    deleted = enhetsregisteret.parse_entity(
        {**record, "nedleggelsesdato": None, "slettedato": "2025-01-01"}, is_sub_unit=True
    )
    assert deleted.deleted_on == date(2025, 1, 1)
