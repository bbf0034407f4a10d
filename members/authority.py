"""Proof of authority: who a person is (ID-porten) and what Enhetsregisteret says they may do.

The chain that holds against a hostile user:

1. **Identity comes from ID-porten**, never from a typed name. Each ID-porten login leaves a
   ``VerifiedPerson`` in the session (``SESSION_KEY``): the name ID-porten gives, the birth date
   derived from the national identity number (``pid``), the level (``acr``), when the person
   authenticated (``auth_time``) and the keyed hash of the number. The number itself is never stored.
2. **Signing asks for a fresh, high login**: ``verified_person()`` returns the person only when
   they logged in at ``idporten-loa-high`` within ``SIGNING_LOGIN_MAX_AGE_SECONDS``; otherwise the
   caller sends the browser to ``stepup_url()``, which logs in again with ``prompt=login``.
3. **Roles come from Enhetsregisteret**, matched on birth date *and* name (the open roles API has
   both, never the number): ``registry_roles_for()`` gives the person's counting signing roles.
   DAGL, SIGN, SIHV, PROK and POHV sign alone; SIFE and POFE only together with a second holder of
   a joint role. Resigned (``fratraadt``), deregistered (``avregistrert``) and deceased
   (``erDoed``) holders never count.
"""

from __future__ import annotations

import json
import time
import unicodedata
from dataclasses import asdict, dataclass
from datetime import date
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from stdnum.no import fodselsnummer

from . import enhetsregisteret

SESSION_KEY = "portal_verified_person"
PROVIDER = "idporten"
LEVEL_HIGH = "idporten-loa-high"

# Enhetsregisteret's role codes that carry the right to sign (seed 004: the top leader or a
# person with signing authority): daglig leder; signatur alone (SIGN, SIHV) or jointly (SIFE);
# prokura alone (PROK, POHV) or jointly (POFE).
SOLE_ROLE_CODES = frozenset({"DAGL", "SIGN", "SIHV", "PROK", "POHV"})
JOINT_ROLE_CODES = enhetsregisteret.JOINT_ROLE_CODES
SIGNING_ROLE_CODES = SOLE_ROLE_CODES | JOINT_ROLE_CODES

DEFAULT_MAX_AGE_SECONDS = 600


# --- the birth date in a national identity number ------------------------------------------------


def birth_date_from_pid(pid: str) -> date:
    """The birth date a Norwegian national identity number encodes.

    - *fødselsnummer*: DDMMYY, then three individual digits that give the century, then two
      check digits;
    - *D-number* (foreigners): 4 added to the first digit of the day;
    - *H-number* (help numbers) and older synthetic test persons: 40 added to the month;
    - synthetic persons from Tenor / Testnorge: 80 added to the month.

    The check digits are python-stdnum's; the synthetic month offsets it does not know.
    Raises ValueError for anything that is not such a number (FH-numbers carry no birth date).
    """
    number = fodselsnummer.compact(str(pid or ""))
    if len(number) != 11 or not number.isdigit():
        raise ValueError("A national identity number has eleven digits.")
    if number[9] != fodselsnummer.calc_check_digit1(number) or number[10] != fodselsnummer.calc_check_digit2(number):
        raise ValueError("The check digits of the national identity number do not match.")
    day, month, year, individual = int(number[0:2]), int(number[2:4]), int(number[4:6]), int(number[6:9])
    if day > 40:  # D-number
        day -= 40
    if month > 80:  # Tenor / Testnorge synthetic person
        month -= 80
    elif month > 40:  # H-number, or an older synthetic person
        month -= 40
    if individual < 500:
        century = 1900
    elif individual < 750 and year >= 54:
        century = 1800
    elif year < 40:
        century = 2000
    elif individual >= 900:
        century = 1900
    else:
        raise ValueError("The individual digits do not give a century for this year.")
    born = date(century + year, month, day)  # ValueError for an impossible date (and FH-numbers)
    if born > date.today():
        raise ValueError("The national identity number gives a birth date in the future.")
    return born


# --- the verified person in the session -----------------------------------------------------------


@dataclass(frozen=True)
class VerifiedPerson:
    """A person as ID-porten identified them at their latest login in this session."""

    provider: str
    name: str
    birth_date: date
    acr: str
    auth_time: int
    pid_hash: str

    @property
    def is_high(self) -> bool:
        return self.acr == LEVEL_HIGH


def person_from_claims(*, provider: str, claims: dict, pid: str, pid_hash: str) -> VerifiedPerson | None:
    """The person an ID token describes, or None when its number gives no birth date."""
    try:
        born = birth_date_from_pid(pid)
    except ValueError:
        return None
    name = str(claims.get("name") or "").strip() or " ".join(
        str(claims.get(part) or "").strip() for part in ("given_name", "family_name") if claims.get(part)
    )
    # Without auth_time the authentication may be an old single sign-on session: never fresh.
    try:
        auth_time = int(claims.get("auth_time") or 0)
    except (TypeError, ValueError):
        auth_time = 0
    return VerifiedPerson(
        provider=provider,
        name=name,
        birth_date=born,
        acr=str(claims.get("acr") or ""),
        auth_time=auth_time,
        pid_hash=pid_hash,
    )


def person_to_json(person: VerifiedPerson, *, user_id=None) -> str:
    data = asdict(person)
    data["birth_date"] = person.birth_date.isoformat()
    data["user_id"] = str(user_id) if user_id is not None else None
    return json.dumps(data)


def person_from_json(raw: str) -> tuple[VerifiedPerson, str | None] | None:
    """The person and the account id ``person_to_json`` wrote, or None for anything else."""
    try:
        data = json.loads(raw)
        person = VerifiedPerson(
            provider=str(data["provider"]),
            name=str(data["name"]),
            birth_date=date.fromisoformat(data["birth_date"]),
            acr=str(data["acr"]),
            auth_time=int(data["auth_time"]),
            pid_hash=str(data["pid_hash"]),
        )
    except (TypeError, ValueError, KeyError):
        return None
    return person, data.get("user_id")


def remember(request, person: VerifiedPerson | None, *, user_id=None) -> None:
    """Keep the person (never the number) in the session, bound to the account logged in."""
    if person is None:
        request.session.pop(SESSION_KEY, None)
        return
    request.session[SESSION_KEY] = person_to_json(person, user_id=user_id)


def forget(request) -> None:
    request.session.pop(SESSION_KEY, None)


def session_person(request) -> VerifiedPerson | None:
    """The person of this session's latest ID-porten login, whatever its level and age."""
    session = getattr(request, "session", None)
    raw = session.get(SESSION_KEY) if session is not None else None
    parsed = person_from_json(raw) if isinstance(raw, str) and raw else None
    if parsed is None:
        return None
    person, user_id = parsed
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user_id != str(user.pk):
        return None
    return person


def max_age_seconds() -> int:
    return int(getattr(settings, "SIGNING_LOGIN_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS))


def verified_person(request, *, max_age: int | None = None) -> VerifiedPerson | None:
    """The person, if they logged in with ID-porten at level high within ``max_age`` seconds."""
    person = session_person(request)
    if person is None or person.provider != PROVIDER or not person.is_high:
        return None
    limit = max_age_seconds() if max_age is None else max_age
    if time.time() - person.auth_time > limit:
        return None
    return person


def why_not_verified(request) -> str:
    """Why ``verified_person`` gave None: "none", "level" or "age", to explain the step-up."""
    person = session_person(request)
    if person is None or person.provider != PROVIDER:
        return "none"
    if not person.is_high:
        return "level"
    return "age"


def stepup_url(request, next_url: str) -> str:
    """The portal's step-up view: ID-porten again, at level high with prompt=login, then ``next_url``."""
    return f"{reverse('authority_stepup')}?{urlencode({'next': next_url})}"


# --- Enhetsregisteret's roles ---------------------------------------------------------------------


def comparable_name(name: str) -> str:
    """Names compared without regard to case, compatibility forms and spacing."""
    folded = unicodedata.normalize("NFKC", name or "").casefold()
    return " ".join(folded.split())


def counts(role: enhetsregisteret.RegistryRole) -> bool:
    """Whether a registered role can carry a signature at all (by its code and state)."""
    return role.code in SIGNING_ROLE_CODES and role.in_office and role.birth_date is not None


def role_matches(role: enhetsregisteret.RegistryRole, person: VerifiedPerson) -> bool:
    return (
        role.birth_date == person.birth_date
        and bool(person.name.strip())
        and comparable_name(role.person_name) == comparable_name(person.name)
    )


def registry_roles_for(person: VerifiedPerson, organisation) -> list[enhetsregisteret.RegistryRole]:
    """The person's counting signing roles in the organisation (sole first).

    Raises ``enhetsregisteret.RegistryUnavailable`` when the register cannot answer now.
    """
    if person is None:
        return []
    roles = [
        role for role in enhetsregisteret.roles(organisation.org_number) if counts(role) and role_matches(role, person)
    ]
    return sorted(roles, key=lambda role: role.joint)


def is_signatory(person: VerifiedPerson, organisation) -> bool:
    """Whether the person holds any counting signing role, sole or joint."""
    return bool(registry_roles_for(person, organisation))


def registered_signatories(organisation) -> list[enhetsregisteret.RegistryRole]:
    """Everyone Enhetsregisteret names as able to sign (in office), for showing who can sign."""
    return [role for role in enhetsregisteret.roles(organisation.org_number) if counts(role)]


# --- the wording of an authority --------------------------------------------------------------------

# How an authority is kept where it is shown later (the audit log): a kind and its parameters, worded
# by `authority_text` in the reader's language. Records of a signature keep their bokmål wording too.
AUTHORITY_REGISTER_ROLE = "register_role"  # = Acceptance.Authority.REGISTER_ROLE
AUTHORITY_DELEGATION = "delegation"  # = Acceptance.Authority.DELEGATION
AUTHORITY_CLAIM_SIGNATORY = "claim_signatory"  # a named signatory confirmed an application to administer
AUTHORITY_NHN = "nhn"  # NHN's customer centre decided


def authority_text(kind: str, params: dict) -> str:
    """The authority in words, in the active language; "" for a kind this portal does not know."""
    from django.utils import formats
    from django.utils.dateparse import parse_date
    from django.utils.translation import gettext as _

    values = {key: params.get(key, "") for key in ("name", "role", "code", "authority", "email")}
    if kind == AUTHORITY_REGISTER_ROLE:
        if params.get("joint"):
            return _("%(role)s (%(code)s) in Enhetsregisteret, jointly with another holder") % values
        return _("%(role)s (%(code)s) in Enhetsregisteret") % values
    if kind == AUTHORITY_DELEGATION:
        try:
            day = parse_date(str(params.get("date", "")))
        except ValueError:
            day = None
        values["date"] = formats.date_format(day, "SHORT_DATE_FORMAT") if day else params.get("date", "")
        return _("By delegation from %(name)s (%(authority)s) of %(date)s") % values
    if kind == AUTHORITY_CLAIM_SIGNATORY:
        return _("%(name)s, %(role)s (%(code)s) in Enhetsregisteret") % values
    if kind == AUTHORITY_NHN:
        return _("NHN's customer centre (%(email)s)") % values
    return ""
